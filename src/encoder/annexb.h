/* An access unit being assembled from an encoder's NAL units, each behind a
 * 4-byte start code (what HXFR clients expect), in a buffer reused across
 * frames. */
#ifndef HFX_ENCODER_ANNEXB_H
#define HFX_ENCODER_ANNEXB_H

#include <stddef.h>
#include <stdint.h>

struct hfx_annexb {
    uint8_t *data;
    size_t size, cap;
};

/* Appends one NAL unit given with its own 3- or 4-byte start code. */
int hfx_annexb_append(struct hfx_annexb *b, const uint8_t *nal, size_t len);
/* Appends head (start code and NAL header, as given) and then rbsp with
 * emulation prevention bytes inserted: a NAL unit the caller wrote. */
int hfx_annexb_append_escaped(struct hfx_annexb *b, const uint8_t *head, size_t head_len,
                              const uint8_t *rbsp, size_t len);
void hfx_annexb_free(struct hfx_annexb *b);

#endif
