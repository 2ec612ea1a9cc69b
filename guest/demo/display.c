#include "display.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

#include "common/clock.h"
#include "say.h"

#define CARD "/dev/dri/card0"

int display_open(struct display *d, int wait_ms)
{
    memset(d, 0, sizeof *d);
    /* The node appears when virtio-gpu has probed: init loads the module
     * just before us, so it may be a moment late. */
    int64_t deadline = hfx_now_ns() + (int64_t)wait_ms * 1000000;
    for (;;) {
        d->fd = open(CARD, O_RDWR | O_CLOEXEC);
        if (d->fd >= 0)
            break;
        if (hfx_now_ns() >= deadline) {
            guest_warn("cannot open %s: %s", CARD, strerror(errno));
            return -1;
        }
        usleep(20000);
    }
    if (drmSetMaster(d->fd) != 0) {
        guest_warn("cannot become DRM master: %s", strerror(errno));
        goto fail;
    }
    return display_adopt(d, d->fd, 0);
fail:
    close(d->fd);
    d->fd = -1;
    return -1;
}

int display_adopt(struct display *d, int fd, int id)
{
    memset(d, 0, sizeof *d);
    d->fd = fd;
    uint64_t dumb = 0;
    if (drmGetCap(d->fd, DRM_CAP_DUMB_BUFFER, &dumb) != 0 || !dumb) {
        guest_warn("%s has no dumb buffers", CARD);
        goto fail;
    }
    drmModeRes *res = drmModeGetResources(d->fd);
    if (res == NULL) {
        guest_warn("drmModeGetResources: %s", strerror(errno));
        goto fail;
    }
    d->nheads = res->count_connectors < DISPLAY_MAX_HEADS ? res->count_connectors
                                                          : DISPLAY_MAX_HEADS;
    for (int i = 0; i < d->nheads; i++) {
        d->heads[i].index = i;
        d->heads[i].id = id + i;
        d->heads[i].connector_id = res->connectors[i];
    }
    d->ncrtcs = res->count_crtcs < DISPLAY_MAX_HEADS ? res->count_crtcs : DISPLAY_MAX_HEADS;
    memcpy(d->crtcs, res->crtcs, (size_t)d->ncrtcs * sizeof d->crtcs[0]);
    drmModeFreeResources(res);
    return 0;
fail:
    close(d->fd);
    d->fd = -1;
    return -1;
}

static void dumb_destroy(int fd, struct dumb *b)
{
    if (b->map != NULL)
        munmap(b->map, b->size);
    if (b->fb_id)
        drmModeRmFB(fd, b->fb_id);
    if (b->handle) {
        struct drm_mode_destroy_dumb dd = { .handle = b->handle };
        drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
    }
    memset(b, 0, sizeof *b);
}

static int dumb_create(int fd, uint32_t w, uint32_t h, struct dumb *b)
{
    memset(b, 0, sizeof *b);
    struct drm_mode_create_dumb cd = { .width = w, .height = h, .bpp = 32 };
    if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) != 0) {
        guest_warn("cannot create a %ux%u dumb buffer: %s", w, h, strerror(errno));
        return -1;
    }
    b->width = w;
    b->height = h;
    b->handle = cd.handle;
    b->pitch = cd.pitch;
    b->size = cd.size;
    /* depth 24, bpp 32: XRGB8888, the format the synthetic source draws. */
    if (drmModeAddFB(fd, w, h, 24, 32, b->pitch, b->handle, &b->fb_id) != 0) {
        guest_warn("drmModeAddFB %ux%u: %s", w, h, strerror(errno));
        goto fail;
    }
    struct drm_mode_map_dumb md = { .handle = b->handle };
    if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) != 0) {
        guest_warn("cannot map a dumb buffer: %s", strerror(errno));
        goto fail;
    }
    void *map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
    if (map == MAP_FAILED) {
        guest_warn("mmap of a dumb buffer: %s", strerror(errno));
        goto fail;
    }
    b->map = map;
    return 0;
fail:
    dumb_destroy(fd, b);
    return -1;
}

void display_close(struct display *d)
{
    if (d->fd < 0)
        return;
    for (int i = 0; i < d->nheads; i++)
        for (int b = 0; b < 2; b++)
            dumb_destroy(d->fd, &d->heads[i].buf[b]);
    close(d->fd);
    d->fd = -1;
}

int display_probe(struct display *d, int index, struct head_state *st)
{
    memset(st, 0, sizeof *st);
    /* drmModeGetConnector (not ...Current) makes the kernel probe again, so
     * a display change the host just made is seen. */
    drmModeConnector *c = drmModeGetConnector(d->fd, d->heads[index].connector_id);
    if (c == NULL)
        return -1;
    if (c->connection == DRM_MODE_CONNECTED && c->count_modes > 0) {
        st->connected = true;
        st->mode = c->modes[0];
        for (int i = 0; i < c->count_modes; i++)
            if (c->modes[i].type & DRM_MODE_TYPE_PREFERRED) {
                st->mode = c->modes[i];
                break;
            }
    }
    drmModeFreeConnector(c);
    return 0;
}

static bool crtc_busy(const struct display *d, uint32_t crtc)
{
    for (int i = 0; i < d->nheads; i++)
        if (d->heads[i].on && d->heads[i].crtc_id == crtc)
            return true;
    return false;
}

/* A free CRTC that one of the connector's encoders can drive; the one the
 * encoder already drives first. */
static uint32_t pick_crtc(struct display *d, const struct head *h)
{
    drmModeConnector *c = drmModeGetConnectorCurrent(d->fd, h->connector_id);
    if (c == NULL)
        return 0;
    uint32_t found = 0;
    for (int e = 0; e < c->count_encoders && !found; e++) {
        drmModeEncoder *enc = drmModeGetEncoder(d->fd, c->encoders[e]);
        if (enc == NULL)
            continue;
        if (enc->crtc_id && !crtc_busy(d, enc->crtc_id))
            found = enc->crtc_id;
        for (int i = 0; i < d->ncrtcs && !found; i++)
            if ((enc->possible_crtcs >> i & 1) && !crtc_busy(d, d->crtcs[i]))
                found = d->crtcs[i];
        drmModeFreeEncoder(enc);
    }
    drmModeFreeConnector(c);
    return found;
}

int head_enable(struct display *d, struct head *h, const drmModeModeInfo *mode, fill_fn fill,
                void *ctx)
{
    uint32_t crtc = h->on ? h->crtc_id : pick_crtc(d, h);
    if (!crtc) {
        guest_warn("head %d: no free CRTC", h->id);
        return -1;
    }
    struct dumb nb[2];
    if (dumb_create(d->fd, mode->hdisplay, mode->vdisplay, &nb[0]) < 0)
        return -1;
    if (dumb_create(d->fd, mode->hdisplay, mode->vdisplay, &nb[1]) < 0) {
        dumb_destroy(d->fd, &nb[0]);
        return -1;
    }
    for (int b = 0; b < 2 && fill != NULL; b++)
        fill(ctx, &nb[b]);
    drmModeModeInfo m = *mode;
    if (drmModeSetCrtc(d->fd, crtc, nb[0].fb_id, 0, 0, &h->connector_id, 1, &m) != 0) {
        guest_warn("head %d: modeset %ux%u on CRTC %u: %s", h->id, mode->hdisplay,
                   mode->vdisplay, crtc, strerror(errno));
        dumb_destroy(d->fd, &nb[0]);
        dumb_destroy(d->fd, &nb[1]);
        return -1;
    }
    for (int b = 0; b < 2; b++) {
        dumb_destroy(d->fd, &h->buf[b]);
        h->buf[b] = nb[b];
    }
    h->crtc_id = crtc;
    h->mode = m;
    h->on = true;
    h->front = 0;
    h->flip_pending = false;
    h->generation++;
    return 0;
}

void head_disable(struct display *d, struct head *h)
{
    if (!h->on)
        return;
    if (drmModeSetCrtc(d->fd, h->crtc_id, 0, 0, 0, NULL, 0, NULL) != 0)
        guest_warn("head %d: cannot disable CRTC %u: %s", h->id, h->crtc_id, strerror(errno));
    for (int b = 0; b < 2; b++)
        dumb_destroy(d->fd, &h->buf[b]);
    h->on = false;
    h->crtc_id = 0;
    h->flip_pending = false;
    h->generation++;
}

int head_flip(struct display *d, struct head *h)
{
    /* The event carries the head and its modeset generation. */
    uint64_t tag = (uint64_t)(uint32_t)h->index << 32 | h->generation;
    if (drmModePageFlip(d->fd, h->crtc_id, head_back(h)->fb_id, DRM_MODE_PAGE_FLIP_EVENT,
                        (void *)(uintptr_t)tag) != 0)
        return -1;
    h->flip_pending = true;
    return 0;
}

/* libdrm's handler gets only the user data; this is the display whose
 * events are being read (one thread reads them). */
static struct display *dispatching;

static void page_flip_done(int fd, unsigned int seq, unsigned int sec, unsigned int usec,
                           void *data)
{
    uint64_t tag = (uintptr_t)data;
    uint32_t index = (uint32_t)(tag >> 32), generation = (uint32_t)tag;
    struct display *d = dispatching;
    if (d == NULL || index >= (uint32_t)d->nheads)
        return;
    struct head *h = &d->heads[index];
    if (!h->on || h->generation != generation)
        return;
    h->flip_pending = false;
    h->front ^= 1;
    if (d->on_flip != NULL)
        d->on_flip(d, h, d->ctx);
}

int display_dispatch(struct display *d)
{
    drmEventContext ev = { .version = 2, .page_flip_handler = page_flip_done };
    dispatching = d;
    int r = drmHandleEvent(d->fd, &ev);
    dispatching = NULL;
    return r;
}

int display_wait_flip(struct display *d, struct head *h, int timeout_ms)
{
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    while (h->flip_pending) {
        int64_t left = deadline - hfx_now_ns();
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = d->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0 && display_dispatch(d) != 0)
            return -1;
    }
    return 0;
}

static struct hfx_rect clip(const struct dumb *b, struct hfx_rect r)
{
    int32_t x0 = r.x < 0 ? 0 : r.x, y0 = r.y < 0 ? 0 : r.y;
    int64_t x1 = (int64_t)r.x + r.w, y1 = (int64_t)r.y + r.h;
    if (x1 > b->width)
        x1 = b->width;
    if (y1 > b->height)
        y1 = b->height;
    return (struct hfx_rect){ x0, y0, x1 > x0 ? (int32_t)(x1 - x0) : 0,
                              y1 > y0 ? (int32_t)(y1 - y0) : 0 };
}

void blit_rect(struct dumb *dst, const uint8_t *src, uint32_t src_stride, struct hfx_rect r)
{
    r = clip(dst, r);
    for (int32_t y = r.y; y < r.y + r.h; y++)
        memcpy(dst->map + (size_t)y * dst->pitch + (size_t)r.x * 4,
               src + (size_t)y * src_stride + (size_t)r.x * 4, (size_t)r.w * 4);
}

void fill_rect_xrgb(struct dumb *dst, struct hfx_rect r, uint32_t rgb)
{
    r = clip(dst, r);
    uint32_t px = rgb | 0xff000000u; /* memory order B,G,R,X on little-endian */
    for (int32_t y = r.y; y < r.y + r.h; y++) {
        uint32_t *row = (uint32_t *)(void *)(dst->map + (size_t)y * dst->pitch);
        for (int32_t x = r.x; x < r.x + r.w; x++)
            row[x] = px;
    }
}
