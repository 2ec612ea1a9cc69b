/* What a subscriber measures of a stream, as the platform's `benchmark`
 * command does (reference-design.md, "How the platform measures a stream"):
 * frames in each one-second window, average/min/max fps, keyframes,
 * bandwidth, frame sizes, the inter-arrival jitter, long gaps and a verdict
 * against a target rate. The caller times the frames (hfx_now_ns() when each
 * arrives); nothing here reads a clock, so tests feed synthetic times. Used by
 * hfx sub --stats.
 *
 *     struct hfx_stream_stats s;
 *     hfx_stream_stats_init(&s, hfx_now_ns());
 *     for (each loop) {
 *         int64_t now = hfx_now_ns();
 *         while (hfx_stream_stats_window(&s, now, &w)) print(&w);   // every second
 *         if (a frame came) hfx_stream_stats_frame(&s, now, size, keyframe);
 *     }
 *     hfx_stream_stats_end(&s, hfx_now_ns());
 *     while (hfx_stream_stats_window(&s, 0, &w)) print(&w);         // the rest
 *     hfx_stream_stats_summary(&s, 0, &sum);
 *
 * Definitions (also in hfx sub --help):
 * - windows are whole seconds from the start, half-open: a frame at exactly
 *   start + 1 s is in the second window; a window's fps is its frame count;
 * - the average fps is all frames over the whole measured time (the mean of
 *   the windows' fps when the time is whole seconds); min and max are over
 *   the whole windows, or the trailing part-window's rate when there are none;
 * - a gap is the time between two consecutive frames' arrivals (n frames,
 *   n - 1 gaps: the wait for the first frame and the quiet after the last are
 *   not gaps); the jitter is the population standard deviation of the gaps in
 *   ms; a gap counts "over L ms" when it is strictly longer than L, so one
 *   250 ms gap counts over 50, over 100 and over 200;
 * - the verdict compares the average fps with the target: EXCELLENT at or
 *   above 95%, GOOD at or above 80%, DEGRADED at or above 50%, else POOR.
 *   The exporter sends nothing for a still picture, so fps measures how often
 *   the picture changes, not how healthy the stream is. */
#ifndef HFX_CLIENT_STREAM_STATS_H
#define HFX_CLIENT_STREAM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HFX_STATS_GAP_LIMITS 3
/* The gap lengths counted, in ms: 50, 100 and 200. */
extern const unsigned hfx_stats_gap_limit_ms[HFX_STATS_GAP_LIMITS];

/* The state; read it through the functions below. */
struct hfx_stream_stats {
    int64_t start_ns, end_ns;           /* end_ns: INT64_MAX until hfx_stream_stats_end */
    uint64_t next_window;               /* the index of the window being filled */
    uint64_t window_frames, window_keyframes, window_bytes;
    bool part_done;                     /* after the end: the part-window was given out */
    uint64_t windows, window_min, window_max; /* closed windows and their frame counts */
    uint64_t frames, keyframes, bytes, size_min, size_max;
    int64_t last_ns;                    /* the last frame's arrival */
    uint64_t gaps, gaps_over[HFX_STATS_GAP_LIMITS];
    double gap_mean_ns, gap_m2, gap_max_ns; /* Welford's running mean and sum of squares */
};

/* One window: a whole second, or the part of one the measurement ended in. */
struct hfx_stats_window {
    uint64_t index;                     /* 0 = the first second */
    double seconds;                     /* its length: 1, less for a part-window */
    uint64_t frames, keyframes, bytes;
    double fps;                         /* frames / seconds */
    bool partial;
};

struct hfx_stats_summary {
    double seconds;                     /* measured time */
    uint64_t windows;                   /* whole one-second windows */
    uint64_t frames, keyframes, bytes;
    double fps_average, fps_min, fps_max;
    double kbit_per_s;                  /* bytes * 8 / seconds / 1000 */
    double frame_bytes_average;
    uint64_t frame_bytes_min, frame_bytes_max; /* 0 without frames */
    uint64_t gaps;
    double gap_mean_ms, gap_max_ms, jitter_ms;
    uint64_t gaps_over[HFX_STATS_GAP_LIMITS];
};

enum hfx_stats_verdict { HFX_VERDICT_POOR, HFX_VERDICT_DEGRADED, HFX_VERDICT_GOOD,
                         HFX_VERDICT_EXCELLENT };

void hfx_stream_stats_init(struct hfx_stream_stats *s, int64_t start_ns);
/* A frame of `bytes` arrived at t_ns (>= the start and the previous frame's
 * time, before the end). Windows that ended by t_ns are closed first; poll
 * hfx_stream_stats_window before feeding to see each of them. */
void hfx_stream_stats_frame(struct hfx_stream_stats *s, int64_t t_ns, size_t bytes,
                            bool keyframe);
/* Closes the oldest window that ended by now_ns (by the end, after
 * hfx_stream_stats_end; now_ns is then ignored) and fills w with it; false
 * when none is left. After the end the last one given is the part-window the
 * measurement ended in, when it holds frames or there is no whole window. */
bool hfx_stream_stats_window(struct hfx_stream_stats *s, int64_t now_ns,
                             struct hfx_stats_window *w);
/* When the window being filled ends: a caller that prints each window on
 * time waits no longer than this for a frame. */
int64_t hfx_stream_stats_window_end(const struct hfx_stream_stats *s);
/* Ends the measurement at end_ns: no frames after it. */
void hfx_stream_stats_end(struct hfx_stream_stats *s, int64_t end_ns);
/* The totals from the start to now_ns, or to the end once ended (now_ns is
 * then ignored). Changes nothing: a running stream can be asked any time. */
void hfx_stream_stats_summary(const struct hfx_stream_stats *s, int64_t now_ns,
                              struct hfx_stats_summary *out);

enum hfx_stats_verdict hfx_stats_verdict(double fps, double target_fps);
const char *hfx_stats_verdict_name(enum hfx_stats_verdict v);

/* The summary and the verdict as JSON object members ("seconds":3.000,...,
 * "verdict":"GOOD"), without the braces, for the caller to add its own (the
 * scanout) and wrap: snprintf's contract (the length it needed). */
int hfx_stats_json_members(char *buf, size_t len, const struct hfx_stats_summary *s,
                           double target_fps);

/* Key-to-picture latency, as the platform's `latency` command rates it
 * (hfx latency): samples in ms, their order statistics by nearest rank (the
 * p-th percentile is the smallest sample with at least p% of them at or
 * below it), mean and population standard deviation; the verdict rates the
 * median: below 50 ms EXCELLENT, below 80 GOOD, below 120 ACCEPTABLE, else
 * POOR (also POOR without samples). */
struct hfx_latency_summary {
    size_t samples;
    double min_ms, p50_ms, p90_ms, p99_ms, max_ms, mean_ms, stddev_ms;
};

enum hfx_latency_verdict { HFX_LATENCY_POOR, HFX_LATENCY_ACCEPTABLE, HFX_LATENCY_GOOD,
                           HFX_LATENCY_EXCELLENT };

/* Summarises n samples (not changed; any order). */
void hfx_latency_summarize(const double *ms, size_t n, struct hfx_latency_summary *out);
enum hfx_latency_verdict hfx_latency_verdict(const struct hfx_latency_summary *s);
const char *hfx_latency_verdict_name(enum hfx_latency_verdict v);
/* The summary and verdict as JSON object members, as hfx_stats_json_members. */
int hfx_latency_json_members(char *buf, size_t len, const struct hfx_latency_summary *s);

#endif
