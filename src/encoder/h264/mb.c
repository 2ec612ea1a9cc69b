#include "encoder/h264/mb.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "encoder/h264/cavlc.h"
#include "encoder/h264/dsp.h"
#include "encoder/h264/intra.h"
#include "encoder/h264/mc.h"
#include "encoder/h264/mvpred.h"
#include "encoder/h264/transform.h"

#define MB_TYPE_P_L0_16X16 0
#define MB_TYPE_P_INTRA_BASE 5 /* P-slice mb_type of I_NxN; Intra16x16 follow */

/* coded_block_pattern by codeNum for inter macroblocks (table 9-4,
 * ChromaArrayType 1 and 2). */
static const uint8_t inter_cbp_by_code[48] = {
    0,  16, 1,  2,  4,  8,  32, 3,  5,  10, 12, 15, 47, 7,  11, 13,
    14, 6,  9,  31, 35, 37, 42, 44, 33, 34, 36, 40, 39, 43, 45, 46,
    17, 18, 20, 24, 19, 21, 26, 28, 23, 27, 29, 30, 22, 25, 38, 41,
};

static uint32_t inter_cbp_code(int cbp)
{
    uint32_t code = 0;
    while (inter_cbp_by_code[code] != cbp)
        code++;
    return code;
}

/* Raster index (y * 4 + x, in 4x4 blocks) of luma4x4BlkIdx i (6.4.3). */
static int blk_raster(int i)
{
    int x = ((i >> 2) & 1) * 2 + (i & 1), y = (i >> 3) * 2 + ((i >> 1) & 1);
    return y * 4 + x;
}

struct trial {
    uint8_t y[256], u[64], v[64];   /* reconstruction */
    uint8_t nz[24];
    int16_t mv[2];                  /* quarter samples */
    bool intra;
    bool qp_coded;                  /* has mb_qp_delta: its QP is the next QP_Y,PRED */
    struct h264_bits *bits;
};

struct mb_pos {
    uint32_t x, y, addr;
};

static int neighbour_nz(const struct h264_mb_state *s, uint32_t addr, int idx)
{
    return s->stamp[addr] == s->picture ? s->nz[addr][idx] : 0;
}

static int combine_nc(int a, int b)
{
    return a >= 0 && b >= 0 ? (a + b + 1) >> 1 : a >= 0 ? a : b >= 0 ? b : 0;
}

/* nC of a luma block (9.2.1): its left and upper neighbours' TotalCoeff,
 * from this macroblock so far or from the adjacent one. */
static int nc_luma(const struct h264_mb_state *s, struct mb_pos m, const uint8_t *nz, int r)
{
    int bx = r & 3, by = r >> 2, a = -1, b = -1;
    if (bx > 0)
        a = nz[r - 1];
    else if (m.x > 0)
        a = neighbour_nz(s, m.addr - 1, by * 4 + 3);
    if (by > 0)
        b = nz[r - 4];
    else if (m.y > 0)
        b = neighbour_nz(s, m.addr - s->mb_width, 12 + bx);
    return combine_nc(a, b);
}

static int nc_chroma(const struct h264_mb_state *s, struct mb_pos m, const uint8_t *nz, int base,
                     int blk)
{
    int cx = blk & 1, cy = blk >> 1, a = -1, b = -1;
    if (cx > 0)
        a = nz[base + blk - 1];
    else if (m.x > 0)
        a = neighbour_nz(s, m.addr - 1, base + cy * 2 + 1);
    if (cy > 0)
        b = nz[base + blk - 2];
    else if (m.y > 0)
        b = neighbour_nz(s, m.addr - s->mb_width, base + 2 + cx);
    return combine_nc(a, b);
}

bool h264_mb_chroma_zero(const struct h264_mb_state *s, const struct h264_mb_src *src,
                         const uint8_t *u, int u_stride, const uint8_t *v, int v_stride)
{
    return s->dsp->zero8x8(src->u, 8, u, u_stride, s->qpc[0]) &&
           s->dsp->zero8x8(src->v, 8, v, v_stride, s->qpc[1]);
}

/* Chroma residual of both planes against the prediction already in
 * t->u / t->v; reconstructs into them. Returns the chroma part of
 * coded_block_pattern (0 none, 1 DC only, 2 DC and AC). */
struct chroma_res {
    int16_t dc[2][4];
    int16_t ac[2][4][16];
};

static int chroma_residual(const struct h264_mb_state *s, const struct h264_mb_src *src,
                           struct trial *t, bool intra, struct chroma_res *res)
{
    /* A prediction that is the source leaves nothing: the flat chroma of
     * text moved by an odd vector (a terminal's scroll by its line
     * height), for a compare instead of eight transforms. */
    if (!memcmp(src->u, t->u, sizeof src->u) && !memcmp(src->v, t->v, sizeof src->v))
        return 0;
    /* Nor where the residual quantises to nothing, which one check per
     * plane finds without the eight transforms and quantisers: most of a
     * pane scrolled by an odd step (its chroma moved by half a sample),
     * 3205 of the 3638 chroma residuals of a 1080p `pane` frame. */
    if (!intra && h264_mb_chroma_zero(s, src, t->u, 8, t->v, 8))
        return 0;
    unsigned ac_nz[2];
    int dc_nz = 0;
    for (int c = 0; c < 2; c++) {
        int32_t dc[4];
        ac_nz[c] = s->dsp->quant8x8_ac(c ? src->v : src->u, 8, c ? t->v : t->u, 8, s->qpc[c],
                                       intra, dc, res->ac[c]);
        dc_nz += h264_quant_chroma_dc(dc, s->qpc[c], intra, res->dc[c]);
    }
    int cbp = ac_nz[0] | ac_nz[1] ? 2 : dc_nz ? 1 : 0;
    if (cbp == 0)
        return 0;
    for (int c = 0; c < 2; c++) {
        uint8_t *rp = c ? t->v : t->u;
        int32_t dc[4];
        h264_dequant_chroma_dc(res->dc[c], s->qpc[c], dc);
        for (int blk = 0; blk < 4; blk++) {
            uint8_t *p = rp + (blk >> 1) * 32 + (blk & 1) * 4;
            if (ac_nz[c] & (1u << blk))
                s->dsp->recon4x4(p, 8, res->ac[c][blk], s->qpc[c], true, dc[blk]);
            else
                s->dsp->recon_dc4x4(p, 8, dc[blk]);
        }
    }
    return cbp;
}

static void put_chroma(const struct h264_mb_state *s, struct mb_pos m, struct trial *t, int cbp,
                       const struct chroma_res *res)
{
    if (cbp == 0)
        return;
    for (int c = 0; c < 2; c++)
        h264_write_residual(t->bits, res->dc[c], 4, -1);
    if (cbp < 2)
        return;
    for (int c = 0; c < 2; c++) {
        int base = c ? H264_NZ_CR : H264_NZ_CB;
        for (int blk = 0; blk < 4; blk++)
            t->nz[base + blk] = (uint8_t)h264_write_residual(
                t->bits, res->ac[c][blk] + 1, 15, nc_chroma(s, m, t->nz, base, blk));
    }
}

/* size 16 or 8: the constant sizes let the copies be single moves. */
static void copy_block(uint8_t *dst, int dst_stride, const uint8_t *src, int src_stride, int size)
{
    for (int y = 0; y < size; y++) {
        if (size == 16)
            memcpy(dst + y * dst_stride, src + y * src_stride, 16);
        else
            memcpy(dst + y * dst_stride, src + y * src_stride, 8);
    }
}

/* mb_qp_delta: from QP_Y,PRED to this macroblock's QP, the short way
 * round, since the decoder wraps the sum into 0..51 (7.4.5, equation 7-37;
 * the delta is within -26..+25). */
static int qp_delta(const struct h264_mb_state *s)
{
    int d = s->qp - s->qp_pred;
    return d > 25 ? d - 52 : d < -26 ? d + 52 : d;
}

void h264_mb_set_qp(struct h264_mb_state *s, int qp)
{
    s->qp = qp;
    s->qpc[0] = h264_chroma_qp(qp, s->chroma_qp_offset[0]);
    s->qpc[1] = h264_chroma_qp(qp, s->chroma_qp_offset[1]);
}

/* The motion vector fields of a P_L0_16x16: mvd_l0 against the median
 * prediction (8.4.1.3). */
static void put_mvd(const struct h264_mb_state *s, struct mb_pos m, const int16_t mv[2],
                    struct h264_bits *b)
{
    int16_t mvp[2];
    h264_mvpred_median(s, m.x, m.y, mvp);
    h264_put_se(b, mv[0] - mvp[0]);
    h264_put_se(b, mv[1] - mvp[1]);
}

/* A P_L0_16x16 with no residual (coded_block_pattern 0, so no mb_qp_delta
 * either), or nothing when mv is what a P_Skip infers there (8.4.1.1):
 * false for a P_Skip. */
static bool put_vector_only(const struct h264_mb_state *s, struct mb_pos m, const int16_t mv[2],
                            struct h264_bits *b)
{
    if (h264_mvpred_skip_is(s, m.x, m.y, mv))
        return false;
    h264_bits_reset(b);
    h264_put_ue(b, MB_TYPE_P_L0_16X16);
    put_mvd(s, m, mv, b);
    h264_put_ue(b, inter_cbp_code(0));
    return true;
}

/* The macroblock's pixels in each plane of the picture. */
static void colocated(const struct h264_mb_state *s, struct mb_pos m, const uint8_t *at[3])
{
    for (int p = 0; p < 3; p++) {
        int size = p ? 8 : 16;
        at[p] = s->plane[p] + m.y * size * s->stride[p] + m.x * size;
    }
}

/* The co-located macroblock of the reference, and its rows' strides. */
static void reference(const struct h264_mb_state *s, struct mb_pos m, const uint8_t *at[3],
                      int stride[3])
{
    if (s->colocated_ref) {
        at[0] = s->colocated_ref->y;
        at[1] = s->colocated_ref->u;
        at[2] = s->colocated_ref->v;
        stride[0] = 16;
        stride[1] = stride[2] = 8;
        return;
    }
    colocated(s, m, at);
    for (int p = 0; p < 3; p++)
        stride[p] = (int)s->stride[p];
}

/* Whether the macroblock reaches past the picture's right or bottom
 * edge, into the padding the decoder crops. */
static inline bool straddles(const struct h264_mb_state *s, struct mb_pos m)
{
    return (m.x + 1) * 16 > s->width || (m.y + 1) * 16 > s->height;
}

/* The source to code a macroblock that straddles against a prediction
 * (planes at y, u, v; rows ys and cs apart): a copy of src in buf whose
 * samples beyond the edge are the prediction's. The decoder crops them,
 * so they leave no residual to code, where the edge repeated there would
 * differ from what a vector brings in (a scroll's bottom row of
 * macroblocks, which at 1920x1080 is half padding: half the bytes of a
 * `scroll` frame went there). */
static __attribute__((noinline)) const struct h264_mb_src *
visible_part(const struct h264_mb_state *s, struct mb_pos m, const struct h264_mb_src *src,
             const uint8_t *y, int ys, const uint8_t *u, const uint8_t *v, int cs,
             struct h264_mb_src *buf)
{
    uint32_t vw = s->width - m.x * 16, vh = s->height - m.y * 16;
    *buf = *src;
    for (uint32_t r = 0; r < 16; r++)
        for (uint32_t c = r < vh ? vw : 0; c < 16; c++)
            buf->y[r * 16 + c] = y[r * ys + c];
    uint32_t cw = (vw + 1) / 2, ch = (vh + 1) / 2;
    for (uint32_t r = 0; r < 8; r++)
        for (uint32_t c = r < ch ? cw : 0; c < 8; c++) {
            buf->u[r * 8 + c] = u[r * cs + c];
            buf->v[r * 8 + c] = v[r * cs + c];
        }
    return buf;
}

static void set_prediction(const struct h264_mb_state *s, struct mb_pos m,
                           const struct h264_mb_move *move, struct trial *t)
{
    t->intra = false;
    t->qp_coded = false;
    memset(t->nz, 0, sizeof t->nz);
    if (move) {
        memcpy(t->y, move->pred->y, sizeof t->y);
        memcpy(t->u, move->pred->u, sizeof t->u);
        memcpy(t->v, move->pred->v, sizeof t->v);
        t->mv[0] = (int16_t)(move->dx * 4);
        t->mv[1] = (int16_t)(move->dy * 4);
        return;
    }
    const uint8_t *ref[3];
    int st[3];
    reference(s, m, ref, st);
    copy_block(t->y, 16, ref[0], st[0], 16);
    copy_block(t->u, 8, ref[1], st[1], 8);
    copy_block(t->v, 8, ref[2], st[2], 8);
    t->mv[0] = t->mv[1] = 0;
}

/* P_L0_16x16 against move's prediction (the co-located reference when
 * NULL); luma false leaves the luma prediction without residual. False
 * when it is a P_Skip. */
static bool code_inter(const struct h264_mb_state *s, struct mb_pos m,
                       const struct h264_mb_src *src, const struct h264_mb_move *move, bool luma,
                       struct trial *t)
{
    set_prediction(s, m, move, t);
    struct h264_mb_src edge;
    if (straddles(s, m))
        src = visible_part(s, m, src, t->y, 16, t->u, t->v, 8, &edge);
    int16_t lv[16][16];
    unsigned nonzero = luma ? s->dsp->quant16x16(src->y, 16, t->y, 16, s->qp, false, NULL, lv) : 0;
    /* The 8x8 blocks by their 4x4 blocks in raster order. */
    int cbp_luma = (nonzero & 0x0033 ? 1 : 0) | (nonzero & 0x00cc ? 2 : 0) |
                   (nonzero & 0x3300 ? 4 : 0) | (nonzero & 0xcc00 ? 8 : 0);
    /* A block without levels reconstructs to its prediction. */
    for (int r = 0; r < 16; r++)
        if (nonzero & (1u << r))
            s->dsp->recon4x4(t->y + (r >> 2) * 64 + (r & 3) * 4, 16, lv[r], s->qp, false, 0);
    struct chroma_res cres;
    int cbp_chroma = chroma_residual(s, src, t, false, &cres);
    if (cbp_luma == 0 && cbp_chroma == 0)
        return put_vector_only(s, m, t->mv, t->bits);

    struct h264_bits *b = t->bits;
    h264_bits_reset(b);
    h264_put_ue(b, MB_TYPE_P_L0_16X16);
    put_mvd(s, m, t->mv, b);
    h264_put_ue(b, inter_cbp_code(cbp_luma | cbp_chroma << 4));
    h264_put_se(b, qp_delta(s));
    t->qp_coded = true;
    for (int i = 0; i < 16; i++) {
        int r = blk_raster(i);
        if (cbp_luma & (1 << (i >> 2)))
            t->nz[r] = (uint8_t)h264_write_residual(b, lv[r], 16, nc_luma(s, m, t->nz, r));
    }
    put_chroma(s, m, t, cbp_chroma, &cres);
    return true;
}

/* The Intra16x16 prediction modes (of those the neighbours allow) closest
 * to the source by SATD, and that SATD: the intra trial's cost estimate. */
struct intra_pick {
    uint8_t left[3][16];
    const uint8_t *top[3], *lft[3];
    int mode, cmode, satd;
};

/* The luma mode and its SATD; the neighbours of all three planes. */
static void pick_intra_luma(const struct h264_mb_state *s, struct mb_pos m,
                            const struct h264_mb_src *src, struct intra_pick *ip)
{
    const uint8_t *at[3];
    colocated(s, m, at);
    for (int p = 0; p < 3; p++) {
        ip->top[p] = m.y > 0 ? at[p] - s->stride[p] : NULL;
        ip->lft[p] = NULL;
        if (m.x > 0) {
            for (int i = 0; i < (p ? 8 : 16); i++)
                ip->left[p][i] = at[p][(ptrdiff_t)i * (ptrdiff_t)s->stride[p] - 1];
            ip->lft[p] = ip->left[p];
        }
    }
    const uint8_t *const *top = ip->top, *const *lft = ip->lft;
    uint8_t pred16[256];
    int best = -1;
    ip->mode = H264_I16_DC;
    for (int md = H264_I16_V; md <= H264_I16_DC; md++) {
        if ((md == H264_I16_V && !top[0]) || (md == H264_I16_H && !lft[0]))
            continue;
        h264_pred16(pred16, md, top[0], lft[0]);
        int d = s->dsp->satd16x16(pred16, 16, src->y, 16);
        if (best < 0 || d < best) {
            best = d;
            ip->mode = md;
        }
    }
    ip->satd = best;
}

/* The chroma mode, its SATD added to the luma's. */
static void pick_intra_chroma(const struct h264_mb_state *s, const struct h264_mb_src *src,
                              struct intra_pick *ip)
{
    const uint8_t *const *top = ip->top, *const *lft = ip->lft;
    uint8_t pred[128];
    int best = -1;
    ip->cmode = H264_CHROMA_DC;
    for (int md = H264_CHROMA_DC; md <= H264_CHROMA_V; md++) {
        if ((md == H264_CHROMA_V && !top[1]) || (md == H264_CHROMA_H && !lft[1]))
            continue;
        h264_pred_chroma(pred, md, top[1], lft[1]);
        h264_pred_chroma(pred + 64, md, top[2], lft[2]);
        int d = s->dsp->satd8x8(pred, 8, src->u, 8) + s->dsp->satd8x8(pred + 64, 8, src->v, 8);
        if (best < 0 || d < best) {
            best = d;
            ip->cmode = md;
        }
    }
    ip->satd += best;
}

/* Intra16x16 with the modes intra_may_pay chose. */
static void code_intra(const struct h264_mb_state *s, struct mb_pos m,
                       const struct h264_mb_src *src, const struct intra_pick *ip,
                       struct trial *t)
{
    const uint8_t *const *top = ip->top, *const *lft = ip->lft;
    int mode = ip->mode, cmode = ip->cmode;
    h264_pred16(t->y, mode, top[0], lft[0]);
    h264_pred_chroma(t->u, cmode, top[1], lft[1]);
    h264_pred_chroma(t->v, cmode, top[2], lft[2]);
    struct h264_mb_src edge;
    if (straddles(s, m))
        src = visible_part(s, m, src, t->y, 16, t->u, t->v, 8, &edge);
    memset(t->nz, 0, sizeof t->nz);
    t->intra = true;
    t->mv[0] = t->mv[1] = 0;

    int16_t lv[16][16], dclv[16];
    int32_t dc[16];
    unsigned ac_nz = s->dsp->quant16x16(src->y, 16, t->y, 16, s->qp, true, dc, lv);
    h264_quant_luma_dc(dc, s->qp, dclv);
    int cbp_luma = ac_nz ? 15 : 0;
    int32_t dcs[16];
    h264_dequant_luma_dc(dclv, s->qp, dcs);
    for (int r = 0; r < 16; r++) {
        uint8_t *p = t->y + (r >> 2) * 64 + (r & 3) * 4;
        if (ac_nz & (1u << r))
            s->dsp->recon4x4(p, 16, lv[r], s->qp, true, dcs[r]);
        else
            s->dsp->recon_dc4x4(p, 16, dcs[r]);
    }
    struct chroma_res cres;
    int cbp_chroma = chroma_residual(s, src, t, true, &cres);

    struct h264_bits *b = t->bits;
    h264_bits_reset(b);
    h264_put_ue(b, (uint32_t)(MB_TYPE_P_INTRA_BASE + 1 + mode + 4 * cbp_chroma +
                              (cbp_luma ? 12 : 0)));
    h264_put_ue(b, (uint32_t)cmode);
    h264_put_se(b, qp_delta(s));
    t->qp_coded = true;
    h264_write_residual(b, dclv, 16, nc_luma(s, m, t->nz, 0));
    if (cbp_luma)
        for (int i = 0; i < 16; i++) {
            int r = blk_raster(i);
            t->nz[r] = (uint8_t)h264_write_residual(b, lv[r] + 1, 15, nc_luma(s, m, t->nz, r));
        }
    put_chroma(s, m, t, cbp_chroma, &cres);
}

/* The zero-vector inter prediction (the co-located reference, not yet
 * overwritten) against the source: SATD of luma and chroma, and luma's SAD
 * and SATD alone. The SATD is 0 only for equal pixels (the Hadamard
 * transform is invertible), and never below the SAD. */
struct inter_cost {
    int satd, luma_sad, luma_satd;
};

static struct inter_cost inter_cost(const struct h264_mb_state *s, struct mb_pos m,
                                    const struct h264_mb_src *src)
{
    const uint8_t *ref[3];
    int st[3];
    reference(s, m, ref, st);
    struct inter_cost c;
    c.luma_sad = s->dsp->sad16x16(ref[0], st[0], src->y, 16);
    c.luma_satd = s->dsp->satd16x16(ref[0], st[0], src->y, 16);
    c.satd = c.luma_satd + s->dsp->satd8x8(ref[1], st[1], src->u, 8) +
             s->dsp->satd8x8(ref[2], st[2], src->v, 8);
    return c;
}

/* Whether the zero-vector inter residual quantises to nothing, which
 * code_inter would find at many times the cost. */
static bool inter_zero(const struct h264_mb_state *s, struct mb_pos m,
                       const struct h264_mb_src *src)
{
    const uint8_t *ref[3];
    int st[3];
    reference(s, m, ref, st);
    struct h264_mb_src edge;
    if (straddles(s, m))
        src = visible_part(s, m, src, ref[0], st[0], ref[1], ref[2], st[1], &edge);
    return s->dsp->zero16x16(src->y, 16, ref[0], st[0], s->qp) &&
           s->dsp->zero8x8(src->u, 8, ref[1], st[1], s->qpc[0]) &&
           s->dsp->zero8x8(src->v, 8, ref[2], st[2], s->qpc[1]);
}

/* Whether the intra trial may beat inter (docs/writer.md, "The intra
 * trial"), choosing its modes if so: the inter residual is nearly flat
 * over each 4x4 block (its SATD, never below its SAD, at most 1.25 times
 * it), which Intra16x16's DC transform codes in a few bits where inter
 * pays one coefficient per block; or the intra prediction is clearly
 * closer to the source (SATD below 3/4 of inter's). The chroma's SATD
 * only adds, so a luma SATD already at 3/4 of inter's rules intra out
 * without estimating the chroma (most new content next to unchanged
 * content: text typed, a window's new line). */
static bool intra_may_pay(const struct h264_mb_state *s, struct mb_pos m,
                          const struct h264_mb_src *src, struct inter_cost c,
                          struct intra_pick *ip)
{
    bool flat = 4 * c.luma_satd <= 5 * c.luma_sad;
    pick_intra_luma(s, m, src, ip);
    if (!flat && 4 * ip->satd >= 3 * c.satd)
        return false;
    pick_intra_chroma(s, src, ip);
    return flat || 4 * ip->satd < 3 * c.satd;
}

/* Whether a nearby move's vector may code the macroblock in fewer bits
 * than the zero vector: its prediction is closer to the source by SATD. */
static bool move_may_pay(const struct h264_mb_state *s, const struct h264_mb_src *pred,
                         const struct h264_mb_src *src, struct inter_cost zero)
{
    int satd = s->dsp->satd16x16(pred->y, 16, src->y, 16) +
               s->dsp->satd8x8(pred->u, 8, src->u, 8) + s->dsp->satd8x8(pred->v, 8, src->v, 8);
    return satd < zero.satd;
}

static void store_pixels(struct h264_mb_state *s, struct mb_pos m, const uint8_t *y,
                         const uint8_t *u, const uint8_t *v)
{
    copy_block(s->plane[0] + m.y * 16 * s->stride[0] + m.x * 16, (int)s->stride[0], y, 16, 16);
    copy_block(s->plane[1] + m.y * 8 * s->stride[1] + m.x * 8, (int)s->stride[1], u, 8, 8);
    copy_block(s->plane[2] + m.y * 8 * s->stride[2] + m.x * 8, (int)s->stride[2], v, 8, 8);
}

/* The counts of a macroblock without residual. */
static const uint8_t no_coefficients[24];

/* What the neighbours' CAVLC contexts and vector predictions read. */
static void store_info(struct h264_mb_state *s, struct mb_pos m, const uint8_t nz[24],
                       const int16_t mv[2], bool intra)
{
    memcpy(s->nz[m.addr], nz, sizeof s->nz[m.addr]);
    s->mv[m.addr][0] = mv[0];
    s->mv[m.addr][1] = mv[1];
    s->intra_mb[m.addr] = intra;
    s->stamp[m.addr] = s->picture;
}

static void commit(struct h264_mb_state *s, struct mb_pos m, const struct trial *t)
{
    store_pixels(s, m, t->y, t->u, t->v);
    store_info(s, m, t->nz, t->mv, t->intra);
    if (t->qp_coded)
        s->qp_pred = s->qp;
}

const struct h264_bits *h264_mb_code(struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                                     const struct h264_mb_src *src,
                                     const struct h264_mb_move *move)
{
    struct mb_pos m = {mbx, mby, mby * s->mb_width + mbx};
    struct trial t[3];
    for (int i = 0; i < 3; i++) {
        t[i].bits = &s->trial[i];
        if (!h264_bits_reserve(t[i].bits, H264_MB_MAX_BYTES))
            return NULL;
    }
    /* A residual that quantises to nothing (a source equal to the
     * reference, and most of a repainted but unchanged area against a
     * reference coded lossily) is the reference with the zero vector,
     * found without coding it: a P_Skip unless its neighbours' vectors
     * make a P_Skip infer another. */
    if (inter_zero(s, m, src))
        return h264_mb_code_moved(s, mbx, mby, NULL, NULL);
    /* The move's prediction only now, when no P_Skip of the zero vector
     * made it needless (most macroblocks next to a move are unchanged). */
    struct h264_mb_src made;
    struct h264_mb_move with_pred;
    if (move && !move->pred) {
        h264_mc16(s, mbx, mby, move->dx, move->dy, &made);
        with_pred = (struct h264_mb_move){move->dx, move->dy, &made};
        move = &with_pred;
    }
    bool try_intra = s->intra && !s->refining, intra = false;
    struct inter_cost zc = {0};
    struct intra_pick ip;
    if (move || try_intra)
        zc = inter_cost(s, m, src);
    if (try_intra)
        intra = intra_may_pay(s, m, src, zc, &ip);
    /* Where the intra trial runs it wins, nearly always (see "The intra
     * trial" in docs/writer.md): the zero-vector trial is not coded
     * there. Nor where a nearby move's prediction is closer to the source
     * than the zero vector's. A trial that leaves a P_Skip wins outright. */
    bool moved = move && move_may_pay(s, move->pred, src, zc);
    int pick = -1;
    if (!intra && !moved) {
        if (!code_inter(s, m, src, NULL, true, &t[0])) {
            commit(s, m, &t[0]);
            return NULL;
        }
        pick = 0;
    }
    if (moved) {
        if (!code_inter(s, m, src, move, true, &t[2])) {
            commit(s, m, &t[2]);
            return NULL;
        }
        if (pick < 0 || h264_bits_count(t[2].bits) < h264_bits_count(t[pick].bits))
            pick = 2;
    }
    if (intra) {
        code_intra(s, m, src, &ip, &t[1]);
        if (pick < 0 || h264_bits_count(t[1].bits) < h264_bits_count(t[pick].bits))
            pick = 1;
    }
    commit(s, m, &t[pick]);
    return t[pick].bits;
}

const struct h264_bits *h264_mb_code_moved(struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                                           const struct h264_mb_move *move,
                                           const struct h264_mb_src *src)
{
    struct mb_pos m = {mbx, mby, mby * s->mb_width + mbx};
    struct trial t;
    t.bits = &s->trial[0];
    if (!h264_bits_reserve(t.bits, H264_MB_MAX_BYTES))
        return NULL;
    if (src) {
        bool coded = code_inter(s, m, src, move, false, &t);
        commit(s, m, &t);
        return coded ? t.bits : NULL;
    }
    int16_t mv[2] = {0, 0};
    if (move) {
        mv[0] = (int16_t)(move->dx * 4);
        mv[1] = (int16_t)(move->dy * 4);
    }
    bool coded = put_vector_only(s, m, mv, t.bits);
    if (move && move->pred)
        store_pixels(s, m, move->pred->y, move->pred->u, move->pred->v);
    else if (!move && s->colocated_ref)
        store_pixels(s, m, s->colocated_ref->y, s->colocated_ref->u, s->colocated_ref->v);
    store_info(s, m, no_coefficients, mv, false);
    return coded ? t.bits : NULL;
}

uint32_t h264_mb_skip_run(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, uint32_t n, int dx,
                          int dy)
{
    int16_t mv[2] = {(int16_t)(dx * 4), (int16_t)(dy * 4)};
    uint32_t mw = s->mb_width, addr = mby * mw + mbx;
    if (!n || !h264_mvpred_skip_is(s, mbx, mby, mv))
        return 0;
    store_info(s, (struct mb_pos){mbx, mby, addr}, no_coefficients, mv, false);
    uint32_t k = 1;
    /* Inside a scroll, the next one's A is the skip just stored and its B
     * the one before's C: only its C is left to look at, which for the
     * middle of a run is all the rule needs (h264_mvpred_skip_is). */
    if (n > 1 && mby > 0 && h264_mvpred_inter_with(s, addr + 1 - mw, mv))
        for (; k < n && mbx + k + 1 < mw && h264_mvpred_inter_with(s, addr + k + 1 - mw, mv); k++)
            store_info(s, (struct mb_pos){mbx + k, mby, addr + k}, no_coefficients, mv, false);
    return k;
}
