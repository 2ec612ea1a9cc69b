/* The 4x4 integer transform, quantisation and the exact reconstruction a
 * decoder performs (ITU-T H.264 8.5.6 to 8.5.12, flat scaling lists).
 * Coefficient blocks are raster order (index y * 4 + x); levels are in
 * zig-zag scan order, as CAVLC codes them. Reconstruction follows the
 * specification to the bit: the writer's picture must equal the decoder's. */
#ifndef HFX_H264_TRANSFORM_H
#define HFX_H264_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>

/* Frame zig-zag scan: scan position -> raster index. */
extern const uint8_t h264_zigzag[16];

/* Multiplication factors (encoder, 2^15 scale) and the decoder's scale v
 * (normAdjust4x4, table 8-14 / 8.5.9), by QP % 6 and coefficient class:
 * 0 both coordinates even, 1 both odd, 2 mixed. */
extern const int32_t h264_quant_mf[6][3];
extern const int32_t h264_dequant_v[6][3];

/* The largest level magnitude the writer codes: CAVLC in the profiles we
 * write cannot carry more at the smallest suffix length (level_prefix 15);
 * no QP the writer uses comes near it, and the clamp keeps the stream
 * valid if one does. */
#define H264_MAX_LEVEL 2063

/* The quantiser's rounding offset at 2^shift: dead zones of 1/3 (intra)
 * and 1/6 (inter). */
static inline int32_t h264_quant_round(int shift, bool intra)
{
    return intra ? (1 << shift) / 3 : (1 << shift) / 6;
}

/* Forward core transform of src - pred (|coef| <= 9180). */
void h264_fdct4x4(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                  int32_t coef[16]);
/* Quantises coefficients start..15 of coef (each of magnitude below 2^15,
 * as the forward transform gives) into levels (scan order; levels before
 * start are set to 0). intra picks the intra rounding. Returns how many
 * levels are nonzero. */
int h264_quant4x4(const int32_t coef[16], int qp, bool intra, int start, int16_t levels[16]);
/* The decoder's residual for levels (scan order): scaling, the inverse
 * transform and its rounding, added to dst (the prediction) and clipped.
 * dc, when dc_scaled, replaces coefficient 0 already scaled (the DC of an
 * Intra16x16 or chroma block). Levels are at most 2063 in magnitude (what
 * CAVLC carries) and dc at most 2^24 (those of 8-bit residuals stay below
 * 2^20): the arithmetic then stays within 32 bits. */
void h264_recon4x4(uint8_t *dst, int stride, const int16_t levels[16], int qp, bool dc_scaled,
                   int32_t dc);
/* h264_recon4x4 of a block whose only coefficient is its scaled DC: the
 * inverse transform of a lone DC is flat, so each sample gets
 * (dc + 32) >> 6, clipped. */
void h264_recon_dc4x4(uint8_t *dst, int stride, int32_t dc);

/* Intra16x16 luma DC: dc holds the 16 blocks' DC coefficients by block
 * position (row-major 4x4). Returns nonzero levels. */
int h264_quant_luma_dc(const int32_t dc[16], int qp, int16_t levels[16]);
/* The scaled DC of each block, by block position (8.5.10). */
void h264_dequant_luma_dc(const int16_t levels[16], int qp, int32_t dc[16]);
/* Chroma DC (4:2:0): dc holds the four blocks' DC coefficients in raster
 * order. */
int h264_quant_chroma_dc(const int32_t dc[4], int qp, bool intra, int16_t levels[4]);
void h264_dequant_chroma_dc(const int16_t levels[4], int qp, int32_t dc[4]);

/* QPc for a luma QP and a chroma offset (table 8-15). */
int h264_chroma_qp(int qp, int offset);

#endif
