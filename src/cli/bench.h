/* Internals of `hfx bench`, shared by its files: the in-process pipeline
 * (bench_pipeline.c) and the measurement of one table row (bench_row.c). */
#ifndef HFX_CLI_BENCH_H
#define HFX_CLI_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "source/synth.h"

/* ---- pipeline: server + engine + subscribers, as hfx serve wires them ---- */

/* What the engine reported about one access unit it encoded. */
struct bench_packet {
    uint32_t scanout;
    int64_t pts_ns, first_damage_ns, convert_ns, encode_ns;
    size_t au_size;
};

/* One FRAME_RESPONSE as a subscriber read it. */
struct bench_frame {
    int64_t recv_ns;        /* when its last byte had been read */
    int64_t pts_ns;
    uint8_t *au;
    uint32_t au_size;
    bool keyframe;
};

struct bench_pipeline_config {
    const char *encoder;
    uint32_t scanouts;
    int threads;
    bool no_damage_hints;
    uint32_t idle_refresh_ms;   /* the engine's idle refresh; 0 = off */
};

struct bench_pipeline;

struct bench_pipeline *bench_pipeline_start(const struct bench_pipeline_config *cfg, char *err,
                                            size_t errlen);
struct hfx_engine *bench_pipeline_engine(struct bench_pipeline *p);
/* Connects a subscriber to scanout and starts its reader thread. */
int bench_subscribe(struct bench_pipeline *p, uint32_t scanout, char *err, size_t errlen);
/* Waits until the subscriber of scanout has read a frame whose pts_ns is at
 * least min_pts (0: any frame). -1 with err on timeout or a lost stream. */
int bench_wait_frame(struct bench_pipeline *p, uint32_t scanout, int64_t min_pts, int timeout_ms,
                     char *err, size_t errlen);
/* CPU time the subscriber threads have used so far. */
int64_t bench_subscribers_cpu_ns(struct bench_pipeline *p);
/* Stops the subscribers, the server loop and the engine; what was recorded
 * stays readable until bench_pipeline_free. */
void bench_pipeline_halt(struct bench_pipeline *p);
const struct bench_frame *bench_frames(const struct bench_pipeline *p, uint32_t scanout,
                                       size_t *n);
const struct bench_packet *bench_packets(const struct bench_pipeline *p, size_t *n);
void bench_pipeline_free(struct bench_pipeline *p);

/* ---- one row of the table ---- */

#define BENCH_SOURCE_FPS 60
/* What follows a subscriber's IDR is not the steady state, and is driven
 * before measuring so that the table shows that: x264's first P frames cost
 * several times a steady one (a 4K typing frame: about 100 ms instead of
 * 10), and the hybrid sharpens the IDR's still macroblocks over the first
 * second or so (refine.c), re-coding about a hundred of them a frame at
 * 1920x1080. Half a second covered x264's; the hybrid's took the first
 * third of the measured `window` frames with it (5032 macroblocks). What
 * these frames cost is reported on its own. */
#define BENCH_WARMUP_FRAMES (BENCH_SOURCE_FPS * 3 / 2)
/* An idle screen sends nothing unless the engine's idle refresh is on; the
 * idle rows turn it on at one source frame period, so that they measure
 * encoded idle refresh frames (every macroblock unchanged: P_Skip), about
 * one per source frame. */
#define BENCH_IDLE_REFRESH_MS (1000 / BENCH_SOURCE_FPS)
/* Idle rows judge the picture a viewer has after this long of stillness
 * (issue 14: x264's quality within about a second). */
#define BENCH_STILL_NS 1000000000LL

enum bench_pace {
    BENCH_PACED,        /* updates at BENCH_SOURCE_FPS, like a guest's screen */
    BENCH_CLOSED_LOOP,  /* next update once the previous frame arrived: throughput */
};

struct bench_row_spec {
    enum hfx_workload wl;
    /* Every frame drawn whole into a new buffer and handed over with
     * hfx_engine_scanout_compare, as a guest's page flip is (the front end
     * is told nothing of what changed), instead of as damage. */
    bool flip;
    uint32_t width, height;
    const char *encoder;
    bool no_damage_hints;
    int threads;
    enum bench_pace pace;
    uint32_t frames;    /* measured source frames, after frame 0 and a warm-up */
};

/* The encoder's own counters (hfx_encoder_ops.counter_names; the hybrid's
 * writer_frames, x264_frames, ...) over a measurement, by name. */
struct bench_counters {
    uint32_t n;
    struct hfx_encoder_counter c[HFX_ENCODER_MAX_COUNTERS];
};
/* "name value, name value, ..." into buf; "" when there are none. */
void bench_counters_format(const struct bench_counters *c, char *buf, size_t len);
/* The counter `name` (0 when there is none). */
uint64_t bench_counter(const struct bench_counters *c, const char *name);

struct bench_row_result {
    bool fell_back;             /* the engine used another encoder than asked */
    const char *encoder_used;
    uint32_t updates, delivered;
    uint32_t periods;           /* source frame periods measured (idle rows make no updates) */
    uint32_t keyframes;         /* IDRs among the measured frames */
    uint64_t coalesced;
    double fps;
    /* Milliseconds; percentiles over the delivered frames. */
    double conv_enc_p50, conv_enc_p99, enc_p50, conv_p50, lat_p50, lat_p99;
    double delivery_p50;        /* latency - convert - encode: hand-offs and the socket */
    double overhead_p50;        /* median of (latency - encode) / encode */
    double warmup_enc_max;      /* slowest encode before the measured frames */
    /* Flip rows: the time inside hfx_engine_scanout_compare per flip (ms,
     * over every measured flip): hashing every tile, converting the
     * changed ones; wall time, and the mean of the calling thread's CPU
     * time (which a busy machine does not inflate). */
    double compare_p50, compare_p99, compare_mean, compare_cpu_mean;
    uint32_t flips;
    double kbps;                /* at BENCH_SOURCE_FPS */
    double bytes_per_frame;     /* mean over the measured frames */
    double psnr;                /* mean luma PSNR of the frames it could match */
    /* Idle rows: luma PSNR of the last frame read within BENCH_STILL_NS of
     * the screen being set (-1 when unreadable), and when it was read. */
    double still_psnr, still_ms;
    uint32_t psnr_frames, unmatched;
    uint32_t decode_errors;     /* access units a strict decoder refused (whole row) */
    struct bench_counters counters;     /* over the measured frames */
    /* Since the encoder opened: what it did for a still screen (the
     * hybrid's refinement) starts with its first frames, before the
     * measured ones. */
    struct bench_counters since_open;
    double cpu_pct;             /* exporter: process less source drawing and subscriber */
    double proc_pct;            /* the whole process */
};

int bench_run_row(const struct bench_row_spec *spec, struct bench_row_result *out, char *err,
                  size_t errlen);
/* CPU of the whole process, as % of one core, while `heads` subscribed
 * scanouts of width x height show a screen that does not change. */
int bench_idle_heads(uint32_t heads, uint32_t width, uint32_t height, int64_t duration_ns,
                     double *cpu_pct, char *err, size_t errlen);

/* `heads` subscribed scanouts of width x height, each showing workload wl
 * at BENCH_SOURCE_FPS through `encoder` (one thread each), measured over
 * `frames` source frames after the warm-up. */
struct bench_heads_result {
    uint32_t updates, delivered, keyframes;
    uint64_t coalesced;
    struct bench_counters counters;     /* all heads */
    double conv_enc_p50, conv_enc_p99;  /* ms, over every head's frames */
    double cpu_pct;                     /* exporter: process less drawing and subscribers */
    double proc_pct;                    /* the whole process */
    /* The exporter's CPU time over the time the frames span at
     * BENCH_SOURCE_FPS (what keeping pace needs, even when this machine
     * could not), and the wall time the run took. */
    double paced_cpu_pct;
    double wall_s;
};
int bench_busy_heads(uint32_t heads, enum hfx_workload wl, const char *encoder, uint32_t width,
                     uint32_t height, uint32_t frames, struct bench_heads_result *out, char *err,
                     size_t errlen);

/* Resident memory of the process around one typing scanout: before its
 * surface is set, with the surface but no subscriber, and subscribed after
 * 60 frames. */
struct bench_memory {
    int64_t before, unwatched, active;
};
int bench_memory(uint32_t width, uint32_t height, struct bench_memory *out, char *err,
                 size_t errlen);

#endif
