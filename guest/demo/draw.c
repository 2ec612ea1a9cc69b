/* The draw loop. One thread: poll() on the DRM fd (flip completions), the
 * uevent socket (hotplug) and the heads' input devices (input.h), with a
 * timeout that paces each head to --fps. Each head owns a synthetic source at
 * its mode's size; a frame is the source's damage copied into the back
 * buffer, with the head's input panel and pointer drawn over it once input
 * came, then a flip. An input event makes a frame even when the source has
 * nothing new (idle), at once. */
#include "draw.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

#include "common/clock.h"
#include "display.h"
#include "input.h"
#include "kmscube.h"
#include "say.h"
#include "source/synth.h"
#include "uevent.h"

#define REPORT_EVERY 60
/* uevents can be lost when the socket overflows: look anyway now and then. */
#define RESCAN_NS (2 * 1000000000LL)
#define MAX_RECTS 2
/* A frame's damage: the source's, and the input panel and pointer where they
 * are now and where they were in the last frame. */
#define MAX_DAMAGE (MAX_RECTS + 4)
#define MAX_INPUT_FDS 32

struct painter {
    struct hfx_synth *synth;
    /* The back buffer shows the frame before last: it needs the damage of
     * the last frame as well as that of the new one. */
    struct hfx_rect last[MAX_DAMAGE];
    int nlast;
    struct hfx_rect overlay[2]; /* the input panel and pointer in the last frame */
    int noverlay;
    bool drawn;          /* the back buffer holds a frame not yet flipped */
    uint32_t queued;     /* frame number of the flip in flight */
    uint32_t shown;      /* frame number on screen */
    int64_t due;         /* when the next frame may be flipped */
    bool done;           /* reached --frames */
};

struct drawer {
    const struct draw_opts *o;
    enum hfx_workload wl;
    struct display d;
    struct painter p[DISPLAY_MAX_HEADS];
    int64_t period;      /* ns between frames, 0 without pacing */
    struct kmscube gl;   /* the heads kmscube draws on (--kmscube) */
    struct input in;
};

void draw_opts_default(struct draw_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workload = "typing";
    o->fps = 60;
    o->lease_fd = -1;
}

static void fill_from_synth(void *ctx, struct dumb *b)
{
    const struct hfx_synth *s = ctx;
    blit_rect(b, hfx_synth_pixels(s), hfx_synth_stride(s),
              (struct hfx_rect){ 0, 0, (int32_t)b->width, (int32_t)b->height });
}

static void painter_reset(struct painter *p)
{
    hfx_synth_free(p->synth);
    memset(p, 0, sizeof *p);
}

static void frame_shown(struct painter *p, int index, uint32_t frame, long limit)
{
    p->shown = frame;
    if (frame % REPORT_EVERY == 0 && frame > 0)
        guest_say("head %d frame %u", index, frame);
    if (limit > 0 && frame >= (uint32_t)limit)
        p->done = true;
}

static void on_flip(struct display *d, struct head *h, void *ctx)
{
    struct drawer *dr = ctx;
    frame_shown(&dr->p[h->index], h->id, dr->p[h->index].queued, dr->o->frames);
}

/* A head just connected, or its preferred mode changed: a new source at the
 * new size (frame numbers start again at 0) and a modeset. */
static void head_start(struct drawer *dr, struct head *h, const drmModeModeInfo *mode)
{
    struct painter *p = &dr->p[h->index];
    struct hfx_synth *s = hfx_synth_new(dr->wl, mode->hdisplay, mode->vdisplay);
    struct hfx_rect r[MAX_RECTS];
    if (s == NULL || hfx_synth_next(s, r, MAX_RECTS) < 0) {
        guest_warn("head %d: no %s source at %ux%u", h->id, dr->o->workload, mode->hdisplay,
                   mode->vdisplay);
        hfx_synth_free(s);
        return;
    }
    if (head_enable(&dr->d, h, mode, fill_from_synth, s) < 0) {
        hfx_synth_free(s);
        return;
    }
    painter_reset(p);
    p->synth = s;
    p->due = hfx_now_ns();
    /* The new buffers show the source alone: the panel comes back with the
     * next frame. */
    struct input_head *ih = &dr->in.heads[h->id];
    ih->width = mode->hdisplay;
    ih->height = mode->vdisplay;
    ih->changed = ih->any;
    guest_say("head %d connected %ux%u", h->id, mode->hdisplay, mode->vdisplay);
    frame_shown(p, h->id, 0, dr->o->frames);
}

static void head_stop(struct drawer *dr, struct head *h)
{
    head_disable(&dr->d, h);
    painter_reset(&dr->p[h->index]);
    guest_say("head %d disconnected", h->id);
}

/* Brings every head in line with what its connector says now. */
static void rescan(struct drawer *dr)
{
    for (int i = 0; i < dr->d.nheads; i++) {
        struct head *h = &dr->d.heads[i];
        struct head_state st;
        if (display_probe(&dr->d, i, &st) < 0)
            continue;
        if (kmscube_has(&dr->gl, i)) {
            kmscube_follow(&dr->gl, i, st.connected, st.mode.hdisplay, st.mode.vdisplay);
            continue;
        }
        if (!st.connected) {
            if (h->on)
                head_stop(dr, h);
            continue;
        }
        if (h->on && h->mode.hdisplay == st.mode.hdisplay && h->mode.vdisplay == st.mode.vdisplay)
            continue;
        head_start(dr, h, &st.mode);
    }
}

/* The head's input panel and pointer over the source in b. */
static void draw_input(const struct input_head *ih, struct dumb *b)
{
    hfx_input_panel_write_xrgb(b->map, b->pitch, b->width, b->height, &ih->st);
    hfx_input_pointer_write_xrgb(b->map, b->pitch, b->width, b->height, &ih->st);
}

/* Draws the next frame into the back buffer (or on screen with --dirty);
 * false when neither the source nor the head's input has anything new. */
static bool render(struct drawer *dr, struct head *h)
{
    struct painter *p = &dr->p[h->index];
    struct input_head *ih = h->id < DISPLAY_MAX_HEADS ? &dr->in.heads[h->id] : NULL;
    struct hfx_rect r[MAX_DAMAGE];
    int n = hfx_synth_next(p->synth, r, MAX_RECTS);
    bool input = ih != NULL && ih->changed;
    if (n <= 0 && !input)
        return false;
    n = n < 0 ? 0 : n;
    /* Where the panel and pointer were (the source's pixels come back
     * there) and where they are now. */
    for (int i = 0; i < p->noverlay; i++)
        r[n++] = p->overlay[i];
    p->noverlay = 0;
    if (ih != NULL && ih->any) {
        p->overlay[p->noverlay++] = hfx_input_panel_rect(h->mode.hdisplay, h->mode.vdisplay);
        struct hfx_rect ptr = hfx_input_pointer_rect(&ih->st, h->mode.hdisplay, h->mode.vdisplay);
        if (ptr.w > 0 && ptr.h > 0)
            p->overlay[p->noverlay++] = ptr;
        for (int i = 0; i < p->noverlay; i++)
            r[n++] = p->overlay[i];
        ih->changed = false;
    }
    const uint8_t *px = hfx_synth_pixels(p->synth);
    uint32_t stride = hfx_synth_stride(p->synth);
    if (dr->o->dirty) {
        for (int i = 0; i < n; i++)
            blit_rect(head_front(h), px, stride, r[i]);
        if (ih != NULL && ih->any)
            draw_input(ih, head_front(h));
    } else {
        struct dumb *back = head_back(h);
        for (int i = 0; i < p->nlast; i++)
            blit_rect(back, px, stride, p->last[i]);
        for (int i = 0; i < n; i++)
            blit_rect(back, px, stride, r[i]);
        if (ih != NULL && ih->any)
            draw_input(ih, back);
    }
    memcpy(p->last, r, (size_t)n * sizeof r[0]);
    p->nlast = n;
    p->queued = hfx_synth_frame(p->synth);
    p->drawn = true;
    return true;
}

/* Front-buffer mode: the rects of the frame just drawn go to the kernel
 * (and the host) with DirtyFB, which returns once they are sent. */
static int present_dirty(struct drawer *dr, struct head *h)
{
    struct painter *p = &dr->p[h->index];
    drmModeClip clips[MAX_DAMAGE];
    for (int i = 0; i < p->nlast; i++)
        clips[i] = (drmModeClip){ (uint16_t)p->last[i].x, (uint16_t)p->last[i].y,
                                  (uint16_t)(p->last[i].x + p->last[i].w),
                                  (uint16_t)(p->last[i].y + p->last[i].h) };
    if (drmModeDirtyFB(dr->d.fd, head_front(h)->fb_id, clips, (uint32_t)p->nlast) != 0)
        return -1;
    frame_shown(p, h->id, p->queued, dr->o->frames);
    return 0;
}

/* Draws and presents what is due on each head; returns the poll timeout. */
static int step_heads(struct drawer *dr, int64_t now)
{
    int64_t wait = RESCAN_NS;
    for (int i = 0; i < dr->d.nheads; i++) {
        struct head *h = &dr->d.heads[i];
        struct painter *p = &dr->p[i];
        if (!h->on || p->done || h->flip_pending || p->synth == NULL)
            continue;
        if (now < p->due) {
            wait = p->due - now < wait ? p->due - now : wait;
            continue;
        }
        if (!p->drawn && !render(dr, h)) {
            /* An idle source never changes again: nothing to flip, and
             * with --frames nothing to wait for. */
            p->due = now + RESCAN_NS;
            if (dr->o->frames > 0) {
                p->done = true;
                wait = 0;
            }
            continue;
        }
        int r = dr->o->dirty ? present_dirty(dr, h) : head_flip(&dr->d, h);
        if (r < 0) {
            /* EBUSY and friends: try again shortly with the same frame. */
            if (errno != EBUSY)
                guest_warn("head %d: flip: %s", h->id, strerror(errno));
            p->due = now + 5000000;
            wait = wait < 5000000 ? wait : 5000000;
            continue;
        }
        p->drawn = false;
        p->due = dr->period ? p->due + dr->period : now;
        if (p->due < now - dr->period)
            p->due = now; /* fell behind: do not burst to catch up */
        /* A flip wakes us when it completes; DirtyFB has no event. */
        if (dr->o->dirty)
            wait = p->due - now < wait ? (p->due > now ? p->due - now : 0) : wait;
    }
    return (int)((wait + 999999) / 1000000);
}

/* A head whose input changed draws its next frame now, not when its source
 * would have (an idle source: RESCAN_NS later). */
static void input_due(struct drawer *dr)
{
    int64_t now = hfx_now_ns();
    for (int i = 0; i < dr->d.nheads; i++) {
        struct head *h = &dr->d.heads[i];
        if (h->id < DISPLAY_MAX_HEADS && dr->in.heads[h->id].changed && dr->p[i].due > now)
            dr->p[i].due = now;
    }
}

static bool all_done(const struct drawer *dr)
{
    int on = 0;
    for (int i = 0; i < dr->d.nheads; i++) {
        if (!dr->d.heads[i].on)
            continue;
        on++;
        if (!dr->p[i].done || dr->d.heads[i].flip_pending)
            return false;
    }
    return on > 0;
}

int draw_run(const struct draw_opts *o, volatile sig_atomic_t *stop)
{
    struct drawer *dr = calloc(1, sizeof *dr);
    if (dr == NULL)
        return 1;
    dr->o = o;
    int wl = hfx_workload_parse(o->workload);
    if (wl < 0) {
        guest_warn("draw: unknown workload '%s' (typing, video, scroll, idle)", o->workload);
        free(dr);
        return 2;
    }
    dr->wl = (enum hfx_workload)wl;
    dr->period = o->fps > 0 ? 1000000000LL / o->fps : 0;
    if (o->kmscube != NULL && o->lease_fd >= 0) {
        guest_warn("lease: --kmscube makes leases, which a lessee cannot");
        free(dr);
        return 2;
    }
    if ((o->lease_fd >= 0 ? display_adopt(&dr->d, o->lease_fd, o->lease_head)
                          : display_open(&dr->d, 10000)) < 0) {
        free(dr);
        return 1;
    }
    dr->d.on_flip = on_flip;
    dr->d.ctx = dr;
    if (o->kmscube != NULL && kmscube_init(&dr->gl, dr->d.fd, o->kmscube) < 0) {
        display_close(&dr->d);
        free(dr);
        return 2;
    }
    int ue = uevent_open();
    int64_t start = hfx_now_ns(), last_scan = start;
    input_init(&dr->in);
    input_scan(&dr->in);
    rescan(dr);
    int rc = 0;
    while (!*stop) {
        int64_t now = hfx_now_ns();
        if (o->seconds > 0 && now - start >= (int64_t)(o->seconds * 1e9))
            break;
        if (o->frames > 0 && all_done(dr))
            break;
        if (now - last_scan >= RESCAN_NS) {
            rescan(dr);
            /* Input devices that came late (or were unplugged and are back). */
            input_scan(&dr->in);
            last_scan = now;
        }
        int timeout = step_heads(dr, now);
        /* The card, the uevents (poll passes over a -1), the kmscube
         * terminals, then the input devices. */
        struct pollfd pfd[2 + KMS_MAX_HEADS + MAX_INPUT_FDS] = {
            { .fd = dr->d.fd, .events = POLLIN }, { .fd = ue, .events = POLLIN }
        };
        int gl_heads[KMS_MAX_HEADS];
        int ngl = kmscube_fds(&dr->gl, pfd + 2, gl_heads, KMS_MAX_HEADS);
        int nin = input_fds(&dr->in, pfd + 2 + ngl, MAX_INPUT_FDS);
        int r = poll(pfd, 2 + (nfds_t)ngl + (nfds_t)nin, timeout);
        if (r < 0 && errno != EINTR) {
            guest_warn("poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        if (r > 0 && (pfd[0].revents & POLLIN) && display_dispatch(&dr->d) != 0) {
            guest_warn("reading DRM events: %s", strerror(errno));
            rc = 1;
            break;
        }
        if (r > 0 && ue >= 0 && (pfd[1].revents & POLLIN) && uevent_drm_hotplug(ue)) {
            rescan(dr);
            last_scan = hfx_now_ns();
        }
        for (int i = 0; r > 0 && i < ngl; i++)
            if (pfd[2 + i].revents)
                kmscube_read(&dr->gl, gl_heads[i]);
        if (r > 0 && nin > 0) {
            input_read(&dr->in);
            input_due(dr);
        }
    }
    kmscube_stop_all(&dr->gl);
    input_close(&dr->in);
    for (int i = 0; i < dr->d.nheads; i++)
        hfx_synth_free(dr->p[i].synth);
    if (ue >= 0)
        close(ue);
    display_close(&dr->d);
    free(dr);
    return rc;
}
