/* A stream's statistics as the platform's `benchmark` prints them: the
 * definitions are in stream_stats.h. */
#include "client/stream_stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECOND_NS INT64_C(1000000000)
#define MS_NS INT64_C(1000000)

const unsigned hfx_stats_gap_limit_ms[HFX_STATS_GAP_LIMITS] = {50, 100, 200};

void hfx_stream_stats_init(struct hfx_stream_stats *s, int64_t start_ns)
{
    *s = (struct hfx_stream_stats){.start_ns = start_ns, .end_ns = INT64_MAX,
                                   .window_min = UINT64_MAX, .size_min = UINT64_MAX};
}

static int64_t window_end(const struct hfx_stream_stats *s, uint64_t index)
{
    return s->start_ns + (int64_t)(index + 1) * SECOND_NS;
}

/* Gives out the window being filled (its length in seconds) and starts the
 * next one. */
static void close_window(struct hfx_stream_stats *s, double seconds, struct hfx_stats_window *w)
{
    *w = (struct hfx_stats_window){.index = s->next_window, .seconds = seconds,
                                   .frames = s->window_frames, .keyframes = s->window_keyframes,
                                   .bytes = s->window_bytes, .partial = seconds < 1.0,
                                   .fps = seconds > 0 ? (double)s->window_frames / seconds : 0};
    if (!w->partial) {
        s->windows++;
        if (s->window_frames < s->window_min)
            s->window_min = s->window_frames;
        if (s->window_frames > s->window_max)
            s->window_max = s->window_frames;
    }
    s->next_window++;
    s->window_frames = s->window_keyframes = s->window_bytes = 0;
}

void hfx_stream_stats_frame(struct hfx_stream_stats *s, int64_t t_ns, size_t bytes, bool keyframe)
{
    struct hfx_stats_window unseen;
    while (window_end(s, s->next_window) <= t_ns)
        close_window(s, 1.0, &unseen);
    if (s->frames) {
        int64_t gap = t_ns - s->last_ns;
        s->gaps++;
        /* Welford: the mean and the sum of squared deviations in one pass,
         * without the cancellation of sum(x^2) - n * mean^2. */
        double d = (double)gap - s->gap_mean_ns;
        s->gap_mean_ns += d / (double)s->gaps;
        s->gap_m2 += d * ((double)gap - s->gap_mean_ns);
        if ((double)gap > s->gap_max_ns)
            s->gap_max_ns = (double)gap;
        for (int i = 0; i < HFX_STATS_GAP_LIMITS; i++)
            s->gaps_over[i] += gap > (int64_t)hfx_stats_gap_limit_ms[i] * MS_NS;
    }
    s->last_ns = t_ns;
    s->frames++;
    s->window_frames++;
    s->keyframes += keyframe;
    s->window_keyframes += keyframe;
    s->bytes += bytes;
    s->window_bytes += bytes;
    if (bytes < s->size_min)
        s->size_min = bytes;
    if (bytes > s->size_max)
        s->size_max = bytes;
}

bool hfx_stream_stats_window(struct hfx_stream_stats *s, int64_t now_ns,
                             struct hfx_stats_window *w)
{
    bool ended = s->end_ns != INT64_MAX;
    if (window_end(s, s->next_window) <= (ended ? s->end_ns : now_ns)) {
        close_window(s, 1.0, w);
        return true;
    }
    if (!ended || s->part_done)
        return false;
    s->part_done = true;
    int64_t left = s->end_ns - (window_end(s, s->next_window) - SECOND_NS);
    if (left <= 0 || (!s->window_frames && s->windows))
        return false;
    close_window(s, (double)left / 1e9, w);
    return true;
}

int64_t hfx_stream_stats_window_end(const struct hfx_stream_stats *s)
{
    return window_end(s, s->next_window);
}

void hfx_stream_stats_end(struct hfx_stream_stats *s, int64_t end_ns)
{
    s->end_ns = end_ns;
}

void hfx_stream_stats_summary(const struct hfx_stream_stats *s, int64_t now_ns,
                              struct hfx_stats_summary *out)
{
    int64_t t = s->end_ns != INT64_MAX ? s->end_ns : now_ns;
    if (t < s->start_ns)
        t = s->start_ns;
    double secs = (double)(t - s->start_ns) / 1e9;
    *out = (struct hfx_stats_summary){.seconds = secs, .frames = s->frames,
                                      .keyframes = s->keyframes, .bytes = s->bytes,
                                      .gaps = s->gaps};
    /* Whole windows by t: the closed ones, then (if it ended by t) the one
     * being filled, then empty ones. */
    uint64_t whole = (uint64_t)((t - s->start_ns) / SECOND_NS);
    uint64_t wmin = s->window_min, wmax = s->window_max;
    for (uint64_t i = s->windows; i < whole && i < s->windows + 2; i++) {
        uint64_t n = i == s->windows ? s->window_frames : 0;
        if (n < wmin)
            wmin = n;
        if (n > wmax)
            wmax = n;
    }
    out->windows = whole;
    if (secs > 0) {
        out->fps_average = (double)s->frames / secs;
        out->kbit_per_s = (double)s->bytes * 8 / secs / 1000;
    }
    if (whole) {
        out->fps_min = (double)wmin;
        out->fps_max = (double)wmax;
    } else {
        /* Shorter than a second: the one part-window holds every frame. */
        out->fps_min = out->fps_max = out->fps_average;
    }
    if (s->frames) {
        out->frame_bytes_average = (double)s->bytes / (double)s->frames;
        out->frame_bytes_min = s->size_min;
        out->frame_bytes_max = s->size_max;
    }
    if (s->gaps) {
        out->gap_mean_ms = s->gap_mean_ns / 1e6;
        out->gap_max_ms = s->gap_max_ns / 1e6;
        out->jitter_ms = sqrt(s->gap_m2 / (double)s->gaps) / 1e6;
    }
    for (int i = 0; i < HFX_STATS_GAP_LIMITS; i++)
        out->gaps_over[i] = s->gaps_over[i];
}

enum hfx_stats_verdict hfx_stats_verdict(double fps, double target_fps)
{
    /* fps * 100 against percent * target: exact at the boundaries for the
     * whole numbers a test or a user writes. */
    if (fps * 100 >= 95 * target_fps)
        return HFX_VERDICT_EXCELLENT;
    if (fps * 100 >= 80 * target_fps)
        return HFX_VERDICT_GOOD;
    if (fps * 100 >= 50 * target_fps)
        return HFX_VERDICT_DEGRADED;
    return HFX_VERDICT_POOR;
}

const char *hfx_stats_verdict_name(enum hfx_stats_verdict v)
{
    static const char *const names[] = {"POOR", "DEGRADED", "GOOD", "EXCELLENT"};
    return names[v];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p% at or below it. */
static double rank(const double *sorted, size_t n, unsigned p)
{
    size_t k = (n * p + 99) / 100;
    return sorted[k ? k - 1 : 0];
}

void hfx_latency_summarize(const double *ms, size_t n, struct hfx_latency_summary *out)
{
    memset(out, 0, sizeof *out);
    out->samples = n;
    double *s = n ? malloc(n * sizeof *s) : NULL;
    if (!s)
        return;
    memcpy(s, ms, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    out->mean_ms = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += (s[i] - out->mean_ms) * (s[i] - out->mean_ms);
    out->stddev_ms = sqrt(sq / (double)n);
    out->min_ms = s[0];
    out->max_ms = s[n - 1];
    out->p50_ms = rank(s, n, 50);
    out->p90_ms = rank(s, n, 90);
    out->p99_ms = rank(s, n, 99);
    free(s);
}

enum hfx_latency_verdict hfx_latency_verdict(const struct hfx_latency_summary *s)
{
    if (!s->samples)
        return HFX_LATENCY_POOR;
    if (s->p50_ms < 50)
        return HFX_LATENCY_EXCELLENT;
    if (s->p50_ms < 80)
        return HFX_LATENCY_GOOD;
    if (s->p50_ms < 120)
        return HFX_LATENCY_ACCEPTABLE;
    return HFX_LATENCY_POOR;
}

const char *hfx_latency_verdict_name(enum hfx_latency_verdict v)
{
    static const char *const names[] = {"POOR", "ACCEPTABLE", "GOOD", "EXCELLENT"};
    return names[v];
}

int hfx_latency_json_members(char *buf, size_t len, const struct hfx_latency_summary *s)
{
    return snprintf(buf, len,
                    "\"samples\":%zu,\"min_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f"
                    ",\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,\"stddev_ms\":%.3f"
                    ",\"verdict\":\"%s\"",
                    s->samples, s->min_ms, s->p50_ms, s->p90_ms, s->p99_ms, s->max_ms, s->mean_ms,
                    s->stddev_ms, hfx_latency_verdict_name(hfx_latency_verdict(s)));
}

int hfx_stats_json_members(char *buf, size_t len, const struct hfx_stats_summary *s,
                           double target_fps)
{
    return snprintf(
        buf, len,
        "\"seconds\":%.3f,\"windows\":%" PRIu64 ",\"frames\":%" PRIu64 ",\"keyframes\":%" PRIu64
        ",\"bytes\":%" PRIu64 ",\"fps_average\":%.3f,\"fps_min\":%.3f,\"fps_max\":%.3f"
        ",\"kbit_per_s\":%.3f,\"frame_bytes_average\":%.1f,\"frame_bytes_min\":%" PRIu64
        ",\"frame_bytes_max\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"gap_mean_ms\":%.3f"
        ",\"gap_max_ms\":%.3f,\"jitter_ms\":%.3f,\"gaps_over_50ms\":%" PRIu64
        ",\"gaps_over_100ms\":%" PRIu64 ",\"gaps_over_200ms\":%" PRIu64
        ",\"target_fps\":%.3f,\"verdict\":\"%s\"",
        s->seconds, s->windows, s->frames, s->keyframes, s->bytes, s->fps_average, s->fps_min,
        s->fps_max, s->kbit_per_s, s->frame_bytes_average, s->frame_bytes_min,
        s->frame_bytes_max, s->gaps, s->gap_mean_ms, s->gap_max_ms, s->jitter_ms,
        s->gaps_over[0], s->gaps_over[1], s->gaps_over[2], target_fps,
        hfx_stats_verdict_name(hfx_stats_verdict(s->fps_average, target_fps)));
}
