/* The hybrid backend: an H.264 core (h264_core.h; x264 today) codes IDRs
 * and large changes, and the P-slice writer (src/encoder/h264) continues
 * the core's stream for small ones, at a cost that follows the damage.
 * writer_policy.c decides which codes each frame. */
#include "encoder/encoder.h"
#include "encoder/annexb.h"
#include "encoder/h264_core.h"
#include "encoder/h264/motion.h"
#include "encoder/h264/pwriter.h"
#include "encoder/h264/refine.h"
#include "encoder/writer_policy.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The core, by its name in the registry. */
#define CORE "x264"

/* The hybrid's own instance; `core` is an instance of the core backend's
 * (a struct hfx_encoder of another file), reached only through core_ops. */
struct hfx_encoder {
    const struct hfx_encoder_ops *core_ops;
    struct hfx_encoder *core;
    uint32_t width, height;       /* coded size */
    uint32_t mb_width, mb_height;
    int quality;
    uint32_t fps;
    uint64_t frames;
    struct hfx_writer_policy policy;
    struct hfx_annexb au;         /* the writer's access unit, returned by encode() */

    struct h264_pwriter *writer;  /* made from the core's SPS and PPS */
    struct h264_motion *motion;   /* finds moved macroblocks for the writer */
    struct h264_params params;    /* those the writer was made for */
    /* ref describes the core's last picture, for the writer to continue. */
    struct hfx_h264_reference ref;
    bool ref_ok;
    /* The writer could not be set up for the core's stream; tried again at
     * the core's next IDR. */
    bool setup_failed;
    uint64_t setup_failures;
    uint64_t scroll_shifts;       /* writer frames that moved its rows by a window */
    bool writer_ran;              /* the writer coded frames since the core's last one */
    /* Still macroblocks re-coded at a better QP; the core's worst QP since
     * its last IDR, which its skipped macroblocks may still carry. */
    struct h264_refine *refine;
    int core_worst_qp;
};

static void hybrid_close(struct hfx_encoder *enc)
{
    if (!enc)
        return;
    if (enc->core)
        enc->core_ops->close(enc->core);
    h264_pwriter_free(enc->writer);
    h264_refine_free(enc->refine);
    h264_motion_free(enc->motion);
    hfx_annexb_free(&enc->au);
    free(enc);
}

static struct hfx_encoder *hybrid_open(const struct hfx_encoder_params *p, char *err,
                                       size_t errlen)
{
    const struct hfx_encoder_ops *core_ops = hfx_encoder_find(CORE);
    if (!core_ops || !core_ops->core) {
        snprintf(err, errlen, "The hybrid's core %s is not an H.264 core in this build; use "
                 "another --encoder.", CORE);
        return NULL;
    }
    struct hfx_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc) {
        snprintf(err, errlen, "Out of memory opening the hybrid encoder.");
        return NULL;
    }
    enc->core_ops = core_ops;
    enc->core = core_ops->open(p, err, errlen);
    if (!enc->core) {
        free(enc);
        return NULL;
    }
    enc->quality = hfx_encoder_quality(p);
    enc->fps = p->fps;
    hfx_encoder_coded_size(p, &enc->width, &enc->height);
    enc->mb_width = (enc->width + 15) / 16;
    enc->mb_height = (enc->height + 15) / 16;
    hfx_writer_policy_init(&enc->policy, p->bitrate, p->fps);
    enc->refine = h264_refine_new(enc->mb_width, enc->mb_height, enc->fps, enc->quality);
    enc->motion = h264_motion_new(p->width, p->height);
    if (!enc->refine || !enc->motion) {
        snprintf(err, errlen, "Out of memory opening the hybrid encoder.");
        hybrid_close(enc);
        return NULL;
    }
    return enc;
}

/* A writer that cannot follow the core's stream is logged and counted
 * (STATS: writer_setup_failures); the core codes every frame until its
 * next IDR, when setting up is tried again. */
static bool setup_failed(struct hfx_encoder *enc, const char *why)
{
    hfx_log(HFX_LOG_WARN, "hybrid encoder: %s; %s codes every frame until its next IDR", why,
            enc->core_ops->name);
    enc->setup_failed = true;
    enc->setup_failures++;
    return false;
}

/* After each frame of the core: the reference the writer would continue
 * from, and the writer for the core's SPS and PPS (made again should an
 * IDR bring others). */
static bool follow_core(struct hfx_encoder *enc, bool keyframe)
{
    if (keyframe)
        enc->setup_failed = false;
    if (enc->setup_failed)
        return false;
    char err[256];
    if (enc->core_ops->core->reference(enc->core, &enc->ref, err, sizeof err) < 0)
        return setup_failed(enc, err);
    if (enc->writer && memcmp(&enc->ref.params, &enc->params, sizeof enc->params) == 0)
        return true;
    h264_pwriter_free(enc->writer);
    enc->params = enc->ref.params;
    enc->writer = h264_pwriter_new(&enc->params, enc->width, enc->height);
    if (!enc->writer)
        return setup_failed(enc, "cannot set up the P-slice writer (out of memory?)");
    return true;
}

static int hybrid_encode(struct hfx_encoder *enc, const struct hfx_picture *pic,
                         const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    if (damage && !hfx_mb_damage_fits(damage, enc->mb_width, enc->mb_height))
        return -1;
    uint32_t total = enc->mb_width * enc->mb_height;
    struct hfx_writer_policy *pol = &enc->policy;
    /* What moved exactly costs the writer next to nothing: the choice
     * weighs the rest. */
    uint32_t moved = h264_motion_find(enc->motion, pic, damage);
    enum hfx_writer_choice c = hfx_writer_policy_choose(
        pol, damage ? damage->count - moved : total, total, damage != NULL,
        force_idr || !enc->frames, enc->ref_ok || pol->writing);
    if (c == HFX_CHOOSE_WRITER) {
        if (!pol->writing) {
            const struct hfx_h264_reference *r = &enc->ref;
            h264_pwriter_take_reference(enc->writer, r->y, r->y_stride, r->uv, r->uv_stride,
                                        r->pos);
        }
        enc->au.size = 0;
        int qp = hfx_writer_policy_qp(pol, enc->quality);
        /* Taking the stream on a frame without changes: the core's picture
         * has stayed unchanged since (for the stillness delay when this is
         * the frame asked for below, for the refresh interval when it is
         * an idle refresh), so it counts as still at once. */
        if (!pol->writing && damage->count == 0)
            h264_refine_settled(enc->refine);
        const struct hfx_mb_damage *plan =
            h264_refine_plan(enc->refine, damage, qp, hfx_writer_policy_refine_room(pol));
        int64_t bits = h264_pwriter_encode(enc->writer, pic, plan, enc->motion, qp, enc->refine,
                                           &enc->au);
        if (bits >= 0) {
            hfx_writer_policy_done(pol, c, bits);
            enc->scroll_shifts += h264_pwriter_shifted(enc->writer);
            enc->writer_ran = true;
            enc->frames++;
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
    if (enc->writer_ran) {
        enc->ref_ok = false;
        if (enc->core_ops->core->restart(enc->core) < 0)
            return -1;
    }
    enc->writer_ran = false;
    if (enc->core_ops->encode(enc->core, pic, damage, force_idr || c == HFX_CHOOSE_X264_IDR,
                              out) < 0)
        return -1;
    enc->frames++;
    hfx_writer_policy_done(pol, c, (int64_t)out->size * 8);
    enc->ref_ok = follow_core(enc, out->keyframe);
    /* Without the core's QP, its picture is assumed the worst. */
    int qp = enc->ref_ok ? enc->ref.qp : 51;
    enc->core_worst_qp = out->keyframe || qp > enc->core_worst_qp ? qp : enc->core_worst_qp;
    h264_refine_x264_picture(enc->refine, enc->core_worst_qp);
    /* The writer refines what the core coded once it takes the stream: on
     * a frame without changes once the picture has been still long enough
     * (not sooner: content that keeps changing, such as video, stays with
     * the core), unless the core keeps the stream a while. */
    if (enc->ref_ok && hfx_writer_policy_writer_next(pol))
        out->again_ms = h264_refine_again_ms(enc->refine, false);
    return 0;
}

static int hybrid_set_bitrate(struct hfx_encoder *enc, uint32_t bitrate)
{
    hfx_writer_policy_set_bitrate(&enc->policy, bitrate, enc->fps);
    return enc->core_ops->set_bitrate(enc->core, bitrate);
}

bool hfx_encoder_hybrid_writer_picture(struct hfx_encoder *enc, const uint8_t *plane[3],
                                       uint32_t stride[3])
{
    if (!enc->policy.writing)
        return false;
    for (int i = 0; i < 3; i++)
        plane[i] = h264_pwriter_plane(enc->writer, i, &stride[i]);
    return true;
}

/* Frames the writer and the core coded, IDRs spent giving the stream back
 * to the core, writers that could not follow the core's stream, still
 * macroblocks re-coded at a better QP with the bytes that took, and the
 * writer's frames that scrolled the whole picture without copying it
 * (pwriter.h). The core's frames keep the key x264_frames that deployed
 * tools read. */
static const char *const counter_names[] = {
    "writer_frames", "x264_frames", "switch_idrs", "writer_setup_failures",
    "refine_mbs", "refine_bytes", "scroll_shifts", NULL,
};

static void hybrid_counters(struct hfx_encoder *enc, uint64_t *values)
{
    values[0] = enc->policy.writer_frames;
    values[1] = enc->policy.x264_frames;
    values[2] = enc->policy.switch_idrs;
    values[3] = enc->setup_failures;
    values[4] = h264_refine_mbs(enc->refine);
    values[5] = h264_refine_bits(enc->refine) / 8;
    values[6] = enc->scroll_shifts;
}

const struct hfx_encoder_ops hfx_encoder_hybrid = {
    .name = "hybrid",
    .open = hybrid_open,
    .encode = hybrid_encode,
    .set_bitrate = hybrid_set_bitrate,
    .close = hybrid_close,
    .counter_names = counter_names,
    .counters = hybrid_counters,
    .takes_moves = true,
};
