/* x264 backend: ultrafast, zero latency, one access unit per frame. The
 * stream is kept to the subset (baseline, CAVLC, one reference, no weighted
 * prediction) that lets the hybrid's writer continue it by hand, and x264
 * is the H.264 core (h264_core.h) the hybrid builds on. */
#include "encoder/encoder.h"
#include "encoder/annexb.h"
#include "encoder/h264_core.h"
#include "encoder/h264/params.h"
#include "common/log.h"

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
    int quality;
    char log_error[256];          /* x264's first error, for open()'s message */
    x264_picture_t recon;         /* x264's last picture, valid until its next call */
    /* The SPS and PPS of the last IDR, for the core's reference; params_err
     * says why they cannot be continued when it is not empty. */
    struct h264_params params;
    char params_err[192];
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
    char line[512];
    vsnprintf(line, sizeof line, fmt, args);
    line[strcspn(line, "\n")] = '\0';
    hfx_log(level == X264_LOG_ERROR ? HFX_LOG_ERROR
            : level == X264_LOG_WARNING ? HFX_LOG_WARN
            : level == X264_LOG_INFO ? HFX_LOG_INFO
                                      : HFX_LOG_DEBUG,
            "x264: %s", line);
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
    free(enc->mb_info);
    hfx_annexb_free(&enc->au);
    free(enc);
}

static struct hfx_encoder *x264_open(const struct hfx_encoder_params *p, char *err,
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
    enc->quality = hfx_encoder_quality(p);
    hfx_encoder_coded_size(p, &enc->width, &enc->height);
    enc->mb_width = (enc->width + 15) / 16;
    enc->mb_height = (enc->height + 15) / 16;
    enc->mb_info = malloc((size_t)enc->mb_width * enc->mb_height);
    if (!enc->mb_info) {
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

/* Reads the SPS and PPS of an IDR just coded, for the core's reference. */
static void note_params(struct hfx_encoder *enc)
{
    enc->params_err[0] = '\0';
    if (h264_params_parse(&enc->params, enc->au.data, enc->au.size, enc->params_err,
                          sizeof enc->params_err) < 0 &&
        !enc->params_err[0])
        snprintf(enc->params_err, sizeof enc->params_err, "x264's SPS or PPS cannot be read");
}

static int x264_encode(struct hfx_encoder *enc, const struct hfx_picture *pic,
                       const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    if (damage && !hfx_mb_damage_fits(damage, enc->mb_width, enc->mb_height))
        return -1;
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
    if (out->keyframe)
        note_params(enc);
    return 0;
}

static int x264_reference(struct hfx_encoder *enc, struct hfx_h264_reference *out, char *err,
                          size_t errlen)
{
    if (!enc->frames) {
        snprintf(err, errlen, "x264 has coded no frame since it was opened");
        return -1;
    }
    if (enc->params_err[0]) {
        snprintf(err, errlen, "%s", enc->params_err);
        return -1;
    }
    /* Where x264 left frame_num and the picture order count: its last
     * access unit is still in enc->au. */
    if (h264_slice_pos_parse(&enc->params, enc->au.data, enc->au.size, &out->pos) < 0) {
        snprintf(err, errlen, "x264's last access unit has no slice to read");
        return -1;
    }
    out->params = enc->params;
    out->y = enc->recon.img.plane[0];
    out->y_stride = enc->recon.img.i_stride[0];
    out->uv = enc->recon.img.plane[1];
    out->uv_stride = enc->recon.img.i_stride[1];
    out->qp = enc->recon.i_qpplus1 - 1;
    return 0;
}

/* A restart follows frames x264 did not code (the hybrid's writer): its
 * rate control thinks no time has passed since its last frame, and would
 * starve the IDR it must now write as if it followed that frame directly.
 * A new x264 (same settings, so the same SPS and PPS) starts from a full
 * VBV buffer, which is what the writer's small frames have left. Opening
 * costs a few milliseconds, as much as the IDR itself, and only on these
 * switches. */
static int x264_restart(struct hfx_encoder *enc)
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
    return 0;
}

static int x264_set_bitrate(struct hfx_encoder *enc, uint32_t bitrate)
{
    x264_param_t param;
    x264_encoder_parameters(enc->x264, &param);
    set_rate(&param, bitrate, enc->quality);
    return x264_encoder_reconfig(enc->x264, &param) < 0 ? -1 : 0;
}

static const struct hfx_h264_core_ops core = {
    .reference = x264_reference,
    .restart = x264_restart,
};

const struct hfx_encoder_ops hfx_encoder_x264 = {
    .name = "x264",
    .open = x264_open,
    .encode = x264_encode,
    .set_bitrate = x264_set_bitrate,
    .close = x264_close,
    .core = &core,
};
