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

/* Forward core transform of src - pred. */
void h264_fdct4x4(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                  int32_t coef[16]);
/* Quantises coefficients start..15 of coef into levels (scan order; levels
 * before start are set to 0). intra picks the intra rounding. Returns how
 * many levels are nonzero. */
int h264_quant4x4(const int32_t coef[16], int qp, bool intra, int start, int16_t levels[16]);
/* The decoder's residual for levels (scan order): scaling, the inverse
 * transform and its rounding, added to dst (the prediction) and clipped.
 * dc, when dc_scaled, replaces coefficient 0 already scaled (the DC of an
 * Intra16x16 or chroma block). */
void h264_recon4x4(uint8_t *dst, int stride, const int16_t levels[16], int qp, bool dc_scaled,
                   int32_t dc);

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
