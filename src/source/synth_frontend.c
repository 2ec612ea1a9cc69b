#include "source/synth_frontend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "source/input_stamp.h"

struct head {
    struct hfx_synth *synth;
    uint8_t *converted;         /* pixels in cfg.format when it is not XRGB */
    /* With cfg.flip: the two buffers the frames alternate between, each
     * drawn whole, as a guest's compositor page-flips. */
    struct hfx_flip_buffers flip;
    bool shown;                 /* the engine has its surface */
    int64_t period_ns, next_ns; /* its refresh rate, and when its next frame is due */
    struct hfx_input_stamp input; /* what input has told it (apply_input) */
};

struct hfx_synth_frontend {
    struct hfx_frontend fe;     /* first: the class's callbacks get this */
    struct hfx_synth_frontend_config cfg;
    pthread_t thread;
    atomic_bool quit;
    struct head heads[HFX_MAX_SCANOUTS];
};

static void head_off(struct hfx_synth_frontend *f, uint32_t id)
{
    struct head *h = &f->heads[id];
    if (!h->synth)
        return;
    hfx_synth_free(h->synth);
    free(h->converted);
    hfx_flip_buffers_fini(&h->flip);
    memset(h, 0, sizeof *h);
    hfx_engine_scanout_disable(f->fe.engine, id);
}

static int head_on(struct hfx_synth_frontend *f, uint32_t id, uint32_t w, uint32_t h,
                   uint32_t refresh)
{
    head_off(f, id);
    struct head *hd = &f->heads[id];
    hd->synth = hfx_synth_new(f->cfg.workload, w, h);
    if (!hd->synth)
        return -1;
    size_t bytes = (size_t)hfx_synth_stride(hd->synth) * h;
    bool convert = f->cfg.format != HFX_FMT_XRGB8888 && f->cfg.format != HFX_FMT_ARGB8888;
    if ((convert && !(hd->converted = malloc(bytes))) ||
        (f->cfg.flip && hfx_flip_buffers_init(&hd->flip, bytes) < 0)) {
        head_off(f, id);
        return -1;
    }
    hd->period_ns = 1000000000 / (refresh ? refresh : f->cfg.fps);
    hd->input = (struct hfx_input_stamp){.x = -1, .y = -1};
    hd->next_ns = hfx_now_ns();
    return 0;
}

static void apply_head(struct hfx_frontend *fe, struct hfx_head_request *r)
{
    struct hfx_synth_frontend *f = (struct hfx_synth_frontend *)fe;
    if (r->scanout >= hfx_engine_max_scanouts(fe->engine))
        hfx_head_request_done(r, -1, "no such head");
    else if (!r->enable)
        head_off(f, r->scanout), hfx_head_request_done(r, 0, NULL);
    else if (head_on(f, r->scanout, r->width, r->height, r->refresh_hz) < 0)
        hfx_head_request_done(r, -1, "cannot create the head");
    else
        hfx_head_request_done(r, 0, NULL);
}

/* The synthetic content is XRGB; other formats are made by swapping bytes so
 * the engine's conversion of every format is exercised with the same frames. */
static const uint8_t *pixels_in_format(struct hfx_synth_frontend *f, struct head *h,
                                       const struct hfx_rect *rects, int n)
{
    const uint8_t *src = hfx_synth_pixels(h->synth);
    uint32_t fmt = f->cfg.format;
    if (!h->converted)
        return src;
    uint32_t stride = hfx_synth_stride(h->synth);
    for (int i = 0; i < n; i++) {
        for (int32_t y = rects[i].y; y < rects[i].y + rects[i].h; y++) {
            const uint8_t *s = src + (size_t)y * stride + (size_t)rects[i].x * 4;
            uint8_t *d = h->converted + (size_t)y * stride + (size_t)rects[i].x * 4;
            for (int32_t x = 0; x < rects[i].w; x++, s += 4, d += 4) {
                bool bgrx = fmt == HFX_FMT_BGRX8888 || fmt == HFX_FMT_BGRA8888;
                /* XBGR: bytes R,G,B,X. BGRX: bytes X,R,G,B. */
                d[0] = bgrx ? 0xff : s[2];
                d[1] = bgrx ? s[2] : s[1];
                d[2] = bgrx ? s[1] : s[0];
                d[3] = bgrx ? s[0] : 0xff;
            }
        }
    }
    return h->converted;
}

/* A 16x16 arrow, so the cursor path of the extended protocol has a shape
 * and a pointer that moves with the frames. */
#define CURSOR_SIDE 16

static void move_cursor(struct hfx_synth_frontend *f, uint32_t id, bool define)
{
    struct head *h = &f->heads[id];
    uint32_t n = hfx_synth_frame(h->synth);
    struct hfx_cursor c = {.x = (int32_t)(n % 640), .y = (int32_t)(n % 360), .visible = true};
    uint32_t argb[CURSOR_SIDE * CURSOR_SIDE];
    if (define) {
        for (int y = 0; y < CURSOR_SIDE; y++)
            for (int x = 0; x < CURSOR_SIDE; x++)
                argb[y * CURSOR_SIDE + x] = x <= y ? 0xff000000u | (x == y ? 0xffffffu : 0) : 0;
        c.width = c.height = CURSOR_SIDE;
        c.argb = (const uint8_t *)argb;
    }
    hfx_engine_scanout_cursor(f->fe.engine, id, &c);
}

/* Hands the engine what changed in rects of the head's picture. */
static void show(struct hfx_synth_frontend *f, uint32_t id, const struct hfx_rect *rects, int n)
{
    struct head *h = &f->heads[id];
    uint32_t stride = hfx_synth_stride(h->synth);
    const uint8_t *px = pixels_in_format(f, h, rects, n);
    if (h->shown && h->flip.buf[0]) {
        /* The whole frame into the back buffer, which is then shown: the
         * engine is told nothing of what changed. */
        const uint8_t *back = hfx_flip_buffers_draw(&h->flip, px, hfx_synth_frame(h->synth));
        hfx_engine_scanout_compare(f->fe.engine, id, back, stride, NULL, 0);
        move_cursor(f, id, false);
        return;
    }
    if (h->shown) {
        hfx_engine_scanout_update(f->fe.engine, id, px, stride, rects, n);
        move_cursor(f, id, false);
        return;
    }
    /* Frame 0 damages the whole head: it is the surface the engine starts from. */
    char err[256];
    if (hfx_engine_scanout_set(f->fe.engine, id, (uint32_t)rects[0].w, (uint32_t)rects[0].h,
                               f->cfg.format, px, stride, err, sizeof err) < 0)
        hfx_log(HFX_LOG_ERROR, "synthetic head %u: %s", id, err);
    h->shown = true;
    move_cursor(f, id, true);
}

static void play_head(struct hfx_synth_frontend *f, uint32_t id)
{
    struct hfx_rect rects[16];
    int n = hfx_synth_next(f->heads[id].synth, rects, 16);
    if (n > 0)
        show(f, id, rects, n);
}

/* Input shows on the head at once, as the test guest shows it (the input
 * panel, source/input_stamp.h, and the pointer's crosshair), so tests
 * without a VM see it arrive. Not before the head's first frame. */
static void apply_input(struct hfx_frontend *fe, const struct hfx_input *ev)
{
    /* evdev's BTN_LEFT, BTN_MIDDLE, BTN_RIGHT, BTN_SIDE, BTN_EXTRA */
    static const uint32_t evdev_button[] = {0, 272, 274, 273, 275, 276};
    struct hfx_synth_frontend *f = (struct hfx_synth_frontend *)fe;
    struct head *h = ev->scanout < HFX_MAX_SCANOUTS ? &f->heads[ev->scanout] : NULL;
    if (!h || !h->synth || !h->shown)
        return;
    struct hfx_input_stamp *st = &h->input;
    switch (ev->kind) {
    case HFX_INPUT_KEY:
        if (!ev->down)
            return; /* the panel counts presses */
        st->keys++;
        st->last_key = ev->code;
        break;
    case HFX_INPUT_BUTTON:
        if (!ev->down || ev->code > HFX_BUTTON_EXTRA)
            return;
        st->buttons++;
        st->last_button = evdev_button[ev->code];
        break;
    case HFX_INPUT_POINTER: /* clamped to the head by hfx_synth_input */
        st->x = ev->x;
        st->y = ev->y;
        break;
    case HFX_INPUT_WHEEL:
        st->wheel -= ev->y; /* up positive, as the guest's REL_WHEEL */
        break;
    }
    struct hfx_rect r[3];
    int n = hfx_synth_input(h->synth, st, r);
    if (n > 0)
        show(f, ev->scanout, r, n);
}

/* Each head plays at its own rate; the thread sleeps until the next one is
 * due (at most a default period, so head requests are taken promptly). */
static void *frontend_main(void *arg)
{
    struct hfx_synth_frontend *f = arg;
    int64_t period = 1000000000 / f->cfg.fps;
    while (!atomic_load(&f->quit)) {
        hfx_frontend_run_requests(&f->fe);
        int64_t now = hfx_now_ns(), next = now + period;
        for (uint32_t i = 0; i < hfx_engine_max_scanouts(f->fe.engine); i++) {
            struct head *h = &f->heads[i];
            if (!h->synth)
                continue;
            if (h->next_ns <= now) {
                play_head(f, i);
                h->next_ns += h->period_ns;
                if (h->next_ns < now)
                    h->next_ns = now; /* fell behind: do not burst to catch up */
            }
            next = h->next_ns < next ? h->next_ns : next;
        }
        struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return NULL;
}

struct hfx_synth_frontend *hfx_synth_frontend_start(struct hfx_engine *e,
                                                    const struct hfx_synth_frontend_config *cfg,
                                                    char *err, size_t errlen)
{
    if (cfg->heads > hfx_engine_max_scanouts(e)) {
        snprintf(err, errlen, "%u heads asked, the engine has %u scanouts", cfg->heads,
                 hfx_engine_max_scanouts(e));
        return NULL;
    }
    struct hfx_synth_frontend *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->cfg = *cfg;
    if (!f->cfg.fps)
        f->cfg.fps = 60;
    if (!f->cfg.format)
        f->cfg.format = HFX_FMT_XRGB8888;
    if (!hfx_format_supported(f->cfg.format)) {
        snprintf(err, errlen, "pixel format 0x%08x is not supported", f->cfg.format);
        free(f);
        return NULL;
    }
    hfx_frontend_init(&f->fe, &hfx_frontend_synthetic, e);
    for (uint32_t i = 0; i < cfg->heads; i++) {
        if (head_on(f, i, cfg->width, cfg->height, 0) < 0) {
            snprintf(err, errlen, "cannot create a %ux%u %s head", cfg->width, cfg->height,
                     hfx_workload_name(cfg->workload));
            hfx_synth_frontend_stop(f);
            return NULL;
        }
    }
    if (pthread_create(&f->thread, NULL, frontend_main, f) != 0) {
        snprintf(err, errlen, "cannot start the synthetic source thread");
        f->thread = 0;
        hfx_synth_frontend_stop(f);
        return NULL;
    }
    return f;
}

void hfx_synth_frontend_stop(struct hfx_synth_frontend *f)
{
    if (!f)
        return;
    atomic_store(&f->quit, true);
    if (f->thread)
        pthread_join(f->thread, NULL);
    hfx_frontend_run_requests(&f->fe); /* answer what is still pending */
    for (uint32_t i = 0; i < HFX_MAX_SCANOUTS; i++)
        head_off(f, i);
    hfx_frontend_fini(&f->fe);
    free(f);
}

/* ---- as hfx serve's front end ---- */

static struct hfx_frontend *start(struct hfx_engine *e, const struct hfx_frontend_args *a,
                                  char *err, size_t errlen)
{
    struct hfx_synth_frontend_config cfg = {
        .workload = a->workload, .width = a->width, .height = a->height, .fps = a->fps,
        .heads = a->heads, .format = a->format, .flip = a->flip};
    struct hfx_synth_frontend *f = hfx_synth_frontend_start(e, &cfg, err, errlen);
    return f ? &f->fe : NULL;
}

static void stop(struct hfx_frontend *fe)
{
    hfx_synth_frontend_stop((struct hfx_synth_frontend *)fe);
}

const struct hfx_frontend_class hfx_frontend_synthetic = {
    .name = "synthetic",
    .summary = "deterministic workloads on each head, a stand-in for a VM (default)",
    .start = start,
    .stop = stop,
    .apply_head = apply_head,
    .apply_input = apply_input,
};
