/* One macroblock of a P slice, coded as P_L0_16x16 (against the
 * co-located reference with a zero motion vector, or against a moved
 * prediction) or as Intra16x16, whichever takes fewer bits (ITU-T H.264
 * 7.3.5 macroblock_layer, 7.4.5). Shared by pwriter.c, which walks the
 * damaged macroblocks, and mb.c, which codes one. */
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
    /* The co-located reference of the macroblock coded next where the
     * picture no longer holds it (the writer moved the picture's rows:
     * pwriter.c); NULL: the picture's, not yet written over. */
    const struct h264_mb_src *colocated_ref;
    /* nz[addr] is valid for this picture only when stamp[addr] == picture:
     * macroblocks not coded in it are skipped (all counts 0), and nothing
     * has to be cleared per picture. */
    uint8_t (*nz)[24];
    uint32_t *stamp;
    uint32_t picture;
    /* Likewise each macroblock's vector (quarter samples) and whether it is
     * intra, for its neighbours' vector prediction (mvpred.c). */
    int16_t (*mv)[2];
    uint8_t *intra_mb;
    /* The QP of the macroblock being coded (h264_mb_set_qp), and QP_Y,PRED
     * (7.4.5): that of the last macroblock coded with an mb_qp_delta in this
     * slice, or the slice's. A skipped macroblock, or one without residual,
     * has none and keeps it. */
    int qp, qpc[2], qp_pred;
    int chroma_qp_offset[2];
    bool intra;         /* Intra16x16 allowed (no constrained intra prediction) */
    /* The macroblock is re-coded only to sharpen it: its source has not
     * changed since it was last coded, so the co-located reference (its own
     * earlier reconstruction) is the prediction, and the intra trial is not
     * worth its time. */
    bool refining;
    struct h264_bits trial[3];
    const struct h264_dsp *dsp; /* h264_dsp(): this CPU's inner loops */
    /* The picture's size in luma samples as the decoder shows it (the
     * crop of 4:2:0 goes in steps of two: an odd size shows one more):
     * what lies beyond, the right and bottom macroblocks' padding, is
     * coded as whatever costs nothing (mb.c, visible_part). */
    uint32_t width, height;
};

/* The source macroblock: 16x16 luma, 8x8 Cb and Cr, tightly packed. */
struct h264_mb_src {
    uint8_t y[256], u[64], v[64];
};

/* The QP the next macroblocks are coded at (0..51). */
void h264_mb_set_qp(struct h264_mb_state *s, int qp);

/* Whether the inter chroma residual of src's Cb and Cr against the
 * prediction at u and v (rows u_stride and v_stride apart) quantises to
 * nothing at the QP set: then the prediction is the reconstruction. */
bool h264_mb_chroma_zero(const struct h264_mb_state *s, const struct h264_mb_src *src,
                         const uint8_t *u, int u_stride, const uint8_t *v, int v_stride);

/* A move: the vector in luma samples and the prediction it gives
 * (mc.h), made before this picture wrote over the reference it reads, or
 * NULL: for h264_mb_code, made from the reference when a trial needs it;
 * for h264_mb_code_moved, already in the picture. */
struct h264_mb_move {
    int dx, dy;
    const struct h264_mb_src *pred;
};

/* Codes the macroblock at (mbx, mby) of s from src, P_L0_16x16 with the
 * zero vector, or with move's vector when given, or Intra16x16, whichever
 * takes fewest bits. Returns the bits of its macroblock_layer(), or NULL
 * when it is a P_Skip (its residual quantises to nothing and a P_Skip
 * there infers its vector). Either way the picture holds its
 * reconstruction. */
const struct h264_bits *h264_mb_code(struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                                     const struct h264_mb_src *src,
                                     const struct h264_mb_move *move);
/* Codes the macroblock at (mbx, mby) as P_L0_16x16 (or P_Skip, NULL) with
 * move's vector and prediction, for a source whose luma is the previous
 * picture's moved: with src NULL the prediction is all (the chroma moved
 * exactly too), else the chroma residual against src is coded. With move
 * NULL (and src NULL): the unchanged reference with the zero vector, for a
 * macroblock whose reference is its source as far as quantisation can
 * tell (an undamaged one, or one whose residual quantises to nothing)
 * where a P_Skip would infer another vector. */
const struct h264_bits *h264_mb_code_moved(struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                                           const struct h264_mb_move *move,
                                           const struct h264_mb_src *src);
/* The P_Skips of the n macroblocks from (mbx, mby) along the row whose
 * picture already holds their prediction moved by (dx, dy) luma samples
 * (h264_mb_code_moved with src NULL), while a P_Skip infers that vector:
 * returns how many from the first are (0: the first is not). The shortcut
 * for the inside of a scroll, which needs no QP and no bits. */
uint32_t h264_mb_skip_run(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, uint32_t n, int dx,
                          int dy);

#endif
