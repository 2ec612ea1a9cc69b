/* hfx-lease-launcher on the host, without a VM: this program plays the lease
 * manager on a unix socket (the lease fd is /dev/null's, a character device
 * like a card) and, run again by the launcher after --, the compositor,
 * which talks to the launcher's logind stub on the private bus as libseat
 * and weston do.
 *
 *   normal  the compositor finds its head id and token, is refused devices
 *           before TakeControl and any device but the lease's and its head's
 *           input, gets the lease fd from TakeDevice, reads the session's
 *           and seat's properties, and exits 7: the launcher gives the head
 *           back (a release request), removes its files and exits 7
 *   gone    the manager closes the socket while the compositor runs: the
 *           compositor gets PauseDevice "gone" and SIGTERM, the launcher
 *           exits 3
 *
 * Skipped (77) without dbus-daemon. Usage: test_lease_launcher LAUNCHER */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "lease_wire.h"

#define HEAD 4
#define TOKEN "hfx1.h4.test-token"
#define LOGIND "org.freedesktop.login1"
#define SESSION_IFACE LOGIND ".Session"

/* ---- the compositor's side (run by the launcher) ---- */

static GVariant *call(GDBusConnection *c, const char *path, const char *iface,
                      const char *method, GVariant *args, GUnixFDList **fds, GError **err)
{
    return g_dbus_connection_call_with_unix_fd_list_sync(c, LOGIND, path, iface, method, args,
                                                         NULL, G_DBUS_CALL_FLAGS_NONE, 5000,
                                                         NULL, fds, NULL, err);
}

static GVariant *prop(GDBusConnection *c, const char *path, const char *iface, const char *name)
{
    GVariant *r = call(c, path, "org.freedesktop.DBus.Properties", "Get",
                       g_variant_new("(ss)", iface, name), NULL, NULL);
    GVariant *v = NULL;
    if (r) {
        g_variant_get(r, "(v)", &v);
        g_variant_unref(r);
    }
    return v;
}

static bool take(GDBusConnection *c, const char *spath, unsigned major, unsigned minor,
                 int *fd_out)
{
    GUnixFDList *fds = NULL;
    GError *err = NULL;
    GVariant *r = call(c, spath, SESSION_IFACE, "TakeDevice", g_variant_new("(uu)", major, minor),
                       &fds, &err);
    if (!r) {
        g_error_free(err);
        return false;
    }
    gint32 h;
    gboolean inactive;
    g_variant_get(r, "(hb)", &h, &inactive);
    *fd_out = fds ? g_unix_fd_list_get(fds, h, NULL) : -1;
    g_variant_unref(r);
    if (fds)
        g_object_unref(fds);
    return !inactive;
}

static volatile sig_atomic_t paused_gone;

static void on_pause(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                     const char *signal, GVariant *args, gpointer data)
{
    const char *type;
    g_variant_get(args, "(uu&s)", NULL, NULL, &type);
    if (strcmp(type, "gone") == 0)
        paused_gone = 1;
}

static gboolean on_term(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

static int compositor(const char *mode)
{
    const char *id = getenv("HELIX_SCANOUT_ID"), *tok = getenv("HELIX_SCANOUT_TOKEN");
    const char *sid = getenv("XDG_SESSION_ID"), *rt = getenv("XDG_RUNTIME_DIR");
    CHECK(id && strcmp(id, "4") == 0, "HELIX_SCANOUT_ID %s", id ? id : "unset");
    CHECK(tok && strcmp(tok, TOKEN) == 0, "HELIX_SCANOUT_TOKEN %s", tok ? tok : "unset");
    CHECK(sid && strcmp(sid, "hfx4") == 0, "XDG_SESSION_ID %s", sid ? sid : "unset");
    CHECK(getenv("LIBSEAT_BACKEND") && strcmp(getenv("LIBSEAT_BACKEND"), "logind") == 0, "%s",
          "LIBSEAT_BACKEND");
    char *path = g_build_filename(rt ? rt : "/nonexistent", "helix-scanout-token", NULL), *text = NULL;
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "%s mode %o", path,
          (unsigned)st.st_mode & 0777);
    CHECK(g_file_get_contents(path, &text, NULL, NULL) && strcmp(text, TOKEN "\n") == 0,
          "%s: %s", path, text ? text : "unreadable");
    g_free(text);
    g_free(path);

    GError *err = NULL;
    GDBusConnection *c = g_dbus_connection_new_for_address_sync(
        getenv("DBUS_SYSTEM_BUS_ADDRESS"),
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &err);
    CHECK(c != NULL, "the private bus: %s", err ? err->message : "?");
    if (!c)
        return 1;
    GVariant *r = call(c, "/org/freedesktop/login1", LOGIND ".Manager", "GetSession",
                       g_variant_new("(s)", sid), NULL, NULL);
    const char *spath = "/org/freedesktop/login1/session/hfx4";
    const char *got = NULL;
    if (r)
        g_variant_get(r, "(&o)", &got);
    CHECK(got && strcmp(got, spath) == 0, "GetSession: %s", got ? got : "failed");
    if (r)
        g_variant_unref(r);

    struct stat null_st;
    stat("/dev/null", &null_st);
    unsigned maj = major(null_st.st_rdev), min = minor(null_st.st_rdev);
    int fd = -1;
    CHECK(!take(c, spath, maj, min, &fd), "%s", "TakeDevice before TakeControl was answered");
    r = call(c, spath, SESSION_IFACE, "TakeControl", g_variant_new("(b)", FALSE), NULL, &err);
    CHECK(r != NULL, "TakeControl: %s", err ? err->message : "?");
    if (r)
        g_variant_unref(r);
    CHECK(take(c, spath, maj, min, &fd) && fd >= 0, "%s", "TakeDevice of the lease's device");
    struct stat fst;
    CHECK(fd >= 0 && fstat(fd, &fst) == 0 && fst.st_rdev == null_st.st_rdev, "%s",
          "the fd is not the lease's");
    int other = -1;
    CHECK(!take(c, spath, 226, 7, &other), "%s", "another card was handed out");
    CHECK(!take(c, spath, 13, 4242, &other), "%s", "another head's input device was handed out");

    GVariant *v = prop(c, spath, SESSION_IFACE, "Active");
    CHECK(v && g_variant_get_boolean(v), "%s", "Active");
    if (v)
        g_variant_unref(v);
    v = prop(c, spath, SESSION_IFACE, "Seat");
    const char *seat = NULL;
    if (v)
        g_variant_get(v, "(&s&o)", &seat, NULL);
    CHECK(seat && strcmp(seat, "seat0") == 0, "Seat %s", seat ? seat : "?");
    if (v)
        g_variant_unref(v);
    v = prop(c, "/org/freedesktop/login1/seat/seat0", LOGIND ".Seat", "CanGraphical");
    CHECK(v && g_variant_get_boolean(v), "%s", "CanGraphical");
    if (v)
        g_variant_unref(v);
    r = call(c, "/org/freedesktop/login1/seat/seat0", LOGIND ".Seat", "SwitchTo",
             g_variant_new("(u)", 2u), NULL, NULL);
    CHECK(r == NULL, "%s", "SwitchTo was answered");

    if (strcmp(mode, "gone") == 0) {
        g_dbus_connection_signal_subscribe(c, NULL, SESSION_IFACE, "PauseDevice", spath, NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, on_pause, NULL, NULL);
        bool termed = false;
        g_unix_signal_add(SIGTERM, on_term, &termed);
        /* Tell the manager's side we are ready: a file beside the token. */
        char *ready = g_build_filename(rt, "ready", NULL);
        g_file_set_contents(ready, "", 0, NULL);
        g_free(ready);
        GMainContext *ctx = g_main_context_default();
        while (!termed)
            g_main_context_iteration(ctx, TRUE);
        /* PauseDevice was sent before SIGTERM; it may still be on its way
         * through GDBus's thread. Exit 0 only if it came (and nothing
         * failed). */
        for (int i = 0; i < 100 && !paused_gone; i++) {
            while (g_main_context_iteration(ctx, FALSE))
                ;
            sleep_ms(10);
        }
        return paused_gone && !check_failures ? 0 : 9;
    }
    r = call(c, spath, SESSION_IFACE, "ReleaseDevice", g_variant_new("(uu)", maj, min), NULL,
             &err);
    CHECK(r != NULL, "ReleaseDevice: %s", err ? err->message : "?");
    if (r)
        g_variant_unref(r);
    return check_failures ? 1 : 7;
}

/* ---- the manager's side ---- */

static int serve(const char *sock_path)
{
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock_path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0)
        return -1;
    return l;
}

static bool read_req(int c, struct lease_req *req)
{
    uint8_t buf[LEASE_REQ_SIZE];
    size_t have = 0;
    while (have < sizeof buf) {
        ssize_t n = read(c, buf + have, sizeof buf - have);
        if (n <= 0)
            return false;
        have += (size_t)n;
    }
    lease_req_get(buf, req);
    return true;
}

/* Grants head 4 with /dev/null as the lease fd, and its token. */
static bool grant(int c)
{
    struct lease_req req;
    if (!read_req(c, &req))
        return false;
    CHECK(req.cmd == LEASE_CMD_LEASE_TOKEN && req.width == 640 && req.height == 480,
          "request cmd %u %ux%u", req.cmd, req.width, req.height);
    uint8_t out[LEASE_RESP_TOKEN_SIZE] = { 0 };
    struct lease_resp r = { .status = LEASE_OK, .scanout_id = HEAD };
    snprintf(r.text, sizeof r.text, "Virtual-5");
    lease_resp_put(out, &r);
    memcpy(out + LEASE_RESP_SIZE, TOKEN, strlen(TOKEN));
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { out, sizeof out };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                          .msg_controllen = sizeof ctl.space };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    bool ok = sendmsg(c, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof out;
    close(fd);
    return ok;
}

static int run_launcher(const char *launcher, const char *self, const char *dir,
                        const char *mode)
{
    char sock[512], xdg[512], sysd[512], ready[600], log[600];
    snprintf(sock, sizeof sock, "%s/drm.sock", dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    snprintf(sysd, sizeof sysd, "%s/systemd", dir);
    snprintf(ready, sizeof ready, "%s/ready", xdg);
    snprintf(log, sizeof log, "%s/launcher-%s.log", dir, mode);
    unlink(sock);
    int l = serve(sock);
    CHECK(l >= 0, "listen on %s: %s", sock, strerror(errno));
    if (l < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setenv("XDG_RUNTIME_DIR", xdg, 1);
        setenv("HFX_LAUNCHER_SYSTEMD_DIR", sysd, 1);
        int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (lf >= 0)
            dup2(lf, 2);
        execl(launcher, launcher, "--socket", sock, "--size", "640x480", "--no-cgroup", "--",
              self, "--compositor", mode, (char *)NULL);
        _exit(126);
    }
    struct pollfd p = { .fd = l, .events = POLLIN };
    int c = poll(&p, 1, 10000) == 1 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : -1;
    CHECK(c >= 0 && grant(c), "%s", "the lease request");
    if (c < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(l);
        return -1;
    }
    int status = -1;
    if (strcmp(mode, "gone") == 0) {
        for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
            sleep_ms(10);
        CHECK(access(ready, F_OK) == 0, "%s", "the compositor never got ready");
        close(c); /* the manager goes away */
    } else {
        struct lease_req req;
        CHECK(read_req(c, &req) && req.cmd == LEASE_CMD_RELEASE && req.width == HEAD,
              "%s", "no release of head 4 after the compositor exited");
        uint8_t out[LEASE_RESP_SIZE];
        struct lease_resp r = { .status = LEASE_OK, .scanout_id = HEAD };
        lease_resp_put(out, &r);
        CHECK(write(c, out, sizeof out) == sizeof out, "%s", "release answer");
        close(c);
    }
    waitpid(pid, &status, 0);
    close(l);
    char f[600];
    snprintf(f, sizeof f, "%s/helix-scanout-id", xdg);
    CHECK(access(f, F_OK) != 0, "%s left behind", f);
    snprintf(f, sizeof f, "%s/sessions/hfx4", sysd);
    CHECK(access(f, F_OK) != 0, "%s left behind", f);
    char *text = NULL;
    g_file_get_contents(log, &text, NULL, NULL);
    /* The compositor's own checks: 7 (normal), 0 (gone: PauseDevice, then
     * SIGTERM), as the launcher logged them. */
    const char *want = strcmp(mode, "gone") == 0 ? "compositor pid" : NULL;
    if (want) {
        const char *e = text ? strstr(text, " exited ") : NULL;
        CHECK(e && strncmp(e, " exited 0\n", 10) == 0, "%s",
              "gone: the compositor was not told PauseDevice gone before SIGTERM");
    }
    if (check_failures)
        fprintf(stderr, "the launcher's log (%s):\n%s", mode, text ? text : "(none)\n");
    g_free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--compositor") == 0)
        return compositor(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: test_lease_launcher LAUNCHER\n");
        return 2;
    }
    char *bus = g_find_program_in_path("dbus-daemon");
    if (!bus) {
        fprintf(stderr, "SKIP: no dbus-daemon\n");
        return 77;
    }
    g_free(bus);
    char dir[] = "/tmp/hfx-test-launcher-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    signal(SIGPIPE, SIG_IGN);

    int rc = run_launcher(argv[1], self, dir, "normal");
    CHECK(rc == 7, "normal: the launcher exited %d, not the compositor's 7", rc);
    rc = run_launcher(argv[1], self, dir, "gone");
    CHECK(rc == 3, "gone: the launcher exited %d, not 3 (the compositor: PauseDevice gone, "
          "then SIGTERM)", rc);
    char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    g_free(cmd);
    return check_summary("lease_launcher");
}
