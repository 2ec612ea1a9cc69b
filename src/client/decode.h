/* H.264 decoding with libavcodec, for the tools and tests that check what a
 * subscriber received (frame numbers, PSNR). */
#ifndef HFX_CLIENT_DECODE_H
#define HFX_CLIENT_DECODE_H

#include <stddef.h>
#include <stdint.h>

struct hfx_decoder;

/* One decoded picture in I420 (libavcodec's output for our streams). Valid
 * until the next call on the decoder. */
struct hfx_decoded {
    uint32_t width, height;
    const uint8_t *plane[3];
    uint32_t stride[3];
};

struct hfx_decoder *hfx_decoder_new(void);
/* For checking an encoder's reconstruction: pictures come out whole (the
 * macroblocks past the cropping included) and a damaged stream is an error,
 * not concealed. */
struct hfx_decoder *hfx_decoder_new_strict(void);
void hfx_decoder_free(struct hfx_decoder *d);
/* Decodes one access unit (Annex B). Returns 1 and fills out when it yields a
 * picture, 0 when it yields none, -1 on a decode error. Our streams have no
 * reordering, so every access unit yields its picture at once. */
int hfx_decoder_decode(struct hfx_decoder *d, const uint8_t *au, size_t size,
                       struct hfx_decoded *out);

/* PSNR in dB of the luma of a decoded picture against a reference I420
 * luma plane of the same size (99.0 when identical). */
double hfx_psnr_y(const uint8_t *a, uint32_t stride_a, const uint8_t *b, uint32_t stride_b,
                  uint32_t width, uint32_t height);

#endif
