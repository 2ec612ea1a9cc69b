#include "encoder/h264/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder/h264/bits.h"

#define NAL_SLICE 1
#define NAL_IDR 5
#define NAL_SPS 7
#define NAL_PPS 8

/* Slice headers and parameter sets sit at the start of their NAL unit;
 * this much of it is always enough to read them. */
#define HEAD_BYTES 256

/* Calls fn for each NAL unit (without start code) until it returns nonzero. */
static int each_nal(const uint8_t *au, size_t size,
                    int (*fn)(const uint8_t *nal, size_t len, void *ctx), void *ctx)
{
    size_t i = 0;
    while (i + 3 <= size) {
        if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) {
            size_t start = i + 3, end = start;
            while (end + 3 <= size && !(au[end] == 0 && au[end + 1] == 0 &&
                                        (au[end + 2] == 1 || au[end + 2] == 0)))
                end++;
            if (end + 3 > size)
                end = size;
            int rc = fn(au + start, end - start, ctx);
            if (rc)
                return rc;
            i = end;
        } else {
            i++;
        }
    }
    return 0;
}

struct parse_ctx {
    struct h264_params *p;
    bool have_sps, have_pps;
    char *err;
    size_t errlen;
    struct h264_slice_pos *pos;
};

static int fail(struct parse_ctx *c, const char *what)
{
    snprintf(c->err, c->errlen, "the x264 stream uses %s, which the P-slice writer does not",
             what);
    return -1;
}

static int parse_sps(struct parse_ctx *c, struct h264_reader *r)
{
    struct h264_params *p = c->p;
    uint32_t profile = h264_get(r, 8);
    h264_get(r, 8); /* constraint flags */
    p->level_idc = h264_get(r, 8);
    p->sps_id = h264_get_ue(r);
    if (profile == 100 || profile == 110 || profile == 122 || profile == 244 ||
        profile == 44 || profile == 83 || profile == 86 || profile == 118 || profile == 128 ||
        profile == 138 || profile == 139 || profile == 134 || profile == 135) {
        if (h264_get_ue(r) != 1)
            return fail(c, "a chroma format other than 4:2:0");
        if (h264_get_ue(r) != 0 || h264_get_ue(r) != 0)
            return fail(c, "more than 8 bits per sample");
        if (h264_get(r, 1))
            return fail(c, "lossless transform bypass");
        if (h264_get(r, 1))
            return fail(c, "scaling matrices");
    }
    p->log2_max_frame_num = h264_get_ue(r) + 4;
    p->poc_type = h264_get_ue(r);
    if (p->poc_type == 0)
        p->log2_max_poc_lsb = h264_get_ue(r) + 4;
    else if (p->poc_type != 2)
        return fail(c, "picture order count type 1");
    h264_get_ue(r); /* max_num_ref_frames */
    h264_get(r, 1); /* gaps_in_frame_num_value_allowed_flag */
    p->mb_width = h264_get_ue(r) + 1;
    p->mb_height = h264_get_ue(r) + 1;
    if (!h264_get(r, 1))
        return fail(c, "interlaced coding");
    if (r->overrun || p->log2_max_frame_num > 16 || p->log2_max_poc_lsb > 16)
        return fail(c, "a malformed SPS");
    c->have_sps = true;
    return 0;
}

static int parse_pps(struct parse_ctx *c, struct h264_reader *r)
{
    struct h264_params *p = c->p;
    p->pps_id = h264_get_ue(r);
    if (h264_get_ue(r) != p->sps_id)
        return fail(c, "a PPS for another SPS");
    if (h264_get(r, 1))
        return fail(c, "CABAC");
    p->bottom_field_pic_order_in_frame_present = h264_get(r, 1);
    if (h264_get_ue(r) != 0)
        return fail(c, "slice groups");
    p->num_ref_idx_l0_default = h264_get_ue(r) + 1;
    h264_get_ue(r); /* num_ref_idx_l1_default_active_minus1 */
    if (h264_get(r, 1))
        return fail(c, "weighted prediction");
    h264_get(r, 2); /* weighted_bipred_idc */
    p->pic_init_qp = 26 + h264_get_se(r);
    h264_get_se(r); /* pic_init_qs_minus26 */
    p->chroma_qp_offset[0] = p->chroma_qp_offset[1] = h264_get_se(r);
    if (!h264_get(r, 1))
        return fail(c, "no deblocking filter control");
    p->constrained_intra_pred = h264_get(r, 1);
    p->redundant_pic_cnt_present = h264_get(r, 1);
    if (h264_more_rbsp_data(r)) {
        if (h264_get(r, 1))
            return fail(c, "the 8x8 transform");
        if (h264_get(r, 1))
            return fail(c, "scaling matrices");
        p->chroma_qp_offset[1] = h264_get_se(r);
    }
    if (r->overrun)
        return fail(c, "a malformed PPS");
    c->have_pps = true;
    return 0;
}

static int on_param_nal(const uint8_t *nal, size_t len, void *ctx)
{
    struct parse_ctx *c = ctx;
    int type = nal[0] & 0x1f;
    if (len < 2 || (type != NAL_SPS && type != NAL_PPS))
        return 0;
    uint8_t *rbsp = malloc(len);
    if (!rbsp)
        return fail(c, "more memory than there is");
    struct h264_reader r;
    h264_reader_init(&r, rbsp, h264_unescape(rbsp, nal + 1, len - 1));
    int rc = type == NAL_SPS ? parse_sps(c, &r) : parse_pps(c, &r);
    free(rbsp);
    return rc;
}

int h264_params_parse(struct h264_params *p, const uint8_t *au, size_t size, char *err,
                      size_t errlen)
{
    memset(p, 0, sizeof *p);
    struct parse_ctx c = {.p = p, .err = err, .errlen = errlen};
    if (each_nal(au, size, on_param_nal, &c) < 0)
        return -1;
    if (!c.have_sps || !c.have_pps) {
        snprintf(err, errlen, "the x264 access unit has no SPS and PPS");
        return -1;
    }
    return 0;
}

static int on_slice_nal(const uint8_t *nal, size_t len, void *ctx)
{
    struct parse_ctx *c = ctx;
    int type = nal[0] & 0x1f;
    if (len < 2 || (type != NAL_SLICE && type != NAL_IDR))
        return 0;
    uint8_t rbsp[HEAD_BYTES];
    size_t n = len - 1 < HEAD_BYTES ? len - 1 : HEAD_BYTES;
    struct h264_reader r;
    h264_reader_init(&r, rbsp, h264_unescape(rbsp, nal + 1, n));
    h264_get_ue(&r); /* first_mb_in_slice */
    h264_get_ue(&r); /* slice_type */
    h264_get_ue(&r); /* pic_parameter_set_id */
    c->pos->frame_num = h264_get(&r, (int)c->p->log2_max_frame_num);
    if (type == NAL_IDR)
        h264_get_ue(&r); /* idr_pic_id */
    c->pos->poc_lsb = c->p->poc_type == 0 ? h264_get(&r, (int)c->p->log2_max_poc_lsb) : 0;
    return r.overrun ? -1 : 1;
}

int h264_slice_pos_parse(const struct h264_params *p, const uint8_t *au, size_t size,
                         struct h264_slice_pos *out)
{
    struct parse_ctx c = {.p = (struct h264_params *)p, .pos = out};
    return each_nal(au, size, on_slice_nal, &c) == 1 ? 0 : -1;
}
