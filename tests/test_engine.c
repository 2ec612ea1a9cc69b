/* The engine on its own, with a sink that collects packets: damage-driven
 * encoding, coalescing, keyframes, size changes, pixel formats, life cycle.
 * Every access unit is decoded with libavcodec and checked against what the
 * synthetic source drew. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libyuv.h>

#include "check.h"
#include "collector.h"
#include "client/decode.h"
#include "client/verify.h"
#include "common/clock.h"
#include "engine/convert.h"
#include "engine/engine.h"
#include "source/input_stamp.h"
#include "splitmix.h"
#include "source/synth.h"

static struct hfx_engine *make_engine(struct collector *c, const char *encoder, uint32_t scanouts)
{
    struct hfx_engine_config cfg = {.max_scanouts = scanouts, .encoder = encoder,
                                    .sink = &col_sink, .sink_data = c};
    char err[256];
    struct hfx_engine *e = hfx_engine_new(&cfg, err, sizeof err);
    CHECK(e, "%s", err);
    return e;
}

/* The encoder counter `name` the engine passed on (0 when it has none). */
static uint64_t stats_counter(const struct hfx_scanout_stats *st, const char *name)
{
    for (uint32_t i = 0; i < st->ncounters; i++)
        if (!strcmp(st->counters[i].name, name))
            return st->counters[i].value;
    return 0;
}

/* Feeds frame 0 of a synth to a scanout. */
static void show(struct hfx_engine *e, uint32_t id, struct hfx_synth *s)
{
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    char err[256];
    int rc = hfx_engine_scanout_set(e, id, (uint32_t)r[0].w, (uint32_t)r[0].h, HFX_FMT_XRGB8888,
                                    hfx_synth_pixels(s), hfx_synth_stride(s), err, sizeof err);
    CHECK(rc == 0, "%s", err);
}

/* One scanout showing frame 0 of a workload, subscribed, its IDR arrived. */
static void watched_head(struct collector *c, struct hfx_engine **e, struct hfx_synth **s,
                         const char *encoder, enum hfx_workload wl, uint32_t w, uint32_t h)
{
    col_init(c);
    *e = make_engine(c, encoder, 1);
    *s = hfx_synth_new(wl, w, h);
    show(*e, 0, *s);
    hfx_engine_subscribe(*e, 0, +1);
    col_wait(c, 1, 5000);
}

/* Decodes every collected packet in order; checks each yields a picture
 * whose stamped frame number does not go backwards and whose luma matches
 * what a second synth drew for that number. Returns the last number. */
static int64_t decode_all(struct collector *c, enum hfx_workload wl, uint32_t w, uint32_t h,
                          double min_psnr)
{
    struct hfx_decoder *d = hfx_decoder_new();
    struct hfx_verify *ver = hfx_verify_new(wl);
    int64_t last = -1;
    double worst = 99;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++) {
        struct hfx_decoded pic;
        int rc = hfx_decoder_decode(d, c->pkts[i]->au, c->pkts[i]->au_size, &pic);
        CHECK(rc == 1, "packet %d (%zu bytes, key %d) did not decode", i, c->pkts[i]->au_size,
              c->pkts[i]->keyframe);
        if (rc != 1)
            continue;
        /* Odd sizes are coded one line larger (4:2:0 crops by two). */
        CHECK(pic.width == ((w + 1) & ~1u) && pic.height == ((h + 1) & ~1u),
              "decoded %ux%u for a %ux%u picture", pic.width, pic.height, w, h);
        int64_t n = hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width, pic.height);
        CHECK(n >= last, "frame number went from %lld to %lld", (long long)last, (long long)n);
        /* Compared over the visible picture: the reference is drawn at w x h. */
        struct hfx_decoded visible = pic;
        visible.width = w;
        visible.height = h;
        double p = hfx_verify_psnr(ver, &visible, n);
        worst = p < worst ? p : worst;
        last = n;
    }
    pthread_mutex_unlock(&c->lock);
    CHECK(worst >= min_psnr, "worst luma PSNR %.1f dB < %.1f dB", worst, min_psnr);
    fprintf(stderr, "  %s %ux%u: %d packets, last frame #%lld, worst PSNR %.1f dB\n",
            hfx_workload_name(wl), w, h, c->n, (long long)last, worst);
    hfx_verify_free(ver);
    hfx_decoder_free(d);
    return last;
}

/* decode_all for a typing run that ended at frame `final`: the last frame
 * decoded is that one. */
static void check_typing_run(struct collector *c, uint32_t w, uint32_t h, uint32_t final)
{
    int64_t last = decode_all(c, HFX_WL_TYPING, w, h, 30.0);
    CHECK(last == final, "last decoded frame #%lld, the source ended at #%u", (long long)last,
          final);
}

/* Updates arrive much faster than the encoder runs: they coalesce, and the
 * last change is always encoded. */
static void test_coalescing(const char *encoder)
{
    fprintf(stderr, "coalescing (%s)\n", encoder);
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, encoder, HFX_WL_TYPING, 1280, 720);
    struct hfx_rect r[8];
    for (int i = 0; i < 300; i++) {
        int n = hfx_synth_next(s, r, 8);
        hfx_engine_scanout_update(e, 0, hfx_synth_pixels(s), hfx_synth_stride(s), r, n);
    }
    uint32_t final = hfx_synth_frame(s);
    /* Wait until the output settles. */
    col_settle(&c);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    CHECK(st.frames < 301, "%llu frames for 301 updates: nothing coalesced",
          (unsigned long long)st.frames);
    CHECK(st.coalesced > 0, "no update was coalesced");
    check_typing_run(&c, 1280, 720, final);
    fprintf(stderr, "  301 updates -> %llu frames (%llu coalesced)\n",
            (unsigned long long)st.frames, (unsigned long long)st.coalesced);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* No damage, no encode; the encoder lives only while someone watches; a
 * subscriber on a static screen gets an IDR at once; several joins share it. */
static void test_static_screen(void)
{
    fprintf(stderr, "static screen\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "x264", 2);
    struct hfx_synth *s = hfx_synth_new(HFX_WL_IDLE, 1920, 1080);
    show(e, 1, s);
    sleep_ms(100);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 1, &st);
    CHECK(!st.encoder_open && st.frames == 0, "encoder open without subscribers");

    int64_t t0 = hfx_now_ns();
    for (int i = 0; i < 3; i++)
        hfx_engine_subscribe(e, 1, +1);
    CHECK(col_wait(&c, 1, 2000) >= 1, "no frame after subscribing to a static screen");
    int64_t dt = c.n ? c.pkts[0]->encoded_at_ns - t0 : -1;
    CHECK(c.n && c.pkts[0]->keyframe, "first frame is not a keyframe");
    fprintf(stderr, "  IDR %.1f ms after subscribing (static 1080p screen)\n", dt / 1e6);
    CHECK(dt >= 0 && dt < 1000000000, "IDR took %.1f ms", dt / 1e6);
    sleep_ms(300);
    CHECK(col_count(&c) == 1, "three joins at once gave %d frames, want one shared IDR",
          col_count(&c));
    hfx_engine_stats(e, 1, &st);
    CHECK(st.encoder_open && st.subscribers == 3, "encoder %d subscribers %d", st.encoder_open,
          st.subscribers);

    /* Nothing changes: nothing is encoded. */
    struct hfx_rect none[1];
    CHECK(hfx_synth_next(s, none, 1) == 0, "idle produced damage");
    sleep_ms(300);
    CHECK(col_count(&c) == 1, "%d frames on a static screen", col_count(&c));

    hfx_engine_request_keyframe(e, 1);
    CHECK(col_wait(&c, 2, 2000) == 2 && c.pkts[1]->keyframe, "KEYFRAME_REQ not honoured");

    for (int i = 0; i < 3; i++)
        hfx_engine_subscribe(e, 1, -1);
    sleep_ms(200);
    hfx_engine_stats(e, 1, &st);
    CHECK(!st.encoder_open, "encoder still open with no subscribers");
    decode_all(&c, HFX_WL_IDLE, 1920, 1080, 30.0);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* A size change re-creates the encoder: the next frame is an IDR at the new
 * size; disabling ends the stream. */
static void test_resize_and_disable(void)
{
    fprintf(stderr, "resize and disable\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "x264", 1);
    struct hfx_synth *a = hfx_synth_new(HFX_WL_TYPING, 640, 360);
    struct hfx_synth *b = hfx_synth_new(HFX_WL_TYPING, 1024, 768);
    show(e, 0, a);
    hfx_engine_subscribe(e, 0, +1);
    col_wait(&c, 1, 2000);
    show(e, 0, b);
    CHECK(col_wait(&c, 2, 2000) == 2, "no frame after the size change");
    if (c.n >= 2) {
        CHECK(c.pkts[1]->keyframe, "frame after a size change is not an IDR");
        CHECK(c.pkts[1]->width == 1024 && c.pkts[1]->height == 768, "packet size %ux%u",
              c.pkts[1]->width, c.pkts[1]->height);
        CHECK(c.pkts[1]->generation != c.pkts[0]->generation, "generation did not change");
        struct hfx_decoder *d = hfx_decoder_new();
        struct hfx_decoded pic;
        CHECK(hfx_decoder_decode(d, c.pkts[0]->au, c.pkts[0]->au_size, &pic) == 1, "decode 0");
        CHECK(hfx_decoder_decode(d, c.pkts[1]->au, c.pkts[1]->au_size, &pic) == 1 &&
                  pic.width == 1024 && pic.height == 768,
              "the new SPS did not switch the decoder to 1024x768");
        hfx_decoder_free(d);
    }
    hfx_engine_scanout_disable(e, 0);
    sleep_ms(200);
    CHECK(c.ended[0] == 1, "disable reported %d times", c.ended[0]);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    CHECK(!st.enabled && !st.encoder_open, "scanout still enabled or encoding after disable");
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(a);
    hfx_synth_free(b);
}

/* Every supported pixel format gives the same picture. */
static void test_formats(void)
{
    fprintf(stderr, "pixel formats\n");
    static const uint32_t fmts[] = {HFX_FMT_XRGB8888, HFX_FMT_ARGB8888, HFX_FMT_XBGR8888,
                                    HFX_FMT_ABGR8888, HFX_FMT_BGRX8888, HFX_FMT_BGRA8888};
    const uint32_t w = 642, h = 362; /* not multiples of 16: cropping */
    struct hfx_synth *s = hfx_synth_new(HFX_WL_IDLE, w, h);
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    uint32_t stride = w * 4 + 32; /* a stride that is not width * 4 */
    uint8_t *px = malloc((size_t)stride * h);
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        for (uint32_t y = 0; y < h; y++) {
            const uint8_t *src = hfx_synth_pixels(s) + (size_t)y * hfx_synth_stride(s);
            uint8_t *dst = px + (size_t)y * stride;
            for (uint32_t x = 0; x < w; x++, src += 4, dst += 4) {
                uint8_t B = src[0], G = src[1], R = src[2];
                switch (fmts[f]) {
                case HFX_FMT_XRGB8888: case HFX_FMT_ARGB8888:
                    dst[0] = B; dst[1] = G; dst[2] = R; dst[3] = 0x80; break;
                case HFX_FMT_XBGR8888: case HFX_FMT_ABGR8888:
                    dst[0] = R; dst[1] = G; dst[2] = B; dst[3] = 0x80; break;
                default:
                    dst[0] = 0x80; dst[1] = R; dst[2] = G; dst[3] = B; break;
                }
            }
        }
        struct collector c;
        col_init(&c);
        struct hfx_engine *e = make_engine(&c, "x264", 1);
        char err[256];
        CHECK(hfx_engine_scanout_set(e, 0, w, h, fmts[f], px, stride, err, sizeof err) == 0,
              "%s", err);
        hfx_engine_subscribe(e, 0, +1);
        CHECK(col_wait(&c, 1, 3000) == 1, "format %08x: no frame", fmts[f]);
        fprintf(stderr, " format %.4s:", (const char *)&fmts[f]);
        decode_all(&c, HFX_WL_IDLE, w, h, 35.0);
        hfx_engine_free(e);
        col_clear(&c);
    }
    free(px);
    hfx_synth_free(s);
}

/* hfx_convert_rect against libyuv's own whole call (the conversion reads
 * ahead a piece at a time, convert.c): every format, strides up and down,
 * rectangles that are not whole pieces (256 pixels) or kernel steps (32),
 * odd sizes at the edge, rows wider than the distance read ahead; and
 * nothing outside the rectangle written but an odd edge's padding. */
static void test_conversion(void)
{
    fprintf(stderr, "conversion\n");
    static const uint32_t fmts[] = {HFX_FMT_XRGB8888, HFX_FMT_ARGB8888, HFX_FMT_XBGR8888,
                                    HFX_FMT_ABGR8888, HFX_FMT_BGRX8888, HFX_FMT_BGRA8888};
    static const struct { uint32_t w, h, x, y, rw, rh; } cases[] = {
        {3000, 9, 0, 0, 3000, 9},       /* rows past the read-ahead, an odd last row */
        {1921, 33, 0, 0, 1921, 33},     /* odd both ways, to the edge */
        {1921, 33, 258, 4, 1663, 29},   /* to the odd edges from inside */
        {640, 40, 6, 2, 33, 7},
        {640, 40, 100, 10, 257, 16},
        {64, 8, 2, 2, 2, 2},
    };
    uint64_t rng = 14;
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int flip = 0; flip < 2; flip++) {
                uint32_t w = cases[c].w, h = cases[c].h, x = cases[c].x, y = cases[c].y;
                uint32_t rw = cases[c].rw, rh = cases[c].rh;
                size_t row = (size_t)w * 4 + 64;
                uint8_t *px = malloc(row * h);
                for (size_t i = 0; i < row * h; i++)
                    px[i] = (uint8_t)splitmix64(&rng);
                /* Bottom-up: row 0 is the buffer's last. */
                const uint8_t *top = flip ? px + row * (h - 1) : px;
                int32_t stride = flip ? -(int32_t)row : (int32_t)row;
                struct hfx_picture *got = hfx_picture_new(w, h), *want = hfx_picture_new(w, h);
                for (int p = 0; p < 3; p++) {
                    size_t size = (size_t)got->stride[p] * (p ? got->alloc_h / 2 : got->alloc_h);
                    memset(got->plane[p], 0x5a, size);
                    memset(want->plane[p], 0x5a, size);
                }
                hfx_convert_rect(got, top, stride, fmts[f], x, y, rw, rh);
                int (*fn)(const uint8_t *, int, uint8_t *, int, uint8_t *, int, uint8_t *, int,
                          int, int) = fmts[f] == HFX_FMT_XRGB8888 || fmts[f] == HFX_FMT_ARGB8888
                                          ? ARGBToI420
                                      : fmts[f] == HFX_FMT_XBGR8888 || fmts[f] == HFX_FMT_ABGR8888
                                          ? ABGRToI420
                                          : BGRAToI420;
                fn(top + (ptrdiff_t)y * stride + (size_t)x * 4, stride,
                   want->plane[0] + (size_t)y * want->stride[0] + x, (int)want->stride[0],
                   want->plane[1] + (size_t)(y / 2) * want->stride[1] + x / 2,
                   (int)want->stride[1],
                   want->plane[2] + (size_t)(y / 2) * want->stride[2] + x / 2,
                   (int)want->stride[2], (int)rw, (int)rh);
                /* The odd edge's padding, as convert.c repeats it. */
                bool right = (w & 1) && x + rw == w, bottom = (h & 1) && y + rh == h;
                for (uint32_t r = y; right && r < y + rh; r++)
                    want->plane[0][r * want->stride[0] + w] =
                        want->plane[0][r * want->stride[0] + w - 1];
                if (bottom)
                    memcpy(want->plane[0] + (size_t)h * want->stride[0] + x,
                           want->plane[0] + (size_t)(h - 1) * want->stride[0] + x, rw + right);
                size_t bad = 0;
                for (int p = 0; p < 3; p++) {
                    size_t size = (size_t)got->stride[p] * (p ? got->alloc_h / 2 : got->alloc_h);
                    for (size_t i = 0; i < size; i++)
                        bad += got->plane[p][i] != want->plane[p][i];
                }
                CHECK(bad == 0, "format %.4s, %ux%u, rect %u,%u %ux%u%s: %zu samples differ",
                      (const char *)&fmts[f], w, h, x, y, rw, rh, flip ? ", bottom-up" : "",
                      bad);
                hfx_picture_free(got);
                hfx_picture_free(want);
                free(px);
            }
}

/* Bad arguments are refused with a reason; nothing is half-applied. */
static void test_bad_arguments(void)
{
    fprintf(stderr, "bad arguments\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "x264", 2);
    uint8_t px[64 * 64 * 4] = {0};
    char err[256] = "";
    CHECK(hfx_engine_scanout_set(e, 2, 64, 64, HFX_FMT_XRGB8888, px, 256, err, sizeof err) < 0 &&
              err[0], "scanout out of range accepted");
    CHECK(hfx_engine_scanout_set(e, 0, 0, 64, HFX_FMT_XRGB8888, px, 256, err, sizeof err) < 0,
          "width 0 accepted");
    CHECK(hfx_engine_scanout_set(e, 0, 9000, 64, HFX_FMT_XRGB8888, px, 36000, err, sizeof err) < 0,
          "width 9000 accepted");
    CHECK(hfx_engine_scanout_set(e, 0, 64, 64, 0x12345678, px, 256, err, sizeof err) < 0,
          "unknown format accepted");
    CHECK(hfx_engine_scanout_set(e, 0, 64, 64, HFX_FMT_XRGB8888, px, 100, err, sizeof err) < 0,
          "short stride accepted");
    struct hfx_rect r = {0, 0, 8, 8};
    CHECK(hfx_engine_scanout_update(e, 0, px, 256, &r, 1) < 0, "update before set accepted");
    CHECK(hfx_engine_scanout_set(e, 0, 64, 64, HFX_FMT_XRGB8888, px, 256, err, sizeof err) == 0,
          "%s", err);
    struct hfx_rect wild[] = {{-50, -50, 60, 60}, {60, 60, 1000, 1000}, {100, 100, 5, 5},
                              {0, 0, 0, 0}, {INT32_MAX - 1, 0, 10, 10}};
    CHECK(hfx_engine_scanout_update(e, 0, px, 256, wild, 5) == 0, "clipped rects refused");
    hfx_engine_free(e);
    col_clear(&c);
    struct hfx_engine_config bad = {.max_scanouts = 17, .sink = &col_sink};
    CHECK(!hfx_engine_new(&bad, err, sizeof err) && err[0], "17 scanouts accepted");
    bad.max_scanouts = 1;
    bad.encoder = "nope";
    CHECK(!hfx_engine_new(&bad, err, sizeof err) && strstr(err, "x264"),
          "unknown encoder accepted or error does not list the choices: %s", err);
}

/* Two engines in one process do not share state; openh264 at 5120x2880
 * falls back to x264. */
static void test_two_engines_and_fallback(void)
{
    fprintf(stderr, "two engines, openh264 fallback\n");
    struct collector c1, c2;
    col_init(&c1);
    col_init(&c2);
    struct hfx_engine *e1 = make_engine(&c1, "x264", 1);
    struct hfx_engine *e2 = make_engine(&c2, "openh264", 1);
    struct hfx_synth *s1 = hfx_synth_new(HFX_WL_TYPING, 320, 240);
    struct hfx_synth *s2 = hfx_synth_new(HFX_WL_IDLE, 5120, 2880);
    show(e1, 0, s1);
    show(e2, 0, s2);
    hfx_engine_subscribe(e1, 0, +1);
    hfx_engine_subscribe(e2, 0, +1);
    CHECK(col_wait(&c1, 1, 3000) == 1, "engine 1 gave no frame");
    CHECK(col_wait(&c2, 1, 10000) == 1, "engine 2 gave no frame");
    struct hfx_scanout_stats st;
    hfx_engine_stats(e2, 0, &st);
    CHECK(st.encoder && !strcmp(st.encoder, "x264"),
          "5120x2880 with openh264 should fall back to x264, uses %s", st.encoder);
    CHECK(c1.n >= 1 && c1.pkts[0]->width == 320, "engine 1 packets are not its own");
    decode_all(&c2, HFX_WL_IDLE, 5120, 2880, 30.0);
    hfx_engine_free(e1);
    hfx_engine_free(e2);
    col_clear(&c1);
    col_clear(&c2);
    hfx_synth_free(s1);
    hfx_synth_free(s2);
}

/* Periodic IDRs and idle refresh frames come by time, with no damage. */
static void test_timers(void)
{
    fprintf(stderr, "periodic IDR and idle refresh\n");
    struct collector c;
    col_init(&c);
    /* A rate high enough that IDRs every 300 ms stay within the VBV cap.
     * x264: the hybrid would also send the frames that sharpen each IDR's
     * picture (test_sharpening), which are not these timers'. */
    struct hfx_engine_config cfg = {.max_scanouts = 1, .encoder = "x264",
                                    .idr_interval_ms = 300, .idle_refresh_ms = 100,
                                    .bitrate = 8000000, .sink = &col_sink, .sink_data = &c};
    char err[256];
    struct hfx_engine *e = hfx_engine_new(&cfg, err, sizeof err);
    struct hfx_synth *s = hfx_synth_new(HFX_WL_IDLE, 640, 480);
    show(e, 0, s);
    hfx_engine_subscribe(e, 0, +1);
    sleep_ms(1050);
    int n = col_count(&c), keys = 0;
    for (int i = 0; i < n; i++)
        keys += c.pkts[i]->keyframe;
    fprintf(stderr, "  1 s of a static screen: %d frames, %d IDRs\n", n, keys);
    CHECK(n >= 6 && n <= 14, "%d frames in 1 s with a 100 ms idle refresh", n);
    CHECK(keys >= 3 && keys <= 5, "%d IDRs in 1 s with a 300 ms interval", keys);
    /* x264 may still refine an unchanged picture (issue 6 writes true
     * all-skip frames); a refresh must stay a small fraction of an IDR. */
    size_t refresh_bytes = 0, idr_bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t *m = c.pkts[i]->keyframe ? &idr_bytes : &refresh_bytes;
        *m = c.pkts[i]->au_size > *m ? c.pkts[i]->au_size : *m;
    }
    fprintf(stderr, "  largest idle refresh frame %zu bytes, IDR %zu bytes\n", refresh_bytes,
            idr_bytes);
    CHECK(refresh_bytes * 10 < idr_bytes, "an idle refresh frame took %zu bytes", refresh_bytes);
    decode_all(&c, HFX_WL_IDLE, 640, 480, 30.0);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* The hybrid sharpens a still screen: with no timer on, the engine sends
 * the frames it asks for (re-coding still macroblocks at a better QP) for
 * about a second after the IDR, then nothing; the last picture is sharper
 * than the IDR's, and every frame decodes. */
static void test_sharpening(void)
{
    fprintf(stderr, "a still screen sharpens\n");
    const uint32_t w = 1280, h = 720, mbs = (w / 16) * (h / 16);
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, "hybrid", HFX_WL_IDLE, w, h);
    sleep_ms(2000);
    int n = col_count(&c);
    sleep_ms(500);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    CHECK(n > 1 && col_count(&c) == n,
          "%d frames in 2 s of a still screen, %d after 0.5 s more: want refinement frames, "
          "then none",
          n, col_count(&c));
    uint64_t refined = stats_counter(&st, "refine_mbs");
    uint64_t refine_bytes = stats_counter(&st, "refine_bytes");
    CHECK(refined >= mbs && refine_bytes > 0, "%llu of %u macroblocks refined, %llu bytes",
          (unsigned long long)refined, mbs, (unsigned long long)refine_bytes);
    /* The IDR's picture and the last one against what was drawn. */
    struct hfx_decoder *d = hfx_decoder_new();
    struct hfx_verify *ver = hfx_verify_new(HFX_WL_IDLE);
    double first = -1, last = -1;
    pthread_mutex_lock(&c.lock);
    for (int i = 0; i < c.n; i++) {
        struct hfx_decoded pic;
        int rc = hfx_decoder_decode(d, c.pkts[i]->au, c.pkts[i]->au_size, &pic);
        CHECK(rc == 1, "packet %d did not decode", i);
        if (rc != 1)
            continue;
        last = hfx_verify_psnr(
            ver, &pic, hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width, pic.height));
        if (i == 0)
            first = last;
    }
    pthread_mutex_unlock(&c.lock);
    fprintf(stderr, "  %d frames: %.1f dB at the IDR, %.1f dB at the last; %llu macroblocks "
                    "refined for %llu bytes\n",
            n, first, last, (unsigned long long)refined, (unsigned long long)refine_bytes);
    CHECK(last >= first + 1.0, "the still picture went from %.1f to %.1f dB", first, last);
    hfx_verify_free(ver);
    hfx_decoder_free(d);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* pts is the time the newest coalesced update was handed in. */
static void test_timestamps(void)
{
    fprintf(stderr, "timestamps\n");
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, "x264", HFX_WL_TYPING, 640, 480);
    struct hfx_rect r[8];
    int n = hfx_synth_next(s, r, 8);
    int64_t before = hfx_now_ns();
    hfx_engine_scanout_update(e, 0, hfx_synth_pixels(s), hfx_synth_stride(s), r, n);
    int64_t after = hfx_now_ns();
    CHECK(col_wait(&c, 2, 2000) == 2, "no frame for the update");
    if (c.n == 2) {
        CHECK(c.pkts[1]->pts_ns >= before && c.pkts[1]->pts_ns <= after,
              "pts %lld outside the update call [%lld, %lld]", (long long)c.pkts[1]->pts_ns,
              (long long)before, (long long)after);
        CHECK(c.pkts[1]->damaged_mbs > 0 && c.pkts[1]->damaged_mbs < c.pkts[1]->total_mbs / 10,
              "typing damaged %u of %u macroblocks", c.pkts[1]->damaged_mbs,
              c.pkts[1]->total_mbs);
        fprintf(stderr, "  update call %.3f ms; typing frame: %u of %u MBs damaged\n",
                (after - before) / 1e6, c.pkts[1]->damaged_mbs, c.pkts[1]->total_mbs);
    }
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* A keyframe of a screen that has been still carries the time its content
 * was drawn, not the time it was encoded: otherwise an update converting
 * while that keyframe encodes would get an older pts than the keyframe. */
static void test_still_screen_timestamp(void)
{
    fprintf(stderr, "timestamp of a still screen's keyframe\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "x264", 1);
    struct hfx_synth *s = hfx_synth_new(HFX_WL_TYPING, 640, 480);
    int64_t before = hfx_now_ns();
    show(e, 0, s);
    int64_t after = hfx_now_ns();
    sleep_ms(50);
    hfx_engine_subscribe(e, 0, +1);
    CHECK(col_wait(&c, 1, 5000) >= 1, "no keyframe on subscribe");
    if (c.n >= 1)
        CHECK(c.pkts[0]->keyframe && c.pkts[0]->pts_ns >= before && c.pkts[0]->pts_ns <= after,
              "keyframe %d pts %+.3f ms from the drawing [0, %.3f]", c.pkts[0]->keyframe,
              (c.pkts[0]->pts_ns - before) / 1e6, (after - before) / 1e6);
    /* Keyframes asked for while updates stream in: pts never goes back. */
    struct hfx_rect r[8];
    for (int i = 0; i < 200; i++) {
        int n = hfx_synth_next(s, r, 8);
        hfx_engine_scanout_update(e, 0, hfx_synth_pixels(s), hfx_synth_stride(s), r, n);
        if (i % 3 == 0)
            hfx_engine_request_keyframe(e, 0);
        if (i % 10 == 0)
            sleep_ms(2);
    }
    sleep_ms(300);
    pthread_mutex_lock(&c.lock);
    int back = 0;
    for (int i = 1; i < c.n; i++)
        back += c.pkts[i]->pts_ns < c.pkts[i - 1]->pts_ns;
    CHECK(back == 0, "pts went backwards %d times in %d frames", back, c.n);
    fprintf(stderr, "  %d frames, pts went backwards %d times\n", c.n, back);
    pthread_mutex_unlock(&c.lock);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* Odd sizes: damage at the edges converts and copies back across the
 * padding line, which repeats the picture's last line. */
static void test_odd_size(void)
{
    fprintf(stderr, "odd size\n");
    const uint32_t w = 641, h = 361;
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, "x264", HFX_WL_TYPING, w, h);
    struct hfx_rect r[8];
    for (int i = 0; i < 40; i++) {
        int n = hfx_synth_next(s, r, 8);
        r[n++] = (struct hfx_rect){(int32_t)w - 3, (int32_t)h - 3, 3, 3}; /* the corner too */
        hfx_engine_scanout_update(e, 0, hfx_synth_pixels(s), hfx_synth_stride(s), r, n);
        sleep_ms(5);
    }
    col_wait(&c, 41, 3000);
    sleep_ms(200);
    decode_all(&c, HFX_WL_TYPING, w, h, 30.0);
    struct hfx_decoder *d = hfx_decoder_new();
    struct hfx_decoded pic = {0};
    for (int i = 0; i < c.n; i++)
        hfx_decoder_decode(d, c.pkts[i]->au, c.pkts[i]->au_size, &pic);
    if (pic.width == w + 1 && pic.height == h + 1) {
        long diff = 0;
        for (uint32_t y = 0; y < h; y++)
            diff += labs((long)pic.plane[0][y * pic.stride[0] + w] -
                         pic.plane[0][y * pic.stride[0] + w - 1]);
        for (uint32_t x = 0; x < w; x++)
            diff += labs((long)pic.plane[0][h * pic.stride[0] + x] -
                         pic.plane[0][(h - 1) * pic.stride[0] + x]);
        double mean = (double)diff / (w + h);
        fprintf(stderr, "  padding line vs last line: mean luma difference %.2f\n", mean);
        CHECK(mean < 6.0, "the padding line differs from the edge by %.2f on average", mean);
    }
    hfx_decoder_free(d);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* Deferred updates: the caller only records the damage; the worker
 * converts it and lets each source go exactly once. */
static atomic_int released;

static void release_copy(void *data)
{
    free(data);
    atomic_fetch_add(&released, 1);
}

/* A copy of a synth's current picture, for the deferred calls. */
static uint8_t *copy_of(struct hfx_synth *s, uint32_t h)
{
    size_t bytes = (size_t)hfx_synth_stride(s) * h;
    uint8_t *copy = malloc(bytes);
    memcpy(copy, hfx_synth_pixels(s), bytes);
    return copy;
}

static void test_deferred(void)
{
    fprintf(stderr, "deferred updates\n");
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, "x264", HFX_WL_TYPING, 640, 480);
    struct hfx_rect r[8];
    int64_t slowest = 0;
    for (int i = 0; i < 60; i++) {
        int n = hfx_synth_next(s, r, 8);
        uint8_t *copy = copy_of(s, 480);
        int64_t t0 = hfx_now_ns();
        CHECK(hfx_engine_scanout_update_deferred(e, 0, copy, hfx_synth_stride(s), r, n,
                                                 release_copy, copy) == 0, "refused");
        int64_t dt = hfx_now_ns() - t0;
        slowest = dt > slowest ? dt : slowest;
        if (i % 3 == 0)
            sleep_ms(5);
    }
    uint32_t final = hfx_synth_frame(s);
    col_settle(&c);
    CHECK(atomic_load(&released) == 60, "%d of 60 sources released", atomic_load(&released));
    check_typing_run(&c, 640, 480, final);
    fprintf(stderr, "  slowest deferred call %.1f us\n", slowest / 1e3);
    /* A source still pending when the engine goes is released too. */
    atomic_store(&released, 0);
    uint8_t *copy = copy_of(s, 480);
    struct hfx_rect all = {0, 0, 640, 480};
    hfx_engine_scanout_update_deferred(e, 0, copy, hfx_synth_stride(s), &all, 1, release_copy,
                                       copy);
    hfx_engine_free(e);
    CHECK(atomic_load(&released) == 1, "a pending source was not released at teardown");
    col_clear(&c);
    hfx_synth_free(s);
}

/* Deferred surfaces (QEMU's main loop sets a mode without converting it):
 * the call returns before the conversion; updates handed in after it belong
 * to the new surface; a newer surface or a disable supersedes one not yet
 * installed; every source is released once. */
static void test_deferred_set(void)
{
    fprintf(stderr, "deferred surfaces\n");
    atomic_store(&released, 0);
    int handed = 0;
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    watched_head(&c, &e, &s, "hybrid", HFX_WL_TYPING, 640, 480);
    char err[256];
    uint8_t dummy[16] = {0};
    CHECK(hfx_engine_scanout_set_deferred(e, 0, 1, 480, HFX_FMT_XRGB8888, dummy, 64, release_copy,
                                          NULL, err, sizeof err) < 0, "a 1x480 surface accepted");
    CHECK(hfx_engine_scanout_set_deferred(e, 0, 640, 480, HFX_FMT_XRGB8888, dummy, 2560, NULL,
                                          NULL, err, sizeof err) < 0, "no release accepted");
    CHECK(hfx_engine_scanout_set_deferred(e, 9, 640, 480, HFX_FMT_XRGB8888, dummy, 2560,
                                          release_copy, NULL, err, sizeof err) < 0,
          "scanout 9 accepted");

    /* Two sizes in a row, each followed by updates: the last size wins and
     * its updates reach the subscriber. */
    const uint32_t w = 1920, h = 1080;
    hfx_synth_free(s);
    s = hfx_synth_new(HFX_WL_TYPING, 800, 600);
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    uint8_t *copy = copy_of(s, 600);
    CHECK(hfx_engine_scanout_set_deferred(e, 0, 800, 600, HFX_FMT_XRGB8888, copy,
                                          hfx_synth_stride(s), release_copy, copy, err,
                                          sizeof err) == 0, "%s", err);
    handed++;
    hfx_synth_free(s);
    s = hfx_synth_new(HFX_WL_TYPING, w, h);
    hfx_synth_next(s, r, 8);
    copy = copy_of(s, h);
    int64_t t0 = hfx_now_ns();
    CHECK(hfx_engine_scanout_set_deferred(e, 0, w, h, HFX_FMT_XRGB8888, copy, hfx_synth_stride(s),
                                          release_copy, copy, err, sizeof err) == 0, "%s", err);
    int64_t set_ns = hfx_now_ns() - t0;
    handed++;
    for (int i = 0; i < 30; i++) {
        int n = hfx_synth_next(s, r, 8);
        copy = copy_of(s, h);
        CHECK(hfx_engine_scanout_update_deferred(e, 0, copy, hfx_synth_stride(s), r, n,
                                                 release_copy, copy) == 0, "update refused");
        handed++;
        sleep_ms(5);
    }
    uint32_t final = hfx_synth_frame(s);
    col_settle(&c);
    CHECK(atomic_load(&released) == handed, "%d of %d sources released",
          atomic_load(&released), handed);
    /* From the new surface's IDR on (the 640x480 frames before it go). */
    pthread_mutex_lock(&c.lock);
    int first = 0;
    for (int i = 0; i < c.n; i++)
        if (c.pkts[i]->width == w)
            break;
        else
            first = i + 1;
    for (int i = 0; i < first; i++)
        hfx_packet_unref(c.pkts[i]);
    memmove(c.pkts, c.pkts + first, (size_t)(c.n - first) * sizeof c.pkts[0]);
    c.n -= first;
    pthread_mutex_unlock(&c.lock);
    CHECK(c.n > 0 && c.pkts[0]->keyframe, "the new surface did not start with an IDR");
    check_typing_run(&c, w, h, final);
    fprintf(stderr, "  set_deferred call at %ux%u: %.1f us\n", w, h, set_ns / 1e3);

    /* A disable right after a deferred set: the head stays off. */
    copy = copy_of(s, h);
    hfx_engine_scanout_set_deferred(e, 0, w, h, HFX_FMT_XRGB8888, copy, hfx_synth_stride(s),
                                    release_copy, copy, err, sizeof err);
    handed++;
    hfx_engine_scanout_disable(e, 0);
    sleep_ms(300);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    CHECK(!st.enabled, "a deferred surface turned a disabled head back on");
    CHECK(atomic_load(&released) == handed, "%d of %d sources released",
          atomic_load(&released), handed);
    hfx_engine_free(e);
    col_clear(&c);
    hfx_synth_free(s);
}

/* Page flips: the whole surface is handed over as "may have changed" from
 * alternating buffers (the guest's double buffering); the engine finds the
 * damage itself. An unchanged flip encodes nothing; one changed pixel
 * damages only its tile; a typing run decodes right, with damage near the
 * synth's own and most frames from the P-slice writer. */
static void flip_to(struct hfx_engine *e, const uint8_t *px, uint32_t stride, bool deferred)
{
    if (!deferred) {
        CHECK(hfx_engine_scanout_compare(e, 0, px, stride, NULL, 0) == 0, "compare refused");
        return;
    }
    size_t bytes = (size_t)stride * 481;
    uint8_t *copy = malloc(bytes);
    memcpy(copy, px, bytes);
    CHECK(hfx_engine_scanout_compare_deferred(e, 0, copy, stride, NULL, 0, release_copy, copy) == 0,
          "deferred compare refused");
}

/* The end of a typing run flipped between two buffers: it decodes to the
 * last frame; everything goes. */
static void end_flip_run(struct collector *c, struct hfx_engine *e, struct hfx_synth *s,
                         uint8_t *buf[2], uint32_t w, uint32_t h, uint32_t final)
{
    check_typing_run(c, w, h, final);
    hfx_engine_free(e);
    col_clear(c);
    hfx_synth_free(s);
    free(buf[0]);
    free(buf[1]);
}

static void test_flips(bool deferred)
{
    fprintf(stderr, "page flips (%s)\n", deferred ? "deferred" : "direct");
    struct collector c;
    struct hfx_engine *e;
    struct hfx_synth *s;
    /* Odd on both axes: the last tile column and row are partial. */
    const uint32_t w = 641, h = 481;
    watched_head(&c, &e, &s, "hybrid", HFX_WL_TYPING, w, h);
    uint32_t stride = hfx_synth_stride(s);
    size_t bytes = (size_t)stride * h;
    uint8_t *buf[2] = {malloc(bytes), malloc(bytes)};
    memcpy(buf[0], hfx_synth_pixels(s), bytes);
    memcpy(buf[1], hfx_synth_pixels(s), bytes);
    /* The hybrid sharpens the IDR's picture over the next second: past
     * those frames, the screen costs nothing. */
    col_settle(&c);
    col_clear(&c);

    /* The same picture again: nothing to encode. */
    flip_to(e, buf[1], stride, deferred);
    sleep_ms(200);
    CHECK(col_count(&c) == 0, "an unchanged flip produced %d frame(s)", col_count(&c));

    /* One pixel in the bottom-right corner, the partial tile. */
    buf[0][(size_t)(h - 1) * stride + (w - 1) * 4] ^= 0xff;
    flip_to(e, buf[0], stride, deferred);
    CHECK(col_wait(&c, 1, 5000) >= 1, "no frame after a one-pixel flip");
    if (col_count(&c) >= 1) {
        /* Its tile: columns 640..640, rows 480..480 -> one macroblock. */
        CHECK(c.pkts[0]->damaged_mbs == 1, "one pixel damaged %u macroblocks",
              c.pkts[0]->damaged_mbs);
    }
    buf[0][(size_t)(h - 1) * stride + (w - 1) * 4] ^= 0xff;
    flip_to(e, buf[0], stride, deferred);
    col_wait(&c, 2, 5000);
    col_clear(&c);
    /* The run decodes from an IDR of its own. */
    hfx_engine_request_keyframe(e, 0);
    col_wait(&c, 1, 5000);

    /* Typing: every frame drawn whole into the back buffer and flipped. */
    uint32_t synth_mbs = 0, seen_mbs = 0;
    for (int i = 0; i < 90; i++) {
        struct hfx_rect r[8];
        int n = hfx_synth_next(s, r, 8);
        for (int k = 0; k < n; k++)
            synth_mbs += (uint32_t)(((r[k].x + r[k].w + 15) / 16 - r[k].x / 16) *
                                    ((r[k].y + r[k].h + 15) / 16 - r[k].y / 16));
        uint8_t *back = buf[(i + 1) % 2];
        memcpy(back, hfx_synth_pixels(s), bytes);
        flip_to(e, back, stride, deferred);
        sleep_ms(10);
    }
    uint32_t final = hfx_synth_frame(s);
    col_settle(&c);
    for (int i = 0; i < col_count(&c); i++)
        seen_mbs += c.pkts[i]->damaged_mbs;
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    uint64_t writer = stats_counter(&st, "writer_frames");
    fprintf(stderr, "  %d frames; damaged macroblocks: synth %u, found by tiles %u; writer %llu, "
                    "x264 %llu\n", col_count(&c), synth_mbs, seen_mbs, (unsigned long long)writer,
            (unsigned long long)stats_counter(&st, "x264_frames"));
    /* A 64x16 tile is 4 macroblocks: at most 4x the synth's damage plus
     * the tiles a rectangle straddles. */
    CHECK(seen_mbs <= synth_mbs * 8 + 64, "flips found %u damaged macroblocks, synth drew %u",
          seen_mbs, synth_mbs);
    CHECK(writer * 10 >= st.frames * 9, "writer coded %llu of %llu frames",
          (unsigned long long)writer, (unsigned long long)st.frames);
    end_flip_run(&c, e, s, buf, w, h, final);
}

/* A bottom-up surface (a GL buffer: its first row in memory is the bottom
 * of the picture) handed over with a negative stride: pixels at the top row,
 * the last in memory. Set, deferred compares of flips and a damage update
 * all give the picture the right way up (the frame number is read and the
 * luma compared where the synth drew them). */
static void flip_rows(uint8_t *dst, const uint8_t *src, uint32_t stride, uint32_t h)
{
    for (uint32_t y = 0; y < h; y++)
        memcpy(dst + (size_t)(h - 1 - y) * stride, src + (size_t)y * stride, stride);
}

static void test_bottom_up(void)
{
    fprintf(stderr, "bottom-up surfaces\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "hybrid", 1);
    const uint32_t w = 641, h = 481;
    struct hfx_synth *s = hfx_synth_new(HFX_WL_TYPING, w, h);
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    uint32_t stride = hfx_synth_stride(s);
    size_t bytes = (size_t)stride * h;
    uint8_t *buf[2] = {malloc(bytes), malloc(bytes)};
    flip_rows(buf[0], hfx_synth_pixels(s), stride, h);
    char err[256];
    const uint8_t *top0 = buf[0] + (size_t)(h - 1) * stride;
    CHECK(hfx_engine_scanout_set(e, 0, w, h, HFX_FMT_XRGB8888, top0, -(int32_t)(w * 4 - 4), err,
                                 sizeof err) < 0, "a negative stride shorter than a row accepted");
    CHECK(hfx_engine_scanout_set(e, 0, w, h, HFX_FMT_XRGB8888, top0, -(int32_t)stride, err,
                                 sizeof err) == 0, "%s", err);
    hfx_engine_subscribe(e, 0, +1);
    CHECK(col_wait(&c, 1, 5000) >= 1, "no frame from a bottom-up surface");
    for (int i = 0; i < 60; i++) {
        int n = hfx_synth_next(s, r, 8);
        uint8_t *back = buf[(i + 1) % 2];
        flip_rows(back, hfx_synth_pixels(s), stride, h);
        const uint8_t *top = back + (size_t)(h - 1) * stride;
        if (i % 2) {
            CHECK(hfx_engine_scanout_update(e, 0, top, -(int32_t)stride, r, n) == 0,
                  "update refused");
        } else {
            uint8_t *copy = malloc(bytes);
            memcpy(copy, back, bytes);
            int before = atomic_load(&released);
            CHECK(hfx_engine_scanout_compare_deferred(e, 0, copy + (size_t)(h - 1) * stride,
                                                      -(int32_t)stride, NULL, 0, release_copy,
                                                      copy) == 0, "deferred compare refused");
            /* The engine applies a deferred call after a direct one handed
             * in later (a front end uses one kind per flip): let the worker
             * take this frame before the next one goes in directly. */
            for (int t = 0; t < 2000 && atomic_load(&released) == before; t++)
                sleep_ms(1);
        }
        sleep_ms(10);
    }
    uint32_t final = hfx_synth_frame(s);
    col_settle(&c);
    end_flip_run(&c, e, s, buf, w, h, final);
}

/* The test guest's input panel and pointer (source/input_stamp.h) drawn over
 * an idle screen: hfx_verify_read_input reads them back after H.264, and
 * hfx_verify_psnr leaves them out (the workload does not draw them). */
static void test_input_panel(void)
{
    fprintf(stderr, "input panel\n");
    const uint32_t w = 640, h = 480;
    struct hfx_synth *s = hfx_synth_new(HFX_WL_IDLE, w, h);
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    uint32_t stride = hfx_synth_stride(s);
    uint8_t *px = copy_of(s, h);
    const struct hfx_input_stamp want = { .keys = 3, .last_key = 30, .buttons = 2,
                                          .last_button = 273, .x = 600, .y = 17, .wheel = -2 };
    hfx_input_panel_write_xrgb(px, stride, w, h, &want);
    hfx_input_pointer_write_xrgb(px, stride, w, h, &want);

    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "x264", 1);
    char err[256];
    CHECK(hfx_engine_scanout_set(e, 0, w, h, HFX_FMT_XRGB8888, hfx_synth_pixels(s), stride, err,
                                 sizeof err) == 0, "%s", err);
    hfx_engine_subscribe(e, 0, +1);
    col_wait(&c, 1, 5000);
    hfx_engine_scanout_update(e, 0, px, stride,
                              (struct hfx_rect[]){ { 0, 0, (int32_t)w, (int32_t)h } }, 1);
    CHECK(col_wait(&c, 2, 5000) >= 2, "no frame after the panel was drawn");

    struct hfx_decoder *d = hfx_decoder_new();
    struct hfx_verify *ver = hfx_verify_new(HFX_WL_IDLE);
    struct hfx_decoded pic;
    struct hfx_input_stamp got;
    pthread_mutex_lock(&c.lock);
    CHECK(hfx_decoder_decode(d, c.pkts[0]->au, c.pkts[0]->au_size, &pic) == 1, "IDR");
    CHECK(hfx_verify_read_input(&pic, &got) == -1, "a panel read on a screen without one");
    CHECK(hfx_decoder_decode(d, c.pkts[1]->au, c.pkts[1]->au_size, &pic) == 1, "frame 2");
    pthread_mutex_unlock(&c.lock);
    CHECK(hfx_verify_read_input(&pic, &got) == 0, "the panel is not readable");
    CHECK(memcmp(&got, &want, sizeof got) == 0,
          "read keys %u key %u buttons %u button %u pointer %d,%d wheel %d", got.keys,
          got.last_key, got.buttons, got.last_button, got.x, got.y, got.wheel);
    double psnr = hfx_verify_psnr(ver, &pic, hfx_stamp_read_luma(pic.plane[0], pic.stride[0],
                                                                 pic.width, pic.height));
    fprintf(stderr, "  panel read back; PSNR with the panel and pointer left out %.1f dB\n", psnr);
    CHECK(psnr >= 40, "PSNR %.1f dB over a picture with the input panel", psnr);
    /* Without its magic the panel is not the guest's: the picture is
     * compared whole, the panel counting against it. */
    uint8_t *luma = malloc((size_t)pic.stride[0] * h);
    memcpy(luma, pic.plane[0], (size_t)pic.stride[0] * h);
    memset(luma + (size_t)HFX_INPUT_Y * pic.stride[0], 0, (size_t)HFX_STAMP_H * pic.stride[0]);
    struct hfx_decoded no_magic = pic;
    no_magic.plane[0] = luma;
    CHECK(hfx_verify_read_input(&no_magic, &got) == -1, "a panel read without its magic");
    double whole = hfx_verify_psnr(ver, &no_magic, 0);
    fprintf(stderr, "  without the magic: compared whole, %.1f dB\n", whole);
    CHECK(whole < psnr - 10, "PSNR %.1f dB with the panel counted, %.1f dB without", whole, psnr);
    free(luma);

    hfx_verify_free(ver);
    hfx_decoder_free(d);
    hfx_engine_free(e);
    col_clear(&c);
    free(px);
    hfx_synth_free(s);
}

/* Whether the engine's picture of scanout 0 is bit for bit the
 * conversion of the surface px (w x h, XRGB), padding lines included. */
static void check_picture(struct hfx_engine *e, const uint32_t *px, uint32_t w, uint32_t h,
                          const char *what)
{
    struct hfx_picture *got = hfx_picture_new(w, h), *want = hfx_picture_new(w, h);
    CHECK(hfx_engine_scanout_picture(e, 0, got) == 0, "%s: no picture", what);
    hfx_convert_rect(want, (const uint8_t *)px, (int32_t)w * 4, HFX_FMT_XRGB8888, 0, 0, w, h);
    long wrong = 0;
    for (int p = 0; p < 3; p++) {
        uint32_t pw = p ? (w + 1) / 2 : (w + 1) & ~1u, ph = p ? (h + 1) / 2 : (h + 1) & ~1u;
        for (uint32_t y = 0; y < ph; y++)
            wrong += memcmp(got->plane[p] + (size_t)y * got->stride[p],
                            want->plane[p] + (size_t)y * want->stride[p], pw) != 0;
    }
    CHECK(wrong == 0, "%s: %ld rows of the engine's picture differ from the surface's", what,
          wrong);
    hfx_picture_free(got);
    hfx_picture_free(want);
}

/* The rows [y1, y2) x [x1, x2) of a w-wide surface moved up by dy (down
 * when negative) within that box; rows coming into view get new ones. */
static void scroll_surface(uint32_t *px, uint32_t w, const struct hfx_rect *b, int32_t dy,
                           uint64_t *seed)
{
    uint32_t *tmp = malloc((size_t)b->w * (size_t)b->h * 4);
    for (int32_t y = 0; y < b->h; y++)
        memcpy(tmp + (size_t)y * (size_t)b->w, px + (size_t)(b->y + y) * w + (size_t)b->x,
               (size_t)b->w * 4);
    for (int32_t y = 0; y < b->h; y++) {
        uint32_t *row = px + (size_t)(b->y + y) * w + (size_t)b->x;
        if (y + dy >= 0 && y + dy < b->h)
            memcpy(row, tmp + (size_t)(y + dy) * (size_t)b->w, (size_t)b->w * 4);
        else
            for (int32_t x = 0; x < b->w; x++)
                row[x] = (uint32_t)splitmix64(seed);
    }
    free(tmp);
}

/* Scrolls that the engine moves instead of converting: of the whole
 * surface and of a region whose edges are not the stripes', up and down,
 * by even and odd numbers of rows, with small damage in between, updates
 * that coalesce and after new content; on an even and an odd size; unwatched (the
 * engine moves its picture in place) and watched by the hybrid encoder
 * (the worker swaps pictures meanwhile, so moved rows come from the
 * picture it took), and watched by x264, which takes no moves (the engine
 * converts the rows instead of looking for them). Every time the engine's
 * picture is the surface's conversion bit for bit; watched, every frame
 * decodes. */
static void test_moves(const char *encoder, bool watched, uint32_t w, uint32_t h)
{
    fprintf(stderr, "moves: %s, %s, %ux%u\n", encoder, watched ? "watched" : "unwatched", w, h);
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, encoder, 1);
    uint64_t seed = 3;
    uint32_t *px = malloc((size_t)w * h * 4);
    for (size_t i = 0; i < (size_t)w * h; i++)
        px[i] = (uint32_t)splitmix64(&seed);
    char err[256];
    int rc = hfx_engine_scanout_set(e, 0, w, h, HFX_FMT_XRGB8888, (const uint8_t *)px,
                                    (int32_t)w * 4, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (watched) {
        hfx_engine_subscribe(e, 0, +1);
        col_wait(&c, 1, 5000);
    }
    const struct hfx_rect all = {0, 0, (int32_t)w, (int32_t)h};
    const struct hfx_rect pane = {(int32_t)w / 5 + 3, (int32_t)h / 6 + 1, (int32_t)w / 2 + 1,
                                  (int32_t)h / 2 + 5};
    const struct hfx_rect cell = {17, (int32_t)h - 30, 9, 16};
    const int32_t shifts[] = {4, 4, 4, 3, 7, -6, -5, 16, 2};
    for (int round = 0; round < 4; round++)
        for (size_t k = 0; k < sizeof shifts / sizeof *shifts; k++) {
            /* Round 3 follows new content all over (a video), after which
             * the engine searches only some updates. */
            for (int v = 0; round == 3 && k == 0 && v < 12; v++) {
                for (size_t i = 0; i < (size_t)w * h; i++)
                    px[i] = (uint32_t)splitmix64(&seed);
                hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, &all, 1);
            }
            const struct hfx_rect *b = round == 1 ? &pane : &all;
            scroll_surface(px, w, b, shifts[k], &seed);
            hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, b, 1);
            if (k % 3 == 2) {
                /* Typing beside it, in its own update. */
                for (int32_t y = cell.y; y < cell.y + cell.h; y++)
                    for (int32_t x = cell.x; x < cell.x + cell.w; x++)
                        px[(size_t)y * w + (size_t)x] = (uint32_t)splitmix64(&seed);
                hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, &cell, 1);
            }
            char what[64];
            snprintf(what, sizeof what, "round %d, shift %d", round, shifts[k]);
            check_picture(e, px, w, h, what);
            /* Round 2 coalesces: no pause for the worker. */
            if (watched && round != 2)
                sleep_ms(20);
        }
    if (watched) {
        col_settle(&c);
        struct hfx_decoder *d = hfx_decoder_new();
        pthread_mutex_lock(&c.lock);
        for (int i = 0; i < c.n; i++) {
            struct hfx_decoded pic;
            CHECK(hfx_decoder_decode(d, c.pkts[i]->au, c.pkts[i]->au_size, &pic) == 1,
                  "packet %d did not decode", i);
        }
        pthread_mutex_unlock(&c.lock);
        hfx_decoder_free(d);
        CHECK(c.n > 20, "only %d frames", c.n);
    }
    check_picture(e, px, w, h, "at the end");
    /* The whole surface's even scrolls shared their rows at least once
     * (never when the worker was reading its picture); x264 takes no
     * moves. */
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    fprintf(stderr, "  %llu moves, %llu shared\n", (unsigned long long)st.moves,
            (unsigned long long)st.moves_shared);
    bool hybrid = strcmp(encoder, "hybrid") == 0;
    CHECK(hybrid ? st.moves_shared > 0 : st.moves_shared == 0, "%s: %llu moves shared rows",
          encoder, (unsigned long long)st.moves_shared);
    hfx_engine_free(e);
    col_clear(&c);
    free(px);
}

/* A large box repainted with new content on every update (a window that
 * redraws itself) holds no move: the engine searches fewer and fewer of
 * those updates (a search costs several conversions of a small box), yet
 * still finds a scroll that starts after a long run of them, within its
 * longest wait, and moves its rows from then on. */
static void test_search_backoff(void)
{
    fprintf(stderr, "move searches back off\n");
    struct collector c;
    col_init(&c);
    struct hfx_engine *e = make_engine(&c, "hybrid", 1);
    const uint32_t w = 640, h = 480;
    uint64_t seed = 5;
    uint32_t *px = malloc((size_t)w * h * 4);
    for (size_t i = 0; i < (size_t)w * h; i++)
        px[i] = (uint32_t)splitmix64(&seed);
    char err[256];
    CHECK(hfx_engine_scanout_set(e, 0, w, h, HFX_FMT_XRGB8888, (const uint8_t *)px,
                                 (int32_t)w * 4, err, sizeof err) == 0, "%s", err);
    const struct hfx_rect win = {96, 64, 320, 240};
    const int repaints = 400;
    for (int f = 0; f < repaints; f++) {
        for (int32_t y = win.y; y < win.y + win.h; y++)
            for (int32_t x = win.x; x < win.x + win.w; x++)
                px[(size_t)y * w + (size_t)x] = (uint32_t)splitmix64(&seed);
        hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, &win, 1);
    }
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 0, &st);
    /* Every update searched would be 400; two of every eight after four
     * misses, 104; pairs with waits doubling from 8 to 64 updates, 21. */
    fprintf(stderr, "  %d repaints: %llu searched, %llu moved\n", repaints,
            (unsigned long long)st.move_searches, (unsigned long long)st.moves);
    CHECK(st.move_searches >= 10 && st.move_searches <= 30 && st.moves == 0,
          "%d repaints of a window: %llu searched for a move (want 10..30), %llu found moved",
          repaints, (unsigned long long)st.move_searches, (unsigned long long)st.moves);
    uint64_t searched = st.move_searches;
    int scrolls = 0;
    for (; scrolls < 80; scrolls++) {
        scroll_surface(px, w, &win, 6, &seed);
        hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, &win, 1);
        hfx_engine_stats(e, 0, &st);
        if (st.moves > 0)
            break;
    }
    CHECK(st.moves > 0 && scrolls <= 66, "a scroll after the repaints: found after %d updates "
          "(want within 66), %llu searches", scrolls + 1,
          (unsigned long long)(st.move_searches - searched));
    for (int k = 0; k < 10; k++) {
        scroll_surface(px, w, &win, 6, &seed);
        hfx_engine_scanout_update(e, 0, (const uint8_t *)px, (int32_t)w * 4, &win, 1);
    }
    uint64_t before = st.moves;
    hfx_engine_stats(e, 0, &st);
    CHECK(st.moves - before == 10, "of the 10 scroll updates after the first found, %llu moved",
          (unsigned long long)(st.moves - before));
    check_picture(e, px, w, h, "after the repaints and the scroll");
    hfx_engine_free(e);
    col_clear(&c);
    free(px);
}

/* The scrolling workloads through the hybrid encoder, which codes the
 * moves the engine hands it: every frame decodes to what was drawn, paced
 * and in bursts that coalesce (the engine then hands the moves of several
 * updates as one). */
static void test_scroll_workloads(void)
{
    const enum hfx_workload wls[] = {HFX_WL_SCROLL, HFX_WL_PANE};
    for (size_t i = 0; i < 2 * sizeof wls / sizeof *wls; i++) {
        enum hfx_workload wl = wls[i / 2];
        bool burst = i & 1;
        fprintf(stderr, "%s through the hybrid%s\n", hfx_workload_name(wl),
                burst ? ", in bursts" : "");
        struct collector c;
        struct hfx_engine *e;
        struct hfx_synth *s;
        watched_head(&c, &e, &s, "hybrid", wl, 960, 540);
        c.hold_ms = burst ? 10 : 0;
        struct hfx_rect r[8];
        for (int f = 1; f <= 40; f++) {
            int n = hfx_synth_next(s, r, 8);
            hfx_engine_scanout_update(e, 0, hfx_synth_pixels(s), hfx_synth_stride(s), r, n);
            sleep_ms(burst ? (f % 4 ? 0 : 20) : 16);
        }
        col_settle(&c);
        int64_t last = decode_all(&c, wl, 960, 540, 30.0);
        CHECK(last == 40, "last decoded frame #%lld, the source ended at #40", (long long)last);
        struct hfx_scanout_stats st;
        hfx_engine_stats(e, 0, &st);
        if (burst)
            CHECK(st.coalesced > 0, "40 updates in bursts: none coalesced");
        /* Moves cost the writer next to nothing, odd ones (pane's) too:
         * none of the frames after the first IDR is x264's. */
        uint64_t x264 = stats_counter(&st, "x264_frames");
        uint64_t writer = stats_counter(&st, "writer_frames");
        fprintf(stderr, "  writer_frames %llu, x264_frames %llu\n", (unsigned long long)writer,
                (unsigned long long)x264);
        CHECK(x264 == 1 && writer > 0, "x264 coded %llu frames, the writer %llu",
              (unsigned long long)x264, (unsigned long long)writer);
        /* The whole screen's scroll shares rows between the engine's
         * pictures (each frame decoded above as drawn); a pane's cannot. */
        fprintf(stderr, "  %llu moves, %llu shared\n", (unsigned long long)st.moves,
                (unsigned long long)st.moves_shared);
        CHECK(wl == HFX_WL_SCROLL ? st.moves_shared > 0 : st.moves_shared == 0,
              "%s: %llu of %llu moves shared rows", hfx_workload_name(wl),
              (unsigned long long)st.moves_shared, (unsigned long long)st.moves);
        hfx_engine_free(e);
        col_clear(&c);
        hfx_synth_free(s);
    }
}

int main(void)
{
    test_input_panel();
    test_bad_arguments();
    test_static_screen();
    test_coalescing("x264");
    test_coalescing("openh264");
    test_resize_and_disable();
    test_formats();
    test_conversion();
    test_odd_size();
    test_timers();
    test_sharpening();
    test_timestamps();
    test_still_screen_timestamp();
    test_deferred();
    test_deferred_set();
    test_flips(false);
    test_flips(true);
    test_bottom_up();
    test_moves("hybrid", false, 640, 480);
    test_moves("hybrid", false, 641, 481);
    test_moves("hybrid", true, 640, 480);
    test_moves("hybrid", true, 641, 481);
    test_moves("x264", true, 641, 481);
    test_search_backoff();
    test_scroll_workloads();
    test_two_engines_and_fallback();
    return check_summary("test_engine");
}
