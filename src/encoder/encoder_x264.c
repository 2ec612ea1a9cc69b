/* x264 backend: ultrafast, zero latency, one access unit per frame. The
 * stream is kept to the subset (baseline, CAVLC, one reference, no weighted
 * prediction) that lets later code write P slices into it by hand. */
#include "encoder/encoder.h"
#include "encoder/annexb.h"
#include "encoder/h264/params.h"
#include "encoder/h264/pwriter.h"
#include "encoder/h264/refine.h"
#include "encoder/writer_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x264.h>

/* The VBV buffer is the largest burst above the average rate: what a
 * subscriber's first IDR and a window switch may spend. One second of the
 * nominal rate keeps text sharp in an IDR even when it follows other large
 * frames or a rate cut (the encoder test measured 4K IDRs of text below
 * 28 dB with 0.5 s in that case, above 33 dB with 1 s). A burst costs
 * latency of buffer / link rate, near a second only on a link no faster
 * than the nominal rate; the default rates are a small part of a LAN. A
 * one-frame buffer, the usual game-streaming choice, would blur every IDR
 * and window switch until ABR refines it over the following frames. */
#define VBV_SECONDS 1.0

struct hfx_encoder {
    x264_t *x264;
    uint32_t width, height;       /* coded size (visible rounded up to even) */
    uint32_t mb_width, mb_height;
    uint8_t *mb_info;             /* one byte per macroblock, reused per frame */
    struct hfx_annexb au;         /* the access unit returned by encode() */
    int64_t frames;
    uint32_t fps;
    int quality;
    char log_error[256];          /* x264's first error, for open()'s message */

    /* The hybrid: the writer continues x264's stream for small changes. */
    bool hybrid;
    struct h264_params params;    /* of x264's stream */
    struct h264_pwriter *writer;  /* made from x264's first SPS and PPS */
    bool recon_ok;                /* recon and recon_pos describe x264's last picture */
    bool writer_ran;              /* the writer coded frames since x264's last one */
    struct hfx_writer_policy policy;
    x264_picture_t recon;         /* x264's last picture, valid until its next call */
    struct h264_slice_pos recon_pos;
    /* Still macroblocks re-coded at a better QP; x264's worst slice QP
     * since its last IDR, which its skipped macroblocks may still carry. */
    struct h264_refine *refine;
    int x264_worst_qp;
};

static void log_cb(void *priv, int level, const char *fmt, va_list args)
{
    struct hfx_encoder *enc = priv;
    if (level == X264_LOG_ERROR && !enc->x264 && !enc->log_error[0]) {
        /* Still opening: the first error is the cause, and open() reports it. */
        vsnprintf(enc->log_error, sizeof(enc->log_error), fmt, args);
        enc->log_error[strcspn(enc->log_error, "\n")] = '\0';
        return;
    }
    fputs("x264: ", stderr);
    vfprintf(stderr, fmt, args);
}

/* Quality-targeted (CRF) under a VBV cap: a static desktop costs nothing
 * and an IDR gets the same quality as the frames around it, while the cap
 * keeps any burst within the rate. ABR instead starts every encoder from a
 * guessed QP and blurs the first IDR a subscriber sees. */
static void set_rate(x264_param_t *param, uint32_t bitrate, int quality)
{
    int kbit = (int)((bitrate + 500) / 1000);
    param->rc.i_rc_method = X264_RC_CRF;
    param->rc.f_rf_constant = (float)quality;
    param->rc.i_vbv_max_bitrate = kbit;
    param->rc.i_vbv_buffer_size = (int)(kbit * VBV_SECONDS);
}

static int init_param(struct hfx_encoder *enc, const struct hfx_encoder_params *p,
                      x264_param_t *param)
{
    if (x264_param_default_preset(param, "ultrafast", "zerolatency") < 0)
        return -1;
    param->pf_log = log_cb;
    param->p_log_private = enc;
    param->i_log_level = X264_LOG_WARNING;

    param->i_csp = X264_CSP_I420;
    param->i_width = (int)enc->width;
    param->i_height = (int)enc->height;
    param->i_fps_num = p->fps;
    param->i_fps_den = 1;
    param->b_vfr_input = 0;
    param->i_threads = p->threads;
    param->b_sliced_threads = 1;

    /* Frames leave in the call that brought them, and only the IDRs we ask
     * for are keyframes. */
    param->i_bframe = 0;
    param->rc.i_lookahead = 0;
    param->i_sync_lookahead = 0;
    param->i_keyint_max = X264_KEYINT_MAX_INFINITE;
    param->i_scenecut_threshold = 0;
    param->b_intra_refresh = 0;

    /* What hand-written P slices rely on. x264 always sets
     * deblocking_filter_control_present_flag, so slice headers may turn the
     * loop filter on or off. */
    param->b_cabac = 0;
    param->i_frame_reference = 1;
    param->analyse.i_weighted_pred = X264_WEIGHTP_NONE;
    param->analyse.b_weighted_bipred = 0;
    param->analyse.b_transform_8x8 = 0;
    param->b_full_recon = 1;

    param->b_repeat_headers = 1;
    param->b_annexb = 1;
    param->b_aud = 0;
    param->analyse.b_mb_info = 1;
    /* The level stays automatic (i_level_idc -1): x264 derives it from the
     * frame size, fps and VBV, which gives 4.2 / 5.2 / 6.0 for
     * 1080p / 4K / 5K at 60 fps (checked by the encoder test). */
    set_rate(param, p->bitrate, enc->quality);
    return x264_param_apply_profile(param, "baseline");
}

static void x264_close(struct hfx_encoder *enc)
{
    if (!enc)
        return;
    if (enc->x264)
        x264_encoder_close(enc->x264);
    h264_pwriter_free(enc->writer);
    h264_refine_free(enc->refine);
    free(enc->mb_info);
    hfx_annexb_free(&enc->au);
    free(enc);
}

static struct hfx_encoder *open_with(const struct hfx_encoder_params *p, bool hybrid, char *err,
                                     size_t errlen)
{
    struct hfx_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc) {
        snprintf(err, errlen, "Out of memory opening the x264 encoder.");
        return NULL;
    }
    if (p->quality < 0 || p->quality > 51) {
        snprintf(err, errlen, "Quality %d is not a QP (1..51).", p->quality);
        free(enc);
        return NULL;
    }
    enc->hybrid = hybrid;
    enc->fps = p->fps;
    enc->quality = p->quality ? p->quality : HFX_DEFAULT_QUALITY;
    hfx_writer_policy_init(&enc->policy, p->bitrate, p->fps);
    /* 4:2:0 H.264 crops in steps of two pixels, so an odd visible size is
     * coded one row or column larger; the planes' padding supplies it. */
    enc->width = (p->width + 1) & ~1u;
    enc->height = (p->height + 1) & ~1u;
    enc->mb_width = (enc->width + 15) / 16;
    enc->mb_height = (enc->height + 15) / 16;
    enc->mb_info = malloc((size_t)enc->mb_width * enc->mb_height);
    if (hybrid)
        enc->refine = h264_refine_new(enc->mb_width, enc->mb_height, p->fps, enc->quality);
    if (!enc->mb_info || (hybrid && !enc->refine)) {
        snprintf(err, errlen, "Out of memory opening the x264 encoder.");
        x264_close(enc);
        return NULL;
    }
    x264_param_t param;
    if (init_param(enc, p, &param) < 0) {
        snprintf(err, errlen, "x264 rejected its settings for %ux%u (%s).", p->width,
                 p->height, enc->log_error[0] ? enc->log_error : "no reason given");
        x264_close(enc);
        return NULL;
    }
    enc->x264 = x264_encoder_open(&param);
    if (!enc->x264) {
        snprintf(err, errlen,
                 "x264 cannot encode %ux%u at %u fps (%s); try a smaller size or "
                 "another --encoder.",
                 p->width, p->height, p->fps,
                 enc->log_error[0] ? enc->log_error : "no reason given");
        x264_close(enc);
        return NULL;
    }
    return enc;
}

static void fill_mb_info(struct hfx_encoder *enc, const struct hfx_mb_damage *damage)
{
    memset(enc->mb_info, X264_MBINFO_CONSTANT, (size_t)enc->mb_width * enc->mb_height);
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        for (uint32_t y = b->y1; y < b->y2; y++)
            memset(enc->mb_info + (size_t)y * enc->mb_width + b->x1, 0, b->x2 - b->x1);
    }
}

static bool damage_fits(const struct hfx_encoder *enc, const struct hfx_mb_damage *damage)
{
    if (damage->mb_width != enc->mb_width || damage->mb_height != enc->mb_height)
        return false;
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        if (b->x1 >= b->x2 || b->y1 >= b->y2 || b->x2 > enc->mb_width || b->y2 > enc->mb_height)
            return false;
    }
    return true;
}

/* Joins the NALs with 4-byte start codes (x264 gives 3-byte ones to the
 * SEI and to every slice after a frame's first NAL). x264's version SEI is
 * dropped: it is the only SEI this
 * configuration writes, and clients expect an IDR to be SPS, PPS, slices. */
static int build_au(struct hfx_encoder *enc, const x264_nal_t *nals, int n)
{
    enc->au.size = 0;
    for (int i = 0; i < n; i++)
        if (nals[i].i_type != NAL_SEI &&
            hfx_annexb_append(&enc->au, nals[i].p_payload, (size_t)nals[i].i_payload) < 0)
            return -1;
    return 0;
}

static int encode_x264(struct hfx_encoder *enc, const struct hfx_picture *pic,
                       const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    x264_picture_t in;
    x264_picture_init(&in);
    in.img.i_csp = X264_CSP_I420;
    in.img.i_plane = 3;
    for (int i = 0; i < 3; i++) {
        in.img.plane[i] = pic->plane[i];
        in.img.i_stride[i] = (int)pic->stride[i];
    }
    in.i_pts = enc->frames;
    bool idr = force_idr || enc->frames == 0;
    in.i_type = force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
    /* An IDR codes every macroblock anyway; elsewhere the hint lets x264
     * skip analysing what did not change. The encode is synchronous, so the
     * one buffer can be refilled next frame and needs no free callback. */
    if (damage && !idr) {
        fill_mb_info(enc, damage);
        in.prop.mb_info = enc->mb_info;
    }

    x264_nal_t *nals;
    int n;
    if (x264_encoder_encode(enc->x264, &nals, &n, &in, &enc->recon) <= 0)
        return -1;
    enc->frames++;
    if (build_au(enc, nals, n) < 0)
        return -1;
    out->data = enc->au.data;
    out->size = enc->au.size;
    out->keyframe = enc->recon.i_type == X264_TYPE_IDR;
    return 0;
}

static int x264_encode(struct hfx_encoder *enc, const struct hfx_picture *pic,
                       const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    if (damage && !damage_fits(enc, damage))
        return -1;
    return encode_x264(enc, pic, damage, force_idr, out);
}

/* The writer is made from x264's IDR, whose SPS and PPS it shares (and
 * made again should a later IDR bring others). A stream it cannot continue
 * leaves the hybrid an x264 encoder. */
static void start_writer(struct hfx_encoder *enc)
{
    struct h264_params params;
    char err[256];
    if (h264_params_parse(&params, enc->au.data, enc->au.size, err, sizeof err) < 0) {
        fprintf(stderr, "hybrid encoder: %s; x264 codes every frame\n", err);
        enc->hybrid = false;
        return;
    }
    if (enc->writer && memcmp(&params, &enc->params, sizeof params) == 0)
        return;
    h264_pwriter_free(enc->writer);
    enc->params = params;
    enc->writer = h264_pwriter_new(&params, enc->width, enc->height);
    if (!enc->writer) {
        fprintf(stderr, "hybrid encoder: cannot set up the P-slice writer; x264 codes every "
                        "frame\n");
        enc->hybrid = false;
    }
}

/* x264 after the writer has coded frames: its rate control thinks no time
 * has passed since its last frame, and would starve the IDR it must now
 * write as if it followed that frame directly. A new x264 (same settings,
 * so the same SPS and PPS) starts from a full VBV buffer, which is what the
 * writer's small frames have left. Opening costs a few milliseconds, as
 * much as the IDR itself, and only on these switches. */
static int reopen_x264(struct hfx_encoder *enc)
{
    x264_param_t param;
    x264_encoder_parameters(enc->x264, &param);
    /* param's strings belong to the old encoder: open before closing it. */
    x264_t *fresh = x264_encoder_open(&param);
    if (!fresh)
        return -1;
    x264_encoder_close(enc->x264);
    enc->x264 = fresh;
    enc->frames = 0;
    enc->recon_ok = false;
    return 0;
}

static int hybrid_encode(struct hfx_encoder *enc, const struct hfx_picture *pic,
                         const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    if (damage && !damage_fits(enc, damage))
        return -1;
    uint32_t total = enc->mb_width * enc->mb_height;
    struct hfx_writer_policy *pol = &enc->policy;
    enum hfx_writer_choice c = hfx_writer_policy_choose(
        pol, damage ? damage->count : total, total, damage != NULL, force_idr || !enc->frames,
        enc->recon_ok || pol->writing);
    if (c == HFX_CHOOSE_WRITER) {
        if (!pol->writing) {
            const x264_image_t *img = &enc->recon.img;
            h264_pwriter_take_reference(enc->writer, img->plane[0], img->i_stride[0],
                                        img->plane[1], img->i_stride[1], enc->recon_pos);
        }
        enc->au.size = 0;
        int qp = hfx_writer_policy_qp(pol, enc->quality);
        /* Taking the stream on a frame without changes: x264's picture
         * has stayed unchanged since (for the stillness delay when this is
         * the frame asked for below, for the refresh interval when it is
         * an idle refresh), so it counts as still at once. */
        if (!pol->writing && damage->count == 0)
            h264_refine_settled(enc->refine);
        const struct hfx_mb_damage *plan =
            h264_refine_plan(enc->refine, damage, qp, hfx_writer_policy_may_refine(pol));
        int64_t bits = h264_pwriter_encode(enc->writer, pic, plan, qp, enc->refine, &enc->au);
        if (bits >= 0) {
            hfx_writer_policy_done(pol, c, bits);
            enc->writer_ran = true;
            out->data = enc->au.data;
            out->size = enc->au.size;
            out->keyframe = false;
            out->again_ms = h264_refine_again_ms(enc->refine, damage->count == 0);
            return 0;
        }
        /* Out of memory mid-picture: its reference is no longer known. */
        c = HFX_CHOOSE_X264_IDR;
        pol->writing = true;
    }
    if (enc->writer_ran && reopen_x264(enc) < 0)
        return -1;
    enc->writer_ran = false;
    if (encode_x264(enc, pic, damage, force_idr || c == HFX_CHOOSE_X264_IDR, out) < 0)
        return -1;
    hfx_writer_policy_done(pol, c, (int64_t)out->size * 8);
    int qp = enc->recon.i_qpplus1 - 1;
    enc->x264_worst_qp = out->keyframe || qp > enc->x264_worst_qp ? qp : enc->x264_worst_qp;
    h264_refine_x264_picture(enc->refine, enc->x264_worst_qp);
    if (out->keyframe && enc->hybrid)
        start_writer(enc);
    /* Where x264 left frame_num and the picture order count, for the
     * writer to continue from. */
    enc->recon_ok = enc->writer &&
                    h264_slice_pos_parse(&enc->params, out->data, out->size, &enc->recon_pos) == 0;
    /* The writer refines what x264 coded once it takes the stream: on a
     * frame without changes once the picture has been still long enough
     * (not sooner: content that keeps changing, such as video, stays with
     * x264), unless x264 keeps the stream a while. */
    if (enc->hybrid && enc->recon_ok && hfx_writer_policy_writer_next(pol))
        out->again_ms = h264_refine_again_ms(enc->refine, false);
    return 0;
}

static int x264_set_bitrate(struct hfx_encoder *enc, uint32_t bitrate)
{
    x264_param_t param;
    x264_encoder_parameters(enc->x264, &param);
    set_rate(&param, bitrate, enc->quality);
    hfx_writer_policy_set_bitrate(&enc->policy, bitrate, enc->fps);
    return x264_encoder_reconfig(enc->x264, &param) < 0 ? -1 : 0;
}

static struct hfx_encoder *x264_open(const struct hfx_encoder_params *p, char *err, size_t errlen)
{
    return open_with(p, false, err, errlen);
}

static struct hfx_encoder *hybrid_open(const struct hfx_encoder_params *p, char *err,
                                       size_t errlen)
{
    return open_with(p, true, err, errlen);
}

bool hfx_encoder_hybrid_writer_picture(struct hfx_encoder *enc, const uint8_t *plane[3],
                                       uint32_t stride[3])
{
    if (!enc->hybrid || !enc->policy.writing)
        return false;
    for (int i = 0; i < 3; i++)
        plane[i] = h264_pwriter_plane(enc->writer, i, &stride[i]);
    return true;
}

static void hybrid_stats(struct hfx_encoder *enc, struct hfx_encoder_stats *out)
{
    out->writer_frames = enc->policy.writer_frames;
    out->x264_frames = enc->policy.x264_frames;
    out->switch_idrs = enc->policy.switch_idrs;
    out->refine_bytes = h264_refine_bits(enc->refine) / 8;
    out->refine_mbs = h264_refine_mbs(enc->refine);
}

const struct hfx_encoder_ops hfx_encoder_x264 = {
    .name = "x264",
    .open = x264_open,
    .encode = x264_encode,
    .set_bitrate = x264_set_bitrate,
    .close = x264_close,
};

const struct hfx_encoder_ops hfx_encoder_hybrid = {
    .name = "hybrid",
    .open = hybrid_open,
    .encode = hybrid_encode,
    .set_bitrate = x264_set_bitrate,
    .close = x264_close,
    .stats = hybrid_stats,
};
