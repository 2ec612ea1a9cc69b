/*
 * helix-frame-export compiled into QEMU: a user-creatable object that
 * attaches a display listener to every graphic console, the way QEMU's own
 * VNC, SPICE and D-Bus displays do, and feeds the exporter's engine directly
 * from the consoles' surfaces.
 *
 *   -object helix-frame-export,id=hfx0,listen=tcp:127.0.0.1:15937
 *           [,encoder=hybrid|x264|openh264][,bitrate=BPS][,threads=N]
 *           [,idr-interval=MS][,idle-refresh=MS]
 *
 * The listener callbacks run on QEMU's main thread under its global lock.
 * An update, a page flip or a new surface only records the damage and a
 * reference to the surface's pixman image; the scanout's worker converts it
 * (after a flip: finds what changed) and the reference is dropped back on
 * the main thread. So a callback costs the same whatever the damage and the
 * size, and nothing here waits for the encoder or the network. (2D display surfaces
 * change only on the main thread, when the device copies a guest frame into
 * them; a frame converted after the next copy shows the newer picture, and
 * the update that follows the copy sends it again anyway.) Head requests
 * from the network (ENABLE/DISABLE_SCANOUT) are queued in order by the
 * shared front-end code and applied on the main thread, from a bottom half,
 * as dpy_set_ui_info().
 *
 * GL (virgl) heads: with gl=on the object is QEMU's GL display itself and
 * reads each GL scanout back on a thread of the head's (hfx-gl.c); without,
 * beside -display egl-headless, it takes the 2D surface egl-headless reads
 * each GL scanout back into on the main thread. -display dbus,gl=on accepts
 * no listener but its own, and is refused.
 *
 *   -object helix-frame-export,id=hfx0,gl=on[,rendernode=PATH] -display none
 *
 * Time spent inside the callbacks is measured; `qom-get hfx0 stats` and the
 * log line at exit report it.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#ifdef CONFIG_DBUS_DISPLAY
#include "qapi/qapi-commands-ui.h"
#endif
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qom/object_interfaces.h"
#include "system/system.h"
#include "hw/qdev-core.h"
#include "ui/console.h"
#include "ui/input.h"
#include "console-priv.h"       /* a console's device flags and GL display */

#include "engine/engine.h"
#include "frontend/frontend.h"
#include "server/exporter.h"
#ifdef CONFIG_OPENGL
#include "ui/egl-helpers.h"
#include "hfx-gl.h"
#else
#include "hfx-timing.h"
#endif

#define TYPE_HFX_EXPORT "helix-frame-export"
OBJECT_DECLARE_SIMPLE_TYPE(HfxExport, HFX_EXPORT)

typedef struct HfxHead {
    DisplayChangeListener dcl;
    struct HfxExport *hfx;
    uint32_t scanout;
    DisplaySurface *ds;
    bool shown;                 /* the engine has this head's size and format */
    bool flipped;               /* a new buffer of the same size: find what changed */
    uint32_t width, height, fourcc;
    struct hfx_cursor cursor;
    bool gl_device;             /* GL scanouts, read by `gl` (not 2D surfaces) */
    bool relative_warned;       /* said once: the head's pointer is relative-only */
#ifdef CONFIG_OPENGL
    HfxGlReader *gl;
#endif
} HfxHead;

struct HfxExport {
    Object parent_obj;
    struct hfx_frontend fe;     /* head requests from the network */
    char *listen, *encoder, *secret_file, *rendernode;
    bool gl;                    /* the object is QEMU's GL display */
    uint32_t quality, bitrate, threads, idr_interval, idle_refresh;
    struct hfx_exporter x;
    bool running;
    int nheads;
    HfxHead heads[HFX_MAX_SCANOUTS];
    Notifier machine_done, exit;
    /* Updates (the hot path) apart from surface switches (new sizes and page
     * flips), so each has its own percentiles; GL heads' apart from 2D. */
    HfxTiming updates, switches, gl_updates, gl_switches;
    bool reported;
};

/* ---- timing ---- */

int64_t hfx_timing_begin(void)
{
    return get_clock();
}

void hfx_timing_end(HfxTiming *t, int64_t t0)
{
    uint64_t d = (uint64_t)(get_clock() - t0);
    t->ns[t->calls % HFX_TIMING_RING] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    t->calls++;
    t->max_ns = MAX(t->max_ns, d);
    t->total_ns += d;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

char *hfx_timing_text(const char *what, const HfxTiming *t)
{
    size_t n = MIN(t->calls, (uint64_t)HFX_TIMING_RING);
    if (!n) {
        return g_strdup_printf("%s: calls=0", what);
    }
    g_autofree uint32_t *v = g_memdup2(t->ns, n * sizeof(uint32_t));
    qsort(v, n, sizeof(uint32_t), cmp_u32);
    return g_strdup_printf("%s: calls=%" PRIu64 " p50_us=%.1f p99_us=%.1f max_us=%.1f "
                           "total_us=%.1f", what, t->calls, v[(n - 1) / 2] / 1e3,
                           v[(n * 99 - 1) / 100] / 1e3, t->max_ns / 1e3, t->total_ns / 1e3);
}

static char *timing_text(HfxExport *h)
{
    g_autoptr(GString) s = g_string_new(NULL);
    const struct { const char *what; const HfxTiming *t; } rows[] = {
        {"updates", &h->updates},
        {"surface switches", &h->switches},
        {"gl updates", &h->gl_updates},
        {"gl scanouts", &h->gl_switches},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *one = hfx_timing_text(rows[i].what, rows[i].t);
        g_string_append_printf(s, "%s%s", i ? "; " : "", one);
    }
#ifdef CONFIG_OPENGL
    /* The readers' threads, not the main thread's. */
    for (int i = 0; i < h->nheads; i++) {
        HfxGlReader *gl = h->heads[i].gl;
        if (gl) {
            g_autofree char *what = g_strdup_printf("gl readbacks head%d", i);
            g_autofree char *one = hfx_timing_text(what, hfx_gl_reader_timing(gl));
            g_string_append_printf(s, "; %s bytes=%" PRIu64, one, hfx_gl_reader_bytes(gl));
        }
    }
#endif
    return g_strdup(s->str);
}

/* ---- the display listener (main thread, global lock held) ---- */

static void unref_image_bh(void *image)
{
    pixman_image_unref(image);
}

/* On the engine's worker: pixman's reference counts are not atomic, so the
 * reference goes back to the main thread. */
static void release_image(void *image)
{
    aio_bh_schedule_oneshot(qemu_get_aio_context(), unref_image_bh, image);
}

/* A new size or format: the engine's worker converts the surface (a mode
 * set at 5120x2880 would stall the main loop for tens of ms), holding a
 * reference to its image meanwhile. */
static void show_surface(HfxHead *hd)
{
    DisplaySurface *ds = hd->ds;
    char err[256];
    pixman_image_t *image = pixman_image_ref(ds->image);
    if (hfx_engine_scanout_set_deferred(hd->hfx->x.engine, hd->scanout, surface_width(ds),
                                        surface_height(ds), hd->fourcc, surface_data(ds),
                                        surface_stride(ds), release_image, image, err,
                                        sizeof err) < 0) {
        pixman_image_unref(image);
        warn_report("helix-frame-export: head %u: %s", hd->scanout, err);
        hd->shown = false;
        return;
    }
    hd->shown = true;
    hd->flipped = false;
    hd->width = surface_width(ds);
    hd->height = surface_height(ds);
}

static void hfx_gfx_switch(DisplayChangeListener *dcl, DisplaySurface *new_surface)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    if (hd->gl_device) {
        /* Only a blank surface of the GL scanout's size (or a placeholder
         * before a GL disable): the picture comes through the GL callbacks. */
        return;
    }
    int64_t t0 = hfx_timing_begin();
    hd->ds = new_surface;
    uint32_t fourcc = new_surface ? hfx_format_from_pixman(surface_format(new_surface)) : 0;
    if (!new_surface || surface_is_placeholder(new_surface) || !fourcc) {
        /* The guest turned the head off (or shows nothing we can take). */
        if (hd->shown) {
            hfx_engine_scanout_disable(hd->hfx->x.engine, hd->scanout);
        }
        hd->shown = false;
        hd->ds = NULL;
    } else if (hd->shown && surface_width(new_surface) == hd->width &&
               surface_height(new_surface) == hd->height && fourcc == hd->fourcc) {
        /* A page flip: same geometry, another buffer. The guest flushes
         * all of it, so the update that follows (or the next refresh)
         * hands the whole buffer to the engine's worker to compare with
         * what was shown: the damage is what changed, not the flush. */
        hd->flipped = true;
    } else {
        hd->fourcc = fourcc;
        show_surface(hd);
    }
    hfx_timing_end(&hd->hfx->switches, t0);
}

static void hfx_gfx_update(DisplayChangeListener *dcl, int x, int y, int w, int h)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    if (!hd->ds || !hd->shown) {
        return;
    }
    int64_t t0 = hfx_timing_begin();
    struct hfx_rect r = {x, y, w, h};
    pixman_image_t *image = pixman_image_ref(hd->ds->image);
    /* Compared, not taken as damage: guests repaint what did not change (a
     * whole plane after a flip, egl-headless's readback of a GL scanout),
     * and only the tiles that differ from the picture shown are encoded. */
    if (hd->flipped) {
        hd->flipped = false;
        r = (struct hfx_rect){0, 0, (int32_t)hd->width, (int32_t)hd->height};
    }
    int rc = hfx_engine_scanout_compare_deferred(hd->hfx->x.engine, hd->scanout,
                                                 surface_data(hd->ds), surface_stride(hd->ds),
                                                 &r, 1, release_image, image);
    if (rc < 0) {
        pixman_image_unref(image);
    }
    hfx_timing_end(&hd->hfx->updates, t0);
}

static void hfx_refresh(DisplayChangeListener *dcl)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    graphic_hw_update(dcl->con);
    if (hd->flipped) {
        hfx_gfx_update(dcl, 0, 0, hd->width, hd->height);
    }
}

static bool hfx_check_format(DisplayChangeListener *dcl, pixman_format_code_t format)
{
    return hfx_format_from_pixman(format) != 0;
}

static void hfx_mouse_set(DisplayChangeListener *dcl, int x, int y, bool on)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    hd->cursor = (struct hfx_cursor){.x = x, .y = y, .visible = on};
    hfx_engine_scanout_cursor(hd->hfx->x.engine, hd->scanout, &hd->cursor);
}

static void hfx_cursor_define(DisplayChangeListener *dcl, QEMUCursor *c)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    if (c->width > HFX_CURSOR_MAX_SIDE || c->height > HFX_CURSOR_MAX_SIDE) {
        return;
    }
    struct hfx_cursor shape = hd->cursor;
    shape.width = c->width;
    shape.height = c->height;
    shape.hot_x = c->hot_x;
    shape.hot_y = c->hot_y;
    shape.argb = (const uint8_t *)c->data;
    hfx_engine_scanout_cursor(hd->hfx->x.engine, hd->scanout, &shape);
}

/* Both listeners' 2D part. A GL display other than ours (egl-headless)
 * accepts only listeners without GL callbacks, so that is one listener, and
 * the one with them (when the object is the GL display) another. */
#define HFX_2D_OPS \
    .dpy_name = TYPE_HFX_EXPORT, \
    .dpy_refresh = hfx_refresh, \
    .dpy_gfx_switch = hfx_gfx_switch, \
    .dpy_gfx_update = hfx_gfx_update, \
    .dpy_gfx_check_format = hfx_check_format, \
    .dpy_mouse_set = hfx_mouse_set, \
    .dpy_cursor_define = hfx_cursor_define

static const DisplayChangeListenerOps hfx_dcl_ops = {
    HFX_2D_OPS,
};

#ifdef CONFIG_OPENGL
/* ---- GL scanouts, when the object is QEMU's GL display (gl=on) ---- */

static void hfx_gl_scanout_texture(DisplayChangeListener *dcl, uint32_t backing_id,
                                   bool backing_y_0_top, uint32_t backing_width,
                                   uint32_t backing_height, uint32_t x, uint32_t y, uint32_t w,
                                   uint32_t h, void *d3d_tex2d)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    int64_t t0 = hfx_timing_begin();
    if (!hd->gl) {
        Error *err = NULL;
        hd->gl = hfx_gl_reader_new(hd->hfx->x.engine, hd->scanout, &err);
        if (!hd->gl) {
            warn_reportf_err(err, "helix-frame-export: head %u: ", hd->scanout);
            return;
        }
    }
    hfx_gl_reader_scanout(hd->gl, backing_id, backing_y_0_top, backing_width, backing_height,
                          x, y, w, h);
    hfx_timing_end(&hd->hfx->gl_switches, t0);
}

#ifdef CONFIG_GBM
/* A blob resource (virgl's, or udmabuf's): imported as a texture, as
 * egl-headless does. Software rendering never gives one. */
static void hfx_gl_scanout_dmabuf(DisplayChangeListener *dcl, QemuDmaBuf *dmabuf)
{
    egl_dmabuf_import_texture(dmabuf);
    uint32_t texture = qemu_dmabuf_get_texture(dmabuf);
    if (texture) {
        uint32_t w = qemu_dmabuf_get_width(dmabuf), h = qemu_dmabuf_get_height(dmabuf);
        hfx_gl_scanout_texture(dcl, texture, qemu_dmabuf_get_y0_top(dmabuf), w, h, 0, 0, w, h,
                               NULL);
    }
}

static void hfx_gl_release_dmabuf(DisplayChangeListener *dcl, QemuDmaBuf *dmabuf)
{
    egl_dmabuf_release_texture(dmabuf);
}
#endif

static void hfx_gl_update(DisplayChangeListener *dcl, uint32_t x, uint32_t y, uint32_t w,
                          uint32_t h)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    if (hd->gl) {
        int64_t t0 = hfx_timing_begin();
        hfx_gl_reader_update(hd->gl, x, y, w, h);
        hfx_timing_end(&hd->hfx->gl_updates, t0);
    }
}

static void hfx_gl_scanout_disable(DisplayChangeListener *dcl)
{
    HfxHead *hd = container_of(dcl, HfxHead, dcl);
    if (hd->gl) {
        int64_t t0 = hfx_timing_begin();
        hfx_gl_reader_disable(hd->gl);
        hfx_timing_end(&hd->hfx->gl_switches, t0);
    }
}

static const DisplayChangeListenerOps hfx_gl_dcl_ops = {
    HFX_2D_OPS,
    .dpy_gl_scanout_disable = hfx_gl_scanout_disable,
    .dpy_gl_scanout_texture = hfx_gl_scanout_texture,
#ifdef CONFIG_GBM
    .dpy_gl_scanout_dmabuf = hfx_gl_scanout_dmabuf,
    .dpy_gl_release_dmabuf = hfx_gl_release_dmabuf,
#endif
    .dpy_gl_update = hfx_gl_update,
};
#endif

/* ---- head requests from the network (queued by frontend.c) ---- */

static void apply_head(struct hfx_frontend *fe, struct hfx_head_request *r)
{
    HfxExport *hfx = container_of(fe, HfxExport, fe);
    if (r->scanout >= (uint32_t)hfx->nheads) {
        hfx_head_request_done(r, -1, "the VM has no such head");
        return;
    }
    QemuConsole *con = hfx->heads[r->scanout].dcl.con;
    QemuUIInfo info = {
        .width = r->width,
        .height = r->height,
        .width_mm = r->width_mm,
        .height_mm = r->height_mm,
        .refresh_rate = r->refresh_hz * 1000,   /* mHz; 0: the device's default */
    };
    if (!dpy_ui_info_supported(con)) {
        hfx_head_request_done(r, -1, "this display device cannot switch heads");
    } else if (dpy_set_ui_info(con, &info, false) < 0) {
        hfx_head_request_done(r, -1, "dpy_set_ui_info failed");
    } else {
        hfx_head_request_done(r, 0, NULL);
    }
}

/* ---- input from the network (queued by frontend.c, applied here on the
 * main loop) ---- */

/* QEMU's input layer with the head's console as the source: a keyboard or
 * tablet bound to that head (display=,head=) gets it, else the first one. */
static void click(QemuConsole *con, InputButton button, int steps)
{
    for (int i = 0; i < steps; i++) {
        qemu_input_queue_btn(con, button, true);
        qemu_input_event_sync();
        qemu_input_queue_btn(con, button, false);
        qemu_input_event_sync();
    }
}

static void apply_input(struct hfx_frontend *fe, const struct hfx_input *ev)
{
    static const InputButton qemu_button[] = {
        [HFX_BUTTON_LEFT] = INPUT_BUTTON_LEFT, [HFX_BUTTON_MIDDLE] = INPUT_BUTTON_MIDDLE,
        [HFX_BUTTON_RIGHT] = INPUT_BUTTON_RIGHT, [HFX_BUTTON_SIDE] = INPUT_BUTTON_SIDE,
        [HFX_BUTTON_EXTRA] = INPUT_BUTTON_EXTRA};
    HfxExport *hfx = container_of(fe, HfxExport, fe);
    if (ev->scanout >= (uint32_t)hfx->nheads) {
        return;
    }
    HfxHead *hd = &hfx->heads[ev->scanout];
    QemuConsole *con = hd->dcl.con;
    switch (ev->kind) {
    case HFX_INPUT_KEY: {
        int qcode = qemu_input_linux_to_qcode(ev->code);
        if (qcode) {
            qemu_input_event_send_key_qcode(con, qcode, ev->down);
        }
        break;
    }
    case HFX_INPUT_POINTER: {
        int w = qemu_console_get_width(con, 0), h = qemu_console_get_height(con, 0);
        if (w <= 0 || h <= 0) {
            break;
        }
        if (!qemu_input_is_absolute(con)) {
            if (!hd->relative_warned) {
                warn_report("helix-frame-export: head %u: the pointer for this head is "
                            "relative-only (no tablet bound to it?): pointer positions are "
                            "dropped", ev->scanout);
            }
            hd->relative_warned = true;
            break;
        }
        qemu_input_queue_abs(con, INPUT_AXIS_X, MIN(MAX(ev->x, 0), w - 1), 0, w);
        qemu_input_queue_abs(con, INPUT_AXIS_Y, MIN(MAX(ev->y, 0), h - 1), 0, h);
        qemu_input_event_sync();
        break;
    }
    case HFX_INPUT_BUTTON:
        if (ev->code >= HFX_BUTTON_LEFT && ev->code <= HFX_BUTTON_EXTRA) {
            qemu_input_queue_btn(con, qemu_button[ev->code], ev->down);
            qemu_input_event_sync();
        }
        break;
    case HFX_INPUT_WHEEL:
        click(con, ev->x < 0 ? INPUT_BUTTON_WHEEL_LEFT : INPUT_BUTTON_WHEEL_RIGHT, abs(ev->x));
        click(con, ev->y < 0 ? INPUT_BUTTON_WHEEL_UP : INPUT_BUTTON_WHEEL_DOWN, abs(ev->y));
        break;
    }
}

static void run_requests_bh(void *opaque)
{
    hfx_frontend_run_requests(opaque);
}

/* Called on the server's thread: the requests are applied on the main loop. */
static void kick(struct hfx_frontend *fe)
{
    aio_bh_schedule_oneshot(qemu_get_aio_context(), run_requests_bh, fe);
}

static const struct hfx_frontend_class hfx_frontend_in_qemu = {
    .name = "in-qemu",
    .summary = "a display listener compiled into QEMU (-object helix-frame-export)",
    .kick = kick,
    .apply_head = apply_head,
    .apply_input = apply_input,
};

/* ---- life cycle ---- */

/* A GL display other than ours (gtk or sdl with gl=on, ...) may refuse any
 * listener: QEMU would exit with a bare "Display ... is incompatible"; say
 * what to do instead. */
static void check_compatible(QemuConsole *con, DisplayChangeListener *dcl)
{
    if (con->gl && !con->gl->ops->dpy_gl_ctx_is_compatible_dcl(con->gl, dcl)) {
        error_report("helix-frame-export: the GL display of console %d accepts no other "
                     "listener; give the object gl=on with -display none (or "
                     "-display egl-headless) instead", con->index);
        exit(1);
    }
}

static void attach_consoles(HfxExport *hfx)
{
    uint32_t max = hfx_engine_max_scanouts(hfx->x.engine);
    QemuConsole *con;
    int ngl = 0;
    for (int i = 0; (con = qemu_console_lookup_by_index(i)) && (uint32_t)hfx->nheads < max;
         i++) {
        if (!qemu_console_is_graphic(con)) {
            continue;
        }
        HfxHead *hd = &hfx->heads[hfx->nheads];
        hd->hfx = hfx;
        hd->scanout = hfx->nheads++;
        hd->dcl.ops = &hfx_dcl_ops;
        hd->dcl.con = con;
#ifdef CONFIG_OPENGL
        if (hfx->gl) {
            int flags = con->hw_ops->get_flags ? con->hw_ops->get_flags(con->hw) : 0;
            hfx_gl_own_console(con);
            hd->dcl.ops = &hfx_gl_dcl_ops;
            hd->gl_device = flags & GRAPHIC_FLAGS_GL;
            ngl += hd->gl_device;
        }
#endif
        check_compatible(con, &hd->dcl);
        register_displaychangelistener(&hd->dcl);
    }
    if (hfx->gl) {
        info_report("helix-frame-export: serving %d head(s) on %s, %d of them GL, read back "
                    "by the exporter", hfx->nheads, hfx->listen, ngl);
    } else {
        info_report("helix-frame-export: serving %d head(s) on %s", hfx->nheads, hfx->listen);
    }
}

static void attach_consoles_bh(void *opaque)
{
    attach_consoles(opaque);
}

/* The displays (-display egl-headless, dbus, ...) are set up after the
 * machine, and a GL console (virtio-gpu-gl) refuses a listener until its GL
 * display has given it a context ("The console requires a GL context"): so
 * attach from the main loop's first iteration, after them (the guest's
 * first GPU command comes later still). Beside egl-headless, which reads
 * each GL scanout back into the console's 2D surface, this listener takes
 * that surface like any other. */
static void machine_done(Notifier *n, void *data)
{
    aio_bh_schedule_oneshot(qemu_get_aio_context(), attach_consoles_bh,
                            container_of(n, HfxExport, machine_done));
}

/* Once, when the object goes or QEMU exits, whichever comes first. */
static void report_timing(HfxExport *hfx)
{
    if (hfx->reported) {
        return;
    }
    hfx->reported = true;
    g_autofree char *t = timing_text(hfx);
    info_report("helix-frame-export: display callbacks: %s", t);
}

static void report_at_exit(Notifier *n, void *data)
{
    report_timing(container_of(n, HfxExport, exit));
}

/* Which GL display reads the GL heads back: ours (gl=on), egl-headless, or
 * none that would let us attach. */
static bool take_gl(HfxExport *hfx, Error **errp)
{
#ifdef CONFIG_DBUS_DISPLAY
    g_autoptr(DisplayOptions) dpy = qmp_query_display_options(NULL);
    if (dpy->type == DISPLAY_TYPE_DBUS && dpy->has_gl && dpy->gl != DISPLAY_GL_MODE_OFF) {
        error_setg(errp, "helix-frame-export: -display dbus,gl=on accepts no listener but "
                   "its own; give this object gl=on with -display none, or export through "
                   "QEMU's D-Bus display (hfx serve --qemu-dbus) instead");
        return false;
    }
#endif
    if (!hfx->gl) {
        return true;
    }
#ifdef CONFIG_OPENGL
    if (!hfx_gl_init(hfx->rendernode, &hfx_gl_dcl_ops, errp)) {
        error_prepend(errp, "helix-frame-export: gl=on: ");
        return false;
    }
    return true;
#else
    error_setg(errp, "helix-frame-export: gl=on: this QEMU is built without OpenGL");
    return false;
#endif
}

static void hfx_complete(UserCreatable *uc, Error **errp)
{
    HfxExport *hfx = HFX_EXPORT(uc);
    if (!take_gl(hfx, errp)) {
        return;
    }
    struct hfx_server_config scfg = {.nlisten = 1};
    scfg.listen[0] = hfx->listen ? hfx->listen : "tcp:127.0.0.1:15937";
    scfg.secret_file = hfx->secret_file;
    struct hfx_engine_config ecfg = {
        .max_scanouts = HFX_MAX_SCANOUTS,
        .encoder = hfx->encoder,
        .bitrate = hfx->bitrate,
        .threads = (int)hfx->threads,
        .quality = (int)hfx->quality,
        .idr_interval_ms = hfx->idr_interval,
        .idle_refresh_ms = hfx->idle_refresh,
    };
    char err[512];
    if (hfx_exporter_init(&hfx->x, &scfg, &ecfg, err, sizeof err) < 0 ||
        hfx_exporter_start_thread(&hfx->x, err, sizeof err) < 0) {
        error_setg(errp, "helix-frame-export: %s", err);
        return;
    }
    if (!hfx->listen) {
        hfx->listen = g_strdup(scfg.listen[0]);
    }
    hfx->running = true;
    hfx_frontend_init(&hfx->fe, &hfx_frontend_in_qemu, hfx->x.engine);
    hfx->exit.notify = report_at_exit;
    qemu_add_exit_notifier(&hfx->exit);
    /* -object is created before the devices; consoles exist once the
     * machine is done (or already, for object-add at run time). */
    if (phase_check(PHASE_MACHINE_READY)) {
        attach_consoles(hfx);
    } else {
        hfx->machine_done.notify = machine_done;
        qemu_add_machine_init_done_notifier(&hfx->machine_done);
    }
}

static void hfx_finalize(Object *obj)
{
    HfxExport *hfx = HFX_EXPORT(obj);
    if (hfx->running) {
        report_timing(hfx);
        for (int i = 0; i < hfx->nheads; i++) {
            unregister_displaychangelistener(&hfx->heads[i].dcl);
#ifdef CONFIG_OPENGL
            hfx_gl_reader_free(hfx->heads[i].gl);
#endif
        }
        hfx_exporter_stop(&hfx->x);
        hfx_frontend_fini(&hfx->fe);
        hfx_exporter_free(&hfx->x);
        qemu_remove_exit_notifier(&hfx->exit);
    }
    g_free(hfx->listen);
    g_free(hfx->encoder);
    g_free(hfx->secret_file);
    g_free(hfx->rendernode);
}

/* ---- properties ---- */

static char *get_listen(Object *obj, Error **errp)
{
    return g_strdup(HFX_EXPORT(obj)->listen);
}

static void set_listen(Object *obj, const char *value, Error **errp)
{
    HfxExport *hfx = HFX_EXPORT(obj);
    g_free(hfx->listen);
    hfx->listen = g_strdup(value);
}

static char *get_secret_file(Object *obj, Error **errp)
{
    return g_strdup(HFX_EXPORT(obj)->secret_file);
}

static void set_secret_file(Object *obj, const char *value, Error **errp)
{
    HfxExport *hfx = HFX_EXPORT(obj);
    g_free(hfx->secret_file);
    hfx->secret_file = g_strdup(value);
}

static char *get_rendernode(Object *obj, Error **errp)
{
    return g_strdup(HFX_EXPORT(obj)->rendernode);
}

static void set_rendernode(Object *obj, const char *value, Error **errp)
{
    HfxExport *hfx = HFX_EXPORT(obj);
    g_free(hfx->rendernode);
    hfx->rendernode = g_strdup(value);
}

static bool get_gl(Object *obj, Error **errp)
{
    return HFX_EXPORT(obj)->gl;
}

static void set_gl(Object *obj, bool value, Error **errp)
{
    HFX_EXPORT(obj)->gl = value;
}

static char *get_encoder(Object *obj, Error **errp)
{
    return g_strdup(HFX_EXPORT(obj)->encoder);
}

static void set_encoder(Object *obj, const char *value, Error **errp)
{
    HfxExport *hfx = HFX_EXPORT(obj);
    g_free(hfx->encoder);
    hfx->encoder = g_strdup(value);
}

static char *get_stats(Object *obj, Error **errp)
{
    return timing_text(HFX_EXPORT(obj));
}

/* A uint32 field of the instance; QOM's *_uint32_ptr helpers take a pointer
 * shared by the class, so per-object fields go through an offset. */
static void access_u32(Object *obj, Visitor *v, const char *name, void *opaque, Error **errp)
{
    visit_type_uint32(v, name, (uint32_t *)((char *)obj + (uintptr_t)opaque), errp);
}

static void add_u32(ObjectClass *oc, const char *name, size_t offset, const char *description)
{
    object_class_property_add(oc, name, "uint32", access_u32, access_u32, NULL,
                              (void *)(uintptr_t)offset);
    object_class_property_set_description(oc, name, description);
}

static bool hfx_can_be_deleted(UserCreatable *uc)
{
    return false;
}

static void hfx_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    ucc->complete = hfx_complete;
    ucc->can_be_deleted = hfx_can_be_deleted;
    object_class_property_add_str(oc, "listen", get_listen, set_listen);
    object_class_property_set_description(oc, "listen",
        "tcp:HOST:PORT, unix:PATH or vsock:CID:PORT (default tcp:127.0.0.1:15937); "
        "append ,,v1=off to serve only clients with a token");
    object_class_property_add_str(oc, "secret-file", get_secret_file, set_secret_file);
    object_class_property_set_description(oc, "secret-file",
        "the secret access tokens derive from, created if missing (default: random per run)");
    object_class_property_add_bool(oc, "gl", get_gl, set_gl);
    object_class_property_set_description(oc, "gl",
        "be QEMU's GL display and read GL (virgl) heads back off the main thread "
        "(default off; with -display none)");
    object_class_property_add_str(oc, "rendernode", get_rendernode, set_rendernode);
    object_class_property_set_description(oc, "rendernode",
        "with gl=on: the DRM render node (default: the first; /dev/null: Mesa's software "
        "renderer)");
    object_class_property_add_str(oc, "encoder", get_encoder, set_encoder);
    object_class_property_set_description(
        oc, "encoder", "hybrid (default: x264 plus the P-slice writer), x264 or openh264");
    add_u32(oc, "quality", offsetof(HfxExport, quality),
            "QP of the P-slice writer and x264's CRF, 1..51 (default 23)");
    add_u32(oc, "bitrate", offsetof(HfxExport, bitrate), "bits/s (default: by resolution)");
    add_u32(oc, "threads", offsetof(HfxExport, threads), "encoder threads per head (default 1)");
    add_u32(oc, "idr-interval", offsetof(HfxExport, idr_interval),
            "an IDR at least every this many ms (default 0: only when needed)");
    add_u32(oc, "idle-refresh", offsetof(HfxExport, idle_refresh),
            "an all-skip frame after this many ms without one (default 0: off)");
    object_class_property_add_str(oc, "stats", get_stats, NULL);
    object_class_property_set_description(oc, "stats",
        "time spent inside QEMU's display callbacks");
}

static const TypeInfo hfx_info = {
    .name = TYPE_HFX_EXPORT,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(HfxExport),
    .instance_finalize = hfx_finalize,
    .class_init = hfx_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void hfx_register_types(void)
{
    type_register_static(&hfx_info);
}

type_init(hfx_register_types);
