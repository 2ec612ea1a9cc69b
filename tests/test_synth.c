/* Synthetic workloads and the frame-number stamp: determinism, damage,
 * stamp round trips through I420, and the cost of generating a frame. */
#include "source/synth.h"

#include <libyuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "splitmix.h"

static int failures;

static bool check(bool ok, const char *file, int line, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
        failures++;
    }
    return ok;
}

#define CHECK(cond) check((cond), __FILE__, __LINE__, #cond)

#define MAX_RECTS 8

static const enum hfx_workload workloads[] = { HFX_WL_IDLE,  HFX_WL_TYPING, HFX_WL_SCROLL,
                                               HFX_WL_VIDEO, HFX_WL_WINDOW, HFX_WL_HALF,
                                               HFX_WL_PANE,  HFX_WL_DRAG,   HFX_WL_SCROLL_BACK };
#define WORKLOADS (sizeof workloads / sizeof workloads[0])

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t frame_bytes(const struct hfx_synth *s, uint32_t height)
{
    return (size_t)hfx_synth_stride(s) * height;
}

/* FNV-1a over 64-bit words: enough to tell frames apart, fast at 5K. */
static uint64_t frame_hash(const struct hfx_synth *s, uint32_t height)
{
    const uint8_t *p = hfx_synth_pixels(s);
    size_t n = frame_bytes(s, height) / 8;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        memcpy(&w, p + i * 8, 8);
        h = (h ^ w) * UINT64_C(0x100000001b3);
    }
    return h;
}

static bool rect_inside(struct hfx_rect r, uint32_t width, uint32_t height)
{
    return r.x >= 0 && r.y >= 0 && r.w > 0 && r.h > 0 && r.x + r.w <= (int32_t)width &&
           r.y + r.h <= (int32_t)height;
}

static bool rect_is_frame(struct hfx_rect r, uint32_t width, uint32_t height)
{
    return r.x == 0 && r.y == 0 && r.w == (int32_t)width && r.h == (int32_t)height;
}

/* Reads the stamp the way a decoder-side test would: XRGB -> I420 -> luma. */
static int64_t read_stamp_xrgb(const uint8_t *pixels, uint32_t stride, uint32_t width,
                               uint32_t height)
{
    uint32_t cw = (width + 1) / 2, ch = (height + 1) / 2;
    uint8_t *y = malloc((size_t)width * height);
    uint8_t *u = malloc((size_t)cw * ch);
    uint8_t *v = malloc((size_t)cw * ch);
    int64_t value = -1;
    if (y && u && v &&
        ARGBToI420(pixels, (int)stride, y, (int)width, u, (int)cw, v, (int)cw, (int)width,
                   (int)height) == 0)
        value = hfx_stamp_read_luma(y, width, width, height);
    free(y);
    free(u);
    free(v);
    return value;
}

static void test_names(void)
{
    for (size_t i = 0; i < WORKLOADS; i++)
        CHECK(hfx_workload_parse(hfx_workload_name(workloads[i])) == (int)workloads[i]);
    CHECK(WORKLOADS == HFX_WORKLOADS);
    CHECK(hfx_workload_parse("typing") == HFX_WL_TYPING);
    CHECK(hfx_workload_parse("window") == HFX_WL_WINDOW);
    CHECK(hfx_workload_parse("half") == HFX_WL_HALF);
    CHECK(hfx_workload_parse("pane") == HFX_WL_PANE);
    CHECK(hfx_workload_parse("drag") == HFX_WL_DRAG);
    CHECK(hfx_workload_parse("scroll-back") == HFX_WL_SCROLL_BACK);
    CHECK(hfx_workload_parse("Typing") == -1);
    CHECK(hfx_workload_parse("") == -1);
    CHECK(hfx_workload_parse(NULL) == -1);
}

static void test_sizes(void)
{
    CHECK(hfx_synth_new(HFX_WL_IDLE, 63, 64) == NULL);
    CHECK(hfx_synth_new(HFX_WL_IDLE, 64, 63) == NULL);
    CHECK(hfx_synth_new(HFX_WL_IDLE, 8193, 64) == NULL);
    CHECK(hfx_synth_new((enum hfx_workload)42, 64, 64) == NULL);
    CHECK(hfx_synth_new((enum hfx_workload)HFX_WORKLOADS, 64, 64) == NULL);
    for (size_t i = 0; i < WORKLOADS; i++) {
        struct hfx_synth *s = hfx_synth_new(workloads[i], 65, 64);
        if (!CHECK(s != NULL))
            continue;
        struct hfx_rect rects[MAX_RECTS];
        CHECK(hfx_synth_stride(s) == 320);
        CHECK(hfx_synth_next(s, rects, 0) == -1);
        CHECK(hfx_synth_frame(s) == 0);
        hfx_synth_free(s);
    }
}

static bool rect_contains(struct hfx_rect outer, struct hfx_rect inner)
{
    return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
           inner.y + inner.h <= outer.y + outer.h;
}

/* A caller with room for one rect still hears about all the damage. */
static void test_one_rect(void)
{
    struct hfx_synth *many = hfx_synth_new(HFX_WL_TYPING, 640, 480);
    struct hfx_synth *one = hfx_synth_new(HFX_WL_TYPING, 640, 480);
    for (int i = 0; CHECK(many != NULL && one != NULL) && i < 50; i++) {
        struct hfx_rect rects[MAX_RECTS], merged;
        int n = hfx_synth_next(many, rects, MAX_RECTS);
        if (!CHECK(hfx_synth_next(one, &merged, 1) == 1))
            break;
        for (int r = 0; r < n; r++)
            CHECK(rect_contains(merged, rects[r]));
    }
    hfx_synth_free(many);
    hfx_synth_free(one);
}

struct run {
    uint64_t hash;
    uint32_t frame;
    int n;
    struct hfx_rect rects[MAX_RECTS];
};

/* The part of the screen window and half repaint every frame. */
static struct hfx_rect part_rect(enum hfx_workload wl, uint32_t width, uint32_t height)
{
    if (wl == HFX_WL_HALF)
        return (struct hfx_rect){ 0, 0, (int32_t)width / 2, (int32_t)height };
    int32_t w = width < 200 ? (int32_t)width : 200, h = height < 150 ? (int32_t)height : 150;
    return (struct hfx_rect){ ((int32_t)width - w) / 2, ((int32_t)height - h) / 2, w, h };
}

/* The frame-number strip, where the frame is wide enough to hold it. */
static bool has_stamp(uint32_t width)
{
    return width >= HFX_STAMP_W;
}

/* Checks what every workload promises about one call's result. */
static bool check_call(enum hfx_workload wl, const struct run *r, uint32_t call,
                       uint32_t width, uint32_t height, uint64_t prev_hash)
{
    bool ok = CHECK(r->n >= 0);
    for (int i = 0; i < r->n; i++)
        ok &= CHECK(rect_inside(r->rects[i], width, height));
    if (call == 0)
        return ok && CHECK(r->n == 1 && rect_is_frame(r->rects[0], width, height)) &&
               CHECK(r->frame == 0);
    if (wl == HFX_WL_IDLE)
        return ok && CHECK(r->n == 0 && r->frame == 0 && r->hash == prev_hash);
    /* A pane in a frame too narrow for the strip may show blank page for
     * a few frames. */
    bool may_repeat = wl == HFX_WL_PANE && !has_stamp(width);
    ok &= CHECK(r->frame == call) && (may_repeat || CHECK(r->hash != prev_hash));
    if (wl == HFX_WL_TYPING)
        return ok && CHECK(r->n == (width >= HFX_STAMP_W ? 2 : 1));
    if (wl == HFX_WL_WINDOW || wl == HFX_WL_HALF) {
        /* The repainted part, then the strip unless it lies inside. */
        struct hfx_rect part = part_rect(wl, width, height);
        struct hfx_rect strip = { 0, 0, HFX_STAMP_W, HFX_STAMP_H };
        bool apart = has_stamp(width) && !rect_contains(part, strip);
        ok &= CHECK(r->n == (apart ? 2 : 1)) &&
              CHECK(memcmp(&r->rects[0], &part, sizeof part) == 0);
        return ok && (!apart || CHECK(memcmp(&r->rects[1], &strip, sizeof strip) == 0));
    }
    if (wl == HFX_WL_PANE)
        return ok && CHECK(r->n == (has_stamp(width) ? 2 : 1)) &&
               CHECK(!rect_is_frame(r->rects[0], width, height));
    if (wl == HFX_WL_DRAG) {
        /* Where the window was, where it is, the strip. */
        int32_t w = width / 2 < 480 ? (int32_t)width / 2 : 480;
        int32_t h = height / 2 < 360 ? (int32_t)height / 2 : 360;
        ok &= CHECK(r->n == (has_stamp(width) ? 3 : 2));
        for (int i = 0; i < 2; i++)
            ok &= CHECK(r->rects[i].w == w && r->rects[i].h == h);
        return ok && CHECK(memcmp(&r->rects[0], &r->rects[1], sizeof r->rects[0]) != 0);
    }
    return ok && CHECK(r->n == 1 && rect_is_frame(r->rects[0], width, height));
}

static void run_call(struct hfx_synth *s, uint32_t height, struct run *run)
{
    run->n = hfx_synth_next(s, run->rects, MAX_RECTS);
    run->frame = hfx_synth_frame(s);
    run->hash = frame_hash(s, height);
}

static bool same_call(const struct run *a, const struct run *b)
{
    bool same = CHECK(a->n == b->n && a->frame == b->frame && a->hash == b->hash);
    for (int r = 0; same && r < a->n; r++)
        same = CHECK(memcmp(&a->rects[r], &b->rects[r], sizeof a->rects[r]) == 0);
    return same;
}

/* Two instances in lockstep must match byte for byte; a third, run to the
 * end before they are even created, catches state shared between instances. */
static void test_determinism(enum hfx_workload wl, uint32_t width, uint32_t height)
{
    enum { FRAMES = 100 };
    static struct run first[FRAMES];
    struct hfx_synth *s = hfx_synth_new(wl, width, height);
    if (!CHECK(s != NULL))
        return;
    for (uint32_t i = 0; i < FRAMES; i++)
        run_call(s, height, &first[i]);
    hfx_synth_free(s);

    struct hfx_synth *a = hfx_synth_new(wl, width, height);
    struct hfx_synth *b = hfx_synth_new(wl, width, height);
    for (uint32_t i = 0; CHECK(a != NULL && b != NULL) && i < FRAMES; i++) {
        struct run ra, rb;
        run_call(a, height, &ra);
        run_call(b, height, &rb);
        if (!CHECK(memcmp(hfx_synth_pixels(a), hfx_synth_pixels(b), frame_bytes(a, height)) == 0) ||
            !same_call(&ra, &rb) || !same_call(&ra, &first[i]) ||
            !check_call(wl, &ra, i, width, height, i ? first[i - 1].hash : 0)) {
            fprintf(stderr, "  %s %ux%u, call %u\n", hfx_workload_name(wl), width, height, i);
            break;
        }
    }
    if (a && width >= HFX_STAMP_W)
        CHECK(read_stamp_xrgb(hfx_synth_pixels(a), hfx_synth_stride(a), width, height) ==
              hfx_synth_frame(a));
    hfx_synth_free(a);
    hfx_synth_free(b);
}

/* Pixels outside the reported rects must be those of the previous frame. */
static void test_damage(enum hfx_workload wl, uint32_t width, uint32_t height, uint32_t frames)
{
    struct hfx_synth *s = hfx_synth_new(wl, width, height);
    if (!CHECK(s != NULL))
        return;
    uint32_t stride = hfx_synth_stride(s);
    size_t size = frame_bytes(s, height);
    uint8_t *expect = malloc(size), *prev = malloc(size);
    struct hfx_rect rects[MAX_RECTS];
    bool cleared = false;
    hfx_synth_next(s, rects, MAX_RECTS);
    for (uint32_t i = 1; expect && prev && i < frames; i++) {
        memcpy(prev, hfx_synth_pixels(s), size);
        int n = hfx_synth_next(s, rects, MAX_RECTS);
        memcpy(expect, prev, size);
        for (int r = 0; r < n; r++) {
            if (!CHECK(rect_inside(rects[r], width, height)))
                break;
            cleared |= rects[r].w > 8 && rects[r].h >= 16;
            for (int32_t y = rects[r].y; y < rects[r].y + rects[r].h; y++) {
                size_t at = (size_t)y * stride + (size_t)rects[r].x * 4;
                memcpy(expect + at, hfx_synth_pixels(s) + at, (size_t)rects[r].w * 4);
            }
        }
        if (!CHECK(memcmp(expect, hfx_synth_pixels(s), size) == 0)) {
            fprintf(stderr, "  %s %ux%u, frame %u\n", hfx_workload_name(wl), width, height, i);
            break;
        }
    }
    /* Long enough runs fill the terminal, and its clear must be damage too. */
    if (wl == HFX_WL_TYPING && frames >= 1000)
        CHECK(cleared);
    free(expect);
    free(prev);
    hfx_synth_free(s);
}

/* window and half promise new content every frame, not only damage: a
 * good share of the repainted part (the strip left out) must differ from
 * the frame before, every frame, and the changed pixels must reach every
 * edge of the part's inner half at least once over the run. */
static void test_new_content(enum hfx_workload wl, uint32_t width, uint32_t height,
                             uint32_t frames, double min_share)
{
    struct hfx_synth *s = hfx_synth_new(wl, width, height);
    if (!CHECK(s != NULL))
        return;
    uint32_t stride = hfx_synth_stride(s);
    size_t size = frame_bytes(s, height);
    uint8_t *prev = malloc(size);
    struct hfx_rect part = part_rect(wl, width, height), rects[MAX_RECTS];
    int32_t x0 = INT32_MAX, y0 = INT32_MAX, x1 = -1, y1 = -1;
    double least = 1.0;
    hfx_synth_next(s, rects, MAX_RECTS);
    for (uint32_t i = 1; prev && i < frames; i++) {
        memcpy(prev, hfx_synth_pixels(s), size);
        hfx_synth_next(s, rects, MAX_RECTS);
        size_t changed = 0, counted = 0;
        for (int32_t y = part.y; y < part.y + part.h; y++) {
            const uint32_t *a = (const uint32_t *)(const void *)(prev + (size_t)y * stride);
            const uint32_t *b = (const uint32_t *)(const void *)(hfx_synth_pixels(s) + (size_t)y * stride);
            for (int32_t x = part.x; x < part.x + part.w; x++) {
                if (y < HFX_STAMP_H && x < HFX_STAMP_W)
                    continue;
                counted++;
                if (a[x] == b[x])
                    continue;
                changed++;
                x0 = x < x0 ? x : x0;
                y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1;
                y1 = y > y1 ? y : y1;
            }
        }
        double share = counted ? (double)changed / (double)counted : 0;
        least = share < least ? share : least;
    }
    printf("%-6s %4ux%-4u repainted part %dx%d at %d,%d: at least %.0f%% of it new every frame\n",
           hfx_workload_name(wl), width, height, part.w, part.h, part.x, part.y, 100 * least);
    if (!CHECK(least >= min_share))
        fprintf(stderr, "  %s %ux%u: %.3f of the part changed in some frame\n",
                hfx_workload_name(wl), width, height, least);
    CHECK(x0 < part.x + part.w / 4 && x1 >= part.x + part.w * 3 / 4);
    CHECK(y0 < part.y + part.h / 4 && y1 >= part.y + part.h * 3 / 4);
    free(prev);
    hfx_synth_free(s);
}

/* A stamped 320x48 picture with a busy background, as the luma a decoder sees. */
struct stamp_frame {
    uint8_t xrgb[320 * 4 * 48];
    uint8_t y[320 * 48], u[160 * 24], v[160 * 24];
};
enum { SF_W = 320, SF_H = 48 };

static void stamp_frame_make(struct stamp_frame *f, uint32_t value, uint64_t *rnd)
{
    for (size_t i = 0; i < sizeof f->xrgb; i++)
        f->xrgb[i] = (uint8_t)splitmix64(rnd);
    hfx_stamp_write_xrgb(f->xrgb, SF_W * 4, value);
    ARGBToI420(f->xrgb, SF_W * 4, f->y, SF_W, f->u, SF_W / 2, f->v, SF_W / 2, SF_W, SF_H);
}

static int64_t stamp_frame_read(const struct stamp_frame *f)
{
    return hfx_stamp_read_luma(f->y, SF_W, SF_W, SF_H);
}

/* Lossy coding moves luma around; +-30 must not change the reading. */
static void add_noise(struct stamp_frame *f, uint64_t *rnd)
{
    for (size_t i = 0; i < sizeof f->y; i++) {
        int v = f->y[i] + (int)(splitmix64(rnd) % 61) - 30;
        f->y[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Sets the luma of stamp block i to level. */
static void paint_block(struct stamp_frame *f, int i, uint8_t level)
{
    for (int y = 0; y < HFX_STAMP_BLOCK; y++)
        memset(f->y + y * SF_W + i * HFX_STAMP_BLOCK, level, HFX_STAMP_BLOCK);
}

static void test_stamp_round_trip(void)
{
    static struct stamp_frame f;
    uint64_t rnd = 1;
    uint32_t values[300] = { 0, 1, 2, 0xffffff, 0x800000, 0x555555, 0xaaaaaa, 0x123456 };
    for (size_t i = 8; i < sizeof values / sizeof values[0]; i++)
        values[i] = (uint32_t)splitmix64(&rnd) & 0xffffff;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        stamp_frame_make(&f, values[i], &rnd);
        if (!CHECK(stamp_frame_read(&f) == values[i]))
            fprintf(stderr, "  value %#x\n", values[i]);
        add_noise(&f, &rnd);
        if (!CHECK(stamp_frame_read(&f) == values[i]))
            fprintf(stderr, "  value %#x with noise\n", values[i]);
    }
    /* Only the low HFX_STAMP_BITS of a frame number fit. */
    stamp_frame_make(&f, (1u << HFX_STAMP_BITS) + 5, &rnd);
    CHECK(stamp_frame_read(&f) == 5);
}

static void test_stamp_unreadable(void)
{
    static struct stamp_frame f;
    uint64_t rnd = 2;
    memset(f.y, 16, sizeof f.y);
    CHECK(stamp_frame_read(&f) == -1);
    memset(f.y, 0, sizeof f.y);
    CHECK(stamp_frame_read(&f) == -1);

    stamp_frame_make(&f, 0x123456, &rnd);
    CHECK(stamp_frame_read(&f) == 0x123456);
    paint_block(&f, 5, 128);
    CHECK(stamp_frame_read(&f) == -1);

    /* 0x123456 has bit 0 clear: a white block there is a single flip, which
     * only the parity can catch. */
    stamp_frame_make(&f, 0x123456, &rnd);
    paint_block(&f, 1, 235);
    CHECK(stamp_frame_read(&f) == -1);

    stamp_frame_make(&f, 0x123456, &rnd);
    paint_block(&f, 0, 16);
    CHECK(stamp_frame_read(&f) == -1);

    stamp_frame_make(&f, 0x123456, &rnd);
    CHECK(hfx_stamp_read_luma(f.y, SF_W, HFX_STAMP_W - 1, SF_H) == -1);
    CHECK(hfx_stamp_read_luma(f.y, SF_W, SF_W, HFX_STAMP_H - 1) == -1);

    /* Rows too narrow for the strip are left alone. */
    uint8_t narrow[64 * 4 * 16], before[sizeof narrow];
    memset(narrow, 7, sizeof narrow);
    memcpy(before, narrow, sizeof narrow);
    hfx_stamp_write_xrgb(narrow, 64 * 4, 1);
    CHECK(memcmp(narrow, before, sizeof narrow) == 0);
}

/* Generation cost only: printed for the record, never asserted. */
static void report_timing(enum hfx_workload wl, uint32_t width, uint32_t height, int frames)
{
    struct hfx_rect rects[MAX_RECTS];
    double t0 = now_ms();
    struct hfx_synth *s = hfx_synth_new(wl, width, height);
    if (!CHECK(s != NULL))
        return;
    hfx_synth_next(s, rects, MAX_RECTS);
    double t1 = now_ms();
    for (int i = 0; i < frames; i++)
        hfx_synth_next(s, rects, MAX_RECTS);
    double t2 = now_ms();
    printf("%-6s %4ux%-4u create %8.1f ms, %8.3f ms/frame\n", hfx_workload_name(wl), width,
           height, t1 - t0, (t2 - t1) / frames);
    hfx_synth_free(s);
}

int main(void)
{
    test_names();
    test_sizes();
    test_one_rect();
    test_stamp_round_trip();
    test_stamp_unreadable();
    for (size_t i = 0; i < WORKLOADS; i++) {
        test_determinism(workloads[i], 1366, 767);
        test_determinism(workloads[i], 1920, 1080);
        test_determinism(workloads[i], 64, 64);
        test_damage(workloads[i], 1366, 767, 100);
        test_damage(workloads[i], 97, 64, 100);
    }
    test_damage(HFX_WL_TYPING, 320, 200, 1000);
    test_damage(HFX_WL_TYPING, 64, 64, 1000);
    /* Half of 320 is too narrow for the strip: two rects. */
    test_damage(HFX_WL_HALF, 320, 200, 200);
    test_damage(HFX_WL_WINDOW, 5120, 2880, 20);
    test_new_content(HFX_WL_WINDOW, 1920, 1080, 200, 0.15);
    test_new_content(HFX_WL_WINDOW, 5120, 2880, 50, 0.15);
    test_new_content(HFX_WL_HALF, 1920, 1080, 200, 0.25);
    test_new_content(HFX_WL_HALF, 5120, 2880, 30, 0.25);

    for (size_t i = 0; i < WORKLOADS; i++) {
        report_timing(workloads[i], 1920, 1080, 120);
        report_timing(workloads[i], 5120, 2880, 30);
    }
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all synth checks passed\n");
    return 0;
}
