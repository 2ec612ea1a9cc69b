/* One macroblock of a P slice, coded against the co-located reference with
 * a zero motion vector or as Intra16x16, whichever takes fewer bits
 * (ITU-T H.264 7.3.5 macroblock_layer, 7.4.5). Shared by pwriter.c, which
 * walks the damaged macroblocks, and mb.c, which codes one. */
#ifndef HFX_H264_MB_H
#define HFX_H264_MB_H

#include <stdbool.h>
#include <stdint.h>

#include "encoder/h264/bits.h"

/* Per-macroblock TotalCoeff of its 4x4 blocks, for the CAVLC contexts of
 * its right and lower neighbours: luma in raster order, then Cb, Cr. */
#define H264_NZ_CB 16
#define H264_NZ_CR 20

struct h264_mb_state {
    uint32_t mb_width, mb_height;
    /* The picture being written, which is also the reference: every
     * macroblock not written stays the reference's. */
    uint8_t *plane[3];
    uint32_t stride[3];
    /* nz[addr] is valid for this picture only when stamp[addr] == picture:
     * macroblocks not coded in it are skipped (all counts 0), and nothing
     * has to be cleared per picture. */
    uint8_t (*nz)[24];
    uint32_t *stamp;
    uint32_t picture;
    /* The QP of the macroblock being coded (h264_mb_set_qp), and QP_Y,PRED
     * (7.4.5): that of the last macroblock coded in this slice, or the
     * slice's. A skipped macroblock has no mb_qp_delta and keeps it. */
    int qp, qpc[2], qp_pred;
    int chroma_qp_offset[2];
    bool intra;         /* Intra16x16 allowed (no constrained intra prediction) */
    /* The macroblock is re-coded only to sharpen it: its source has not
     * changed since it was last coded, so the co-located reference (its own
     * earlier reconstruction) is the prediction, and the intra trial is not
     * worth its time. */
    bool refining;
    struct h264_bits trial[2];
    const struct h264_dsp *dsp; /* h264_dsp(): this CPU's inner loops */
};

/* The source macroblock: 16x16 luma, 8x8 Cb and Cr, tightly packed. */
struct h264_mb_src {
    uint8_t y[256], u[64], v[64];
};

/* The QP the next macroblocks are coded at (0..51). */
void h264_mb_set_qp(struct h264_mb_state *s, int qp);

/* Codes the macroblock at (mbx, mby) of s from src. Returns the bits of its
 * macroblock_layer(), or NULL when it is best skipped (its residual
 * quantises to nothing). Either way the picture holds its reconstruction. */
const struct h264_bits *h264_mb_code(struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                                     const struct h264_mb_src *src);

#endif
