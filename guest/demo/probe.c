#include "probe.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <xf86drm.h>

#include "common/clock.h"
#include "say.h"
#include "source/synth.h"

#define BLOCK 64
#define FIRST_UPDATE_MS 3000
#define SETTLE_MS 500
/* Continuous mode announces its flips this long before the first, so that
 * a host tool can sample the exporter's CPU while the screen is quiet
 * (scripts/bench-vm); the result line, SETTLE_MS after the last frame,
 * closes the window. */
#define MARK_MS 300

void probe_opts_default(struct probe_opts *o, long port)
{
    memset(o, 0, sizeof *o);
    o->host = "10.0.2.2";
    o->port = port;
    o->reps = 20;
    o->change = "small";
    o->quiet_ms = 100;
    o->timeout_ms = 5000;
}

int probe_opts_check(const struct probe_opts *o, const char *cmd)
{
    if (strcmp(o->change, "small") != 0 && strcmp(o->change, "full") != 0) {
        guest_warn("%s: --change is small or full, not '%s'", cmd, o->change);
        return -1;
    }
    return 0;
}

/* Saturated colours, each unlike its neighbours and the desktop. */
static uint32_t change_colour(uint32_t k)
{
    static const uint32_t colours[] = { 0xff2020, 0x20ff20, 0x2020ff, 0xffff20, 0xff20ff, 0x20ffff };
    return colours[k % (sizeof colours / sizeof colours[0])];
}

static uint32_t cell_count(const struct probe *p)
{
    uint32_t n = (p->h->mode.hdisplay / BLOCK) * (p->h->mode.vdisplay / BLOCK);
    return n > 0 ? n : 1;
}

/* Block k walks the screen in steps of 7 cells, so consecutive blocks do not
 * touch. */
static struct hfx_rect change_rect(const struct probe *p, uint32_t k)
{
    const drmModeModeInfo *m = &p->h->mode;
    uint32_t cols = m->hdisplay / BLOCK;
    uint32_t cell = (k * 7) % cell_count(p);
    return (struct hfx_rect){ (int32_t)(cell % (cols ? cols : 1) * BLOCK),
                              (int32_t)(cell / (cols ? cols : 1) * BLOCK), BLOCK, BLOCK };
}

static void draw_change(const struct probe *p, struct dumb *b, uint32_t k)
{
    if (p->full)
        fill_rect_xrgb(b, (struct hfx_rect){ 0, 0, (int32_t)b->width, (int32_t)b->height },
                       change_colour(k));
    else /* Once every cell has had a block, the next round shifts the
          * colours: a block over the same colour would change nothing. */
        fill_rect_xrgb(b, change_rect(p, k),
                       change_colour(k % cell_count(p) + k / cell_count(p)));
}

static void fill_background(void *ctx, struct dumb *b)
{
    const struct probe *p = ctx;
    if (p->background != NULL)
        blit_rect(b, p->background, p->bg_stride,
                  (struct hfx_rect){ 0, 0, (int32_t)b->width, (int32_t)b->height });
    else
        fill_rect_xrgb(b, (struct hfx_rect){ 0, 0, (int32_t)b->width, (int32_t)b->height },
                       0x405060);
}

int probe_prepare(struct probe *p, const struct probe_opts *o)
{
    memset(p, 0, sizeof *p);
    p->o = o;
    p->full = strcmp(o->change, "full") == 0;
    if (display_open(&p->d, 10000) < 0)
        return -1;
    if (o->head < 0 || o->head >= p->d.nheads) {
        guest_warn("there is no head %ld (%d heads)", o->head, p->d.nheads);
        return -1;
    }
    p->h = &p->d.heads[o->head];
    struct head_state st;
    if (display_probe(&p->d, (int)o->head, &st) < 0 || !st.connected) {
        guest_warn("head %ld is not connected", o->head);
        return -1;
    }
    /* The idle workload's desktop: realistic content for the encoder around
     * the changes. */
    struct hfx_synth *s = hfx_synth_new(HFX_WL_IDLE, st.mode.hdisplay, st.mode.vdisplay);
    struct hfx_rect r;
    if (s != NULL && hfx_synth_next(s, &r, 1) > 0) {
        p->bg_stride = hfx_synth_stride(s);
        size_t size = (size_t)p->bg_stride * st.mode.vdisplay;
        p->background = malloc(size);
        if (p->background != NULL)
            memcpy(p->background, hfx_synth_pixels(s), size);
    }
    hfx_synth_free(s);
    if (head_enable(&p->d, p->h, &st.mode, fill_background, p) < 0)
        return -1;
    guest_say("head %ld connected %ux%u", o->head, st.mode.hdisplay, st.mode.vdisplay);
    return 0;
}

void probe_close(struct probe *p)
{
    free(p->background);
    p->background = NULL;
    display_close(&p->d);
}

/* Brings the buffer that will be shown up to change k included: with small
 * changes the blocks add up, so it may miss the one before too. */
static struct dumb *prepare_change(struct probe *p, uint32_t k)
{
    int bi = p->o->dirty ? p->h->front : p->h->front ^ 1;
    struct dumb *b = &p->h->buf[bi];
    uint32_t from = p->full ? k : p->applied[bi];
    for (uint32_t j = from; j <= k; j++)
        draw_change(p, b, j);
    p->applied[bi] = k + 1;
    return b;
}

/* Shows the buffer prepared for change k; t0 is taken just before the
 * request goes to the kernel. */
static int present(struct probe *p, uint32_t k, int64_t *t0)
{
    if (p->o->dirty) {
        struct hfx_rect r = p->full ? (struct hfx_rect){ 0, 0, p->h->mode.hdisplay,
                                                         p->h->mode.vdisplay }
                                    : change_rect(p, k);
        drmModeClip clip = { (uint16_t)r.x, (uint16_t)r.y, (uint16_t)(r.x + r.w),
                             (uint16_t)(r.y + r.h) };
        *t0 = hfx_now_ns();
        return drmModeDirtyFB(p->d.fd, head_front(p->h)->fb_id, &clip, 1);
    }
    *t0 = hfx_now_ns();
    return head_flip(&p->d, p->h);
}

/* Discards updates for ms milliseconds; returns how many, or -1. */
static int drain(struct sink *s, int ms)
{
    int64_t deadline = hfx_now_ns() + (int64_t)ms * 1000000;
    int n = 0;
    for (;;) {
        int64_t left = deadline - hfx_now_ns();
        if (left <= 0)
            return n;
        uint64_t bytes;
        int r = s->next(s->ctx, (int)((left + 999999) / 1000000), &bytes);
        if (r < 0)
            return -1;
        n += r;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least pct of the samples at or
 * below it. */
static double percentile_ms(const int64_t *sorted, int n, double pct)
{
    if (n == 0)
        return 0;
    int rank = (int)ceil(pct / 100.0 * n);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return (double)sorted[rank - 1] / 1e6;
}

static int measure_reps(struct probe *p, struct sink *s)
{
    const struct probe_opts *o = p->o;
    int64_t *lat = calloc((size_t)o->reps, sizeof *lat);
    if (lat == NULL)
        return 1;
    int got = 0, lost = 0, stray = 0;
    uint64_t bytes_total = 0, updates = 0;
    int64_t start = hfx_now_ns();
    for (long rep = 0; rep < o->reps; rep++) {
        uint32_t k = p->changes++;
        prepare_change(p, k);
        int q = drain(s, (int)o->quiet_ms);
        if (q < 0)
            break;
        stray += q;
        updates += (uint64_t)q;
        int64_t t0;
        if (present(p, k, &t0) != 0) {
            guest_warn("%s: presenting change %u: %s", s->name, k, strerror(errno));
            break;
        }
        uint64_t bytes = 0;
        int r = s->next(s->ctx, (int)o->timeout_ms, &bytes);
        int64_t t1 = hfx_now_ns();
        if (r < 0)
            break;
        if (r == 0) {
            lost++;
        } else {
            lat[got++] = t1 - t0;
            bytes_total += bytes;
            updates++;
        }
        if (!o->dirty && display_wait_flip(&p->d, p->h, 2000) < 0) {
            guest_warn("%s: the flip of change %u did not complete", s->name, k);
            break;
        }
    }
    double elapsed = (double)(hfx_now_ns() - start) / 1e9;
    qsort(lat, (size_t)got, sizeof *lat, cmp_i64);
    guest_say("%s change=%s reps=%d p50_ms=%.2f p99_ms=%.2f bytes_per_frame=%llu fps=%.1f "
              "lost=%d stray=%d",
              s->name, o->change, got, percentile_ms(lat, got, 50), percentile_ms(lat, got, 99),
              got ? (unsigned long long)(bytes_total / (uint64_t)got) : 0ULL,
              elapsed > 0 ? (double)updates / elapsed : 0.0, lost, stray);
    free(lat);
    return got == o->reps && lost == 0 ? 0 : 1;
}

/* Continuous mode: changes back to back, each flipped as soon as the last
 * flip completed (with --fps, not before its slot: a desktop typing at that
 * rate); the subscriber is read in between. */
static int measure_flips(struct probe *p, struct sink *s)
{
    const struct probe_opts *o = p->o;
    long flipped = 0;
    uint64_t frames = 0, bytes = 0;
    guest_say("%s change=%s flips-start in_ms=%d", s->name, o->change, MARK_MS);
    if (drain(s, MARK_MS) < 0)
        return 1;
    int64_t start = hfx_now_ns(), last_update = start, flips_end = 0;
    int rc = 0;
    for (;;) {
        int64_t now = hfx_now_ns();
        int64_t slot = o->fps ? start + flipped * 1000000000LL / o->fps : now;
        bool can_flip = flipped < o->flips && !p->h->flip_pending && now >= slot;
        if (flipped == o->flips && !p->h->flip_pending && flips_end == 0)
            flips_end = now;
        /* Done when the subscriber has been quiet a while after the last flip. */
        if (flips_end && now - (last_update > flips_end ? last_update : flips_end) >=
                             (int64_t)SETTLE_MS * 1000000)
            break;
        if (can_flip) {
            uint32_t k = p->changes++;
            prepare_change(p, k);
            int64_t t0;
            if (present(p, k, &t0) != 0) {
                guest_warn("%s: presenting change %u: %s", s->name, k, strerror(errno));
                rc = 1;
                break;
            }
            flipped++;
        }
        struct pollfd pfd[2] = { { .fd = p->d.fd, .events = POLLIN },
                                 { .fd = s->fd, .events = POLLIN } };
        int timeout = o->dirty && flipped < o->flips ? 0 : 10;
        if (o->fps && flipped < o->flips && !p->h->flip_pending) {
            /* Wake for the next slot rather than up to 10 ms after it. */
            int64_t wait_ns = start + flipped * 1000000000LL / o->fps - hfx_now_ns();
            if (wait_ns < (int64_t)timeout * 1000000)
                timeout = wait_ns > 0 ? (int)((wait_ns + 999999) / 1000000) : 0;
        }
        int r = poll(pfd, 2, timeout);
        if (r < 0 && errno != EINTR) {
            rc = 1;
            break;
        }
        if (r > 0 && (pfd[0].revents & POLLIN) && display_dispatch(&p->d) != 0) {
            rc = 1;
            break;
        }
        if (r > 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint64_t b;
            int n = s->next(s->ctx, 50, &b);
            while (n == 1) {
                frames++;
                bytes += b;
                last_update = hfx_now_ns();
                n = s->next(s->ctx, 0, &b);
            }
            if (n < 0) {
                rc = 1;
                break;
            }
        }
    }
    double flip_s = (double)((flips_end ? flips_end : hfx_now_ns()) - start) / 1e9;
    double recv_s = (double)(last_update - start) / 1e9;
    guest_say("%s change=%s flips=%ld frames=%llu fps=%.1f flip_fps=%.1f bytes_per_frame=%llu",
              s->name, o->change, flipped, (unsigned long long)frames,
              recv_s > 0 ? (double)frames / recv_s : 0.0,
              flip_s > 0 ? (double)flipped / flip_s : 0.0,
              frames ? (unsigned long long)(bytes / frames) : 0ULL);
    return rc == 0 && frames > 0 ? 0 : 1;
}

int probe_measure(struct probe *p, struct sink *s)
{
    /* Whatever the subscription starts with (a keyframe of the desktop) is
     * not a measurement: wait for it, then for quiet. */
    uint64_t bytes;
    if (s->next(s->ctx, FIRST_UPDATE_MS, &bytes) < 0 || drain(s, (int)p->o->quiet_ms) < 0)
        return 1;
    return p->o->flips > 0 ? measure_flips(p, s) : measure_reps(p, s);
}
