/* The damage-proportional P-picture writer: continues a stream that x264
 * started (same SPS and PPS) with P pictures in which every macroblock
 * outside the damage is P_Skip and each damaged one is coded on its own
 * (mb.c). Its cost follows the damage: it visits the damaged macroblocks
 * and counts the skipped runs between them. It keeps the reconstructed
 * picture, which is the next picture's reference. */
#ifndef HFX_H264_PWRITER_H
#define HFX_H264_PWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/picture.h"
#include "encoder/annexb.h"
#include "encoder/encoder.h"
#include "encoder/h264/motion.h"
#include "encoder/h264/params.h"

struct h264_pwriter;

/* A writer for pictures of the stream described by params. NULL on
 * failure (out of memory, or params of another size). */
struct h264_pwriter *h264_pwriter_new(const struct h264_params *params, uint32_t width,
                                      uint32_t height);
void h264_pwriter_free(struct h264_pwriter *w);

/* Takes x264's reconstruction of its last picture (NV12, whole
 * macroblocks) as the reference, and where its numbering left off. */
void h264_pwriter_take_reference(struct h264_pwriter *w, const uint8_t *y, int y_stride,
                                 const uint8_t *uv, int uv_stride, struct h264_slice_pos pos);

struct h264_refine;

/* Appends to out the P picture that codes src's damaged macroblocks at qp
 * (0..51), those that motion found moved (when not NULL; its last find,
 * on src) with their vector; with refine, the macroblocks it planned at
 * the QPs it planned (refine.h; qp is the slice's). Returns the bits it
 * took, or -1 when out of memory (the writer then needs a new reference
 * before its next picture). */
int64_t h264_pwriter_encode(struct h264_pwriter *w, const struct hfx_picture *src,
                            const struct hfx_mb_damage *damage, const struct h264_motion *motion,
                            int qp, struct h264_refine *refine, struct hfx_annexb *out);

/* Whether the last picture was a scroll of the whole picture that moved
 * the reconstruction's rows by moving its planes' windows (no copy). */
bool h264_pwriter_shifted(const struct h264_pwriter *w);

/* The reconstruction (the decoder's picture, before cropping): plane 0..2,
 * I420, whole macroblocks. */
const uint8_t *h264_pwriter_plane(const struct h264_pwriter *w, int plane, uint32_t *stride);

#endif
