/* The guest's side of virtio-gpu through KMS: one head per connector, each
 * with two dumb buffers, modeset on a CRTC found through the encoders and
 * page-flipped with completion events. A head's index is the connector's
 * position in drmModeGetResources' list, which for virtio-gpu is the
 * scanout id (connector "Virtual-<index+1>"). */
#ifndef HFX_GUEST_DISPLAY_H
#define HFX_GUEST_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <xf86drmMode.h>

#include "engine/rect.h"

#define DISPLAY_MAX_HEADS 16

struct dumb {
    uint32_t width, height;
    uint32_t handle, fb_id, pitch;
    uint64_t size;
    uint8_t *map;
};

struct head {
    int index;               /* position in d->heads */
    int id;                  /* the scanout id: index, or the leased head's id */
    uint32_t connector_id;
    uint32_t crtc_id;        /* while on */
    bool on;
    drmModeModeInfo mode;    /* while on */
    struct dumb buf[2];
    int front;               /* the buffer on screen; the other is drawn into */
    bool flip_pending;
    uint32_t generation;     /* bumped by every modeset, so a flip event that
                              * was queued before one is recognised as stale */
};

struct display;
typedef void (*flip_done_fn)(struct display *d, struct head *h, void *ctx);

struct display {
    int fd;
    int nheads;
    struct head heads[DISPLAY_MAX_HEADS];
    int ncrtcs;
    uint32_t crtcs[DISPLAY_MAX_HEADS];
    flip_done_fn on_flip;    /* optional, called after a head's flip completed */
    void *ctx;
};

/* What a connector offers right now (a forced probe). */
struct head_state {
    bool connected;
    drmModeModeInfo mode;    /* the preferred mode, when connected */
};

/* Draws a new buffer (XRGB8888) before it is shown. */
typedef void (*fill_fn)(void *ctx, struct dumb *b);

/* Waits up to wait_ms for /dev/dri/card0, opens it and becomes DRM master.
 * Returns 0, or -1 after saying why. */
int display_open(struct display *d, int wait_ms);
/* Uses a DRM lease instead (the fd the lease manager sent): the lessee is
 * master of what it was leased, which the kernel shows it as if it were the
 * whole card. Its one connector is head `id`. Closes fd on failure. */
int display_adopt(struct display *d, int fd, int id);
void display_close(struct display *d);

int display_probe(struct display *d, int index, struct head_state *st);
/* Creates two buffers at mode's size, lets fill draw both, then modesets
 * (buffer 0 on screen). A head that is on already is resized: its CRTC is
 * kept and its old buffers are dropped after the new ones are shown. */
int head_enable(struct display *d, struct head *h, const drmModeModeInfo *mode, fill_fn fill,
                void *ctx);
void head_disable(struct display *d, struct head *h);

static inline struct dumb *head_back(struct head *h)
{
    return &h->buf[h->front ^ 1];
}

static inline struct dumb *head_front(struct head *h)
{
    return &h->buf[h->front];
}

/* Queues a flip to the back buffer with a completion event. */
int head_flip(struct display *d, struct head *h);
/* Reads the events that are ready on d->fd (poll it first). */
int display_dispatch(struct display *d);
/* Waits until h has no flip pending; -1 on timeout or error. */
int display_wait_flip(struct display *d, struct head *h, int timeout_ms);

/* Copies rect r of an XRGB8888 image into a buffer. */
void blit_rect(struct dumb *dst, const uint8_t *src, uint32_t src_stride, struct hfx_rect r);
/* Fills rect r of a buffer with one 0xRRGGBB colour. */
void fill_rect_xrgb(struct dumb *dst, struct hfx_rect r, uint32_t rgb);

#endif
