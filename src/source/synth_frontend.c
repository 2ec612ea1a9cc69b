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

struct head {
    struct hfx_synth *synth;
    uint8_t *converted;         /* pixels in cfg.format when it is not XRGB */
    bool shown;                 /* the engine has its surface */
};

/* A head request from the network, applied on the front end's own thread. */
struct request {
    struct request *next;
    uint32_t id, w, h;
    bool enable;
    hfx_head_done_fn done;
    void *done_data;
};

struct hfx_synth_frontend {
    struct hfx_engine *engine;
    struct hfx_synth_frontend_config cfg;
    pthread_t thread;
    atomic_bool quit;
    pthread_mutex_t lock;       /* guards requests only */
    struct request *requests;
    struct head heads[HFX_MAX_SCANOUTS];
};

static void set_head(void *data, uint32_t id, bool enable, uint32_t w, uint32_t h,
                     uint32_t refresh, hfx_head_done_fn done, void *done_data)
{
    struct hfx_synth_frontend *f = data;
    struct request *r = calloc(1, sizeof *r);
    if (!r) {
        done(done_data, -1, "out of memory");
        return;
    }
    *r = (struct request){.id = id, .w = w, .h = h, .enable = enable, .done = done,
                          .done_data = done_data};
    pthread_mutex_lock(&f->lock);
    r->next = f->requests;
    f->requests = r;
    pthread_mutex_unlock(&f->lock);
}

static const struct hfx_frontend_ops synth_ops = {.set_head = set_head};

static void head_off(struct hfx_synth_frontend *f, uint32_t id)
{
    struct head *h = &f->heads[id];
    if (!h->synth)
        return;
    hfx_synth_free(h->synth);
    free(h->converted);
    memset(h, 0, sizeof *h);
    hfx_engine_scanout_disable(f->engine, id);
}

static int head_on(struct hfx_synth_frontend *f, uint32_t id, uint32_t w, uint32_t h)
{
    head_off(f, id);
    struct head *hd = &f->heads[id];
    hd->synth = hfx_synth_new(f->cfg.workload, w, h);
    if (!hd->synth)
        return -1;
    if (f->cfg.format != HFX_FMT_XRGB8888 && f->cfg.format != HFX_FMT_ARGB8888) {
        hd->converted = malloc((size_t)hfx_synth_stride(hd->synth) * h);
        if (!hd->converted) {
            head_off(f, id);
            return -1;
        }
    }
    return 0;
}

static void apply_requests(struct hfx_synth_frontend *f)
{
    pthread_mutex_lock(&f->lock);
    struct request *r = f->requests;
    f->requests = NULL;
    pthread_mutex_unlock(&f->lock);
    while (r) {
        struct request *next = r->next;
        char name[32];
        snprintf(name, sizeof name, "Virtual-%u", r->id + 1);
        if (!r->enable) {
            head_off(f, r->id);
            r->done(r->done_data, 0, name);
        } else if (r->w < 2 || r->h < 2 || r->w > HFX_MAX_WIDTH || r->h > HFX_MAX_HEIGHT) {
            r->done(r->done_data, -1, "size out of range");
        } else if (head_on(f, r->id, r->w, r->h) < 0) {
            r->done(r->done_data, -1, "cannot create the head");
        } else {
            r->done(r->done_data, 0, name);
        }
        free(r);
        r = next;
    }
}

/* The synthetic content is XRGB; other formats are made by swapping bytes so
 * the engine's conversion of every format is exercised with the same frames. */
static const uint8_t *pixels_in_format(struct hfx_synth_frontend *f, struct head *h,
                                       const struct hfx_rect *rects, int n)
{
    const uint8_t *src = hfx_synth_pixels(h->synth);
    uint32_t fmt = f->cfg.format;
    if (fmt == HFX_FMT_XRGB8888 || fmt == HFX_FMT_ARGB8888)
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
    hfx_engine_scanout_cursor(f->engine, id, &c);
}

static void play_head(struct hfx_synth_frontend *f, uint32_t id)
{
    struct head *h = &f->heads[id];
    struct hfx_rect rects[16];
    int n = hfx_synth_next(h->synth, rects, 16);
    if (n <= 0)
        return;
    uint32_t stride = hfx_synth_stride(h->synth);
    const uint8_t *px = pixels_in_format(f, h, rects, n);
    if (h->shown) {
        hfx_engine_scanout_update(f->engine, id, px, stride, rects, n);
        move_cursor(f, id, false);
        return;
    }
    /* Frame 0 damages the whole head: it is the surface the engine starts from. */
    char err[256];
    if (hfx_engine_scanout_set(f->engine, id, (uint32_t)rects[0].w, (uint32_t)rects[0].h,
                               f->cfg.format, px, stride, err, sizeof err) < 0)
        hfx_log(HFX_LOG_ERROR, "synthetic head %u: %s", id, err);
    h->shown = true;
    move_cursor(f, id, true);
}

static void *frontend_main(void *arg)
{
    struct hfx_synth_frontend *f = arg;
    int64_t period = 1000000000 / f->cfg.fps, next = hfx_now_ns();
    while (!atomic_load(&f->quit)) {
        apply_requests(f);
        for (uint32_t i = 0; i < hfx_engine_max_scanouts(f->engine); i++)
            if (f->heads[i].synth)
                play_head(f, i);
        next += period;
        int64_t now = hfx_now_ns();
        if (next < now)
            next = now; /* fell behind: do not burst to catch up */
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
    f->engine = e;
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
    pthread_mutex_init(&f->lock, NULL);
    for (uint32_t i = 0; i < cfg->heads; i++) {
        if (head_on(f, i, cfg->width, cfg->height) < 0) {
            snprintf(err, errlen, "cannot create a %ux%u %s head", cfg->width, cfg->height,
                     hfx_workload_name(cfg->workload));
            hfx_synth_frontend_stop(f);
            return NULL;
        }
    }
    hfx_engine_set_frontend(e, &synth_ops, f);
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
    hfx_engine_set_frontend(f->engine, NULL, NULL);
    apply_requests(f); /* answer what is still pending */
    for (uint32_t i = 0; i < HFX_MAX_SCANOUTS; i++)
        head_off(f, i);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
