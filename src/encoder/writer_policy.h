/* When the hybrid encoder hands a frame to x264 and when to the P-slice
 * writer, and at what QP the writer codes it.
 *
 * Going from x264 to the writer costs nothing (the writer continues from
 * x264's reconstruction), but going back costs an IDR, since x264 cannot
 * take the writer's picture as its reference. So the writer takes every
 * small change, and keeps the stream through occasional large ones; only
 * sustained large or medium changes (video, scrolling: where x264's motion
 * search pays) send it back to x264. The counters say how often. */
#ifndef HFX_ENCODER_WRITER_POLICY_H
#define HFX_ENCODER_WRITER_POLICY_H

#include <stdbool.h>
#include <stdint.h>

enum hfx_writer_choice {
    HFX_CHOOSE_X264,        /* x264 codes it: a P frame, or the IDR asked for */
    HFX_CHOOSE_X264_IDR,    /* the stream goes back from the writer: an IDR it costs */
    HFX_CHOOSE_WRITER,
};

struct hfx_writer_policy {
    bool writing;           /* the decoder's reference is the writer's picture */
    uint32_t large_run, medium_run;
    uint32_t x264_hold;     /* frames x264 keeps after a switch back */
    int64_t x264_hold_until_ns; /* ... unless this time (hfx_now_ns) passes first */
    /* Bits over the cap, in a bucket as large as one second of the cap,
     * drained at the cap's rate per frame. */
    double bucket, bucket_size, drain;
    uint64_t writer_frames, x264_frames, switch_idrs;
};

void hfx_writer_policy_init(struct hfx_writer_policy *p, uint32_t bitrate, uint32_t fps);
void hfx_writer_policy_set_bitrate(struct hfx_writer_policy *p, uint32_t bitrate, uint32_t fps);
/* damaged: macroblocks changed (total when unknown). force_idr: someone
 * asked for a keyframe. can_write: the writer is set up. */
enum hfx_writer_choice hfx_writer_policy_choose(struct hfx_writer_policy *p, uint32_t damaged,
                                                uint32_t total, bool known, bool force_idr,
                                                bool can_write);
/* The QP for the writer's next frame: the quality setting, raised as the
 * bucket fills so that the cap holds. */
int hfx_writer_policy_qp(const struct hfx_writer_policy *p, int quality);
/* The bits the writer may spend refining still macroblocks in its next
 * frame: refinement yields to real changes, so only what keeps the bucket
 * below the fill at which the cap starts raising the QP. */
double hfx_writer_policy_refine_room(const struct hfx_writer_policy *p);
/* Whether a next frame with nothing changed goes to the writer (false
 * while x264 holds the stream after taking it back), given that the writer
 * has x264's reference. */
bool hfx_writer_policy_writer_next(const struct hfx_writer_policy *p);
/* Books a frame of `bits`, coded as chosen. */
void hfx_writer_policy_done(struct hfx_writer_policy *p, enum hfx_writer_choice c, int64_t bits);

#endif
