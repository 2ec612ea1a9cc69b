#include "encoder/writer_policy.h"

#include "common/clock.h"

/* A change of at most 1/SMALL of the picture goes to the writer even
 * while x264 has the stream. */
#define SMALL 8
/* More than half the picture for LARGE_FRAMES frames in a row, or more
 * than 1/SMALL for MEDIUM_FRAMES (half a second at 60 fps), and the
 * writer gives the stream back to x264. */
#define LARGE_FRAMES 3
#define MEDIUM_FRAMES 30
/* After taking the stream back, x264 keeps it whatever the damage for
 * X264_HOLD_FRAMES frames or X264_HOLD_NS, whichever ends first, so that
 * alternating content costs at most one IDR a second at 60 fps. The time
 * matters on a real desktop, which redraws at a few frames a second: 60
 * frames there would keep x264, at whole-frame cost, for ten seconds. */
#define X264_HOLD_FRAMES 60
#define X264_HOLD_NS 1000000000LL

static bool held(const struct hfx_writer_policy *p)
{
    return p->x264_hold > 0 && hfx_now_ns() < p->x264_hold_until_ns;
}

void hfx_writer_policy_init(struct hfx_writer_policy *p, uint32_t bitrate, uint32_t fps)
{
    *p = (struct hfx_writer_policy){0};
    hfx_writer_policy_set_bitrate(p, bitrate, fps);
}

void hfx_writer_policy_set_bitrate(struct hfx_writer_policy *p, uint32_t bitrate, uint32_t fps)
{
    p->bucket_size = bitrate;
    p->drain = (double)bitrate / (fps ? fps : 60);
    if (p->bucket > p->bucket_size)
        p->bucket = p->bucket_size;
}

enum hfx_writer_choice hfx_writer_policy_choose(struct hfx_writer_policy *p, uint32_t damaged,
                                                uint32_t total, bool known, bool force_idr,
                                                bool can_write)
{
    bool small = known && (uint64_t)damaged * SMALL <= total;
    bool large = !known || (uint64_t)damaged * 2 > total;
    p->large_run = large ? p->large_run + 1 : 0;
    p->medium_run = small ? 0 : p->medium_run + 1;
    /* A keyframe someone asked for is x264's IDR either way. */
    if (force_idr)
        return HFX_CHOOSE_X264;
    if (!can_write || !known)
        return p->writing ? HFX_CHOOSE_X264_IDR : HFX_CHOOSE_X264;
    if (p->writing) {
        if (p->large_run >= LARGE_FRAMES || p->medium_run >= MEDIUM_FRAMES)
            return HFX_CHOOSE_X264_IDR;
        return HFX_CHOOSE_WRITER;
    }
    return small && !held(p) ? HFX_CHOOSE_WRITER : HFX_CHOOSE_X264;
}

/* The bucket's fill at which the writer's QP starts to rise. */
#define FILL_RAISE 0.5

static double fill(const struct hfx_writer_policy *p)
{
    return p->bucket_size > 0 ? p->bucket / p->bucket_size : 0;
}

int hfx_writer_policy_qp(const struct hfx_writer_policy *p, int quality)
{
    double f = fill(p);
    int raise = f < FILL_RAISE ? 0 : f < 0.75 ? 3 : f < 0.9 ? 6 : 12;
    int qp = quality + raise;
    return qp > 51 ? 51 : qp;
}

double hfx_writer_policy_refine_room(const struct hfx_writer_policy *p)
{
    double room = p->bucket_size * FILL_RAISE - p->bucket;
    return room > 0 ? room : 0;
}

bool hfx_writer_policy_writer_next(const struct hfx_writer_policy *p)
{
    return p->writing || !held(p);
}

void hfx_writer_policy_done(struct hfx_writer_policy *p, enum hfx_writer_choice c, int64_t bits)
{
    p->writing = c == HFX_CHOOSE_WRITER;
    if (p->writing) {
        p->writer_frames++;
    } else {
        p->x264_frames++;
        if (c == HFX_CHOOSE_X264_IDR) {
            p->switch_idrs++;
            p->x264_hold = X264_HOLD_FRAMES;
            p->x264_hold_until_ns = hfx_now_ns() + X264_HOLD_NS;
        } else if (p->x264_hold) {
            p->x264_hold--;
        }
        p->large_run = p->medium_run = 0;
    }
    p->bucket += (double)bits - p->drain;
    if (p->bucket < 0)
        p->bucket = 0;
}
