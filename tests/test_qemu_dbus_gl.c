/* The D-Bus front end's GL heads (src/frontend/qemu_dbus.c, dmabuf.c):
 * QEMU's ScanoutDMABUF (10.0), ScanoutDMABUF2 (10.1 on) and UpdateDMABUF,
 * driven through real GDBus peer-to-peer connections exactly as QEMU
 * 10.0.2's ui/dbus-listener.c makes them: a fake QEMU in this process
 * answers hfx's QMP getfd/add_client, serves org.qemu.Display1.VM and
 * Console_0 on the peer-to-peer connection, and on RegisterListener takes
 * the listener's socket as the authenticating server, replies, and reads
 * the listener's properties as QEMU's proxy does. It then calls the
 * listener with QEMU's methods, signatures and fd lists: ScanoutDMABUF(2)
 * without waiting for a reply (QEMU passes no callback), UpdateDMABUF
 * waiting for it (QEMU holds the guest's GL rendering back until then).
 *
 * The buffers are memfds: a memfd maps like a linear DMABUF, and refuses
 * DMA_BUF_IOCTL_SYNC (ENOTTY), which the front end must tolerate. What the
 * engine receives is checked by decoding its H.264 output: the frame number
 * the synthetic workload stamps into each picture is read back where it was
 * drawn and the picture's luma compared with a re-creation of that frame,
 * so a picture upside down, shifted or from the wrong part of the buffer
 * fails. Checked: top-down and bottom-up (y0_top) buffers, page flips
 * between two buffers and damage within one, ScanoutDMABUF2's picture at an
 * offset inside a larger buffer; bad input refused with its reason (buffer
 * too small, stride too small, absurd sizes, no fd, a pipe for an fd, an
 * unknown fourcc, a non-linear modifier with what to do instead, several
 * planes), the stream ending rather than showing a stale buffer, the same
 * refusal logged once; GL updates without any DMABUF scanout (QEMU could
 * not export its texture) answered at once with a one-time explanation.
 * Input (apply_input): the console's Keyboard and Mouse called in order,
 * with QEMU's key numbers and button numbers, a position clamped to the
 * surface, wheel steps as wheel-button clicks; a relative-only pointer's
 * refusals said once.
 *
 * This is not an end-to-end test. On this machine no DMABUF can reach the
 * front end from a real QEMU: QEMU 10.0.2 sends a GL scanout only after
 * eglExportDMABUFImageMESA gives it a DMABUF of the texture, and Mesa's
 * software renderer (llvmpipe: there is no GPU, no /dev/dri, no udmabuf
 * and no DMA heap here) exports none, so QEMU logs "dbus_scanout_texture:
 * failed to get fd for texture" and sends only UpdateDMABUF (docs/
 * architecture.md). What a real QEMU with a GPU would add is the DMABUF
 * itself, which this test replaces with a memfd. The nearest to end to end
 * here is e2e_qemu.py dbus-10.0-gl: the real QEMU and guest, with
 * tests/gl_export_shim.c standing in for the export inside QEMU. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "collector.h"
#include "client/decode.h"
#include "client/verify.h"
#include "engine/engine.h"
#include "frontend/dmabuf.h"
#include "frontend/qemu_dbus.h"
#include "source/synth.h"

#define LISTENER_PATH "/org/qemu/Display1/Listener"
#define LISTENER_IFACE "org.qemu.Display1.Listener"
#define DMABUF2_IFACE "org.qemu.Display1.Listener.Unix.ScanoutDMABUF2"
#define W 640
#define H 480

/* ---- a fake QEMU: QMP add_client, the display objects, RegisterListener ---- */

static const char qemu_xml[] =
    "<node><interface name='org.qemu.Display1.VM'>"
    "<property name='ConsoleIDs' type='au' access='read'/></interface>"
    "<interface name='org.qemu.Display1.Console'>"
    "<method name='RegisterListener'><arg type='h' direction='in'/></method>"
    "<method name='SetUIInfo'><arg type='q' direction='in'/><arg type='q' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/></method>"
    "<property name='Type' type='s' access='read'/>"
    "<property name='Width' type='u' access='read'/>"
    "<property name='Height' type='u' access='read'/></interface>"
    "<interface name='org.qemu.Display1.Keyboard'>"
    "<method name='Press'><arg type='u' direction='in'/></method>"
    "<method name='Release'><arg type='u' direction='in'/></method></interface>"
    "<interface name='org.qemu.Display1.Mouse'>"
    "<method name='Press'><arg type='u' direction='in'/></method>"
    "<method name='Release'><arg type='u' direction='in'/></method>"
    "<method name='SetAbsPosition'><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/></method></interface></node>";

struct fake_qemu {
    char dir[64], qmp_path[96];
    int listen_fd;
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    GDBusNodeInfo *info;
    GDBusConnection *display;
    GMutex lock;
    GCond cond;
    GDBusConnection *listener;  /* QEMU's end of the listener connection */
    GVariant *listener_props;   /* what GetAll on the listener said */
    /* Keyboard and Mouse calls as "Iface.Method args", in arrival order;
     * with `relative`, SetAbsPosition is refused as QEMU refuses it. */
    GString *input;
    bool relative;
};

static GVariant *fake_get_property(GDBusConnection *conn, const char *sender, const char *path,
                                   const char *iface, const char *name, GError **error,
                                   gpointer data)
{
    static const guint32 ids[] = {0};
    if (!strcmp(name, "ConsoleIDs"))
        return g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, ids, 1, sizeof ids[0]);
    if (!strcmp(name, "Type"))
        return g_variant_new_string("Graphic");
    if (!strcmp(name, "Width"))
        return g_variant_new_uint32(W);
    if (!strcmp(name, "Height"))
        return g_variant_new_uint32(H);
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "%s", name);
    return NULL;
}

/* As ui/dbus-console.c: reply, then authenticate as the server on the
 * listener's socket, then read its properties (QEMU's generated proxy does
 * GetAll, then dbus_display_listener_setup_* look at Interfaces). */
static void fake_method(GDBusConnection *conn, const char *sender, const char *path,
                        const char *iface, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv, gpointer data)
{
    struct fake_qemu *f = data;
    if (strstr(iface, ".Keyboard") || strstr(iface, ".Mouse")) {
        char *args = g_variant_print(params, FALSE);
        g_mutex_lock(&f->lock);
        g_string_append_printf(f->input, "%s.%s%s;", strrchr(iface, '.') + 1, method, args);
        bool refuse = f->relative && !strcmp(method, "SetAbsPosition");
        g_mutex_unlock(&f->lock);
        g_free(args);
        if (refuse)
            g_dbus_method_invocation_return_dbus_error(inv, "org.qemu.Display1.Error.Invalid",
                                                       "Mouse is not absolute");
        else
            g_dbus_method_invocation_return_value(inv, NULL);
        return;
    }
    if (strcmp(method, "RegisterListener")) {
        g_dbus_method_invocation_return_value(inv, NULL);
        return;
    }
    gint32 handle;
    g_variant_get(params, "(h)", &handle);
    GUnixFDList *fds = g_dbus_message_get_unix_fd_list(g_dbus_method_invocation_get_message(inv));
    int fd = fds ? g_unix_fd_list_get(fds, handle, NULL) : -1;
    g_dbus_method_invocation_return_value(inv, NULL);
    GSocket *sock = fd >= 0 ? g_socket_new_from_fd(fd, NULL) : NULL;
    CHECK(sock, "RegisterListener without a socket");
    if (!sock)
        return;
    GSocketConnection *sc = g_socket_connection_factory_create_connection(sock);
    char *guid = g_dbus_generate_guid();
    GError *e = NULL;
    GDBusConnection *l = g_dbus_connection_new_sync(
        G_IO_STREAM(sc), guid, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER, NULL, NULL, &e);
    g_free(guid);
    g_object_unref(sc);
    g_object_unref(sock);
    CHECK(l, "listener handshake: %s", e ? e->message : "");
    GVariant *props = l ? g_dbus_connection_call_sync(
                              l, NULL, LISTENER_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                              g_variant_new("(s)", LISTENER_IFACE), G_VARIANT_TYPE("(a{sv})"),
                              G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL)
                        : NULL;
    g_mutex_lock(&f->lock);
    f->listener = l;
    f->listener_props = props;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static const GDBusInterfaceVTable fake_vtable = {.method_call = fake_method,
                                                 .get_property = fake_get_property};

/* One QMP line (the fd QEMU's getfd takes comes with it). */
static int qmp_line(int fd, char *buf, size_t len, int *passed)
{
    size_t n = 0;
    while (n + 1 < len) {
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = buf + n, .iov_len = 1};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        if (recvmsg(fd, &mh, 0) != 1)
            return -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (cm && cm->cmsg_type == SCM_RIGHTS)
            memcpy(passed, CMSG_DATA(cm), sizeof(int));
        if (buf[n] == '\n') {
            buf[n] = 0;
            return 0;
        }
        n++;
    }
    return -1;
}

static gpointer fake_main(gpointer data)
{
    struct fake_qemu *f = data;
    g_main_context_push_thread_default(f->ctx);
    int qmp = accept(f->listen_fd, NULL, NULL);
    static const char greeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n";
    static const char ok[] = "{\"return\": {}}\n";
    int dbus_fd = -1;
    char line[4096];
    if (qmp < 0 || write(qmp, greeting, strlen(greeting)) < 0)
        return NULL;
    while (qmp_line(qmp, line, sizeof line, &dbus_fd) == 0) {
        if (write(qmp, ok, strlen(ok)) < 0 || strstr(line, "add_client"))
            break;
    }
    close(qmp);
    CHECK(dbus_fd >= 0, "no fd came with getfd");
    GSocket *sock = g_socket_new_from_fd(dbus_fd, NULL);
    GSocketConnection *sc = g_socket_connection_factory_create_connection(sock);
    char *guid = g_dbus_generate_guid();
    f->display = g_dbus_connection_new_sync(
        G_IO_STREAM(sc), guid,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER |
            G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
        NULL, NULL, NULL);
    g_free(guid);
    g_object_unref(sc);
    g_object_unref(sock);
    CHECK(f->display, "the display connection's handshake failed");
    if (f->display) {
        g_dbus_connection_register_object(f->display, "/org/qemu/Display1/VM",
                                          f->info->interfaces[0], &fake_vtable, f, NULL, NULL);
        for (int i = 1; i <= 3; i++)
            g_dbus_connection_register_object(f->display, "/org/qemu/Display1/Console_0",
                                              f->info->interfaces[i], &fake_vtable, f, NULL, NULL);
        g_dbus_connection_start_message_processing(f->display);
        g_main_loop_run(f->loop);
    }
    g_main_context_pop_thread_default(f->ctx);
    return NULL;
}

static void fake_start(struct fake_qemu *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hfx-gl-test-XXXXXX");
    CHECK(mkdtemp(f->dir), "mkdtemp: %s", strerror(errno));
    snprintf(f->qmp_path, sizeof f->qmp_path, "%s/qmp.sock", f->dir);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", f->qmp_path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(bind(f->listen_fd, (struct sockaddr *)&un, sizeof un) == 0 &&
              listen(f->listen_fd, 1) == 0, "QMP socket: %s", strerror(errno));
    f->info = g_dbus_node_info_new_for_xml(qemu_xml, NULL);
    f->ctx = g_main_context_new();
    f->loop = g_main_loop_new(f->ctx, FALSE);
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->input = g_string_new("");
    f->thread = g_thread_new("fake-qemu", fake_main, f);
}

static void fake_stop(struct fake_qemu *f)
{
    g_main_loop_quit(f->loop);
    g_thread_join(f->thread);
    if (f->listener) {
        g_dbus_connection_close_sync(f->listener, NULL, NULL);
        g_object_unref(f->listener);
    }
    if (f->display) {
        g_dbus_connection_close_sync(f->display, NULL, NULL);
        g_object_unref(f->display);
    }
    if (f->listener_props)
        g_variant_unref(f->listener_props);
    g_main_loop_unref(f->loop);
    g_main_context_unref(f->ctx);
    g_dbus_node_info_unref(f->info);
    g_string_free(f->input, TRUE);
    close(f->listen_fd);
    unlink(f->qmp_path);
    rmdir(f->dir);
}

/* ---- calling the listener as QEMU does ---- */

/* A method call on the listener with `fd` (when >= 0) in its fd list.
 * QEMU's ScanoutDMABUF(2) go without a callback, so GDBus sends them
 * NO_REPLY_EXPECTED (`wait` false); the others wait for the reply: true,
 * or false with its error in err. */
static bool call(GDBusConnection *l, const char *iface, const char *method, GVariant *args,
                 int fd, bool wait, char *err, size_t errlen)
{
    GUnixFDList *fds = NULL;
    if (fd >= 0) {
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        fds = g_unix_fd_list_new_from_array(&dup, 1);
    }
    err[0] = 0;
    if (!wait) {
        g_dbus_connection_call_with_unix_fd_list(l, NULL, LISTENER_PATH, iface, method, args, NULL,
                                                 G_DBUS_CALL_FLAGS_NONE, -1, fds, NULL, NULL,
                                                 NULL);
        if (fds)
            g_object_unref(fds);
        return true;
    }
    GError *e = NULL;
    GVariant *r = g_dbus_connection_call_with_unix_fd_list_sync(
        l, NULL, LISTENER_PATH, iface, method, args, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, fds, NULL,
        NULL, &e);
    if (fds)
        g_object_unref(fds);
    if (!r) {
        snprintf(err, errlen, "%s", e->message);
        g_error_free(e);
        return false;
    }
    g_variant_unref(r);
    return true;
}

/* Where a test buffer holds the picture, as QEMU would describe it. */
struct layout {
    uint32_t x, y, bw, bh, offset, stride;
    bool y0_top;
    bool v2;
};

static GVariant *scanout_args(const struct layout *l, uint32_t w, uint32_t h, uint32_t fourcc,
                              uint64_t modifier, uint32_t planes)
{
    if (!l->v2)
        return g_variant_new("(huuuutb)", 0, w, h, l->stride, fourcc, modifier, l->y0_top);
    GVariantBuilder fdb;
    g_variant_builder_init(&fdb, G_VARIANT_TYPE("ah"));
    for (uint32_t i = 0; i < planes; i++)
        g_variant_builder_add(&fdb, "h", 0);
    guint32 offsets[4] = {l->offset, l->offset, l->offset, l->offset};
    guint32 strides[4] = {l->stride, l->stride, l->stride, l->stride};
    return g_variant_new(
        "(@ahuuuu@au@auuuuutb)", g_variant_builder_end(&fdb), l->x, l->y, w, h,
        g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, offsets, planes, sizeof(guint32)),
        g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, strides, planes, sizeof(guint32)),
        planes, fourcc, l->bw, l->bh, modifier, l->y0_top);
}

static bool scanout(GDBusConnection *conn, const struct layout *l, int fd, uint32_t w, uint32_t h,
                    uint32_t fourcc, uint64_t modifier, uint32_t planes, bool wait, char *err,
                    size_t errlen)
{
    return call(conn, l->v2 ? DMABUF2_IFACE : LISTENER_IFACE,
                l->v2 ? "ScanoutDMABUF2" : "ScanoutDMABUF",
                scanout_args(l, w, h, fourcc, modifier, planes), fd, wait, err, errlen);
}

static bool update(GDBusConnection *conn, int32_t x, int32_t y, int32_t w, int32_t h)
{
    char err[256];
    bool ok = call(conn, LISTENER_IFACE, "UpdateDMABUF", g_variant_new("(iiii)", x, y, w, h), -1,
                   true, err, sizeof err);
    CHECK(ok, "UpdateDMABUF refused: %s", err);
    return ok;
}

/* ---- the engine's side: packets collected (collector.h), decoded, checked ---- */

/* Decodes what came since the last check: every picture right (its stamp
 * read where the workload drew it, PSNR against that frame re-drawn), in
 * order, the last one frame `final`. */
static void check_frames(struct collector *c, int *checked, struct hfx_decoder *d,
                         struct hfx_verify *v, const char *what, uint32_t final)
{
    col_settle(c);
    int64_t last = -1;
    double worst = 99;
    int bad = 0;
    pthread_mutex_lock(&c->lock);
    int from = *checked;
    for (int i = from; i < c->n; i++) {
        struct hfx_decoded pic;
        if (hfx_decoder_decode(d, c->pkts[i]->au, c->pkts[i]->au_size, &pic) != 1) {
            bad++;
            continue;
        }
        int64_t n = hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width, pic.height);
        double p = hfx_verify_psnr(v, &pic, n);
        CHECK(n >= last, "%s: frame number went from %lld to %lld", what, (long long)last,
              (long long)n);
        worst = p < worst ? p : worst;
        last = n;
    }
    *checked = c->n;
    pthread_mutex_unlock(&c->lock);
    fprintf(stderr, "  %s: %d frames, last #%lld, worst PSNR %.1f dB\n", what, *checked - from,
            (long long)last, worst);
    CHECK(*checked > from && !bad, "%s: %d frames, %d undecodable", what, *checked - from, bad);
    CHECK(last == final, "%s: the last frame shows #%lld, the guest drew #%u", what,
          (long long)last, final);
    CHECK(worst >= 30, "%s: worst luma PSNR %.1f dB (the picture is not what was drawn)", what,
          worst);
}

/* ---- buffers ---- */

struct buffer {
    int fd;
    uint8_t *p;
    size_t size;
};

static struct buffer buffer_new(size_t size)
{
    struct buffer b = {.fd = memfd_create("dmabuf", MFD_CLOEXEC), .size = size};
    CHECK(b.fd >= 0 && ftruncate(b.fd, (off_t)size) == 0, "memfd: %s", strerror(errno));
    b.p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
    CHECK(b.p != MAP_FAILED, "mmap: %s", strerror(errno));
    memset(b.p, 0xa5, size);    /* around the picture: not a picture */
    return b;
}

static void buffer_free(struct buffer *b)
{
    munmap(b->p, b->size);
    close(b->fd);
}

/* Writes the synth's current frame where l says the picture is. */
static void draw(struct buffer *b, const struct layout *l, struct hfx_synth *s)
{
    for (uint32_t r = 0; r < H; r++) {
        uint32_t m = l->y0_top ? l->bh - 1 - (l->y + r) : l->y + r;
        memcpy(b->p + l->offset + (size_t)m * l->stride + (size_t)l->x * 4,
               hfx_synth_pixels(s) + (size_t)r * hfx_synth_stride(s), (size_t)W * 4);
    }
}

/* A run of the typing workload the way a guest shows it on a GL head:
 * page flips (a frame drawn whole into the other buffer, ScanoutDMABUF of
 * it, UpdateDMABUF of all of it), then damage drawn into the buffer shown
 * (UpdateDMABUF of the synth's rectangles). QEMU's rectangles are in the
 * buffer's coordinates, so they start at the picture's x, y. */
static void run_phase(GDBusConnection *l, struct buffer bufs[2], const struct layout *lay,
                      struct hfx_synth *s, int flips, int damage)
{
    char err[256];
    int shown = 0;
    for (int i = 0; i < flips; i++) {
        struct hfx_rect r[8];
        hfx_synth_next(s, r, 8);
        shown = (i + 1) % 2;
        draw(&bufs[shown], lay, s);
        scanout(l, lay, bufs[shown].fd, W, H, HFX_FMT_XRGB8888, HFX_DRM_FORMAT_MOD_LINEAR, 1,
                false, err, sizeof err);
        update(l, (int32_t)lay->x, (int32_t)lay->y, W, H);
        sleep_ms(15);
    }
    for (int i = 0; i < damage; i++) {
        struct hfx_rect r[8];
        int n = hfx_synth_next(s, r, 8);
        draw(&bufs[shown], lay, s);
        for (int k = 0; k < n; k++)
            update(l, r[k].x + (int32_t)lay->x, r[k].y + (int32_t)lay->y, r[k].w, r[k].h);
        sleep_ms(15);
    }
}

/* ---- the log, to check what is said and how often ---- */

static int saved_stderr = -1, log_fd = -1;

static void capture_log(void)
{
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    log_fd = memfd_create("log", MFD_CLOEXEC);
    dup2(log_fd, STDERR_FILENO);
}

/* Occurrences of `what` in the log so far. */
static int logged(const char *what)
{
    fflush(stderr);
    off_t len = lseek(log_fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    if (pread(log_fd, text, (size_t)len, 0) < 0)
        text[0] = 0;
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    free(text);
    return n;
}

/* Back to the real stderr, with what was captured. */
static void release_log(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    off_t len = lseek(log_fd, 0, SEEK_END);
    char buf[4096];
    for (off_t at = 0; at < len;) {
        ssize_t r = pread(log_fd, buf, sizeof buf, at);
        if (r <= 0 || write(STDERR_FILENO, buf, (size_t)r) < 0)
            break;
        at += r;
    }
    close(log_fd);
    close(saved_stderr);
}

/* ---- input: what the fake QEMU's Keyboard and Mouse were called with ---- */

static bool input_calls(struct fake_qemu *f, const char *want, int timeout_ms, char *got,
                        size_t len)
{
    for (int waited = 0;; waited += 10) {
        g_mutex_lock(&f->lock);
        bool ok = !strcmp(f->input->str, want);
        snprintf(got, len, "%s", f->input->str);
        g_mutex_unlock(&f->lock);
        if (ok || waited >= timeout_ms)
            return ok;
        sleep_ms(10);
    }
}

static void send_input(struct hfx_engine *e, int kind, bool down, uint32_t code, int32_t x,
                       int32_t y)
{
    char err[160];
    struct hfx_input ev = {.scanout = 0, .kind = (uint8_t)kind, .down = down, .code = code,
                           .x = x, .y = y};
    CHECK(hfx_engine_input(e, &ev, err, sizeof err) == 0, "input refused: %s", err);
}

/* The console shows a W x H surface. */
static void test_input(struct fake_qemu *f, struct hfx_engine *e)
{
    char got[1024];
    send_input(e, HFX_INPUT_KEY, true, 103, 0, 0); /* KEY_UP: E0 48, qnum 0xc8 */
    send_input(e, HFX_INPUT_KEY, false, 103, 0, 0);
    send_input(e, HFX_INPUT_POINTER, false, 0, 5000, 10);
    send_input(e, HFX_INPUT_BUTTON, true, HFX_BUTTON_RIGHT, 0, 0);
    send_input(e, HFX_INPUT_BUTTON, false, HFX_BUTTON_RIGHT, 0, 0);
    send_input(e, HFX_INPUT_WHEEL, false, 0, 1, -2);
    static const char want[] =
        "Keyboard.Press(200,);Keyboard.Release(200,);Mouse.SetAbsPosition(639, 10);"
        "Mouse.Press(2,);Mouse.Release(2,);Mouse.Press(8,);Mouse.Release(8,);"
        "Mouse.Press(3,);Mouse.Release(3,);Mouse.Press(3,);Mouse.Release(3,);";
    CHECK(input_calls(f, want, 5000, got, sizeof got), "input calls:\n  got  %s\n  want %s",
          got, want);
    g_mutex_lock(&f->lock);
    g_string_truncate(f->input, 0);
    f->relative = true;
    g_mutex_unlock(&f->lock);
    send_input(e, HFX_INPUT_POINTER, false, 0, 1, 2);
    send_input(e, HFX_INPUT_POINTER, false, 0, 3, 4);
    input_calls(f, "Mouse.SetAbsPosition(1, 2);Mouse.SetAbsPosition(3, 4);", 5000, got,
                sizeof got);
    sleep_ms(100); /* the refusals' replies */
    CHECK(logged("takes no absolute pointer positions") == 1,
          "a relative-only pointer was said %d times, want 1",
          logged("takes no absolute pointer positions"));
    g_mutex_lock(&f->lock);
    f->relative = false;
    g_mutex_unlock(&f->lock);
}

/* ---- the layout checks on their own: byte ranges ---- */

static void test_layouts(void)
{
    struct hfx_dmabuf_layout l;
    bool nl;
    char err[256];
    /* Top-down at offset 64: rows 0..1 of a 3-row buffer. */
    struct hfx_dmabuf_desc d = {.width = 2, .height = 2, .backing_width = 4, .backing_height = 3,
                                .offset = 64, .stride = 16, .fourcc = HFX_FMT_XRGB8888};
    CHECK(hfx_dmabuf_layout(&d, 64 + 48, &l, &nl, err, sizeof err) == 0, "%s", err);
    CHECK(l.start == 64 && l.len == 16 + 8 && l.top == 0 && l.stride == 16,
          "top-down: start %llu len %llu top %llu stride %d", (unsigned long long)l.start,
          (unsigned long long)l.len, (unsigned long long)l.top, l.stride);
    /* Bottom-up, picture at 1,0: its top row is the buffer's last row. */
    d.x = 1;
    d.y0_top = true;
    CHECK(hfx_dmabuf_layout(&d, 64 + 48, &l, &nl, err, sizeof err) == 0, "%s", err);
    CHECK(l.start == 64 + 16 + 4 && l.len == 16 + 8 && l.top == 16 && l.stride == -16,
          "bottom-up: start %llu len %llu top %llu stride %d", (unsigned long long)l.start,
          (unsigned long long)l.len, (unsigned long long)l.top, l.stride);
    /* One byte short. */
    CHECK(hfx_dmabuf_layout(&d, 64 + 48 - 5, &l, &nl, err, sizeof err) < 0 &&
              strstr(err, "beyond the end"), "short buffer: %s", err);
    /* Overflow bait: the largest values still make a bounded refusal. */
    struct hfx_dmabuf_desc big = {.width = 8192, .height = 8192, .backing_width = 16384,
                                  .backing_height = 16384, .offset = 0xfffffffc,
                                  .stride = 16384 * 8, .fourcc = HFX_FMT_XRGB8888,
                                  .x = 8192, .y = 8192, .y0_top = true};
    CHECK(hfx_dmabuf_layout(&big, UINT64_MAX / 2, &l, &nl, err, sizeof err) == 0 &&
              l.start + l.len <= 0xfffffffcull + 16384ull * 8 * 16384,
          "largest layout: %s", err);
    d.modifier = 0x0200000000000001ull;
    CHECK(hfx_dmabuf_layout(&d, 1 << 20, &l, &nl, err, sizeof err) < 0 && nl &&
              strstr(err, "AMD"), "AMD modifier: %s", err);
}

int main(void)
{
    test_layouts();
    capture_log();
    struct fake_qemu f;
    fake_start(&f);
    struct collector col;
    col_init(&col);
    int checked = 0;
    char err[512];
    struct hfx_engine_config ecfg = {.max_scanouts = 1, .sink = &col_sink, .sink_data = &col};
    struct hfx_engine *e = hfx_engine_new(&ecfg, err, sizeof err);
    CHECK(e, "%s", err);
    char address[128];
    snprintf(address, sizeof address, "qmp:%s", f.qmp_path);
    struct hfx_qemu_dbus_config qcfg = {.address = address};
    struct hfx_qemu_dbus *q = hfx_qemu_dbus_start(e, &qcfg, err, sizeof err);
    CHECK(q && hfx_qemu_dbus_heads(q) == 1, "attach: %s", q ? "" : err);
    g_mutex_lock(&f.lock);
    gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    while (!f.listener_props && g_cond_wait_until(&f.cond, &f.lock, end))
        ;
    g_mutex_unlock(&f.lock);
    GDBusConnection *l = f.listener;
    CHECK(l && f.listener_props, "the listener did not register, or its properties not read");
    if (!q || !l || !f.listener_props) {
        release_log();
        return check_summary("qemu_dbus_gl");
    }

    /* What QEMU reads from the listener: Unix.Map for 2D (10.0) and
     * Unix.ScanoutDMABUF2 (10.1 on). */
    const char **ifaces = NULL;
    GVariant *props = g_variant_get_child_value(f.listener_props, 0);
    g_variant_lookup(props, "Interfaces", "^a&s", &ifaces);
    g_variant_unref(props);
    CHECK(ifaces && g_strv_contains(ifaces, "org.qemu.Display1.Listener.Unix.Map") &&
              g_strv_contains(ifaces, DMABUF2_IFACE), "Interfaces lacks Unix.Map or %s",
          DMABUF2_IFACE);
    g_free(ifaces);

    /* A GL console whose textures QEMU cannot export (this machine): only
     * UpdateDMABUF comes. Each is answered at once and successfully (an
     * error would only fill QEMU's log, once per frame); the log explains,
     * once. */
    for (int i = 0; i < 3; i++)
        update(l, 0, 0, W, H);
    CHECK(logged("no DMABUF scanout has come") == 1 && logged("inside QEMU") >= 1,
          "the GL console explanation was logged %d times, want 1",
          logged("no DMABUF scanout has come"));

    struct hfx_decoder *dec = hfx_decoder_new();
    struct hfx_verify *ver = hfx_verify_new(HFX_WL_TYPING);
    struct hfx_synth *s = hfx_synth_new(HFX_WL_TYPING, W, H);

    /* QEMU 10.0's ScanoutDMABUF, top-down (y0_top false: a 2D surface in a
     * texture), rows padded; then bottom-up (y0_top true: virgl's
     * resources, the guest's every buffer). */
    struct layout top = {.bw = W, .bh = H, .stride = W * 4 + 64};
    struct buffer v1[2] = {buffer_new((size_t)top.stride * H), buffer_new((size_t)top.stride * H)};
    struct hfx_rect r[8];
    hfx_synth_next(s, r, 8);
    draw(&v1[0], &top, s);
    scanout(l, &top, v1[0].fd, W, H, HFX_FMT_XRGB8888, HFX_DRM_FORMAT_MOD_INVALID, 1, false, err,
            sizeof err);
    update(l, 0, 0, W, H);
    hfx_engine_subscribe(e, 0, +1);
    run_phase(l, v1, &top, s, 20, 10);
    check_frames(&col, &checked, dec, ver, "ScanoutDMABUF top-down", hfx_synth_frame(s));
    test_input(&f, e);

    struct layout bottom = top;
    bottom.y0_top = true;
    run_phase(l, v1, &bottom, s, 20, 10);
    check_frames(&col, &checked, dec, ver, "ScanoutDMABUF bottom-up", hfx_synth_frame(s));

    /* QEMU 10.1's ScanoutDMABUF2: the picture at 40,30 of a 700x520
     * buffer, from offset 8192, both ways up. */
    struct layout inner = {.x = 40, .y = 30, .bw = 700, .bh = 520, .offset = 8192,
                           .stride = 700 * 4 + 128, .y0_top = true, .v2 = true};
    size_t inner_size = inner.offset + (size_t)inner.stride * inner.bh;
    struct buffer v2[2] = {buffer_new(inner_size), buffer_new(inner_size)};
    run_phase(l, v2, &inner, s, 20, 10);
    check_frames(&col, &checked, dec, ver, "ScanoutDMABUF2 bottom-up at 40,30", hfx_synth_frame(s));
    inner.y0_top = false;
    run_phase(l, v2, &inner, s, 20, 10);
    check_frames(&col, &checked, dec, ver, "ScanoutDMABUF2 top-down at 40,30", hfx_synth_frame(s));
    CHECK(col_ended(&col, 0) == 0, "the stream ended %d times during good input",
          col_ended(&col, 0));

    /* Bad input: refused with its reason, nothing unbounded read. The
     * first refusal ends the stream (the guest shows a buffer that cannot
     * be read); the UpdateDMABUFs after it are answered quietly. */
    static const struct {
        const char *what;
        struct layout lay;
        uint32_t w, h, fourcc, planes;
        uint64_t modifier;
        size_t size;    /* 0: the fd is a pipe; 1: no fd at all */
        const char *expect;
    } bad[] = {
        {"buffer too small", {.bw = W, .bh = H, .stride = W * 4}, W, H, HFX_FMT_XRGB8888, 1, 0,
         (size_t)W * 4 * H - 4, "beyond the end"},
        {"stride too small", {.bw = W, .bh = H, .stride = W * 4 - 4}, W, H, HFX_FMT_XRGB8888, 1,
         0, (size_t)W * 4 * H, "stride"},
        {"absurd size", {.bw = 100000, .bh = H, .stride = 400000}, 100000, H, HFX_FMT_XRGB8888, 1,
         0, 4096, "outside"},
        {"absurd buffer", {.x = 1u << 31, .bw = 1u << 31, .bh = H, .stride = W * 4, .v2 = true}, W,
         H, HFX_FMT_XRGB8888, 1, 0, 4096, "not inside"},
        {"no fd", {.bw = W, .bh = H, .stride = W * 4}, W, H, HFX_FMT_XRGB8888, 1, 0, 1,
         "no file descriptor"},
        {"a pipe", {.bw = W, .bh = H, .stride = W * 4}, W, H, HFX_FMT_XRGB8888, 1, 0, 0,
         "size"},
        {"unknown fourcc", {.bw = W, .bh = H, .stride = W * 4}, W, H, HFX_FOURCC('N', 'V', '1', '2'),
         1, 0, (size_t)W * 4 * H, "NV12"},
        {"Intel X-tiled", {.bw = W, .bh = H, .stride = W * 4}, W, H, HFX_FMT_XRGB8888, 1,
         0x0100000000000001ull, (size_t)W * 4 * H, "EGL import"},
        {"two planes", {.bw = W, .bh = H, .stride = W * 4, .v2 = true}, W, H, HFX_FMT_XRGB8888, 2,
         0, (size_t)W * 4 * H, "planes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = -1, pipe_fds[2] = {-1, -1};
        struct buffer b = {.fd = -1};
        if (bad[i].size == 0 && pipe(pipe_fds) == 0)
            fd = pipe_fds[0];
        else if (bad[i].size > 1)
            b = buffer_new(bad[i].size), fd = b.fd;
        bool ok = scanout(l, &bad[i].lay, fd, bad[i].w, bad[i].h, bad[i].fourcc, bad[i].modifier,
                          bad[i].planes, true, err, sizeof err);
        CHECK(!ok && strstr(err, bad[i].expect), "%s: %s (want '%s')", bad[i].what,
              ok ? "accepted" : err, bad[i].expect);
        fprintf(stderr, "  refused, %s: %s\n", bad[i].what, err);
        update(l, 0, 0, W, H);
        if (b.fd >= 0)
            buffer_free(&b);
        if (pipe_fds[0] >= 0)
            close(pipe_fds[0]), close(pipe_fds[1]);
    }
    col_settle(&col);
    CHECK(col_ended(&col, 0) == 1, "the stream ended %d times, want once at the first refusal",
          col_ended(&col, 0));
    CHECK(logged("no DMABUF scanout has come") == 1, "the GL console explanation came again");
    CHECK(logged("run the exporter inside QEMU instead") >= 1,
          "the non-linear refusal does not say what to do instead");

    /* The same refusal at every page flip: logged once. */
    int before = logged("refused: 640x480 NV12");
    for (int i = 0; i < 3; i++)
        scanout(l, &top, v1[0].fd, W, H, HFX_FOURCC('N', 'V', '1', '2'), 0, 1, true, err,
                sizeof err);
    CHECK(logged("refused: 640x480 NV12") == before + 1, "a repeated refusal logged %d times",
          logged("refused: 640x480 NV12") - before);

    /* Good input again: a new stream, from an IDR. */
    int had = col_count(&col);
    hfx_synth_next(s, r, 8);
    draw(&v1[0], &top, s);
    scanout(l, &top, v1[0].fd, W, H, HFX_FMT_XRGB8888, HFX_DRM_FORMAT_MOD_LINEAR, 1, false, err,
            sizeof err);
    update(l, 0, 0, W, H);
    col_settle(&col);
    CHECK(col_count(&col) > had && col.pkts[had]->keyframe,
          "no new stream after good input came back");

    hfx_qemu_dbus_stop(q);
    hfx_engine_free(e);
    fake_stop(&f);
    for (int i = 0; i < 2; i++) {
        buffer_free(&v1[i]);
        buffer_free(&v2[i]);
    }
    col_clear(&col);
    hfx_synth_free(s);
    hfx_verify_free(ver);
    hfx_decoder_free(dec);
    release_log();
    return check_summary("qemu_dbus_gl");
}
