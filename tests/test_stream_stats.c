/* The stream statistics (src/client/stream_stats.h) on synthetic arrival
 * times, against numbers worked out by hand: the one-second windows (a frame
 * at a window's end is in the next one, an empty second is a 0 fps window,
 * the part-window a measurement ends in), average/min/max fps, keyframes,
 * bandwidth, frame sizes, the gaps and their jitter, the counts over 50, 100
 * and 200 ms at their exact boundaries, and the verdict's thresholds. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "client/stream_stats.h"

#define MS INT64_C(1000000)

/* Not a whole number of seconds, so windows must count from the start. */
static const int64_t start = INT64_C(7000000123);

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

struct run {
    struct hfx_stream_stats s;
    struct hfx_stats_window w[16];
    int nw;
};

static void poll_windows(struct run *r, int64_t now)
{
    struct hfx_stats_window w;
    while (hfx_stream_stats_window(&r->s, now, &w)) {
        CHECK(r->nw < 16, "more windows than expected");
        if (r->nw < 16)
            r->w[r->nw++] = w;
    }
}

/* A frame at ms (plus ns) from the start, the windows polled just before. */
static void frame_at(struct run *r, int64_t ms, int64_t ns, size_t bytes, bool key)
{
    poll_windows(r, start + ms * MS + ns);
    hfx_stream_stats_frame(&r->s, start + ms * MS + ns, bytes, key);
}

static void end_at(struct run *r, int64_t ms)
{
    hfx_stream_stats_end(&r->s, start + ms * MS);
    poll_windows(r, 0);
}

static void check_window(const struct run *r, int i, uint64_t frames, uint64_t keys,
                         uint64_t bytes, double seconds, double fps)
{
    if (i >= r->nw) {
        CHECK(i < r->nw, "window %d missing (%d given)", i, r->nw);
        return;
    }
    const struct hfx_stats_window *w = &r->w[i];
    CHECK(w->index == (uint64_t)i && w->frames == frames && w->keyframes == keys &&
              w->bytes == bytes && NEAR(w->seconds, seconds) && NEAR(w->fps, fps) &&
              w->partial == (seconds < 1),
          "window %d: index %lu, %lu frames (%lu key), %lu bytes, %.9f s, %.6f fps, partial %d",
          i, (unsigned long)w->index, (unsigned long)w->frames, (unsigned long)w->keyframes,
          (unsigned long)w->bytes, w->seconds, w->fps, w->partial);
}

/* Four seconds: 50 frames 20 ms apart, 25 frames 40 ms apart, a still
 * second, 10 frames 100 ms apart. */
static void mixed(void)
{
    struct run r = {.nw = 0};
    hfx_stream_stats_init(&r.s, start);
    for (int i = 0; i < 50; i++)
        frame_at(&r, i * 20, 0, i == 0 ? 5000 : 1000, i == 0);
    /* 980 ms: window 0 is not over yet. */
    CHECK(r.nw == 0, "%d windows before 1 s", r.nw);
    for (int i = 0; i < 25; i++) {
        frame_at(&r, 1000 + i * 40, 0, i == 12 ? 200 : 1000, false);
        if (i == 0)
            CHECK(r.nw == 1 && r.w[0].frames == 50,
                  "the frame at exactly 1 s went into the first window");
    }
    /* Asked in the middle, without closing anything. */
    struct hfx_stats_summary mid;
    hfx_stream_stats_summary(&r.s, start + 2500 * MS, &mid);
    CHECK(mid.windows == 2 && NEAR(mid.seconds, 2.5) && NEAR(mid.fps_average, 30) &&
              NEAR(mid.fps_min, 25) && NEAR(mid.fps_max, 50),
          "at 2.5 s: %lu windows, %.3f s, fps %.3f (%.3f-%.3f)", (unsigned long)mid.windows,
          mid.seconds, mid.fps_average, mid.fps_min, mid.fps_max);
    hfx_stream_stats_summary(&r.s, start + 3000 * MS, &mid);
    CHECK(mid.windows == 3 && NEAR(mid.fps_average, 25) && NEAR(mid.fps_min, 0) &&
              NEAR(mid.fps_max, 50),
          "at 3 s (the still second not closed yet): %lu windows, fps %.3f (%.3f-%.3f)",
          (unsigned long)mid.windows, mid.fps_average, mid.fps_min, mid.fps_max);
    CHECK(r.nw == 1, "%d windows closed by a summary", r.nw);
    for (int i = 0; i < 10; i++)
        frame_at(&r, 3000 + i * 100, 0, i == 0 ? 5000 : 1000, i == 0);
    end_at(&r, 4000);
    CHECK(r.nw == 4, "%d windows, not 4", r.nw);
    check_window(&r, 0, 50, 1, 54000, 1, 50);
    check_window(&r, 1, 25, 0, 24200, 1, 25);
    check_window(&r, 2, 0, 0, 0, 1, 0);
    check_window(&r, 3, 10, 1, 14000, 1, 10);

    struct hfx_stats_summary s;
    hfx_stream_stats_summary(&r.s, 0, &s);
    CHECK(NEAR(s.seconds, 4) && s.windows == 4 && s.frames == 85 && s.keyframes == 2 &&
              s.bytes == 92200,
          "%.3f s, %lu windows, %lu frames (%lu key), %lu bytes", s.seconds,
          (unsigned long)s.windows, (unsigned long)s.frames, (unsigned long)s.keyframes,
          (unsigned long)s.bytes);
    CHECK(NEAR(s.fps_average, 21.25) && NEAR(s.fps_min, 0) && NEAR(s.fps_max, 50),
          "fps %.6f (%.3f-%.3f), not 21.25 (0-50)", s.fps_average, s.fps_min, s.fps_max);
    CHECK(NEAR(s.kbit_per_s, 184.4), "%.6f kbit/s, not 184.4", s.kbit_per_s);
    CHECK(NEAR(s.frame_bytes_average, 92200.0 / 85) && s.frame_bytes_min == 200 &&
              s.frame_bytes_max == 5000,
          "frame size %.3f (%lu-%lu)", s.frame_bytes_average, (unsigned long)s.frame_bytes_min,
          (unsigned long)s.frame_bytes_max);
    /* Gaps: 50 of 20 ms (the last at the 1 s boundary), 24 of 40, one of
     * 1040 over the still second, 9 of 100: 84, summing to 3900 ms, their
     * squares to 1230000. */
    double mean = 3900.0 / 84, jitter = sqrt(1230000.0 / 84 - mean * mean);
    CHECK(s.gaps == 84 && fabs(s.gap_mean_ms - mean) < 1e-6 && NEAR(s.gap_max_ms, 1040) &&
              fabs(s.jitter_ms - jitter) < 1e-6,
          "%lu gaps, mean %.9f ms (not %.9f), max %.3f, jitter %.9f ms (not %.9f)",
          (unsigned long)s.gaps, s.gap_mean_ms, mean, s.gap_max_ms, s.jitter_ms, jitter);
    /* The 100 ms gaps are not over 100 ms. */
    CHECK(s.gaps_over[0] == 10 && s.gaps_over[1] == 1 && s.gaps_over[2] == 1,
          "gaps over 50/100/200 ms: %lu %lu %lu, not 10 1 1", (unsigned long)s.gaps_over[0],
          (unsigned long)s.gaps_over[1], (unsigned long)s.gaps_over[2]);

    char json[1024];
    int n = hfx_stats_json_members(json, sizeof json, &s, 25);
    CHECK(n > 0 && (size_t)n == strlen(json), "json length %d", n);
    const char *want[] = {"\"seconds\":4.000,", "\"windows\":4,", "\"frames\":85,",
                          "\"keyframes\":2,", "\"bytes\":92200,", "\"fps_average\":21.250,",
                          "\"fps_min\":0.000,", "\"fps_max\":50.000,", "\"kbit_per_s\":184.400,",
                          "\"frame_bytes_average\":1084.7,", "\"frame_bytes_min\":200,",
                          "\"frame_bytes_max\":5000,", "\"gaps\":84,", "\"gap_max_ms\":1040.000,",
                          "\"jitter_ms\":111.746,", "\"gaps_over_50ms\":10,",
                          "\"gaps_over_100ms\":1,", "\"gaps_over_200ms\":1,",
                          "\"target_fps\":25.000,", "\"verdict\":\"GOOD\""};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(strstr(json, want[i]), "%s not in %s", want[i], json);
    fprintf(stderr, "mixed: {%s}\n", json);
}

/* 150 frames 10 ms apart, ended at 1.5 s, nothing polled until the end: the
 * first second closes unseen, the part-window comes out last. */
static void part_window(void)
{
    struct run r = {.nw = 0};
    hfx_stream_stats_init(&r.s, start);
    for (int i = 0; i < 150; i++)
        hfx_stream_stats_frame(&r.s, start + i * 10 * MS, 100, i == 0);
    end_at(&r, 1500);
    CHECK(r.nw == 1, "%d windows after the end, not 1", r.nw);
    if (r.nw == 1)
        CHECK(r.w[0].index == 1, "the part-window has index %lu", (unsigned long)r.w[0].index);
    r.w[0].index = 0; /* compare the rest */
    check_window(&r, 0, 50, 0, 5000, 0.5, 100);
    struct hfx_stats_summary s;
    hfx_stream_stats_summary(&r.s, 0, &s);
    CHECK(s.windows == 1 && NEAR(s.fps_average, 100) && NEAR(s.fps_min, 100) &&
              NEAR(s.fps_max, 100) && s.gaps == 149 && NEAR(s.jitter_ms, 0) &&
              s.gaps_over[0] == 0,
          "%lu windows, fps %.3f (%.3f-%.3f), %lu gaps, jitter %.6f", (unsigned long)s.windows,
          s.fps_average, s.fps_min, s.fps_max, (unsigned long)s.gaps, s.jitter_ms);
}

/* Gaps of 10 and 20 ms in turn, half a second: a mean of 15, a jitter of 5;
 * no whole window, so min and max are the part-window's rate. */
static void jitter(void)
{
    struct run r = {.nw = 0};
    hfx_stream_stats_init(&r.s, start);
    int64_t t = 0;
    for (int i = 0; i < 21; i++) {
        frame_at(&r, t, 0, 1000, i == 0);
        t += i % 2 ? 20 : 10;
    }
    end_at(&r, 500);
    CHECK(r.nw == 1, "%d windows, not 1", r.nw);
    check_window(&r, 0, 21, 1, 21000, 0.5, 42);
    struct hfx_stats_summary s;
    hfx_stream_stats_summary(&r.s, 0, &s);
    CHECK(s.windows == 0 && NEAR(s.fps_average, 42) && NEAR(s.fps_min, 42) &&
              NEAR(s.fps_max, 42),
          "%lu windows, fps %.3f (%.3f-%.3f)", (unsigned long)s.windows, s.fps_average,
          s.fps_min, s.fps_max);
    CHECK(s.gaps == 20 && NEAR(s.gap_mean_ms, 15) && NEAR(s.gap_max_ms, 20) &&
              NEAR(s.jitter_ms, 5),
          "%lu gaps, mean %.9f, max %.9f, jitter %.9f ms, not 20, 15, 20, 5",
          (unsigned long)s.gaps, s.gap_mean_ms, s.gap_max_ms, s.jitter_ms);
}

/* Gaps at and one nanosecond past each limit. */
static void gap_limits(void)
{
    struct run r = {.nw = 0};
    hfx_stream_stats_init(&r.s, start);
    int64_t gaps[] = {50 * MS, 50 * MS + 1, 100 * MS, 100 * MS + 1, 200 * MS, 200 * MS + 1};
    int64_t t = 0;
    hfx_stream_stats_frame(&r.s, start, 10, true);
    for (int i = 0; i < 6; i++) {
        t += gaps[i];
        hfx_stream_stats_frame(&r.s, start + t, 10, false);
    }
    hfx_stream_stats_end(&r.s, start + t + 1);
    struct hfx_stats_summary s;
    hfx_stream_stats_summary(&r.s, 0, &s);
    CHECK(s.gaps == 6 && s.gaps_over[0] == 5 && s.gaps_over[1] == 3 && s.gaps_over[2] == 1,
          "%lu gaps, over 50/100/200 ms: %lu %lu %lu, not 5 3 1", (unsigned long)s.gaps,
          (unsigned long)s.gaps_over[0], (unsigned long)s.gaps_over[1],
          (unsigned long)s.gaps_over[2]);
}

/* A still screen: no frames at all. */
static void still(void)
{
    struct run r = {.nw = 0};
    hfx_stream_stats_init(&r.s, start);
    poll_windows(&r, start + 1500 * MS);
    CHECK(r.nw == 1, "%d windows at 1.5 s", r.nw);
    end_at(&r, 2000);
    CHECK(r.nw == 2, "%d windows, not 2 (an empty part-window given?)", r.nw);
    check_window(&r, 0, 0, 0, 0, 1, 0);
    check_window(&r, 1, 0, 0, 0, 1, 0);
    struct hfx_stats_summary s;
    hfx_stream_stats_summary(&r.s, 0, &s);
    CHECK(s.windows == 2 && s.frames == 0 && s.fps_average == 0 && s.fps_min == 0 &&
              s.fps_max == 0 && s.kbit_per_s == 0 && s.frame_bytes_average == 0 &&
              s.frame_bytes_min == 0 && s.frame_bytes_max == 0 && s.gaps == 0 &&
              s.jitter_ms == 0,
          "a still screen: %lu windows, %lu frames, fps %.3f (%.3f-%.3f), sizes %lu-%lu, "
          "jitter %.3f", (unsigned long)s.windows, (unsigned long)s.frames, s.fps_average,
          s.fps_min, s.fps_max, (unsigned long)s.frame_bytes_min,
          (unsigned long)s.frame_bytes_max, s.jitter_ms);
    char json[1024];
    hfx_stats_json_members(json, sizeof json, &s, 60);
    CHECK(strstr(json, "\"verdict\":\"POOR\"") && strstr(json, "\"frame_bytes_min\":0,"),
          "%s", json);

    /* Shorter than a second and still: the empty part-window is the one
     * window there is. */
    struct run q = {.nw = 0};
    hfx_stream_stats_init(&q.s, start);
    end_at(&q, 300);
    CHECK(q.nw == 1, "%d windows in 0.3 s", q.nw);
    check_window(&q, 0, 0, 0, 0, 0.3, 0);
}

static void verdicts(void)
{
    struct {
        double fps, target;
        enum hfx_stats_verdict want;
    } cases[] = {
        {60, 60, HFX_VERDICT_EXCELLENT},  {57, 60, HFX_VERDICT_EXCELLENT},
        {56.99, 60, HFX_VERDICT_GOOD},    {48, 60, HFX_VERDICT_GOOD},
        {47.99, 60, HFX_VERDICT_DEGRADED}, {30, 60, HFX_VERDICT_DEGRADED},
        {29.99, 60, HFX_VERDICT_POOR},    {0, 60, HFX_VERDICT_POOR},
        {75, 60, HFX_VERDICT_EXCELLENT},  {28.5, 30, HFX_VERDICT_EXCELLENT},
        {28.49, 30, HFX_VERDICT_GOOD},    {24, 30, HFX_VERDICT_GOOD},
        {23.99, 30, HFX_VERDICT_DEGRADED}, {15, 30, HFX_VERDICT_DEGRADED},
        {14.99, 30, HFX_VERDICT_POOR},    {19, 20, HFX_VERDICT_EXCELLENT},
        {16, 20, HFX_VERDICT_GOOD},       {10, 20, HFX_VERDICT_DEGRADED},
        {9.99, 20, HFX_VERDICT_POOR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        enum hfx_stats_verdict v = hfx_stats_verdict(cases[i].fps, cases[i].target);
        CHECK(v == cases[i].want, "%.2f fps of %.0f: %s, not %s", cases[i].fps, cases[i].target,
              hfx_stats_verdict_name(v), hfx_stats_verdict_name(cases[i].want));
    }
}

/* hfx latency's statistics and verdict. */
static void latency(void)
{
    struct hfx_latency_summary s;
    double ten[10] = {90, 10, 20, 30, 40, 50, 60, 70, 80, 100};
    hfx_latency_summarize(ten, 10, &s);
    CHECK(s.samples == 10 && s.min_ms == 10 && s.max_ms == 100 && s.p50_ms == 50 &&
              s.p90_ms == 90 && s.p99_ms == 100 && s.mean_ms == 55,
          "min %g p50 %g p90 %g p99 %g max %g mean %g", s.min_ms, s.p50_ms, s.p90_ms, s.p99_ms,
          s.max_ms, s.mean_ms);
    CHECK(fabs(s.stddev_ms - 28.7228) < 0.001, "stddev %g", s.stddev_ms);
    CHECK(ten[0] == 90, "the samples were reordered");
    CHECK(hfx_latency_verdict(&s) == HFX_LATENCY_GOOD, "p50 50: GOOD (below 80, not below 50)");
    s.p50_ms = 49.9;
    CHECK(hfx_latency_verdict(&s) == HFX_LATENCY_EXCELLENT, "p50 49.9");
    s.p50_ms = 79.9;
    CHECK(hfx_latency_verdict(&s) == HFX_LATENCY_GOOD, "p50 79.9");
    s.p50_ms = 80;
    CHECK(hfx_latency_verdict(&s) == HFX_LATENCY_ACCEPTABLE, "p50 80");
    s.p50_ms = 120;
    CHECK(hfx_latency_verdict(&s) == HFX_LATENCY_POOR, "p50 120");
    double one = 42;
    hfx_latency_summarize(&one, 1, &s);
    CHECK(s.p50_ms == 42 && s.p99_ms == 42 && s.stddev_ms == 0, "one sample");
    hfx_latency_summarize(NULL, 0, &s);
    CHECK(s.samples == 0 && hfx_latency_verdict(&s) == HFX_LATENCY_POOR, "no samples");
    char json[512];
    hfx_latency_summarize(ten, 10, &s);
    int n = hfx_latency_json_members(json, sizeof json, &s);
    CHECK(n > 0 && strstr(json, "\"p50_ms\":50.000") && strstr(json, "\"verdict\":\"GOOD\""),
          "%s", json);
}

int main(void)
{
    latency();
    mixed();
    part_window();
    jitter();
    gap_limits();
    still();
    verdicts();
    return check_summary("test_stream_stats");
}
