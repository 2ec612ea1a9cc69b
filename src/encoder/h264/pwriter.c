#include "encoder/h264/pwriter.h"

#include <stdlib.h>
#include <string.h>

#include <libyuv.h>

#include "common/ring.h"
#include "encoder/h264/bits.h"
#include "encoder/h264/dsp.h"
#include "encoder/h264/mb.h"
#include "encoder/h264/mc.h"
#include "encoder/h264/motion.h"
#include "encoder/h264/refine.h"
#include "encoder/h264/transform.h"

#define NAL_P_SLICE 0x41 /* nal_ref_idc 2 (a reference), non-IDR slice */
#define SLICE_TYPE_P 0

struct h264_pwriter {
    struct h264_params params;
    uint32_t width, height; /* visible */
    struct h264_mb_state mb;
    /* The reconstruction's planes, whose rows shift (ring.h): a scroll of
     * the whole picture moves their windows instead of its rows. Where the
     * system maps no rings, planes of their own, which do not shift. */
    struct hfx_ring ring[3];
    bool rings;
    uint8_t *planes;
    int shift;                  /* rows the last picture's windows moved (whole_scroll) */
    /* Per macroblock, in a shifted picture: whether the shift moved it
     * (whole_scroll asks motion once, predict and move_run read this). */
    uint8_t *shifted;
    struct h264_slice_pos pos;
    struct h264_bits rbsp;
    int max_dy;                 /* |vertical vector| the level allows, in samples */
    /* In coding order, the predictions of this picture's moved macroblocks
     * that read where earlier ones will have been written; in a shifted
     * picture, those of all it codes, and their co-located references. */
    struct h264_mb_src *pred, *colocated;
    size_t pred_cap, colocated_cap;
};

/* The vertical vector range of the stream's level (table A-1, MaxVmvR),
 * in whole samples: a vector may reach -max and max - 1/4. */
static int level_max_dy(uint32_t level_idc)
{
    return level_idc <= 11 ? 64 : level_idc <= 20 ? 128 : level_idc <= 30 ? 256 : 512;
}

struct h264_pwriter *h264_pwriter_new(const struct h264_params *params, uint32_t width,
                                      uint32_t height)
{
    uint32_t mw = (width + 15) / 16, mh = (height + 15) / 16;
    if (params->mb_width != mw || params->mb_height != mh)
        return NULL;
    struct h264_pwriter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->params = *params;
    w->width = width;
    w->height = height;
    size_t n = (size_t)mw * mh;
    w->mb.mb_width = mw;
    w->mb.width = (width + 1) & ~1u;
    w->mb.height = (height + 1) & ~1u;
    w->mb.mb_height = mh;
    w->mb.nz = malloc(n * sizeof *w->mb.nz);
    w->mb.stamp = calloc(n, sizeof *w->mb.stamp);
    w->mb.mv = malloc(n * sizeof *w->mb.mv);
    w->mb.intra_mb = malloc(n);
    w->shifted = malloc(n);
    w->max_dy = level_max_dy(params->level_idc);
    w->rings = true;
    for (int p = 0; p < 3; p++) {
        uint32_t size = p ? 8 : 16;
        w->rings &= hfx_ring_init(&w->ring[p], mw * size, mh * size) == 0;
    }
    if (!w->rings)
        w->planes = malloc(n * 384);
    if (!w->mb.nz || !w->mb.stamp || !w->mb.mv || !w->mb.intra_mb || !w->shifted ||
        (!w->rings && !w->planes)) {
        h264_pwriter_free(w);
        return NULL;
    }
    for (int p = 0; p < 3; p++) {
        w->mb.stride[p] = mw * (p ? 8 : 16);
        w->mb.plane[p] = w->rings ? hfx_ring_window(&w->ring[p], 0)
                                  : w->planes + n * (p == 0 ? 0 : p == 1 ? 256 : 320);
    }
    w->mb.intra = !params->constrained_intra_pred;
    w->mb.chroma_qp_offset[0] = params->chroma_qp_offset[0];
    w->mb.chroma_qp_offset[1] = params->chroma_qp_offset[1];
    w->mb.dsp = h264_dsp();
    return w;
}

void h264_pwriter_free(struct h264_pwriter *w)
{
    if (!w)
        return;
    free(w->mb.nz);
    free(w->mb.stamp);
    free(w->mb.mv);
    free(w->mb.intra_mb);
    free(w->shifted);
    for (int p = 0; p < 3; p++)
        hfx_ring_fini(&w->ring[p]);
    free(w->planes);
    free(w->pred);
    free(w->colocated);
    for (int i = 0; i < 3; i++)
        h264_bits_free(&w->mb.trial[i]);
    h264_bits_free(&w->rbsp);
    free(w);
}

void h264_pwriter_take_reference(struct h264_pwriter *w, const uint8_t *y, int y_stride,
                                 const uint8_t *uv, int uv_stride, struct h264_slice_pos pos)
{
    struct h264_mb_state *s = &w->mb;
    int cw = (int)s->mb_width * 8, ch = (int)s->mb_height * 8;
    CopyPlane(y, y_stride, s->plane[0], (int)s->stride[0], cw * 2, ch * 2);
    SplitUVPlane(uv, uv_stride, s->plane[1], (int)s->stride[1], s->plane[2], (int)s->stride[2],
                 cw, ch);
    w->pos = pos;
}

/* Plane p of the source macroblock, with the picture's edge repeated past
 * its visible size: what lies there is cropped away, but the prediction of
 * later macroblocks reads its reconstruction, so it is coded like the
 * rest. */
static void load_plane(const struct hfx_picture *src, int p, uint32_t mbx, uint32_t mby,
                       uint8_t *dst)
{
    int size = p ? 8 : 16;
    uint32_t w = p ? (src->width + 1) / 2 : src->width;
    uint32_t h = p ? (src->height + 1) / 2 : src->height;
    uint32_t x0 = mbx * (uint32_t)size, y0 = mby * (uint32_t)size;
    const uint8_t *at = src->plane[p] + (size_t)y0 * src->stride[p] + x0;
    if (x0 + (uint32_t)size <= w && y0 + (uint32_t)size <= h) {
        /* Constant sizes: each row is one move. */
        for (int y = 0; y < size; y++) {
            if (p == 0)
                memcpy(dst + y * 16, at + (size_t)y * src->stride[0], 16);
            else
                memcpy(dst + y * 8, at + (size_t)y * src->stride[p], 8);
        }
        return;
    }
    for (int y = 0; y < size; y++) {
        uint32_t sy = y0 + (uint32_t)y < h ? y0 + (uint32_t)y : h - 1;
        const uint8_t *row = src->plane[p] + (size_t)sy * src->stride[p];
        for (int x = 0; x < size; x++) {
            uint32_t sx = x0 + (uint32_t)x < w ? x0 + (uint32_t)x : w - 1;
            dst[y * size + x] = row[sx];
        }
    }
}

/* The source macroblock; without its luma when only the chroma is coded
 * (a move exact in luma), which then is not read. */
static void load_source(const struct hfx_picture *src, uint32_t mbx, uint32_t mby, bool luma,
                        struct h264_mb_src *out)
{
    if (luma)
        load_plane(src, 0, mbx, mby, out->y);
    load_plane(src, 1, mbx, mby, out->u);
    load_plane(src, 2, mbx, mby, out->v);
}

static void put_slice_header(struct h264_pwriter *w, int qp)
{
    const struct h264_params *p = &w->params;
    struct h264_bits *b = &w->rbsp;
    h264_put_ue(b, 0); /* first_mb_in_slice */
    h264_put_ue(b, SLICE_TYPE_P);
    h264_put_ue(b, p->pps_id);
    h264_put(b, w->pos.frame_num, (int)p->log2_max_frame_num);
    if (p->poc_type == 0) {
        h264_put(b, w->pos.poc_lsb, (int)p->log2_max_poc_lsb);
        if (p->bottom_field_pic_order_in_frame_present)
            h264_put_se(b, 0);
    }
    if (p->redundant_pic_cnt_present)
        h264_put_ue(b, 0);
    /* One reference: the previous picture. */
    bool override = p->num_ref_idx_l0_default != 1;
    h264_put(b, override, 1);
    if (override)
        h264_put_ue(b, 0);
    h264_put(b, 0, 1); /* ref_pic_list_modification_flag_l0 */
    h264_put(b, 0, 1); /* adaptive_ref_pic_marking_mode_flag: sliding window */
    h264_put_se(b, qp - p->pic_init_qp);
    /* The loop filter stays off: the skipped macroblocks must stay exact
     * copies of the reference, and the damaged ones are coded at a QP where
     * blocking does not show. */
    h264_put_ue(b, 1); /* disable_deblocking_filter_idc */
}

/* What motion found for macroblock addr, if the stream may code its
 * vector: vertical within the level's range (horizontal ones are far
 * wider than any search). */
static enum h264_move_kind usable_move(const struct h264_pwriter *w,
                                       const struct h264_motion *motion, uint32_t addr,
                                       struct h264_mb_move *mv)
{
    if (!motion)
        return H264_MOVE_NONE;
    enum h264_move_kind k = h264_motion_get(motion, addr, &mv->dx, &mv->dy);
    if (k == H264_MOVE_NONE || mv->dy < -w->max_dy || mv->dy >= w->max_dy)
        return H264_MOVE_NONE;
    return k;
}

/* Whether macroblock (x, y) moved by mv reads where an earlier macroblock
 * of this picture may already have been written (the picture is both the
 * reference and the picture being written, coded in raster order):
 * anything above it, or left of it in its own row. Reading down (a scroll
 * up, the commonest), or right within its row, reads what is still the
 * reference. What it reads starts at its top left sample moved and
 * clamped to the picture (the chroma's extra sample for a half-sample
 * vector lies right and down). */
static bool reads_written(const struct h264_mb_state *s, uint32_t x, uint32_t y,
                          const struct h264_mb_move *mv)
{
    int64_t top = (int64_t)y * 16 + mv->dy, left = (int64_t)x * 16 + mv->dx;
    int64_t h = (int64_t)s->mb_height * 16, w = (int64_t)s->mb_width * 16;
    int64_t row = (top < 0 ? 0 : top >= h ? h - 1 : top) / 16;
    int64_t col = (left < 0 ? 0 : left >= w ? w - 1 : left) / 16;
    return row < y || (row == y && col < x);
}

/* How far macroblock (x, y) moved straight up (its content comes from dy
 * rows below; its luma exactly, its chroma exactly or not), reading inside
 * the picture: what move_run batches; 0 for any other. The rows below the
 * macroblock are a multiple of 16, so an odd dy leaves one of them for the
 * chroma's extra row. *exact: whether the chroma moved exactly too. */
static int moved_up_by(const struct h264_pwriter *w, const struct h264_motion *motion, uint32_t x,
                       uint32_t y, bool *exact)
{
    struct h264_mb_move mv;
    enum h264_move_kind k = usable_move(w, motion, y * w->mb.mb_width + x, &mv);
    if ((k != H264_MOVE_EXACT && k != H264_MOVE_LUMA) || mv.dx != 0 || mv.dy <= 0 ||
        (y + 1) * 16 + (uint32_t)mv.dy > w->mb.mb_height * 16)
        return 0;
    *exact = k == H264_MOVE_EXACT;
    return mv.dy;
}

/* How far macroblock (x, y) moved exactly straight up or down (dy > 0: its
 * content comes from dy rows below), reading inside the picture: what a
 * shift (whole_scroll) moves; 0 for any other. */
static int moved_exactly(const struct h264_pwriter *w, const struct h264_motion *motion,
                         uint32_t x, uint32_t y)
{
    struct h264_mb_move mv;
    if (usable_move(w, motion, y * w->mb.mb_width + x, &mv) != H264_MOVE_EXACT || mv.dx)
        return 0;
    int64_t top = (int64_t)y * 16 + mv.dy;
    return top >= 0 && top + 16 <= (int64_t)w->mb.mb_height * 16 ? mv.dy : 0;
}

/* The run of macroblocks from x (before x_end) along row y moved by the
 * same (0, *dy > 0), two or more: their prediction written into the
 * reconstruction at once, before they are coded (their bits do not depend
 * on it, and they read only rows below, which this picture has not
 * written yet). In a shifted picture, those the shift moved (up or down),
 * one or more: already in place. Returns its length, 0 when there is none; *exact:
 * whether all of them moved exactly. */
static uint32_t move_run(struct h264_pwriter *w, const struct h264_motion *motion, uint32_t x,
                         uint32_t y, uint32_t x_end, int *dy, bool *exact)
{
    uint32_t n = 0;
    if (w->shift) {
        const uint8_t *row = w->shifted + (size_t)y * w->mb.mb_width;
        while (x + n < x_end && row[x + n])
            n++;
        *dy = w->shift;
        *exact = true;
        return n;
    }
    *dy = moved_up_by(w, motion, x, y, exact);
    if (!*dy)
        return 0;
    n = 1;
    bool e;
    while (x + n < x_end && moved_up_by(w, motion, x + n, y, &e) == *dy) {
        *exact &= e;
        n++;
    }
    if (n < 2)
        return 0;
    h264_mc16_run_down(&w->mb, x, y, n, *dy);
    return n;
}

/* A scroll of the whole picture: every macroblock damaged, most of them
 * moved exactly by one (0, dy) (exact moves are even); the rest (what came
 * into view, and what changed among the moved rows: a cursor, a clock) are
 * coded from the source. Then the reconstruction's windows move dy rows
 * along their rings (dy / 2 in chroma), which moves those macroblocks at
 * no cost, instead of their rows being copied. Returns dy, or 0 when the
 * picture is not such a scroll. */
static int whole_scroll(struct h264_pwriter *w, const struct hfx_mb_damage *damage,
                        const struct h264_motion *motion)
{
    const struct h264_mb_state *s = &w->mb;
    uint32_t mw = s->mb_width, mh = s->mb_height;
    if (!motion || !w->rings)
        return 0;
    uint64_t covered = 0;
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        covered += (uint64_t)(b->x2 - b->x1) * (b->y2 - b->y1);
    }
    if (covered != (uint64_t)mw * mh)
        return 0;
    /* The vector: the first exact move's (those before it did not move). */
    int dy = 0;
    uint32_t rest = 0, most = mw * mh / 2;
    for (uint32_t y = 0; y < mh; y++)
        for (uint32_t x = 0; x < mw; x++) {
            int d = moved_exactly(w, motion, x, y);
            bool by_dy = d && (!dy || d == dy);
            w->shifted[y * mw + x] = by_dy;
            if (by_dy)
                dy = d;
            else if (++rest > most)
                return 0;
        }
    return dy;
}

/* Grows an array of predictions to hold n + 1; false out of memory. */
static bool room(struct h264_mb_src **a, size_t *cap, size_t n)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 256;
    struct h264_mb_src *p = realloc(*a, c * sizeof *p);
    if (!p)
        return false;
    *a = p;
    *cap = c;
    return true;
}

/* The end of the band that starts at box: the boxes sharing its rows,
 * left to right, which are coded a row of all of them at a time. */
static const struct hfx_mb_box *band_end(const struct hfx_mb_box *box,
                                         const struct hfx_mb_box *end)
{
    const struct hfx_mb_box *b = box;
    while (b < end && b->y1 == box->y1)
        b++;
    return b;
}

/* Before any macroblock is coded, in coding order (boxes sharing rows, a
 * row at a time): the motion compensation of every moved macroblock whose
 * vector reads where earlier ones will have been written. In a picture
 * about to shift, which writes over the reference wherever it codes, that
 * of every macroblock it codes with a vector, and the co-located reference
 * of every one it codes. */
static bool predict(struct h264_pwriter *w, const struct hfx_mb_damage *damage,
                    const struct h264_motion *motion)
{
    struct h264_mb_state *s = &w->mb;
    size_t k = 0, c = 0;
    const struct hfx_mb_box *end = damage->boxes + damage->nboxes;
    for (const struct hfx_mb_box *box = damage->boxes, *band; box < end; box = band) {
        band = band_end(box, end);
        for (uint32_t y = box->y1; y < box->y2; y++)
            for (const struct hfx_mb_box *bb = box; bb < band; bb++)
                for (uint32_t x = bb->x1; x < bb->x2; x++) {
                    if (w->shift && w->shifted[y * s->mb_width + x])
                        continue;
                    if (w->shift) {
                        if (!room(&w->colocated, &w->colocated_cap, c))
                            return false;
                        h264_mc16(s, x, y, 0, 0, &w->colocated[c++]);
                    }
                    struct h264_mb_move mv;
                    if (!usable_move(w, motion, y * s->mb_width + x, &mv) ||
                        (!w->shift && !reads_written(s, x, y, &mv)))
                        continue;
                    if (!room(&w->pred, &w->pred_cap, k))
                        return false;
                    h264_mc16(s, x, y, mv.dx, mv.dy, &w->pred[k++]);
                }
    }
    return true;
}

/* The QP macroblock addr is coded at: the picture's, or refine's. */
static void set_mb_qp(struct h264_mb_state *s, struct h264_refine *refine, uint32_t addr, int qp)
{
    s->refining = false;
    h264_mb_set_qp(s, refine ? h264_refine_mb_qp(refine, addr, &s->refining) : qp);
}

/* Whether macroblock (x, y), in a run move_run predicted, has nothing left
 * to code in its chroma: moved exactly, or moved in luma with a chroma
 * residual that quantises to nothing at its QP (most of a pane scrolled by
 * an odd step). Then, as for an exact move, its prediction is its picture. */
static bool chroma_settled(struct h264_pwriter *w, const struct hfx_picture *src,
                           const struct h264_motion *motion, uint32_t x, uint32_t y,
                           struct h264_refine *refine, int qp)
{
    struct h264_mb_state *s = &w->mb;
    struct h264_mb_move mv;
    uint32_t addr = y * s->mb_width + x;
    if (usable_move(w, motion, addr, &mv) == H264_MOVE_EXACT)
        return true;
    set_mb_qp(s, refine, addr, qp);
    struct h264_mb_src msrc;
    load_source(src, x, y, false, &msrc);
    const uint8_t *u = s->plane[1] + (size_t)y * 8 * s->stride[1] + (size_t)x * 8;
    const uint8_t *v = s->plane[2] + (size_t)y * 8 * s->stride[2] + (size_t)x * 8;
    return h264_mb_chroma_zero(s, &msrc, u, (int)s->stride[1], v, (int)s->stride[2]);
}

/* Codes macroblock (x, y): a move is its prediction, with the chroma
 * residual when the chroma did not move exactly; anything else is coded
 * from the source, trying a nearby move's vector too. `moved`: move_run
 * has already moved its reconstruction. */
static const struct h264_bits *code_mb(struct h264_pwriter *w, const struct hfx_picture *src,
                                       const struct h264_motion *motion, uint32_t x, uint32_t y,
                                       size_t *k, size_t *c, bool moved)
{
    struct h264_mb_state *s = &w->mb;
    struct h264_mb_move mv;
    struct h264_mb_src pred, msrc;
    enum h264_move_kind kind = usable_move(w, motion, y * s->mb_width + x, &mv);
    /* A shifted picture's reference is all predicted (predict). */
    s->colocated_ref = w->shift && !moved ? &w->colocated[(*c)++] : NULL;
    if (moved && kind == H264_MOVE_LUMA) {
        /* Its chroma residual goes on the prediction move_run wrote. */
        h264_mc16(s, x, y, 0, 0, &pred);
        mv.pred = &pred;
    } else if (moved) {
        mv.pred = NULL;
    } else if (kind != H264_MOVE_NONE) {
        if (w->shift || reads_written(s, x, y, &mv)) {
            mv.pred = &w->pred[(*k)++];
        } else if (kind == H264_MOVE_EXACT && (mv.dy > 0 || (mv.dy == 0 && mv.dx >= 0))) {
            /* Exact moves are even: the chroma moves by whole samples.
             * Reading down, or right in the same rows, a row is read
             * before it is written (not so up to the clamped top edge). */
            h264_mc16_in_place(s, x, y, mv.dx, mv.dy);
            mv.pred = NULL;
        } else if (kind == H264_MOVE_NEARBY) {
            mv.pred = NULL;     /* made by h264_mb_code if it is tried */
        } else {
            h264_mc16(s, x, y, mv.dx, mv.dy, &pred);
            mv.pred = &pred;
        }
    }
    if (kind == H264_MOVE_EXACT)
        return h264_mb_code_moved(s, x, y, &mv, NULL);
    load_source(src, x, y, kind != H264_MOVE_LUMA, &msrc);
    if (kind == H264_MOVE_LUMA)
        return h264_mb_code_moved(s, x, y, &mv, &msrc);
    return h264_mb_code(s, x, y, &msrc, kind == H264_MOVE_NEARBY ? &mv : NULL);
}

/* Appends a coded macroblock after the skip run before it. */
static bool put_mb(struct h264_bits *b, const struct h264_bits *mb, int64_t addr, int64_t *last)
{
    if (!h264_bits_reserve(b, mb->len + 16))
        return false;
    h264_put_ue(b, (uint32_t)(addr - *last - 1)); /* mb_skip_run */
    h264_bits_append(b, mb);
    *last = addr;
    return true;
}

int64_t h264_pwriter_encode(struct h264_pwriter *w, const struct hfx_picture *src,
                            const struct hfx_mb_damage *damage, const struct h264_motion *motion,
                            int qp, struct h264_refine *refine, struct hfx_annexb *out)
{
    struct h264_mb_state *s = &w->mb;
    const struct h264_params *p = &w->params;
    w->pos.frame_num = (w->pos.frame_num + 1) & ((1u << p->log2_max_frame_num) - 1);
    if (p->poc_type == 0)
        w->pos.poc_lsb = (w->pos.poc_lsb + 2) & ((1u << p->log2_max_poc_lsb) - 1);
    s->picture++;
    if (s->picture == 0) {
        /* Stamps from 2^32 pictures ago would read as this picture's. */
        memset(s->stamp, 0, (size_t)s->mb_width * s->mb_height * sizeof *s->stamp);
        s->picture = 1;
    }
    h264_mb_set_qp(s, qp);
    s->qp_pred = qp;

    struct h264_bits *b = &w->rbsp;
    h264_bits_reset(b);
    w->shift = whole_scroll(w, damage, motion);
    if (!h264_bits_reserve(b, 64) || !predict(w, damage, motion))
        return -1;
    for (int i = 0; w->shift && i < 3; i++) {
        hfx_ring_shift(&w->ring[i], i ? w->shift / 2 : w->shift);
        s->plane[i] = hfx_ring_window(&w->ring[i], 0);
    }
    put_slice_header(w, qp);
    int64_t last = -1;
    size_t k = 0, c = 0;
    const struct hfx_mb_box *end = damage->boxes + damage->nboxes;
    for (const struct hfx_mb_box *box = damage->boxes, *band; box < end; box = band) {
        band = band_end(box, end);
        for (uint32_t y = box->y1; y < box->y2; y++)
            for (const struct hfx_mb_box *bb = box; bb < band; bb++) {
                uint32_t run_end = bb->x1;
                int run_dy = 0;
                bool run_exact = false;
                for (uint32_t x = bb->x1; x < bb->x2; x++) {
                    if (x >= run_end)
                        run_end = x + move_run(w, motion, x, y, bb->x2, &run_dy, &run_exact);
                    /* Most of a scroll: nothing to code. */
                    if (x < run_end && run_exact) {
                        uint32_t skips = h264_mb_skip_run(s, x, y, run_end - x, 0, run_dy);
                        if (skips) {
                            x += skips - 1;
                            continue;
                        }
                    } else if (x < run_end && chroma_settled(w, src, motion, x, y, refine, qp) &&
                               h264_mb_skip_run(s, x, y, 1, 0, run_dy)) {
                        continue;
                    }
                    int64_t addr = (int64_t)y * s->mb_width + x;
                    set_mb_qp(s, refine, (uint32_t)addr, qp);
                    const struct h264_bits *mb =
                        code_mb(w, src, motion, x, y, &k, &c, x < run_end);
                    s->colocated_ref = NULL;
                    uint64_t before = h264_bits_count(b);
                    if (mb && !put_mb(b, mb, addr, &last))
                        return -1;
                    if (mb && s->refining)
                        h264_refine_spent(refine, h264_bits_count(b) - before);
                }
                /* The undamaged macroblock after a box (boxes do not touch)
                 * would infer its P_Skip vector from a moved or intra left
                 * neighbour: where that is not zero, it is coded with the
                 * zero vector. */
                uint32_t x = bb->x2, addr = y * s->mb_width + x - 1;
                if (x < s->mb_width && s->stamp[addr] == s->picture &&
                    (s->intra_mb[addr] || s->mv[addr][0] || s->mv[addr][1])) {
                    const struct h264_bits *mb = h264_mb_code_moved(s, x, y, NULL, NULL);
                    if (mb && !put_mb(b, mb, (int64_t)addr + 1, &last))
                        return -1;
                }
            }
    }
    int64_t total = (int64_t)s->mb_width * s->mb_height;
    if (last + 1 < total)
        h264_put_ue(b, (uint32_t)(total - last - 1));
    h264_bits_trailing(b);
    if (b->failed || s->trial[0].failed || s->trial[1].failed || s->trial[2].failed)
        return -1;

    uint8_t head[5] = {0, 0, 0, 1, NAL_P_SLICE};
    if (hfx_annexb_append_escaped(out, head, sizeof head, b->buf, b->len) < 0)
        return -1;
    return (int64_t)h264_bits_count(b);
}

bool h264_pwriter_shifted(const struct h264_pwriter *w)
{
    return w->shift != 0;
}

const uint8_t *h264_pwriter_plane(const struct h264_pwriter *w, int plane, uint32_t *stride)
{
    *stride = w->mb.stride[plane];
    return w->mb.plane[plane];
}
