#include "frontend/qemu_dbus.h"

#include <errno.h>
#include <stdatomic.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <pixman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/keymap.h"
#include "common/log.h"
#include "frontend/dmabuf.h"
#include "frontend/qmp.h"
#include "frontend/shm_map.h"

#define DISPLAY_PATH "/org/qemu/Display1"
#define LISTENER_PATH "/org/qemu/Display1/Listener"
#define CONSOLE_IFACE "org.qemu.Display1.Console"
#define MAP_IFACE "org.qemu.Display1.Listener.Unix.Map"
#define DMABUF2_IFACE "org.qemu.Display1.Listener.Unix.ScanoutDMABUF2"
#define KEYBOARD_IFACE "org.qemu.Display1.Keyboard"
#define MOUSE_IFACE "org.qemu.Display1.Mouse"
#define CALL_TIMEOUT_MS 10000

/* The part of QEMU's org.qemu.Display1.Listener (ui/dbus-display1.xml) this
 * listener serves. QEMU 10 reads the Interfaces property and, seeing
 * Unix.Map there, shares 2D surfaces as memfds (ScanoutMap/UpdateMap)
 * instead of sending their pixels; QEMU 7.2 reads neither. A display with
 * gl=on sends every listener its GL scanouts as DMABUFs (ScanoutDMABUF,
 * then UpdateDMABUF for damage), whatever the listener advertises; from
 * QEMU 10.1 on, a listener that lists Unix.ScanoutDMABUF2 gets
 * ScanoutDMABUF2 instead (offsets, the picture's place in its buffer). */
static const char listener_xml[] =
    "<node><interface name='org.qemu.Display1.Listener'>"
    "<method name='Scanout'><arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='ay' direction='in'/></method>"
    "<method name='Update'><arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='ay' direction='in'/></method>"
    "<method name='ScanoutDMABUF'><arg type='h' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='t' direction='in'/><arg type='b' direction='in'/></method>"
    "<method name='UpdateDMABUF'><arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/></method>"
    "<method name='Disable'/>"
    "<method name='MouseSet'><arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/></method>"
    "<method name='CursorDefine'><arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='ay' direction='in'/></method>"
    "<property name='Interfaces' type='as' access='read'/>"
    "</interface>"
    "<interface name='" MAP_IFACE "'>"
    "<method name='ScanoutMap'><arg type='h' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/></method>"
    "<method name='UpdateMap'><arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/></method>"
    "</interface>"
    "<interface name='" DMABUF2_IFACE "'>"
    "<method name='ScanoutDMABUF2'><arg type='ah' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='au' direction='in'/><arg type='au' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='t' direction='in'/><arg type='b' direction='in'/></method>"
    "</interface></node>";

struct console {
    struct hfx_qemu_dbus *q;
    uint32_t qemu_id;           /* /org/qemu/Display1/Console_<qemu_id> */
    uint32_t scanout;
    GDBusConnection *listener;  /* the peer-to-peer connection QEMU calls us on */
    guint object_id, map_object_id, dmabuf2_object_id, filter_id;
    /* Two threads handle QEMU's calls, in the order QEMU sent them: GDBus's
     * worker thread runs listener_filter, which handles a page flip's
     * ScanoutMap and UpdateMap, the DMABUF calls (and MouseSet) itself;
     * everything else goes to listener_call on the front end's thread.
     * `dispatched` counts the
     * calls handed there and not yet done: while there are any, the filter
     * hands the flips on too, so nothing overtakes. `lock` guards the rest
     * of this struct between the two threads. listener_call holds it across
     * follow_resize's calls, which wait for GDBus's worker; the filter takes
     * it only while nothing is dispatched, so it never waits for those. */
    atomic_int dispatched;
    GMutex lock;
    /* What the engine shows (NULL: nothing): `pixels`, or a surface QEMU
     * shares (ScanoutMap, ScanoutDMABUF), mapped read-only in `maps`; its
     * top row and the step to the next (negative: a bottom-up DMABUF). */
    const uint8_t *shown;
    int32_t shown_stride;
    uint32_t width, height, format;
    /* Our copy of a surface QEMU sends by value (width * 4 bytes a row):
     * Update carries only the damaged rectangle, the engine wants the whole
     * surface around it. NULL while the surface shown is a mapped one. */
    uint8_t *pixels;
    struct hfx_shm_cache maps;  /* empty unless shown is a mapped surface */
    /* The last ScanoutMap handed the whole surface to the engine: the
     * UpdateMap QEMU sends right behind it has nothing new. */
    bool map_covered;
    /* The surface shown is a DMABUF (UpdateDMABUF reads it), its picture
     * at dmabuf_x, dmabuf_y of the buffer (ScanoutDMABUF2), where QEMU's
     * damage rectangles start. */
    bool dmabuf;
    uint32_t dmabuf_x, dmabuf_y;
    /* A DMABUF scanout has come since we attached (even one refused: its
     * refusal said why). GL updates without one ever coming mean QEMU
     * cannot export this head's scanouts, which is said once (gl_warned). */
    bool dmabuf_seen, gl_warned;
    /* A refusal's reason, built for the log and the error reply, and the
     * last one logged: QEMU sends a DMABUF per page flip, and the same
     * refusal is logged once in a row. */
    char why[512], last_refusal[600];
    struct hfx_cursor cursor;   /* position and visibility (the shape goes on at once) */
    /* A surface learnt from partial updates is shown only once they have
     * covered all of it: until then it is partly black, not what the guest
     * shows. */
    bool filling;
    pixman_region32_t filled;
    /* Input (the front end's thread only): QEMU refused a pointer position
     * because the head's pointer is relative-only, which is said once; the
     * last refusal of another kind logged, so a stream of them is logged once. */
    bool relative_warned;
    char input_refusal[160];
};

struct hfx_qemu_dbus {
    struct hfx_frontend fe;     /* first: the class's callbacks get this */
    struct hfx_engine *engine;
    struct hfx_qemu_dbus_config cfg;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    GDBusConnection *conn;      /* to QEMU's display objects */
    const char *bus_name;       /* "org.qemu" on a bus; NULL peer-to-peer */
    GDBusNodeInfo *listener_info;
    bool lost;
    bool refresh_warned;
    int pending;                /* listener connections still authenticating */
    bool failed;                /* one of them could not be set up */
    int nconsoles;
    struct console consoles[HFX_MAX_SCANOUTS];
};

static GVariant *get_property(struct hfx_qemu_dbus *q, const char *path, const char *iface,
                              const char *name, char *err, size_t errlen);

/* ---- the listener: QEMU calls these on the front end's thread, or on
 * GDBus's worker thread (listener_filter), with the console's lock held ---- */

/* Forgets the surface: our copy, every mapping (a mapping an engine worker
 * still reads goes when it is done). */
static void drop_surface(struct console *c)
{
    free(c->pixels);
    c->pixels = NULL;
    hfx_shm_cache_clear(&c->maps, NULL);
    c->shown = NULL;
    c->width = c->height = 0;
    c->shown_stride = 0;
    c->map_covered = false;
    c->dmabuf = false;
}

static void copy_rows(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, int32_t src_stride,
                      uint32_t row_bytes, uint32_t rows)
{
    for (uint32_t y = 0; y < rows; y++)
        memcpy(dst + (size_t)y * dst_stride, src + (ptrdiff_t)y * src_stride, row_bytes);
}

/* Makes our copy a w x h surface in `fourcc` and the one shown; mappings
 * go. A mapped surface of that size shown until now is carried over into
 * the copy (the engine may read around the rectangles it is given);
 * otherwise a new copy's contents are undefined. false: out of memory, and
 * the surface is forgotten. */
static bool use_copy(struct console *c, uint32_t w, uint32_t h, uint32_t fourcc)
{
    if (!c->pixels || c->width != w || c->height != h) {
        uint8_t *px = malloc((size_t)w * 4 * h);
        if (!px) {
            drop_surface(c);
            return false;
        }
        if (c->shown && c->width == w && c->height == h)
            copy_rows(px, w * 4, c->shown, c->shown_stride, w * 4, h);
        free(c->pixels);
        c->pixels = px;
    }
    hfx_shm_cache_clear(&c->maps, NULL);
    c->map_covered = false;
    c->dmabuf = false;
    c->shown = c->pixels;
    c->width = w;
    c->height = h;
    c->shown_stride = (int32_t)(w * 4);
    c->format = fourcc;
    return true;
}

/* The engine shows c->shown as a new surface (new size or format). */
static const char *show_new(struct console *c)
{
    char err[256];
    c->filling = false;
    if (hfx_engine_scanout_set(c->q->engine, c->scanout, c->width, c->height, c->format,
                               c->shown, c->shown_stride, err, sizeof err) < 0) {
        hfx_log(HFX_LOG_WARN, "console %u: %s", c->qemu_id, err);
        return "refused by the engine";
    }
    hfx_log(HFX_LOG_DEBUG, "console %u: scanout %ux%u", c->qemu_id, c->width, c->height);
    return NULL;
}

/* Whether a surface of this geometry replaces the one shown in place (a page
 * flip, or QEMU 7.2's full update): only what differs needs encoding. */
static bool same_surface(const struct console *c, uint32_t w, uint32_t h, uint32_t fourcc)
{
    return c->shown && !c->filling && c->width == w && c->height == h && c->format == fourcc;
}

static const char *on_scanout(struct console *c, GVariant *params)
{
    guint32 w, h, stride, pformat;
    GVariant *data_v;
    g_variant_get(params, "(uuuu@ay)", &w, &h, &stride, &pformat, &data_v);
    gsize len;
    const uint8_t *data = g_variant_get_fixed_array(data_v, &len, 1);
    const char *why = NULL;
    uint32_t fourcc = hfx_format_from_pixman(pformat);
    if (!fourcc)
        why = "unsupported pixel format";
    else if (w < 2 || h < 2 || w > HFX_MAX_WIDTH || h > HFX_MAX_HEIGHT)
        why = "size out of range";
    else if (stride < w * 4 || len < (gsize)stride * (h - 1) + (gsize)w * 4)
        why = "short data";
    bool same = !why && same_surface(c, w, h, fourcc);
    if (!why && !use_copy(c, w, h, fourcc))
        why = "out of memory";
    if (!why) {
        copy_rows(c->pixels, c->shown_stride, data, stride, w * 4, h);
        /* The same surface again (QEMU 7.2 sends every full-surface update
         * this way, QEMU 10 when it does not share the surface): the engine
         * passes on only the tiles that differ from what it shows. */
        if (same)
            hfx_engine_scanout_compare(c->q->engine, c->scanout, c->pixels, c->shown_stride,
                                       NULL, 0);
        else
            why = show_new(c);
    } else {
        drop_surface(c);
    }
    g_variant_unref(data_v);
    return why;
}

static bool rect_fits(int32_t x, int32_t y, int32_t w, int32_t h, uint32_t sw, uint32_t sh)
{
    return x >= 0 && y >= 0 && w > 0 && h > 0 && (uint32_t)x <= sw && (uint32_t)w <= sw - (uint32_t)x &&
           (uint32_t)y <= sh && (uint32_t)h <= sh - (uint32_t)y;
}

/* QEMU 7.2 announces a new surface only with its first full update; until
 * then partial updates arrive for a size we have not seen. The console's
 * Width and Height properties already have it. */
static bool follow_resize(struct console *c, uint32_t fourcc)
{
    char path[64], err[256];
    snprintf(path, sizeof path, DISPLAY_PATH "/Console_%u", c->qemu_id);
    GVariant *wv = get_property(c->q, path, CONSOLE_IFACE, "Width", err, sizeof err);
    GVariant *hv = get_property(c->q, path, CONSOLE_IFACE, "Height", err, sizeof err);
    uint32_t w = wv ? g_variant_get_uint32(wv) : 0, h = hv ? g_variant_get_uint32(hv) : 0;
    if (wv)
        g_variant_unref(wv);
    if (hv)
        g_variant_unref(hv);
    if (w < 2 || h < 2 || w > HFX_MAX_WIDTH || h > HFX_MAX_HEIGHT ||
        (c->shown && w == c->width && h == c->height))
        return false;
    if (!use_copy(c, w, h, fourcc))
        return false;
    memset(c->pixels, 0, (size_t)w * 4 * h);
    c->filling = true;
    pixman_region32_clear(&c->filled);
    hfx_log(HFX_LOG_DEBUG, "console %u: resized to %ux%u by partial updates", c->qemu_id, w, h);
    return true;
}

static const char *on_update(struct console *c, GVariant *params)
{
    gint32 x, y, w, h;
    guint32 stride, pformat;
    GVariant *data_v;
    g_variant_get(params, "(iiiiuu@ay)", &x, &y, &w, &h, &stride, &pformat, &data_v);
    gsize len;
    const uint8_t *data = g_variant_get_fixed_array(data_v, &len, 1);
    const char *why = NULL;
    uint32_t fourcc = hfx_format_from_pixman(pformat);
    if (!fourcc || (c->shown && fourcc != c->format))
        why = "Update in another format than its Scanout";
    else if ((!c->shown || !rect_fits(x, y, w, h, c->width, c->height)) &&
             !(follow_resize(c, fourcc) && rect_fits(x, y, w, h, c->width, c->height)))
        why = "rectangle outside the surface";
    else if (stride < (guint32)w * 4 || len < (gsize)stride * (guint32)(h - 1) + (gsize)w * 4)
        why = "short data";
    /* QEMU 10 went back to sending pixels (a surface it cannot share): our
     * copy takes over from the mapped surface. */
    if (!why && c->shown != c->pixels && !use_copy(c, c->width, c->height, c->format))
        why = "out of memory";
    if (!why) {
        copy_rows(c->pixels + (size_t)y * c->shown_stride + (size_t)x * 4, c->shown_stride, data,
                  stride, (uint32_t)w * 4, (uint32_t)h);
        if (c->filling) {
            pixman_region32_union_rect(&c->filled, &c->filled, x, y, (unsigned)w, (unsigned)h);
            pixman_box32_t all = {0, 0, (int32_t)c->width, (int32_t)c->height};
            if (pixman_region32_contains_rectangle(&c->filled, &all) == PIXMAN_REGION_IN)
                show_new(c);
        } else {
            /* Guests repaint what did not change (a text console redraws its
             * cursor line at every refresh): only real changes go on. */
            struct hfx_rect r = {x, y, w, h};
            hfx_engine_scanout_compare(c->q->engine, c->scanout, c->pixels, c->shown_stride, &r,
                                       1);
        }
    }
    g_variant_unref(data_v);
    return why;
}

/* A surface ScanoutMap or ScanoutDMABUF mapped, for show_mapped. */
struct mapped {
    const uint8_t *surface;     /* its top row; NULL: none */
    int32_t stride;             /* to the row below (negative: bottom-up) */
    uint32_t w, h, fourcc;
    bool dmabuf;
    uint32_t x, y;              /* a DMABUF's picture within its buffer */
};

/* ScanoutMap (QEMU 10, after a switch to a surface it can share: a new
 * surface, or a page flip to another buffer). QEMU waits for the reply, so
 * this only checks and maps; show_mapped does the engine's part after the
 * reply. */
static const char *on_scanout_map(struct console *c, GVariant *params, GDBusMessage *msg,
                                  struct mapped *m)
{
    gint32 handle;
    guint32 offset, w, h, stride, pformat;
    g_variant_get(params, "(huuuuu)", &handle, &offset, &w, &h, &stride, &pformat);
    GUnixFDList *fds = g_dbus_message_get_unix_fd_list(msg);
    if (!fds || handle < 0 || handle >= g_unix_fd_list_get_length(fds))
        return "no file descriptor";
    uint32_t fourcc = hfx_format_from_pixman(pformat);
    if (!fourcc)
        return "unsupported pixel format";
    /* The message's own fd (it closes it): no dup and close per flip. */
    int fd = g_unix_fd_list_peek_fds(fds, NULL)[handle];
    char err[256];
    *m = (struct mapped){.surface = hfx_shm_cache_map(&c->maps, fd, offset, w, h, stride, NULL,
                                                      err, sizeof err),
                         .stride = (int32_t)stride, .w = w, .h = h, .fourcc = fourcc};
    if (!m->surface) {
        hfx_log(HFX_LOG_WARN, "console %u: ScanoutMap %ux%u stride %u offset %u: %s", c->qemu_id,
                w, h, stride, offset, err);
        return "cannot map the surface";
    }
    return NULL;
}

/* ScanoutDMABUF (QEMU 10.0: "(huuuutb)") or ScanoutDMABUF2 (QEMU 10.1 on:
 * "(ahuuuuauauuuuutb)"): a GL scanout, a new buffer or a page flip to
 * another. QEMU does not wait for the reply. Checks every field against
 * the buffer (dmabuf.h) and maps it; show_mapped does the engine's part.
 * A refusal's reason is in c->why (it names what to do instead where there
 * is something). */
static const char *on_scanout_dmabuf(struct console *c, GVariant *params, GDBusMessage *msg,
                                     bool v2, struct mapped *m)
{
    struct hfx_dmabuf_desc d = {0};
    gint32 handle = -1;
    gboolean y0_top;
    if (!v2) {
        g_variant_get(params, "(huuuutb)", &handle, &d.width, &d.height, &d.stride, &d.fourcc,
                      &d.modifier, &y0_top);
        d.backing_width = d.width;
        d.backing_height = d.height;
    } else {
        GVariant *fd_v, *offset_v, *stride_v;
        guint32 planes;
        g_variant_get(params, "(@ahuuuu@au@auuuuutb)", &fd_v, &d.x, &d.y, &d.width, &d.height,
                      &offset_v, &stride_v, &planes, &d.fourcc, &d.backing_width,
                      &d.backing_height, &d.modifier, &y0_top);
        gsize nfd, noffset, nstride;
        const gint32 *fd_index = g_variant_get_fixed_array(fd_v, &nfd, sizeof(gint32));
        const guint32 *offset = g_variant_get_fixed_array(offset_v, &noffset, sizeof(guint32));
        const guint32 *stride = g_variant_get_fixed_array(stride_v, &nstride, sizeof(guint32));
        bool one = planes == 1 && nfd >= 1 && noffset >= 1 && nstride >= 1;
        if (planes != 1)
            snprintf(c->why, sizeof c->why, "%u planes: only single-plane 32-bit RGB "
                     "buffers are taken", planes);
        else if (!one)
            snprintf(c->why, sizeof c->why, "plane 0 lacks a file descriptor (%zu), an offset "
                     "(%zu) or a stride (%zu)", (size_t)nfd, (size_t)noffset, (size_t)nstride);
        else
            handle = fd_index[0], d.offset = offset[0], d.stride = stride[0];
        g_variant_unref(fd_v);
        g_variant_unref(offset_v);
        g_variant_unref(stride_v);
        if (!one)
            return c->why;
    }
    d.y0_top = y0_top;
    GUnixFDList *fds = g_dbus_message_get_unix_fd_list(msg);
    if (!fds || handle < 0 || handle >= g_unix_fd_list_get_length(fds))
        return "no file descriptor";
    /* The message's own fd; the mapping keeps a duplicate for the
     * DMA_BUF_IOCTL_SYNC bracket around reads. */
    int fd = g_unix_fd_list_peek_fds(fds, NULL)[handle];
    char err[256];
    uint64_t size;
    struct hfx_dmabuf_layout l;
    bool nonlinear = false;
    if (hfx_shm_fd_size(fd, &size, err, sizeof err) < 0 ||
        hfx_dmabuf_layout(&d, size, &l, &nonlinear, err, sizeof err) < 0) {
        snprintf(c->why, sizeof c->why, "%ux%u %.4s: %s%s", d.width, d.height,
                 (const char *)&d.fourcc, err,
                 nonlinear ? "; run the exporter inside QEMU instead (scripts/build-qemu, "
                             "-object helix-frame-export: qemu/README.md), which reads GL "
                             "heads back in QEMU" : "");
        return c->why;
    }
    struct hfx_shm_map *map;
    const uint8_t *at = hfx_shm_cache_map_range(&c->maps, fd, l.start, l.len, true, &map, err,
                                                sizeof err);
    if (!at) {
        snprintf(c->why, sizeof c->why, "cannot map the DMABUF: %s", err);
        return c->why;
    }
    *m = (struct mapped){.surface = at + l.top, .stride = l.stride, .w = d.width, .h = d.height,
                         .fourcc = d.fourcc, .dmabuf = true, .x = d.x, .y = d.y};
    return NULL;
}

/* The engine's worker is done with a mapped buffer. */
static void release_map(void *map)
{
    hfx_shm_map_end_read(map);
    hfx_shm_map_unref(map);
}

/* Hands the scanout's worker a compare of r (NULL: all) of the mapped
 * surface shown: it hashes the tiles and converts those that differ from
 * the picture shown (a burst of flips costs one compare there), holding a
 * reference to the mapping, inside a DMABUF's CPU-access bracket, until it
 * is done. Synchronous when that cannot be. */
static void compare_mapped(struct console *c, const struct hfx_rect *r)
{
    int n = r ? 1 : 0;
    struct hfx_shm_map *map = hfx_shm_cache_find(&c->maps, c->shown);
    if (map) {
        hfx_shm_map_begin_read(map);
        if (hfx_engine_scanout_compare_deferred(c->q->engine, c->scanout, c->shown,
                                                c->shown_stride, r, n, release_map,
                                                hfx_shm_map_ref(map)) == 0)
            return;
        hfx_shm_map_unref(map);
    }
    hfx_engine_scanout_compare(c->q->engine, c->scanout, c->shown, c->shown_stride, r, n);
    if (map)
        hfx_shm_map_end_read(map);
}

static void show_mapped(struct console *c, const struct mapped *m)
{
    bool flip = same_surface(c, m->w, m->h, m->fourcc);
    /* Our copy (if QEMU sent pixels before) and the mappings of another
     * size go; the engine reads none of them after its calls return. */
    free(c->pixels);
    c->pixels = NULL;
    if (!flip)
        hfx_shm_cache_clear(&c->maps, m->surface);
    c->shown = m->surface;
    c->shown_stride = m->stride;
    c->width = m->w;
    c->height = m->h;
    c->format = m->fourcc;
    c->dmabuf = m->dmabuf;
    c->dmabuf_x = m->x;
    c->dmabuf_y = m->y;
    /* Whatever the guest flushed, what changed is what differs from the
     * picture shown: the engine compares the tiles on the scanout's worker.
     * A 2D buffer does not change meanwhile unless the worker lags two
     * flips behind: QEMU writes a buffer only when the guest flips to it
     * again (virtio-gpu's transfer to the host), which takes our reply to
     * the flip in between. A GL buffer may be drawn into while the worker
     * reads it; the worker checks the tiles it converted afterwards. */
    if (flip) {
        compare_mapped(c, NULL);
    } else {
        struct hfx_shm_map *map = hfx_shm_cache_find(&c->maps, c->shown);
        if (map)
            hfx_shm_map_begin_read(map);
        const char *why = show_new(c);
        if (map)
            hfx_shm_map_end_read(map);
        if (why)
            drop_surface(c);
    }
    /* QEMU flushes a GL scanout's rendering only before UpdateDMABUF (a
     * glFlush), so the one behind a ScanoutDMABUF is compared too. */
    c->map_covered = c->shown != NULL && !c->dmabuf;
}

/* UpdateDMABUF: the GL scanout shown changed in (x, y, w, h) of its buffer.
 * QEMU holds the guest's GL rendering back (graphic_hw_gl_block) until the
 * reply, which goes out before the worker reads anything. */
static const char *on_update_dmabuf(struct console *c, GVariant *params)
{
    gint32 x, y, w, h;
    g_variant_get(params, "(iiii)", &x, &y, &w, &h);
    if (!c->shown || !c->dmabuf) {
        /* QEMU sends a GL console's damage whether or not it could send
         * the scanout: its EGL could not export the texture (without a
         * GPU). Refusing each would only fill QEMU's log. */
        if (!c->gl_warned && !c->dmabuf_seen) {
            c->gl_warned = true;
            hfx_log(HFX_LOG_ERROR,
                    "console %u: QEMU sends this head's GL updates (UpdateDMABUF) but no "
                    "DMABUF scanout has come: it is a GL console (virtio-gpu-gl, virgl, with "
                    "-display dbus,gl=on) whose scanouts QEMU cannot export as DMABUFs (its "
                    "log says \"dbus_scanout_texture: failed to get fd for texture\"; Mesa's "
                    "software renderer exports none). No picture of this head can reach the "
                    "D-Bus front end: run the exporter inside QEMU instead (scripts/build-qemu, "
                    "-object helix-frame-export: qemu/README.md), which reads GL heads back in "
                    "QEMU, or give this VM a 2D display (virtio-gpu-pci, or gl=off)",
                    c->qemu_id);
        }
        return NULL;
    }
    if (w < 0 || h < 0)
        return "negative rectangle";
    /* In the buffer's coordinates (virtio-gpu flushes a resource, which
     * several heads may show parts of): this head's part only. */
    int64_t x1 = (int64_t)x - c->dmabuf_x, y1 = (int64_t)y - c->dmabuf_y;
    int64_t x2 = x1 + w, y2 = y1 + h;
    x1 = x1 < 0 ? 0 : x1;
    y1 = y1 < 0 ? 0 : y1;
    x2 = x2 > c->width ? c->width : x2;
    y2 = y2 > c->height ? c->height : y2;
    if (x1 >= x2 || y1 >= y2)
        return NULL;
    struct hfx_rect r = {(int32_t)x1, (int32_t)y1, (int32_t)(x2 - x1), (int32_t)(y2 - y1)};
    compare_mapped(c, &r);
    return NULL;
}

static const char *on_update_map(struct console *c, GVariant *params)
{
    gint32 x, y, w, h;
    g_variant_get(params, "(iiii)", &x, &y, &w, &h);
    if (!c->shown || c->shown == c->pixels || c->dmabuf)
        return "UpdateMap without a ScanoutMap";
    if (!rect_fits(x, y, w, h, c->width, c->height))
        return "rectangle outside the surface";
    /* QEMU sends ScanoutMap only from inside an update, with that update
     * behind it: the whole surface went to the engine a moment ago. */
    if (c->map_covered) {
        c->map_covered = false;
        return NULL;
    }
    /* Compared, not taken as damage: a guest without damage clips (weston's
     * pixman renderer on virtio-gpu) flushes its whole framebuffer every
     * frame, and converting all of it would hide from the engine what
     * changed and what moved. Here, as the conversion was, not on the
     * worker: QEMU writes this buffer again at the guest's next flush, and
     * a read behind our reply showed the test guest's frames out of order. */
    struct hfx_rect r = {x, y, w, h};
    hfx_engine_scanout_compare(c->q->engine, c->scanout, c->shown, c->shown_stride, &r, 1);
    return NULL;
}

static void on_mouse_set(struct console *c, GVariant *params)
{
    gint32 x, y, on;
    g_variant_get(params, "(iii)", &x, &y, &on);
    c->cursor = (struct hfx_cursor){.x = x, .y = y, .visible = on != 0};
    hfx_engine_scanout_cursor(c->q->engine, c->scanout, &c->cursor);
}

static const char *on_cursor_define(struct console *c, GVariant *params)
{
    gint32 w, h, hot_x, hot_y;
    GVariant *data_v;
    g_variant_get(params, "(iiii@ay)", &w, &h, &hot_x, &hot_y, &data_v);
    gsize len;
    const uint8_t *data = g_variant_get_fixed_array(data_v, &len, 1);
    const char *why = NULL;
    if (w <= 0 || h <= 0 || w > HFX_CURSOR_MAX_SIDE || h > HFX_CURSOR_MAX_SIDE || hot_x < 0 ||
        hot_y < 0 || hot_x >= w || hot_y >= h)
        why = "cursor size or hot spot out of range";
    else if (len < (gsize)w * (gsize)h * 4)
        why = "short data";
    if (!why) {
        struct hfx_cursor shape = c->cursor;
        shape.width = (uint16_t)w;
        shape.height = (uint16_t)h;
        shape.hot_x = (uint16_t)hot_x;
        shape.hot_y = (uint16_t)hot_y;
        shape.argb = data;
        hfx_engine_scanout_cursor(c->q->engine, c->scanout, &shape);
    }
    g_variant_unref(data_v);
    return why;
}

/* QEMU 7.2 does not tell D-Bus listeners when a head's surface goes away
 * (its 2D switch to no surface sends nothing), so a head we turned off ends
 * its stream here, once QEMU has taken the request. With the lock held. */
static void end_console_locked(struct console *c)
{
    hfx_engine_scanout_disable(c->q->engine, c->scanout);
    drop_surface(c);
}

static void end_console(struct console *c)
{
    g_mutex_lock(&c->lock);
    end_console_locked(c);
    g_mutex_unlock(&c->lock);
}

/* One of QEMU's calls (listener_methods), with the console's lock held:
 * NULL, or why it is refused. A surface mapped (ScanoutMap, a DMABUF) is
 * left in *m for show_mapped, which runs after the reply. */
static const char *handle_call(struct console *c, const char *method, GVariant *params,
                               GDBusMessage *msg, struct mapped *m)
{
    if (!strcmp(method, "Scanout"))
        return on_scanout(c, params);
    if (!strcmp(method, "Update"))
        return on_update(c, params);
    if (!strcmp(method, "ScanoutMap"))
        return on_scanout_map(c, params, msg, m);
    if (!strcmp(method, "UpdateMap"))
        return on_update_map(c, params);
    if (!strcmp(method, "ScanoutDMABUF") || !strcmp(method, "ScanoutDMABUF2")) {
        const char *why = on_scanout_dmabuf(c, params, msg, !strcmp(method, "ScanoutDMABUF2"), m);
        c->dmabuf_seen = true;
        /* The guest shows a buffer that cannot be read: the stream ends
         * rather than show the one before. */
        if (why && c->dmabuf)
            end_console_locked(c);
        if (!why)
            c->last_refusal[0] = 0;
        return why;
    }
    if (!strcmp(method, "UpdateDMABUF"))
        return on_update_dmabuf(c, params);
    if (!strcmp(method, "Disable")) {
        hfx_log(HFX_LOG_DEBUG, "console %u: disabled", c->qemu_id);
        end_console_locked(c);
    } else if (!strcmp(method, "MouseSet")) {
        on_mouse_set(c, params);
    } else if (!strcmp(method, "CursorDefine")) {
        return on_cursor_define(c, params);
    }
    return NULL;
}

/* A refusal goes to the log; the same one again right after (QEMU sends a
 * GL scanout per page flip) only at debug level. */
static void log_refusal(struct console *c, const char *method, const char *why)
{
    char line[sizeof c->last_refusal];
    snprintf(line, sizeof line, "%s refused: %s", method, why);
    hfx_log(strcmp(line, c->last_refusal) ? HFX_LOG_WARN : HFX_LOG_DEBUG,
            "console %u: %s (surface %ux%u)", c->qemu_id, line, c->width, c->height);
    memcpy(c->last_refusal, line, sizeof line);
}

static void listener_call(GDBusConnection *conn, const char *sender, const char *path,
                          const char *iface, const char *method, GVariant *params,
                          GDBusMethodInvocation *inv, gpointer data)
{
    struct console *c = data;
    struct mapped mapped = {0};
    /* Not across the calls follow_resize makes and waits for: the filter
     * takes no lock while this call is counted in `dispatched`. */
    g_mutex_lock(&c->lock);
    const char *why =
        handle_call(c, method, params, g_dbus_method_invocation_get_message(inv), &mapped);
    if (why) {
        log_refusal(c, method, why);
        /* A refused ScanoutMap makes QEMU send this listener pixels again. */
        g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "%s",
                                              why);
    } else {
        g_dbus_method_invocation_return_value(inv, NULL);
        /* QEMU waits for ScanoutMap's reply, the VM with it: the engine's
         * part comes after. */
        if (mapped.surface)
            show_mapped(c, &mapped);
    }
    g_mutex_unlock(&c->lock);
    atomic_fetch_sub(&c->dispatched, 1);
}

/* The listener's methods and their arguments (listener_xml): a call that
 * matches is one GDBus hands to listener_call. */
static const struct {
    const char *iface, *method, *signature;
} listener_methods[] = {
    {"org.qemu.Display1.Listener", "Scanout", "uuuuay"},
    {"org.qemu.Display1.Listener", "Update", "iiiiuuay"},
    {"org.qemu.Display1.Listener", "ScanoutDMABUF", "huuuutb"},
    {"org.qemu.Display1.Listener", "UpdateDMABUF", "iiii"},
    {"org.qemu.Display1.Listener", "Disable", ""},
    {"org.qemu.Display1.Listener", "MouseSet", "iii"},
    {"org.qemu.Display1.Listener", "CursorDefine", "iiiiay"},
    {MAP_IFACE, "ScanoutMap", "huuuuu"},
    {MAP_IFACE, "UpdateMap", "iiii"},
    {DMABUF2_IFACE, "ScanoutDMABUF2", "ahuuuuauauuuuutb"},
};

/* On GDBus's worker thread, for every message QEMU sends on the listener
 * connection, before GDBus dispatches it. A page flip (ScanoutMap, then
 * UpdateMap; a GL head's ScanoutDMABUF(2), then UpdateDMABUF) and pointer
 * moves are handled right here: no hop to the front end's thread and back
 * for the reply, no method invocation. The engine's compare of a flip runs
 * on the scanout's worker (show_mapped, compare_mapped), so the replies
 * QEMU waits for (ScanoutMap; UpdateDMABUF, which holds the guest's GL
 * rendering back) go out at once. */
static GDBusMessage *listener_filter(GDBusConnection *conn, GDBusMessage *msg, gboolean incoming,
                                     gpointer data)
{
    struct console *c = data;
    if (!incoming || g_dbus_message_get_message_type(msg) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
        return msg;
    const char *path = g_dbus_message_get_path(msg), *iface = g_dbus_message_get_interface(msg);
    const char *method = g_dbus_message_get_member(msg);
    const char *sig = g_dbus_message_get_signature(msg);
    if (!path || !iface || !method || strcmp(path, LISTENER_PATH))
        return msg;
    int k = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(listener_methods); i++)
        if (!strcmp(method, listener_methods[i].method) &&
            !strcmp(iface, listener_methods[i].iface) &&
            !strcmp(sig ? sig : "", listener_methods[i].signature))
            k = (int)i;
    if (k < 0)
        return msg;   /* GDBus answers it (properties, errors) */
    bool mine = strcmp(method, "Scanout") && strcmp(method, "Update") &&
                strcmp(method, "Disable") && strcmp(method, "CursorDefine");
    if (!mine || atomic_load(&c->dispatched) > 0) {
        atomic_fetch_add(&c->dispatched, 1);
        return msg;
    }
    GVariant *params = g_dbus_message_get_body(msg);
    struct mapped mapped = {0};
    g_mutex_lock(&c->lock);
    const char *why = handle_call(c, method, params, msg, &mapped);
    if (why)
        log_refusal(c, method, why);
    if (!(g_dbus_message_get_flags(msg) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED)) {
        /* A refused ScanoutMap makes QEMU send this listener pixels again. */
        GDBusMessage *reply = why ? g_dbus_message_new_method_error(
                                        msg, "org.freedesktop.DBus.Error.InvalidArgs", "%s", why)
                                  : g_dbus_message_new_method_reply(msg);
        g_dbus_connection_send_message(conn, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
        g_object_unref(reply);
    }
    if (mapped.surface)
        show_mapped(c, &mapped);
    g_mutex_unlock(&c->lock);
    g_object_unref(msg);
    return NULL;
}

/* Interfaces (org.qemu.Display1.Listener): the optional interfaces this
 * listener serves. QEMU 10 reads it when the listener registers (10.0 looks
 * for Unix.Map; 10.1 for Unix.ScanoutDMABUF2 as well). */
static GVariant *listener_get_property(GDBusConnection *conn, const char *sender,
                                       const char *path, const char *iface, const char *name,
                                       GError **error, gpointer data)
{
    static const char *const extra[] = {MAP_IFACE, DMABUF2_IFACE, NULL};
    if (strcmp(name, "Interfaces")) {
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
        return NULL;
    }
    return g_variant_new_strv(extra, -1);
}

static const GDBusInterfaceVTable listener_vtable = {.method_call = listener_call,
                                                     .get_property = listener_get_property};


/* ---- attaching ---- */

static GVariant *get_property(struct hfx_qemu_dbus *q, const char *path, const char *iface,
                              const char *name, char *err, size_t errlen)
{
    GError *e = NULL;
    GVariant *r = g_dbus_connection_call_sync(
        q->conn, q->bus_name, path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", iface, name), G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
        CALL_TIMEOUT_MS, NULL, &e);
    if (!r) {
        snprintf(err, errlen, "reading %s.%s of %s: %s", iface, name, path, e->message);
        g_error_free(e);
        return NULL;
    }
    GVariant *v;
    g_variant_get(r, "(v)", &v);
    g_variant_unref(r);
    return v;
}

static void on_register_reply(GObject *src, GAsyncResult *res, gpointer data)
{
    struct console *c = data;
    GError *e = NULL;
    GVariant *r = g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(src), NULL,
                                                                  res, &e);
    if (!r) {
        hfx_log(HFX_LOG_ERROR, "console %u: RegisterListener failed: %s", c->qemu_id,
                e->message);
        g_error_free(e);
        return;
    }
    g_variant_unref(r);
}

static void on_listener_ready(GObject *src, GAsyncResult *res, gpointer data)
{
    struct console *c = data;
    struct hfx_qemu_dbus *q = c->q;
    GError *e = NULL;
    q->pending--;
    c->listener = g_dbus_connection_new_finish(res, &e);
    if (c->listener)
        c->object_id = g_dbus_connection_register_object(c->listener, LISTENER_PATH,
                                                         q->listener_info->interfaces[0],
                                                         &listener_vtable, c, NULL, &e);
    if (c->object_id)
        c->map_object_id = g_dbus_connection_register_object(c->listener, LISTENER_PATH,
                                                             q->listener_info->interfaces[1],
                                                             &listener_vtable, c, NULL, &e);
    if (c->map_object_id)
        c->dmabuf2_object_id = g_dbus_connection_register_object(
            c->listener, LISTENER_PATH, q->listener_info->interfaces[2], &listener_vtable, c,
            NULL, &e);
    if (c->dmabuf2_object_id)
        c->filter_id = g_dbus_connection_add_filter(c->listener, listener_filter, c, NULL);
    if (!c->dmabuf2_object_id) {
        hfx_log(HFX_LOG_ERROR, "console %u: the listener connection failed: %s", c->qemu_id,
                e->message);
        g_error_free(e);
        q->failed = true;
        return;
    }
    /* Only now, so QEMU's first Scanout is not refused as an unknown object. */
    g_dbus_connection_start_message_processing(c->listener);
}

/* A socket pair: one end goes to QEMU through RegisterListener; on the other
 * QEMU calls our listener object. */
static int attach_console(struct hfx_qemu_dbus *q, struct console *c, char *err, size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "socketpair: %s", g_strerror(errno));
        return -1;
    }
    GUnixFDList *fds = g_unix_fd_list_new_from_array(&sv[1], 1); /* takes sv[1] */
    char path[64];
    snprintf(path, sizeof path, DISPLAY_PATH "/Console_%u", c->qemu_id);
    g_dbus_connection_call_with_unix_fd_list(q->conn, q->bus_name, path, CONSOLE_IFACE,
                                             "RegisterListener", g_variant_new("(h)", 0), NULL,
                                             G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, fds, NULL,
                                             on_register_reply, c);
    g_object_unref(fds);

    GError *e = NULL;
    GSocket *sock = g_socket_new_from_fd(sv[0], &e);
    if (!sock) {
        close(sv[0]);
        snprintf(err, errlen, "console %u: %s", c->qemu_id, e->message);
        g_error_free(e);
        return -1;
    }
    GSocketConnection *sc = g_socket_connection_factory_create_connection(sock);
    g_object_unref(sock);
    /* QEMU authenticates as the server inside its RegisterListener handler,
     * so the handshake runs asynchronously while that call is in flight. */
    q->pending++;
    g_dbus_connection_new(G_IO_STREAM(sc), NULL,
                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                              G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                          NULL, NULL, on_listener_ready, c);
    g_object_unref(sc);
    return 0;
}

static int find_consoles(struct hfx_qemu_dbus *q, char *err, size_t errlen)
{
    GVariant *ids = get_property(q, DISPLAY_PATH "/VM", "org.qemu.Display1.VM", "ConsoleIDs", err,
                                 errlen);
    if (!ids)
        return -1;
    gsize n;
    const guint32 *id = g_variant_get_fixed_array(ids, &n, sizeof(guint32));
    uint32_t max = hfx_engine_max_scanouts(q->engine);
    for (gsize i = 0; i < n && (uint32_t)q->nconsoles < max; i++) {
        char path[64];
        snprintf(path, sizeof path, DISPLAY_PATH "/Console_%u", id[i]);
        GVariant *type = get_property(q, path, CONSOLE_IFACE, "Type", err, errlen);
        if (!type) {
            g_variant_unref(ids);
            return -1;
        }
        if (!strcmp(g_variant_get_string(type, NULL), "Graphic")) {
            struct console *c = &q->consoles[q->nconsoles];
            c->q = q;
            g_mutex_init(&c->lock);
            pixman_region32_init(&c->filled);
            c->qemu_id = id[i];
            c->scanout = (uint32_t)q->nconsoles++;
        }
        g_variant_unref(type);
    }
    g_variant_unref(ids);
    if (!q->nconsoles) {
        snprintf(err, errlen, "QEMU's D-Bus display has no graphic console (is there a display "
                              "device, e.g. -device virtio-gpu-pci?)");
        return -1;
    }
    return 0;
}

static void on_closed(GDBusConnection *conn, gboolean remote, GError *error, gpointer data)
{
    struct hfx_qemu_dbus *q = data;
    if (q->lost)
        return;
    q->lost = true;
    hfx_log(HFX_LOG_INFO, "QEMU's D-Bus display went away");
    if (q->cfg.lost)
        q->cfg.lost(q->cfg.lost_data);
}

static GDBusConnection *connect_qmp(const char *path, char *err, size_t errlen)
{
    int qmp = hfx_qmp_open(path, err, errlen);
    if (qmp < 0)
        return NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "socketpair: %s", g_strerror(errno));
        close(qmp);
        return NULL;
    }
    int rc = hfx_qmp_add_dbus_client(qmp, sv[1], err, errlen);
    close(qmp);
    close(sv[1]);
    if (rc < 0) {
        close(sv[0]);
        return NULL;
    }
    GError *e = NULL;
    GSocket *sock = g_socket_new_from_fd(sv[0], &e);
    if (!sock) {
        close(sv[0]);
        snprintf(err, errlen, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    GSocketConnection *sc = g_socket_connection_factory_create_connection(sock);
    g_object_unref(sock);
    GDBusConnection *conn = g_dbus_connection_new_sync(
        G_IO_STREAM(sc), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, &e);
    g_object_unref(sc);
    if (!conn) {
        snprintf(err, errlen, "D-Bus handshake with QEMU failed: %s", e->message);
        g_error_free(e);
    }
    return conn;
}

static GDBusConnection *connect_bus(const char *address, char *err, size_t errlen)
{
    GError *e = NULL;
    GDBusConnection *conn = g_dbus_connection_new_for_address_sync(
        address,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &e);
    if (!conn) {
        snprintf(err, errlen, "cannot connect to the D-Bus bus %s: %s", address, e->message);
        g_error_free(e);
    }
    return conn;
}

static gpointer loop_main(gpointer data)
{
    struct hfx_qemu_dbus *q = data;
    g_main_context_push_thread_default(q->ctx);
    g_main_loop_run(q->loop);
    g_main_context_pop_thread_default(q->ctx);
    return NULL;
}

/* ---- head requests (queued by frontend.c, applied on our thread) ---- */

static void on_ui_info_reply(GObject *src, GAsyncResult *res, gpointer data)
{
    struct hfx_head_request *r = data;
    struct hfx_qemu_dbus *q = g_object_get_data(src, "hfx-qemu-dbus");
    GError *e = NULL;
    GVariant *v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);
    if (v) {
        g_variant_unref(v);
        if (!r->enable)
            end_console(&q->consoles[r->scanout]);
        hfx_head_request_done(r, 0, NULL);
    } else {
        char text[256];
        snprintf(text, sizeof text, "SetUIInfo failed: %s", e->message);
        g_error_free(e);
        hfx_head_request_done(r, -1, text);
    }
}

static void apply_head(struct hfx_frontend *fe, struct hfx_head_request *r)
{
    struct hfx_qemu_dbus *q = (struct hfx_qemu_dbus *)fe;
    if (r->scanout >= (uint32_t)q->nconsoles || q->lost) {
        hfx_head_request_done(r, -1, q->lost ? "the VM is gone" : "the VM has no such head");
        return;
    }
    if (r->refresh_hz && !q->refresh_warned) {
        /* Console.SetUIInfo has no refresh rate (QEMU 7.2 to 10.x). */
        hfx_log(HFX_LOG_WARN, "QEMU's D-Bus display cannot set a refresh rate: heads run at "
                              "QEMU's default (the in-QEMU build honours it)");
        q->refresh_warned = true;
    }
    char path[64];
    snprintf(path, sizeof path, DISPLAY_PATH "/Console_%u", q->consoles[r->scanout].qemu_id);
    /* Width and height 0 turn the head off (virtio-gpu's ui_info). Calls go
     * out in the order taken, and QEMU answers them in that order. */
    g_dbus_connection_call(q->conn, q->bus_name, path, CONSOLE_IFACE, "SetUIInfo",
                           g_variant_new("(qqiiuu)", r->width_mm, r->height_mm, 0, 0, r->width,
                                         r->height),
                           NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, on_ui_info_reply,
                           r);
}

/* ---- input (queued by frontend.c, applied on our thread) ---- */

/* QEMU's InputButton numbers (qapi/ui.json), what Mouse.Press takes. */
enum { QEMU_BTN_LEFT, QEMU_BTN_MIDDLE, QEMU_BTN_RIGHT, QEMU_BTN_WHEEL_UP, QEMU_BTN_WHEEL_DOWN,
       QEMU_BTN_SIDE, QEMU_BTN_EXTRA, QEMU_BTN_WHEEL_LEFT, QEMU_BTN_WHEEL_RIGHT };

/* Nobody waits for QEMU's answer; a refusal is logged (the same one once in
 * a row), a relative-only pointer said once. */
static void on_input_reply(GObject *src, GAsyncResult *res, gpointer data)
{
    struct console *c = data;
    GError *e = NULL;
    GVariant *v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);
    if (v) {
        g_variant_unref(v);
        return;
    }
    if (strstr(e->message, "not absolute")) {
        if (!c->relative_warned)
            hfx_log(HFX_LOG_WARN, "head %u: QEMU takes no absolute pointer positions for this "
                                  "head (Mouse is not absolute: no tablet bound to it; QEMU 7.2 "
                                  "asks the first pointer bound to no head, so give the VM one "
                                  "unbound tablet too): pointer positions are dropped",
                    c->scanout);
        c->relative_warned = true;
    } else if (strcmp(e->message, c->input_refusal)) {
        hfx_log(HFX_LOG_WARN, "head %u: QEMU refused an input event: %s", c->scanout, e->message);
        snprintf(c->input_refusal, sizeof c->input_refusal, "%s", e->message);
    }
    g_error_free(e);
}

/* One call to the console's Keyboard or Mouse: sent now, in order with the
 * others on this connection (QEMU handles them in that order). */
static void input_call(struct console *c, const char *iface, const char *method, GVariant *args)
{
    char path[64];
    snprintf(path, sizeof path, DISPLAY_PATH "/Console_%u", c->qemu_id);
    g_dbus_connection_call(c->q->conn, c->q->bus_name, path, iface, method, args, NULL,
                           G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, on_input_reply,
                           c);
}

static void click(struct console *c, uint32_t button, int steps)
{
    for (int i = 0; i < steps; i++) {
        input_call(c, MOUSE_IFACE, "Press", g_variant_new("(u)", button));
        input_call(c, MOUSE_IFACE, "Release", g_variant_new("(u)", button));
    }
}

static void apply_input(struct hfx_frontend *fe, const struct hfx_input *ev)
{
    struct hfx_qemu_dbus *q = (struct hfx_qemu_dbus *)fe;
    if (ev->scanout >= (uint32_t)q->nconsoles || q->lost)
        return;
    struct console *c = &q->consoles[ev->scanout];
    switch (ev->kind) {
    case HFX_INPUT_KEY: {
        uint32_t qnum = hfx_keymap_evdev_to_qnum(ev->code);
        if (qnum)
            input_call(c, KEYBOARD_IFACE, ev->down ? "Press" : "Release",
                       g_variant_new("(u)", qnum));
        break;
    }
    case HFX_INPUT_POINTER: {
        g_mutex_lock(&c->lock);
        uint32_t w = c->width, h = c->height;
        g_mutex_unlock(&c->lock);
        if (!w || !h)
            break; /* the head shows nothing: QEMU would refuse any position */
        uint32_t x = ev->x < 0 ? 0 : (uint32_t)ev->x, y = ev->y < 0 ? 0 : (uint32_t)ev->y;
        input_call(c, MOUSE_IFACE, "SetAbsPosition",
                   g_variant_new("(uu)", x < w ? x : w - 1, y < h ? y : h - 1));
        break;
    }
    case HFX_INPUT_BUTTON: {
        static const uint32_t qemu_button[] = {
            [HFX_BUTTON_LEFT] = QEMU_BTN_LEFT, [HFX_BUTTON_MIDDLE] = QEMU_BTN_MIDDLE,
            [HFX_BUTTON_RIGHT] = QEMU_BTN_RIGHT, [HFX_BUTTON_SIDE] = QEMU_BTN_SIDE,
            [HFX_BUTTON_EXTRA] = QEMU_BTN_EXTRA};
        if (ev->code >= HFX_BUTTON_LEFT && ev->code <= HFX_BUTTON_EXTRA)
            input_call(c, MOUSE_IFACE, ev->down ? "Press" : "Release",
                       g_variant_new("(u)", qemu_button[ev->code]));
        break;
    }
    case HFX_INPUT_WHEEL:
        click(c, ev->x < 0 ? QEMU_BTN_WHEEL_LEFT : QEMU_BTN_WHEEL_RIGHT, abs(ev->x));
        click(c, ev->y < 0 ? QEMU_BTN_WHEEL_UP : QEMU_BTN_WHEEL_DOWN, abs(ev->y));
        break;
    }
}

static gboolean run_requests(gpointer data)
{
    hfx_frontend_run_requests(data);
    return G_SOURCE_REMOVE;
}

static void kick(struct hfx_frontend *fe)
{
    g_main_context_invoke(((struct hfx_qemu_dbus *)fe)->ctx, run_requests, fe);
}

/* ---- life cycle ---- */

struct hfx_qemu_dbus *hfx_qemu_dbus_start(struct hfx_engine *e,
                                          const struct hfx_qemu_dbus_config *cfg, char *err,
                                          size_t errlen)
{
    struct hfx_qemu_dbus *q = g_new0(struct hfx_qemu_dbus, 1);
    q->engine = e;
    q->cfg = *cfg;
    q->ctx = g_main_context_new();
    q->loop = g_main_loop_new(q->ctx, FALSE);
    q->listener_info = g_dbus_node_info_new_for_xml(listener_xml, NULL);
    /* Everything created here dispatches on ctx, which the thread runs. */
    g_main_context_push_thread_default(q->ctx);
    bool p2p = !strncmp(cfg->address, "qmp:", 4);
    q->bus_name = p2p ? NULL : "org.qemu";
    q->conn = p2p ? connect_qmp(cfg->address + 4, err, errlen)
                  : connect_bus(cfg->address, err, errlen);
    int rc = q->conn ? find_consoles(q, err, errlen) : -1;
    for (int i = 0; rc == 0 && i < q->nconsoles; i++)
        rc = attach_console(q, &q->consoles[i], err, errlen);
    gint64 deadline = g_get_monotonic_time() + CALL_TIMEOUT_MS * 1000;
    while (rc == 0 && q->pending && g_get_monotonic_time() < deadline)
        g_main_context_iteration(q->ctx, TRUE);
    if (rc == 0 && (q->pending || q->failed)) {
        snprintf(err, errlen, "QEMU did not take our display listeners (see the log above)");
        rc = -1;
    }
    if (q->conn)
        g_signal_connect(q->conn, "closed", G_CALLBACK(on_closed), q);
    g_main_context_pop_thread_default(q->ctx);
    if (rc < 0) {
        hfx_qemu_dbus_stop(q);
        return NULL;
    }
    g_object_set_data(G_OBJECT(q->conn), "hfx-qemu-dbus", q);
    hfx_frontend_init(&q->fe, &hfx_frontend_qemu_dbus, e);
    q->thread = g_thread_new("hfx-qemu-dbus", loop_main, q);
    hfx_log(HFX_LOG_INFO, "attached to QEMU's D-Bus display (%s): %d graphic console(s)",
            p2p ? "peer-to-peer" : cfg->address, q->nconsoles);
    return q;
}

int hfx_qemu_dbus_heads(const struct hfx_qemu_dbus *q)
{
    return q->nconsoles;
}

void hfx_qemu_dbus_stop(struct hfx_qemu_dbus *q)
{
    if (!q)
        return;
    if (q->thread) {
        g_main_loop_quit(q->loop);
        g_thread_join(q->thread);
        hfx_frontend_fini(&q->fe);
    }
    g_main_context_push_thread_default(q->ctx);
    for (int i = 0; i < q->nconsoles; i++) {
        struct console *c = &q->consoles[i];
        if (c->listener) {
            /* Closed first: GDBus's worker thread then reads nothing more,
             * so the filter is not running and will not run again. */
            g_dbus_connection_close_sync(c->listener, NULL, NULL);
            if (c->filter_id)
                g_dbus_connection_remove_filter(c->listener, c->filter_id);
            if (c->object_id)
                g_dbus_connection_unregister_object(c->listener, c->object_id);
            if (c->map_object_id)
                g_dbus_connection_unregister_object(c->listener, c->map_object_id);
            if (c->dmabuf2_object_id)
                g_dbus_connection_unregister_object(c->listener, c->dmabuf2_object_id);
            g_object_unref(c->listener);
        }
        if (c->shown)
            hfx_engine_scanout_disable(q->engine, c->scanout);
        drop_surface(c);
        pixman_region32_fini(&c->filled);
        g_mutex_clear(&c->lock);
    }
    if (q->conn) {
        g_signal_handlers_disconnect_by_data(q->conn, q);
        g_object_unref(q->conn);
    }
    /* Let pending callbacks run out before the context goes. */
    while (g_main_context_iteration(q->ctx, FALSE))
        ;
    g_main_context_pop_thread_default(q->ctx);
    g_dbus_node_info_unref(q->listener_info);
    g_main_loop_unref(q->loop);
    g_main_context_unref(q->ctx);
    g_free(q);
}

/* ---- as hfx serve's front end ---- */

static struct hfx_frontend *start(struct hfx_engine *e, const struct hfx_frontend_args *a,
                                  char *err, size_t errlen)
{
    struct hfx_qemu_dbus_config cfg = {.address = a->attach, .lost = a->lost,
                                       .lost_data = a->lost_data};
    struct hfx_qemu_dbus *q = hfx_qemu_dbus_start(e, &cfg, err, errlen);
    return q ? &q->fe : NULL;
}

static void stop(struct hfx_frontend *fe)
{
    hfx_qemu_dbus_stop((struct hfx_qemu_dbus *)fe);
}

const struct hfx_frontend_class hfx_frontend_qemu_dbus = {
    .name = "qemu-dbus",
    .summary = "a running QEMU's D-Bus display (-display dbus): --attach qmp:PATH or a bus address",
    .needs_attach = true,
    .start = start,
    .stop = stop,
    .kick = kick,
    .apply_head = apply_head,
    .apply_input = apply_input,
};
