/* The writer's inner loops behind one small table of function pointers,
 * filled once for the CPU at run time, in the manner of x264's and
 * FFmpeg's dsp tables: the portable C (transform.c, dsp.c) everywhere, and
 * AVX2 versions (dsp_avx2.c) where the CPU has them. Every entry gives the
 * C path's result bit for bit (tests/test_dsp.c), so the choice changes
 * the time only, never the stream. */
#ifndef HFX_H264_DSP_H
#define HFX_H264_DSP_H

#include <stdbool.h>
#include <stdint.h>

struct h264_dsp {
    /* As h264_recon4x4 (transform.h). */
    void (*recon4x4)(uint8_t *dst, int stride, const int16_t levels[16], int qp, bool dc_scaled,
                     int32_t dc);
    /* As h264_recon_dc4x4: a block with its scaled DC only. */
    void (*recon_dc4x4)(uint8_t *dst, int stride, int32_t dc);
    /* The sixteen 4x4 blocks of the 16x16 residual src - pred at once, as
     * h264_fdct4x4 and h264_quant4x4 give them (intra or inter rounding):
     * block r (raster order: at x (r & 3) * 4, y (r >> 2) * 4) into
     * levels[r], from coefficient 0, or, when dc is given (Intra16x16),
     * from 1 with each block's DC coefficient into dc[r] for the DC
     * transform. Returns the blocks with a nonzero level, bit r for r. */
    unsigned (*quant16x16)(const uint8_t *src, int src_stride, const uint8_t *pred,
                           int pred_stride, int qp, bool intra, int32_t dc[16],
                           int16_t levels[16][16]);
    /* The four 4x4 blocks of an 8x8 chroma residual likewise (block r at x
     * (r & 1) * 4, y (r >> 1) * 4), their AC only, and their DCs. */
    unsigned (*quant8x8_ac)(const uint8_t *src, int src_stride, const uint8_t *pred,
                            int pred_stride, int qp, bool intra, int32_t dc[4],
                            int16_t levels[4][16]);
    /* Cost estimates of the intra mode choice and the intra trial (mb.c):
     * the sum of absolute differences of a 16x16 block, and the sums of
     * the absolute 4x4 Hadamard transforms of the differences (SATD),
     * closer to what a residual costs in bits, of a 16x16 and an 8x8. */
    int (*sad16x16)(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride);
    int (*satd16x16)(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride);
    int (*satd8x8)(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride);
    /* Whether the residual src - pred quantises to nothing at the inter
     * rounding: every 4x4 block of a 16x16 luma block at qp, or the four
     * blocks of an 8x8 chroma block (their AC and the 2x2 DC) at qpc. The
     * writer then skips the macroblock without coding it. */
    bool (*zero16x16)(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                      int qp);
    bool (*zero8x8)(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                    int qpc);
};

/* Instruction sets beyond the portable C. */
#define H264_DSP_AVX2 1u

/* The instruction sets of this build and CPU (H264_DSP_*). */
unsigned h264_dsp_cpu(void);
/* The table for the instruction sets in flags (0: the C path); a set this
 * build or CPU lacks is left out. */
void h264_dsp_init(struct h264_dsp *d, unsigned flags);
/* The table for this CPU, filled on first use. */
const struct h264_dsp *h264_dsp(void);

#endif
