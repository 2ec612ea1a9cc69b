/* CAVLC residual_block() (ITU-T H.264 7.3.5.3.2, 9.2): one block of
 * levels to bits. */
#ifndef HFX_H264_CAVLC_H
#define HFX_H264_CAVLC_H

#include <stdint.h>

#include "encoder/h264/bits.h"

/* Writes the n coefficients at levels (scan order; n = 16, 15 for AC
 * blocks, 4 for chroma DC) with context nc (-1 for chroma DC). Returns
 * TotalCoeff, which later blocks use as their neighbour's count. */
int h264_write_residual(struct h264_bits *b, const int16_t *levels, int n, int nc);

#endif
