/* Randomised damage sequences through the hybrid encoder, each frame
 * decoded by libavcodec and compared with the writer's reconstruction bit
 * for bit. Shared by test_writer (seeded sequences) and fuzz_writer
 * (libFuzzer's inputs), at a bitrate cap that never binds. A step is 8 bytes: what changes, where, how large,
 * with what content; every byte value is a valid step. */
#ifndef HFX_TESTS_WRITER_SEQUENCE_H
#define HFX_TESTS_WRITER_SEQUENCE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/picture.h"
#include "mb_damage.h"

#define WSEQ_STEP_BYTES 8

struct wseq;
struct hfx_encoder;
struct hfx_decoded;

/* When the hybrid's writer coded the last frame: 1 if its reconstruction
 * (mw x mh macroblocks) equals the decoder's picture d bit for bit, -1
 * with err filled where they first differ. 0 for an x264 frame. */
int wseq_check_recon(struct hfx_encoder *enc, const struct hfx_decoded *d, uint32_t mw,
                     uint32_t mh, uint64_t frame, char *err, size_t errlen);

/* Converts the rectangle of a packed surface into pic the way the engine
 * does (from even coordinates) and marks the macroblocks it touched. */
void wseq_convert(struct test_damage *d, struct hfx_picture *pic, const uint8_t *pixels,
                  uint32_t stride, uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h);

/* A sequence on a width x height surface in a DRM fourcc the engine takes;
 * starts with x264's IDR. NULL with err filled on failure. */
struct wseq *wseq_new(uint32_t width, uint32_t height, uint32_t fourcc, int quality, char *err,
                      size_t errlen);
void wseq_free(struct wseq *q);
/* Applies one step. 0, or -1 with err filled: an encode or decode error,
 * a reconstruction that differs from the decoder's, or PSNR below
 * min_psnr. */
int wseq_step(struct wseq *q, const uint8_t step[WSEQ_STEP_BYTES], double min_psnr, char *err,
              size_t errlen);

/* Compares the hybrid's reconstruction, when the writer coded its last
 * frame, with the decoder's picture d over mb_width x mb_height whole
 * macroblocks: 1 equal, 0 not the writer's frame, -1 (err filled) at the
 * first difference. */
int wseq_check_writer(struct hfx_encoder *enc, const struct hfx_decoded *d, uint32_t mb_width,
                      uint32_t mb_height, char *err, size_t errlen);

/* A step that scrolls the whole picture by d rows (0 < d < height), up
 * or down, painting what comes into view; cx not UINT32_MAX: with a 16x8
 * rectangle around (cx, cy) changed too; hint: with the encoder told the
 * move, as the engine tells it, the changed macroblocks aside. Returns as
 * wseq_step does (no PSNR floor: the moved content keeps its quality). */
int wseq_scroll(struct wseq *q, uint32_t d, bool down, bool hint, uint32_t cx, uint32_t cy,
                char *err, size_t errlen);

struct wseq_stats {
    uint64_t frames, writer_frames, checked, switch_idrs;
    uint64_t bytes;             /* of all the frames' access units */
    uint64_t refine_mbs;        /* still macroblocks the writer re-coded at a better QP */
    uint64_t scroll_shifts;     /* whole scrolls that moved the writer's rows by a window */
    double min_psnr;
};
void wseq_stats(const struct wseq *q, struct wseq_stats *out);

#endif
