#include "encoder/h264/pwriter.h"

#include <stdlib.h>
#include <string.h>

#include <libyuv.h>

#include "encoder/h264/bits.h"
#include "encoder/h264/dsp.h"
#include "encoder/h264/mb.h"
#include "encoder/h264/refine.h"
#include "encoder/h264/transform.h"

#define NAL_P_SLICE 0x41 /* nal_ref_idc 2 (a reference), non-IDR slice */
#define SLICE_TYPE_P 0

struct h264_pwriter {
    struct h264_params params;
    uint32_t width, height; /* visible */
    struct h264_mb_state mb;
    uint8_t *planes;
    struct h264_slice_pos pos;
    struct h264_bits rbsp;
};

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
    w->mb.mb_height = mh;
    w->mb.nz = malloc(n * sizeof *w->mb.nz);
    w->mb.stamp = calloc(n, sizeof *w->mb.stamp);
    w->planes = malloc(n * 384);
    if (!w->mb.nz || !w->mb.stamp || !w->planes) {
        h264_pwriter_free(w);
        return NULL;
    }
    w->mb.plane[0] = w->planes;
    w->mb.plane[1] = w->planes + n * 256;
    w->mb.plane[2] = w->planes + n * 320;
    w->mb.stride[0] = mw * 16;
    w->mb.stride[1] = w->mb.stride[2] = mw * 8;
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
    free(w->planes);
    h264_bits_free(&w->mb.trial[0]);
    h264_bits_free(&w->mb.trial[1]);
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

/* The source macroblock, with the picture's edge repeated past its visible
 * size: what lies there is cropped away, but the prediction of later
 * macroblocks reads its reconstruction, so it is coded like the rest. */
static void load_source(const struct hfx_picture *src, uint32_t mbx, uint32_t mby,
                        struct h264_mb_src *out)
{
    for (int p = 0; p < 3; p++) {
        int size = p ? 8 : 16;
        uint32_t w = p ? (src->width + 1) / 2 : src->width;
        uint32_t h = p ? (src->height + 1) / 2 : src->height;
        uint32_t x0 = mbx * (uint32_t)size, y0 = mby * (uint32_t)size;
        uint8_t *dst = p == 0 ? out->y : p == 1 ? out->u : out->v;
        bool inside = x0 + (uint32_t)size <= w && y0 + (uint32_t)size <= h;
        for (int y = 0; y < size; y++) {
            uint32_t sy = y0 + (uint32_t)y < h ? y0 + (uint32_t)y : h - 1;
            const uint8_t *row = src->plane[p] + (size_t)sy * src->stride[p];
            if (inside) {
                memcpy(dst + y * size, row + x0, (size_t)size);
                continue;
            }
            for (int x = 0; x < size; x++) {
                uint32_t sx = x0 + (uint32_t)x < w ? x0 + (uint32_t)x : w - 1;
                dst[y * size + x] = row[sx];
            }
        }
    }
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

int64_t h264_pwriter_encode(struct h264_pwriter *w, const struct hfx_picture *src,
                            const struct hfx_mb_damage *damage, int qp,
                            struct h264_refine *refine, struct hfx_annexb *out)
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
    if (!h264_bits_reserve(b, 64))
        return -1;
    put_slice_header(w, qp);
    int64_t last = -1;
    struct h264_mb_src msrc;
    const struct hfx_mb_box *box = damage->boxes, *end = damage->boxes + damage->nboxes;
    while (box < end) {
        /* A band: boxes sharing their rows, left to right. */
        const struct hfx_mb_box *band_end = box;
        while (band_end < end && band_end->y1 == box->y1)
            band_end++;
        for (uint32_t y = box->y1; y < box->y2; y++)
            for (const struct hfx_mb_box *bb = box; bb < band_end; bb++)
                for (uint32_t x = bb->x1; x < bb->x2; x++) {
                    int64_t addr = (int64_t)y * s->mb_width + x;
                    s->refining = false;
                    h264_mb_set_qp(s, refine ? h264_refine_mb_qp(refine, (uint32_t)addr,
                                                                 &s->refining)
                                             : qp);
                    load_source(src, x, y, &msrc);
                    const struct h264_bits *mb = h264_mb_code(s, x, y, &msrc);
                    if (!mb)
                        continue;
                    if (!h264_bits_reserve(b, mb->len + 16))
                        return -1;
                    uint64_t before = h264_bits_count(b);
                    h264_put_ue(b, (uint32_t)(addr - last - 1)); /* mb_skip_run */
                    h264_bits_append(b, mb);
                    if (s->refining)
                        h264_refine_spent(refine, h264_bits_count(b) - before);
                    last = addr;
                }
        box = band_end;
    }
    int64_t total = (int64_t)s->mb_width * s->mb_height;
    if (last + 1 < total)
        h264_put_ue(b, (uint32_t)(total - last - 1));
    h264_bits_trailing(b);
    if (b->failed || s->trial[0].failed || s->trial[1].failed)
        return -1;

    uint8_t head[5] = {0, 0, 0, 1, NAL_P_SLICE};
    if (hfx_annexb_append_escaped(out, head, sizeof head, b->buf, b->len) < 0)
        return -1;
    return (int64_t)h264_bits_count(b);
}

const uint8_t *h264_pwriter_plane(const struct h264_pwriter *w, int plane, uint32_t *stride)
{
    *stride = w->mb.stride[plane];
    return w->mb.plane[plane];
}
