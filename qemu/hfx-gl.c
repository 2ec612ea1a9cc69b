/*
 * helix-frame-export compiled into QEMU: GL (virgl) heads.
 *
 * With -device virtio-gpu-gl, what a head shows is a GL texture the guest
 * rendered through virglrenderer, on QEMU's main thread. A GL display
 * (egl-headless, D-Bus gl=on) reads it back there, synchronously: at
 * 5120x2880 a glReadPixels of 59 MB stalls the main loop, and with it every
 * vCPU's I/O and every other head, for the length of the copy. Here the
 * exporter is QEMU's GL display itself (the object's gl=on), and each head
 * has a reader thread with its own EGL context, sharing objects with the
 * device's: on the main thread an update only puts a fence behind the
 * guest's rendering (glFenceSync + glFlush, no wait) and records the damage;
 * the reader waits for the fence, reads the damaged rows of the texture
 * into the head's copy in memory and hands them to the engine, which
 * compares them with what was shown (a flip repaints everything, typing
 * changes a few tiles). Nothing on the main thread waits for the reader: the
 * lock between them is held only to swap the pending state and to call the
 * engine (which returns at once).
 *
 * Reading a texture the guest renders into again meanwhile can show parts
 * of the newer frame; the update that follows that frame reads it again, as
 * with 2D surfaces the guest writes while the engine converts.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/error-report.h"
#include "qemu/thread.h"
#include "system/system.h"
#include "ui/console.h"
#include "ui/egl-helpers.h"
#include "ui/egl-context.h"

#include "hfx-gl.h"

/* While a head is busy the reader looks for work every POLL_MS instead of
 * being woken: on a VM the main thread's wake-up of a sleeping thread
 * (futex, an IPI to an idle vCPU) took 0.6-1.6 ms one update in 40 under
 * load, measured inside dpy_gl_update, where polling costs it nothing. After
 * IDLE_POLLS looks that found nothing the reader sleeps until woken. */
#define POLL_MS 2
#define IDLE_POLLS 125

/* Reads in a row dropped because the guest flipped during them (torn). */
#define MAX_DROPS 2

/* A fence the guest's rendering never reaches (a wedged driver) must not
 * hold the reader forever: it reads what is there and goes on. */
#define FENCE_TIMEOUT_NS 1000000000ull

/* ---- QEMU's GL display ---- */

static const DisplayChangeListenerOps *own_listener;

static QEMUGLContext create_context(DisplayGLCtx *dgc, QEMUGLParams *params)
{
    /* qemu_egl_create_context shares objects with the current context: the
     * render node's, which the readers' contexts share with too. */
    eglMakeCurrent(qemu_egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, qemu_egl_rn_ctx);
    return qemu_egl_create_context(dgc, params);
}

/* Plain 2D listeners (VNC, ...) may attach beside, but see no GL scanout;
 * of GL listeners, only the exporter's. */
static bool is_compatible_dcl(DisplayGLCtx *dgc, DisplayChangeListener *dcl)
{
    return !dcl->ops->dpy_gl_update || dcl->ops == own_listener;
}

static const DisplayGLCtxOps gl_ctx_ops = {
    .dpy_gl_ctx_is_compatible_dcl = is_compatible_dcl,
    .dpy_gl_ctx_create = create_context,
    .dpy_gl_ctx_destroy = qemu_egl_destroy_context,
    .dpy_gl_ctx_make_current = qemu_egl_make_context_current,
};

static DisplayGLCtx gl_ctx = {.ops = &gl_ctx_ops};

bool hfx_gl_init(const char *rendernode, const DisplayChangeListenerOps *listener,
                 Error **errp)
{
    if (display_opengl) {
        error_setg(errp, "another display already provides OpenGL (-display egl-headless, "
                   "dbus,gl=on, ...): leave out gl=on, and the exporter takes what that display "
                   "reads back, or give -display none for the exporter's own readback");
        return false;
    }
    own_listener = listener;
    return egl_init(rendernode, DISPLAY_GL_MODE_ON, errp);
}

void hfx_gl_own_console(QemuConsole *con)
{
    qemu_console_set_display_gl_ctx(con, &gl_ctx);
}

/* ---- the head's copy in memory, shared with the engine ---- */

typedef struct Mirror {
    int refs;
    uint32_t width, height;
    size_t stride;
    bool bottom_up;             /* rows in the texture's order: see read_rect */
    uint8_t pixels[];
} Mirror;

/* The picture's top row and the step to the next, for the engine. */
static const uint8_t *mirror_top(const Mirror *m, int32_t *stride)
{
    *stride = m->bottom_up ? -(int32_t)m->stride : (int32_t)m->stride;
    return m->bottom_up ? m->pixels + (size_t)(m->height - 1) * m->stride : m->pixels;
}

static Mirror *mirror_ref(Mirror *m)
{
    qatomic_inc(&m->refs);
    return m;
}

/* Also the engine's release callback, on its worker. */
static void mirror_unref(void *opaque)
{
    Mirror *m = opaque;
    if (m && qatomic_fetch_dec(&m->refs) == 1) {
        g_free(m);
    }
}

/* ---- one head's reader ---- */

typedef struct Geometry {
    uint32_t texture, backing_width, backing_height, x, y, width, height;
    bool y0_top;                /* VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP: bottom-up (read_rect) */
} Geometry;

struct HfxGlReader {
    struct hfx_engine *engine;
    uint32_t scanout;
    EGLContext ctx;
    QemuThread thread;
    QemuMutex lock;
    QemuCond wake;

    /* Under lock: what the main thread asked for since the reader looked. */
    bool quit;
    bool asleep;                /* the reader waits for `wake`, not polling */
    bool shown;                 /* a GL scanout is set */
    uint32_t epoch;             /* bumped by a disable: older reads are dropped */
    uint32_t seen_epoch;        /* the reader's: the epoch its copy belongs to */
    Geometry want;
    bool retarget;              /* another texture: a flip or a new size */
    uint32_t flips;             /* scanouts set so far (torn) */
    bool dirty;                 /* an update came: read `damage` */
    struct hfx_rect damage;     /* bounding box of the updates, head coordinates */
    GLsync fence;               /* behind the newest update's rendering */

    /* The reader's own. */
    GLuint fbo;
    Mirror *mirror;
    Mirror *spare;              /* the other copy for whole reads (engine_let_go) */
    bool warned;                /* of a fence that timed out, once */
    int drops;                  /* reads dropped in a row (torn) */
    HfxTiming readbacks;        /* read by the statistics: a snapshot */
    uint64_t bytes;
};

static struct hfx_rect rect_union(struct hfx_rect a, struct hfx_rect b)
{
    if (a.w <= 0 || a.h <= 0) {
        return b;
    }
    int32_t x0 = MIN(a.x, b.x), y0 = MIN(a.y, b.y);
    int32_t x1 = MAX(a.x + a.w, b.x + b.w), y1 = MAX(a.y + a.h, b.y + b.h);
    return (struct hfx_rect){x0, y0, x1 - x0, y1 - y0};
}

static struct hfx_rect rect_clip(struct hfx_rect r, uint32_t width, uint32_t height)
{
    int32_t x0 = MAX(r.x, 0), y0 = MAX(r.y, 0);
    int32_t x1 = MIN(r.x + r.w, (int32_t)width), y1 = MIN(r.y + r.h, (int32_t)height);
    if (x1 <= x0 || y1 <= y0) {
        return (struct hfx_rect){0, 0, 0, 0};
    }
    return (struct hfx_rect){x0, y0, x1 - x0, y1 - y0};
}

/* Reads `r` (head coordinates, top row first) of the texture into the
 * mirror. glReadPixels gives the texture's rows from its row 0 up. Without
 * the device's Y_0_TOP flag row 0 is the picture's top; with it (GL's own
 * order, as the guest's rendering leaves it, and virgl's usual) row 0 is the
 * bottom: egl-headless flips when the flag is set. The mirror keeps the
 * texture's order, so either way the rows land with no copy, and the engine
 * is given a bottom-up mirror with a negative stride (mirror_top). */
static bool read_rect(HfxGlReader *rd, const Geometry *g, struct hfx_rect r)
{
    Mirror *m = rd->mirror;
    int tx = (int)g->x + r.x, ty, row;
    if (m->bottom_up) {
        ty = (int)g->backing_height - (int)g->y - r.y - r.h;
        row = (int)m->height - r.y - r.h;
    } else {
        ty = (int)g->y + r.y;
        row = r.y;
    }
    glPixelStorei(GL_PACK_ALIGNMENT, 4);
    glPixelStorei(GL_PACK_ROW_LENGTH, (GLint)(m->stride / 4));
    glReadPixels(tx, ty, r.w, r.h, GL_BGRA, GL_UNSIGNED_BYTE,
                 m->pixels + (size_t)row * m->stride + (size_t)r.x * 4);
    glPixelStorei(GL_PACK_ROW_LENGTH, 0);
    return glGetError() == GL_NO_ERROR;
}

static bool attach_texture(HfxGlReader *rd, GLuint texture)
{
    glBindFramebuffer(GL_READ_FRAMEBUFFER, rd->fbo);
    glFramebufferTexture2D(GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, texture, 0);
    return glCheckFramebufferStatus(GL_READ_FRAMEBUFFER) == GL_FRAMEBUFFER_COMPLETE;
}

/* How often the reader looks whether the engine has let go of its copy. */
#define ENGINE_POLL_US 200

/* The engine converts a copy handed to it later, on its worker: reading
 * the next frame into it meanwhile would give the stream a mix of two
 * frames (seen in CI as a frame whose number could not be read). A read
 * of the whole picture (a flip) goes into the reader's other copy instead
 * (swap_for_whole); otherwise, or when the engine holds both, the reader
 * waits until the worker has let go: at most a conversion and the encode
 * in progress. It polls because the worker's release callback cannot
 * reach a reader that may be gone by then; nothing on QEMU's main thread
 * waits for the reader. False when the reader is asked to quit. */
static bool engine_let_go(HfxGlReader *rd, Mirror *m)
{
    while (qatomic_read(&m->refs) > 1) {
        if (qatomic_read(&rd->quit)) {
            return false;
        }
        g_usleep(ENGINE_POLL_US);
    }
    return true;
}

static Mirror *mirror_new(const Geometry *g)
{
    size_t stride = (size_t)g->width * 4;
    Mirror *m = g_try_malloc0(sizeof(Mirror) + stride * g->height);
    if (m) {
        *m = (Mirror){.refs = 1, .width = g->width, .height = g->height, .stride = stride,
                      .bottom_up = g->y0_top};
    }
    return m;
}

/* A whole read while the engine holds the copy: into the other one, made
 * once (the same size: a new size drops it), so a guest that flips every
 * frame keeps its rate instead of waiting for each encode. Two copies at
 * most: with both held, the reader waits. */
static void swap_for_whole(HfxGlReader *rd, const Geometry *g)
{
    if (qatomic_read(&rd->mirror->refs) == 1) {
        return;
    }
    if (!rd->spare) {
        rd->spare = mirror_new(g);
    }
    if (rd->spare && qatomic_read(&rd->spare->refs) == 1) {
        Mirror *t = rd->mirror;
        rd->mirror = rd->spare;
        rd->spare = t;
    }
}

static void drop_copies(HfxGlReader *rd)
{
    mirror_unref(rd->mirror);
    mirror_unref(rd->spare);
    rd->mirror = rd->spare = NULL;
}

/* Outside the lock: waits for the guest's rendering and reads. Returns the
 * region read (empty when nothing could be). `fresh` says the mirror is new:
 * the engine must be given a new surface. */
static struct hfx_rect read_back(HfxGlReader *rd, const Geometry *g, bool retarget,
                                 struct hfx_rect damage, GLsync fence, bool *fresh)
{
    struct hfx_rect none = {0, 0, 0, 0};
    if (fence) {
        GLenum w = glClientWaitSync(fence, GL_SYNC_FLUSH_COMMANDS_BIT, FENCE_TIMEOUT_NS);
        glDeleteSync(fence);
        if (w == GL_TIMEOUT_EXPIRED && !rd->warned) {
            rd->warned = true;
            warn_report("helix-frame-export: head %u: the guest's rendering did not finish "
                        "within 1 s; reading the texture as it is", rd->scanout);
        }
    }
    if (retarget && !attach_texture(rd, g->texture)) {
        warn_report("helix-frame-export: head %u: texture %u cannot be read (framebuffer "
                    "incomplete)", rd->scanout, g->texture);
        return none;
    }
    *fresh = !rd->mirror || rd->mirror->width != g->width ||
             rd->mirror->height != g->height || rd->mirror->bottom_up != g->y0_top;
    if (*fresh) {
        Mirror *m = mirror_new(g);
        if (!m) {
            warn_report("helix-frame-export: head %u: no memory for a %ux%u copy", rd->scanout,
                        g->width, g->height);
            return none;
        }
        drop_copies(rd);
        rd->mirror = m;
    }
    if (*fresh || retarget) {
        /* Another buffer: all of it may differ. */
        damage = (struct hfx_rect){0, 0, (int32_t)g->width, (int32_t)g->height};
    }
    damage = rect_clip(damage, g->width, g->height);
    if (damage.w <= 0) {
        return none;
    }
    if (!*fresh && damage.w == (int32_t)g->width && damage.h == (int32_t)g->height) {
        swap_for_whole(rd, g);
    }
    if (!*fresh && !engine_let_go(rd, rd->mirror)) {
        return none;
    }
    int64_t t0 = hfx_timing_begin();
    if (!read_rect(rd, g, damage)) {
        warn_report("helix-frame-export: head %u: glReadPixels failed", rd->scanout);
        return none;
    }
    hfx_timing_end(&rd->readbacks, t0);
    qatomic_set(&rd->bytes, rd->bytes + (uint64_t)damage.w * damage.h * 4);
    return damage;
}

/* Under the lock, after a read: whether to drop it. The guest flipped
 * away while it was read (a double-buffered guest then draws into the
 * texture just read: the copy may hold parts of two frames) and a read of
 * the new buffer is due anyway. A new size's first read is always kept (the
 * engine needs the surface), and so is every MAX_DROPS+1th, so a guest that
 * flips faster than a frame is read is still shown. */
static bool torn(HfxGlReader *rd, bool fresh, uint32_t flips)
{
    if (fresh || rd->flips == flips || rd->drops >= MAX_DROPS) {
        rd->drops = 0;
        return false;
    }
    rd->drops++;
    return true;
}

/* Under the lock, so a disable on the main thread cannot come in between. */
static void hand_to_engine(HfxGlReader *rd, bool fresh, struct hfx_rect r)
{
    Mirror *m = rd->mirror;
    int32_t stride;
    const uint8_t *top = mirror_top(m, &stride);
    char err[256];
    if (fresh) {
        if (hfx_engine_scanout_set_deferred(rd->engine, rd->scanout, m->width, m->height,
                                            HFX_FMT_XRGB8888, top, stride, mirror_unref,
                                            mirror_ref(m), err, sizeof err) < 0) {
            mirror_unref(m);
            warn_report("helix-frame-export: head %u: %s", rd->scanout, err);
        }
    } else if (hfx_engine_scanout_compare_deferred(rd->engine, rd->scanout, top, stride, &r, 1,
                                                   mirror_unref, mirror_ref(m)) < 0) {
        mirror_unref(m);
    }
}

static void *reader_thread(void *opaque)
{
    HfxGlReader *rd = opaque;
    /* Woken by the main thread (after a quiet spell, see POLL_MS), like the
     * engine's workers, and for the same reason a batch thread: a normal
     * one, having slept, would preempt the main thread at the wake-up,
     * inside the device's callback. */
    struct sched_param param = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
    /* Named whatever QEMU's debug-threads says: scripts/bench-vm counts the
     * exporter's CPU by its threads' names (hfx-*). */
    char name[16];
    snprintf(name, sizeof name, "hfx-glread%u", rd->scanout);
    pthread_setname_np(pthread_self(), name);
    eglBindAPI(qemu_egl_mode == DISPLAY_GL_MODE_ES ? EGL_OPENGL_ES_API : EGL_OPENGL_API);
    if (!eglMakeCurrent(qemu_egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, rd->ctx)) {
        error_report("helix-frame-export: head %u: the reader's EGL context cannot be made "
                     "current (%s): this head's GL scanouts are not exported", rd->scanout,
                     qemu_egl_get_error_string());
        return NULL;
    }
    glGenFramebuffers(1, &rd->fbo);
    int idle = IDLE_POLLS;
    qemu_mutex_lock(&rd->lock);
    for (;;) {
        while (!rd->quit && !(rd->shown && rd->dirty) && rd->seen_epoch == rd->epoch) {
            if (idle < IDLE_POLLS) {
                idle++;
                qemu_cond_timedwait(&rd->wake, &rd->lock, POLL_MS);
            } else {
                rd->asleep = true;
                qemu_cond_wait(&rd->wake, &rd->lock);
                rd->asleep = false;
            }
        }
        idle = 0;
        if (rd->quit) {
            break;
        }
        if (rd->seen_epoch != rd->epoch) {
            /* Disabled since: the engine has let go of the head, so does the
             * reader (of its copy, and of the texture, which the framebuffer
             * would keep alive); whatever comes next is a new surface. */
            rd->seen_epoch = rd->epoch;
            drop_copies(rd);
            glFramebufferTexture2D(GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, 0, 0);
            continue;
        }
        Geometry g = rd->want;
        bool retarget = rd->retarget;
        struct hfx_rect damage = rd->damage;
        GLsync fence = rd->fence;
        uint32_t epoch = rd->epoch, flips = rd->flips;
        rd->retarget = rd->dirty = false;
        rd->damage = (struct hfx_rect){0, 0, 0, 0};
        rd->fence = NULL;
        qemu_mutex_unlock(&rd->lock);

        bool fresh = false;
        struct hfx_rect done = read_back(rd, &g, retarget, damage, fence, &fresh);

        qemu_mutex_lock(&rd->lock);
        if (done.w > 0 && epoch == rd->epoch && !torn(rd, fresh, flips)) {
            hand_to_engine(rd, fresh, done);
        } else if (retarget && done.w <= 0) {
            rd->retarget = true;    /* attach again with the next update */
        }
    }
    if (rd->fence) {
        glDeleteSync(rd->fence);
        rd->fence = NULL;
    }
    qemu_mutex_unlock(&rd->lock);
    glDeleteFramebuffers(1, &rd->fbo);
    eglMakeCurrent(qemu_egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    return NULL;
}

HfxGlReader *hfx_gl_reader_new(struct hfx_engine *engine, uint32_t scanout, Error **errp)
{
    static const EGLint core[] = {
        EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL_NONE,
    };
    static const EGLint gles[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
    EGLContext ctx = eglCreateContext(qemu_egl_display, qemu_egl_config, qemu_egl_rn_ctx,
                                      qemu_egl_mode == DISPLAY_GL_MODE_ES ? gles : core);
    if (ctx == EGL_NO_CONTEXT) {
        error_setg(errp, "no EGL context for the reader: %s", qemu_egl_get_error_string());
        return NULL;
    }
    HfxGlReader *rd = g_new0(HfxGlReader, 1);
    rd->engine = engine;
    rd->scanout = scanout;
    rd->ctx = ctx;
    qemu_mutex_init(&rd->lock);
    qemu_cond_init(&rd->wake);
    qemu_thread_create(&rd->thread, "hfx-glread", reader_thread, rd, QEMU_THREAD_JOINABLE);
    return rd;
}

void hfx_gl_reader_free(HfxGlReader *rd)
{
    if (!rd) {
        return;
    }
    qemu_mutex_lock(&rd->lock);
    rd->quit = true;
    qemu_cond_signal(&rd->wake);
    qemu_mutex_unlock(&rd->lock);
    qemu_thread_join(&rd->thread);
    eglDestroyContext(qemu_egl_display, rd->ctx);
    drop_copies(rd);
    qemu_cond_destroy(&rd->wake);
    qemu_mutex_destroy(&rd->lock);
    g_free(rd);
}

void hfx_gl_reader_scanout(HfxGlReader *rd, uint32_t texture, bool y0_top,
                           uint32_t backing_width, uint32_t backing_height, uint32_t x,
                           uint32_t y, uint32_t width, uint32_t height)
{
    if (!texture || !width || !height || x > backing_width || width > backing_width - x ||
        y > backing_height || height > backing_height - y) {
        warn_report("helix-frame-export: head %u: GL scanout %ux%u at %u,%u of a %ux%u "
                    "texture ignored", rd->scanout, width, height, x, y, backing_width,
                    backing_height);
        return;
    }
    qemu_mutex_lock(&rd->lock);
    rd->want = (Geometry){texture, backing_width, backing_height, x, y, width, height, y0_top};
    rd->retarget = true;
    rd->flips++;
    rd->shown = true;
    /* Read at the update that follows, when the guest has drawn. */
    qemu_mutex_unlock(&rd->lock);
}

/* The main thread's GL calls go to the device's current context (the one
 * that rendered: a fence there follows the guest's drawing). With none
 * current, the render node's is borrowed, and given back by give_back. */
static bool borrow_context(void)
{
    if (eglGetCurrentContext() != EGL_NO_CONTEXT) {
        return false;
    }
    eglMakeCurrent(qemu_egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, qemu_egl_rn_ctx);
    return true;
}

static void give_back(bool borrowed)
{
    if (borrowed) {
        eglMakeCurrent(qemu_egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    }
}

void hfx_gl_reader_update(HfxGlReader *rd, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    bool borrowed = borrow_context();
    GLsync fence = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
    glFlush();
    qemu_mutex_lock(&rd->lock);
    GLsync old = rd->fence;
    if (rd->shown) {
        struct hfx_rect r = {(int32_t)MIN(x, (uint32_t)INT32_MAX),
                             (int32_t)MIN(y, (uint32_t)INT32_MAX),
                             (int32_t)MIN(w, (uint32_t)INT32_MAX),
                             (int32_t)MIN(h, (uint32_t)INT32_MAX)};
        rd->damage = rect_union(rd->damage, rect_clip(r, rd->want.width, rd->want.height));
        rd->fence = fence;
        rd->dirty = true;
    } else {
        old = fence;
    }
    bool asleep = rd->asleep;
    qemu_mutex_unlock(&rd->lock);
    if (asleep) {
        /* Only after a quiet spell: a busy reader polls (POLL_MS). */
        qemu_cond_signal(&rd->wake);
    }
    if (old) {
        glDeleteSync(old);
    }
    give_back(borrowed);
}

void hfx_gl_reader_disable(HfxGlReader *rd)
{
    qemu_mutex_lock(&rd->lock);
    GLsync old = rd->fence;
    bool was_shown = rd->shown;
    rd->fence = NULL;
    rd->shown = rd->dirty = rd->retarget = false;
    rd->epoch++;
    if (was_shown) {
        hfx_engine_scanout_disable(rd->engine, rd->scanout);
    }
    qemu_cond_signal(&rd->wake);
    qemu_mutex_unlock(&rd->lock);
    if (old) {
        bool borrowed = borrow_context();
        glDeleteSync(old);
        give_back(borrowed);
    }
}

const HfxTiming *hfx_gl_reader_timing(const HfxGlReader *rd)
{
    return &rd->readbacks;
}

uint64_t hfx_gl_reader_bytes(const HfxGlReader *rd)
{
    return qatomic_read(&rd->bytes);
}
