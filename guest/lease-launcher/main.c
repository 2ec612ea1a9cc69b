/* hfx-lease-launcher: runs an unmodified compositor on one head leased
 * from hfx-drm-manager (guest/README.md, "hfx-lease-launcher").
 *
 *   hfx-lease-launcher [OPTIONS] -- COMPOSITOR [ARGS...]
 *
 * It takes a lease with a token (command 3), writes the head id and token
 * where the desktop's tools read them, starts a private dbus-daemon, serves
 * the logind subset of logind.c on it, and runs the compositor with
 * DBUS_SYSTEM_BUS_ADDRESS pointing there, so the compositor's libseat (or
 * Mutter) takes the card through TakeDevice and gets the lease fd. When the
 * compositor exits the lease is given back and the launcher exits with the
 * compositor's status; when the manager goes away, the compositor gets
 * PauseDevice "gone" and SIGTERM, and the launcher exits 3. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "lease_sock.h"
#include "logind.h"

#define EXIT_USAGE 2
#define EXIT_MANAGER_GONE 3
#define CGROUP2_MAGIC 0x63677270

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hfx-lease-launcher: %.6f ", (double)hfx_now_ns() / 1e9);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

struct opts {
    const char *socket;
    uint32_t w, h;
    const char *session_id;
    const char *card;
    const char *dbus_daemon;
    const char *log;
    int stop_timeout_ms;
    bool cgroup;
    bool as_user;    /* --user: the bus and the compositor run as uid:gid */
    uid_t uid;
    gid_t gid;
    const char *user; /* --user's name, for its groups; NULL if numeric */
    char **argv; /* the compositor's */
};

struct run {
    struct opts o;
    GMainLoop *loop;
    int sock, lease_fd;
    unsigned head;
    char session_id[32];
    char *runtime_dir, *private_dir;
    char *id_file, *token_file, *session_file, *cgroup_dir;
    pid_t dbus_pid, comp_pid;
    guint dbus_watch, comp_watch;
    int comp_status; /* wait status */
    bool comp_done, manager_gone;
    int64_t t_lease;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hfx-lease-launcher [OPTIONS] -- COMPOSITOR [ARGS...]\n"
            "\n"
            "Leases a head from hfx-drm-manager and runs COMPOSITOR on it, serving it the\n"
            "org.freedesktop.login1 calls it opens the card with on a private D-Bus.\n"
            "\n"
            "  --socket PATH        the manager's socket (default $HFX_DRM_SOCKET or %s)\n"
            "  --size WxH           the head's size (default 1920x1080)\n"
            "  --session-id ID      the logind session id, letters and digits (default hfxN,\n"
            "                       N the head)\n"
            "  --card PATH          the card the compositor is told to open (default\n"
            "                       /dev/dri/card0; $HELIX_DRM_DEVICE)\n"
            "  --dbus-daemon PATH   the bus daemon to start (default dbus-daemon)\n"
            "  --compositor-log F   the compositor's stdout and stderr go to F\n"
            "  --stop-timeout-ms N  SIGKILL a compositor told to stop after N ms (default 3000)\n"
            "  --user USER          run the bus daemon and the compositor as USER (a name, or\n"
            "                       UID[:GID]); the launcher keeps its own rights for the\n"
            "                       session's files and cgroup\n"
            "  --no-cgroup          do not put the compositor in a session scope cgroup\n"
            "\n"
            "The compositor gets XDG_RUNTIME_DIR, XDG_SESSION_ID, XDG_SEAT=seat0,\n"
            "XDG_SESSION_TYPE=wayland, LIBSEAT_BACKEND=logind, DBUS_SYSTEM_BUS_ADDRESS,\n"
            "HELIX_SCANOUT_ID, HELIX_SCANOUT_TOKEN and HELIX_DRM_DEVICE; the files\n"
            "$XDG_RUNTIME_DIR/helix-scanout-id and helix-scanout-token (0600).\n"
            "Exit status: the compositor's (128+N on signal N), 1 on an error, 2 on a usage\n"
            "error, 3 when the lease manager went away.\n",
            LEASE_SOCKET);
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "socket", required_argument, NULL, 's' },
        { "size", required_argument, NULL, 'z' },
        { "session-id", required_argument, NULL, 'i' },
        { "card", required_argument, NULL, 'c' },
        { "dbus-daemon", required_argument, NULL, 'd' },
        { "compositor-log", required_argument, NULL, 'l' },
        { "stop-timeout-ms", required_argument, NULL, 't' },
        { "user", required_argument, NULL, 'u' },
        { "no-cgroup", no_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *env = getenv("HFX_DRM_SOCKET");
    *o = (struct opts){ .socket = env && *env ? env : LEASE_SOCKET, .card = "/dev/dri/card0",
                        .dbus_daemon = "dbus-daemon", .stop_timeout_ms = 3000, .cgroup = true,
                        .uid = getuid(), .gid = getgid() };
    int c;
    while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
        switch (c) {
        case 's': o->socket = optarg; break;
        case 'z':
            if (lease_parse_size(optarg, &o->w, &o->h) < 0) {
                fprintf(stderr, "hfx-lease-launcher: --size wants WxH, not %s\n", optarg);
                return -1;
            }
            break;
        case 'i':
            if (!*optarg || optarg[strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                  "0123456789")] || strlen(optarg) > 24) {
                fprintf(stderr, "hfx-lease-launcher: --session-id is 1-24 letters and digits\n");
                return -1;
            }
            o->session_id = optarg;
            break;
        case 'c': o->card = optarg; break;
        case 'd': o->dbus_daemon = optarg; break;
        case 'l': o->log = optarg; break;
        case 't': o->stop_timeout_ms = atoi(optarg); break;
        case 'g': o->cgroup = false; break;
        case 'u': {
            struct passwd *pw = getpwnam(optarg);
            unsigned u, g;
            char tail;
            if (pw) {
                o->uid = pw->pw_uid;
                o->gid = pw->pw_gid;
                o->user = optarg;
            } else if (sscanf(optarg, "%u:%u%c", &u, &g, &tail) == 2) {
                o->uid = u;
                o->gid = g;
            } else if (sscanf(optarg, "%u%c", &u, &tail) == 1) {
                o->uid = u;
                o->gid = u;
            } else {
                fprintf(stderr, "hfx-lease-launcher: no user %s\n", optarg);
                return -1;
            }
            o->as_user = true;
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "hfx-lease-launcher: name the compositor after --\n");
        return -1;
    }
    o->argv = argv + optind;
    return 0;
}

/* ---- the lease ---- */

static int take_lease(struct run *r)
{
    char why[128], token[LEASE_TOKEN_SIZE + 1];
    struct lease_resp resp;
    r->sock = lease_sock_connect(r->o.socket, 15000);
    if (r->sock < 0) {
        say("cannot connect to the lease manager at %s: %s", r->o.socket, strerror(errno));
        return -1;
    }
    int64_t t0 = hfx_now_ns();
    if (lease_send(r->sock, LEASE_CMD_LEASE_TOKEN, r->o.w, r->o.h) < 0 ||
        lease_recv(r->sock, &resp, &r->lease_fd, 30000, why, sizeof why) < 0) {
        say("lease error: %s", why);
        return -1;
    }
    if (resp.status != LEASE_OK || r->lease_fd < 0) {
        say("lease refused: %s%s", resp.text, resp.status == LEASE_OK ? " (no fd)" : "");
        return -1;
    }
    if (lease_recv_token(r->sock, token, 5000, why, sizeof why) < 0) {
        say("lease error: %s", why);
        return -1;
    }
    r->head = resp.scanout_id;
    r->t_lease = hfx_now_ns();
    say("head %u connector %s %ux%u leased in %.1f ms", r->head, resp.text,
        r->o.w ? r->o.w : LEASE_DEFAULT_W, r->o.h ? r->o.h : LEASE_DEFAULT_H,
        (double)(r->t_lease - t0) / 1e6);

    /* What the desktop's tools read: the head id, and the token that opens
     * this head (and no other) on the exporter. */
    char id[16];
    snprintf(id, sizeof id, "%u", r->head);
    r->id_file = g_build_filename(r->runtime_dir, "helix-scanout-id", NULL);
    r->token_file = g_build_filename(r->runtime_dir, "helix-scanout-token", NULL);
    char *idline = g_strconcat(id, "\n", NULL), *tokline = g_strconcat(token, "\n", NULL);
    GError *err = NULL;
    bool ok = g_file_set_contents_full(r->id_file, idline, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                       0644, &err) &&
              g_file_set_contents_full(r->token_file, tokline, -1,
                                       G_FILE_SET_CONTENTS_CONSISTENT, 0600, &err);
    g_free(idline);
    g_free(tokline);
    if (!ok) {
        say("cannot write %s: %s", r->runtime_dir, err->message);
        g_error_free(err);
        return -1;
    }
    if (r->o.as_user && (chown(r->id_file, r->o.uid, r->o.gid) < 0 ||
                         chown(r->token_file, r->o.uid, r->o.gid) < 0))
        say("cannot give %s to uid %u: %s", r->runtime_dir, (unsigned)r->o.uid, strerror(errno));
    g_setenv("HELIX_SCANOUT_ID", id, TRUE);
    g_setenv("HELIX_SCANOUT_TOKEN", token, TRUE);
    explicit_bzero(token, sizeof token);
    return 0;
}

static void give_back(struct run *r)
{
    if (r->sock < 0)
        return;
    if (!r->manager_gone) {
        char why[128] = "";
        struct lease_resp resp = { .status = LEASE_OK };
        int fd = -1;
        int64_t t0 = hfx_now_ns();
        if (lease_send(r->sock, LEASE_CMD_RELEASE, r->head, 0) == 0 &&
            lease_recv(r->sock, &resp, &fd, 3000, why, sizeof why) == 0 &&
            resp.status == LEASE_OK)
            say("head %u given back in %.1f ms", r->head, (double)(hfx_now_ns() - t0) / 1e6);
        else
            say("head %u: the release was not confirmed (%s); closing the socket", r->head,
                fd < 0 && resp.status != LEASE_OK ? resp.text : why);
        if (fd >= 0)
            close(fd);
    }
    close(r->sock);
    r->sock = -1;
}

/* ---- the session file sd-login reads ---- */

/* /run/systemd, where sd-login looks; $HFX_LAUNCHER_SYSTEMD_DIR moves it
 * (for tests, which must not write the machine's /run). */
static const char *systemd_dir(void)
{
    const char *env = getenv("HFX_LAUNCHER_SYSTEMD_DIR");
    return env && *env ? env : "/run/systemd";
}

/* libseat's logind backend checks XDG_SESSION_ID with sd_session_is_active()
 * and asks its seat with sd_session_get_seat(): both read
 * /run/systemd/sessions/ID, not the bus. */
static int write_session_file(struct run *r)
{
    char *dir = g_build_filename(systemd_dir(), "sessions", NULL);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        say("cannot create %s: %s", dir, strerror(errno));
        g_free(dir);
        return -1;
    }
    r->session_file = g_build_filename(dir, r->session_id, NULL);
    g_free(dir);
    struct passwd *pw = getpwuid(r->o.uid);
    const char *user = pw ? pw->pw_name : "user";
    char *text = g_strdup_printf("# written by hfx-lease-launcher (pid %d) for head %u\n"
                                 "UID=%u\nUSER=%s\nACTIVE=1\nIS_DISPLAY=1\nSTATE=active\n"
                                 "REMOTE=0\nTYPE=wayland\nCLASS=user\nSEAT=seat0\n"
                                 "SERVICE=hfx-lease-launcher\nLEADER=%d\n",
                                 (int)getpid(), r->head, (unsigned)r->o.uid, user, (int)getpid());
    GError *err = NULL;
    bool ok = g_file_set_contents_full(r->session_file, text, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                       0644, &err);
    g_free(text);
    if (!ok) {
        say("cannot write %s: %s", r->session_file, err->message);
        g_error_free(err);
        g_clear_pointer(&r->session_file, g_free);
        return -1;
    }
    return 0;
}

/* sd_seat_can_tty() and sd_seat_can_graphical() read /run/systemd/seats/
 * seat0; weston 10's logind launcher wants a session VT on a seat that can
 * have TTYs, and ours has none. Written once, left for the other
 * launchers (it says the same for all). */
static void write_seat_file(void)
{
    char *dir = g_build_filename(systemd_dir(), "seats", NULL);
    char *path = g_build_filename(dir, "seat0", NULL);
    if (access(path, F_OK) != 0) {
        g_mkdir_with_parents(dir, 0755);
        if (!g_file_set_contents(path, "# written by hfx-lease-launcher\nIS_SEAT0=1\n"
                                       "CAN_MULTI_SESSION=1\nCAN_TTY=0\nCAN_GRAPHICAL=1\n", -1, NULL))
            say("cannot write %s", path);
    }
    g_free(dir);
    g_free(path);
}

/* sd_pid_get_session(), which weston 10's logind launcher and Mutter ask
 * (XDG_SESSION_ID is libseat's way only), reads the session from the
 * process's cgroup: a session-ID.scope. With cgroup2 mounted at
 * /sys/fs/cgroup, the compositor starts in
 * user.slice/user-UID.slice/session-ID.scope. */
static void make_cgroup(struct run *r)
{
    struct statfs sf;
    if (!r->o.cgroup)
        return;
    if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_MAGIC) {
        say("head %u: no cgroup2 at /sys/fs/cgroup: compositors that find their session by "
            "cgroup (weston 10, Mutter) will not find it",
            r->head);
        return;
    }
    char *dir = g_strdup_printf("/sys/fs/cgroup/user.slice/user-%u.slice/session-%s.scope",
                                (unsigned)r->o.uid, r->session_id);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        say("head %u: cannot create %s: %s", r->head, dir, strerror(errno));
        g_free(dir);
        return;
    }
    r->cgroup_dir = dir;
}

/* ---- the private bus ---- */

static char *start_bus(struct run *r)
{
    char *conf = g_build_filename(r->private_dir, "bus.conf", NULL);
    char *sock = g_build_filename(r->private_dir, "bus", NULL);
    char *text = g_markup_printf_escaped(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n"
        "  <listen>unix:path=%s</listen>\n"
        "  <auth>EXTERNAL</auth>\n"
        "  <policy context=\"default\">\n"
        "    <allow user=\"%u\"/>\n"
        "    <allow user=\"%u\"/>\n"
        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
        "    <allow eavesdrop=\"true\"/>\n"
        "    <allow own=\"*\"/>\n"
        "  </policy>\n"
        "</busconfig>\n",
        sock, (unsigned)getuid(), (unsigned)r->o.uid);
    GError *err = NULL;
    char *addr = NULL;
    int p[2] = { -1, -1 };
    if (!g_file_set_contents(conf, text, -1, &err)) {
        say("cannot write %s: %s", conf, err->message);
        g_error_free(err);
        goto out;
    }
    if (pipe2(p, O_CLOEXEC) < 0)
        goto out;
    r->dbus_pid = fork();
    if (r->dbus_pid == 0) {
        char cf[512], pa[32];
        snprintf(cf, sizeof cf, "--config-file=%s", conf);
        snprintf(pa, sizeof pa, "--print-address=%d", p[1]);
        fcntl(p[1], F_SETFD, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        /* The socket is reachable by the launcher and the user the policy
         * names, and by no one else (the folder is 0711, the name unlisted
         * elsewhere). */
        umask(0);
        execlp(r->o.dbus_daemon, r->o.dbus_daemon, "--nofork", "--nopidfile", cf, pa,
               (char *)NULL);
        fprintf(stderr, "hfx-lease-launcher: cannot run %s: %s\n", r->o.dbus_daemon,
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    p[1] = -1;
    if (r->dbus_pid < 0) {
        say("fork: %s", strerror(errno));
        goto out;
    }
    char buf[512];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(p[0], buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (memchr(buf, '\n', have) || have == sizeof buf - 1)
            break;
    }
    buf[have] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!*buf)
        say("%s printed no address (did it start?)", r->o.dbus_daemon);
    else
        addr = g_strdup(buf);
out:
    if (p[0] >= 0)
        close(p[0]);
    g_free(conf);
    g_free(sock);
    g_free(text);
    return addr;
}

/* ---- the compositor ---- */

static void stop_compositor(struct run *r, int sig)
{
    if (r->comp_pid > 0 && !r->comp_done)
        if (kill(-r->comp_pid, sig) < 0)
            kill(r->comp_pid, sig);
}

static gboolean kill_late(gpointer data)
{
    struct run *r = data;
    if (!r->comp_done) {
        say("head %u: the compositor did not stop within %d ms: SIGKILL", r->head,
            r->o.stop_timeout_ms);
        stop_compositor(r, SIGKILL);
    }
    return G_SOURCE_REMOVE;
}

static void on_comp_exit(GPid pid, gint status, gpointer data)
{
    struct run *r = data;
    r->comp_done = true;
    r->comp_status = status;
    r->comp_watch = 0;
    if (WIFSIGNALED(status))
        say("head %u compositor pid %d ended on signal %d", r->head, (int)pid, WTERMSIG(status));
    else
        say("head %u compositor pid %d exited %d", r->head, (int)pid, WEXITSTATUS(status));
    /* Its clients (the terminal...) are in its process group. */
    kill(-pid, SIGTERM);
    g_main_loop_quit(r->loop);
}

static void on_bus_exit(GPid pid, gint status, gpointer data)
{
    struct run *r = data;
    r->dbus_watch = 0;
    r->dbus_pid = -1;
    if (!r->comp_done) {
        say("head %u: the private dbus-daemon ended (status 0x%x): stopping the compositor",
            r->head, status);
        stop_compositor(r, SIGTERM);
        g_timeout_add(r->o.stop_timeout_ms, kill_late, r);
    }
}

static gboolean on_signal(gpointer data)
{
    struct run *r = data;
    say("head %u: stopping the compositor", r->head);
    stop_compositor(r, SIGTERM);
    g_timeout_add(r->o.stop_timeout_ms, kill_late, r);
    return G_SOURCE_CONTINUE;
}

static void on_take(unsigned major, unsigned minor, bool lease, const char *why, void *data)
{
    struct run *r = data;
    if (why)
        say("head %u TakeDevice %u:%u refused: %s", r->head, major, minor, why);
    else
        say("head %u TakeDevice %u:%u%s %.1f ms after the lease", r->head, major, minor,
            lease ? " (the lease fd)" : "", (double)(hfx_now_ns() - r->t_lease) / 1e6);
}

/* The manager sends nothing unasked: readable means it closed (or died),
 * and the kernel revoked the lease with it. */
static gboolean on_manager(gint fd, GIOCondition cond, gpointer data)
{
    struct run *r = data;
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return G_SOURCE_CONTINUE;
    say("head %u: the lease manager went away (%s): the lease is revoked, stopping the "
        "compositor",
        r->head, n == 0 ? "its socket closed" : strerror(errno));
    r->manager_gone = true; /* main() tells the compositor */
    return G_SOURCE_REMOVE;
}

static pid_t start_compositor(struct run *r, const char *bus)
{
    char id[16];
    snprintf(id, sizeof id, "%u", r->head);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    if (r->cgroup_dir) {
        char procs[512];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", r->cgroup_dir);
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            fprintf(stderr, "hfx-lease-launcher: cannot join %s: %s\n", r->cgroup_dir,
                    strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    /* With the user's groups: wlroots opens the card itself too (video). */
    if (r->o.as_user &&
        ((r->o.user ? initgroups(r->o.user, r->o.gid) : setgroups(0, NULL)) < 0 ||
         setgid(r->o.gid) < 0 || setuid(r->o.uid) < 0)) {
        fprintf(stderr, "hfx-lease-launcher: cannot become uid %u: %s\n", (unsigned)r->o.uid,
                strerror(errno));
        _exit(127);
    }
    setenv("XDG_RUNTIME_DIR", r->runtime_dir, 1);
    setenv("XDG_SESSION_ID", r->session_id, 1);
    setenv("XDG_SEAT", "seat0", 1);
    setenv("XDG_SESSION_TYPE", "wayland", 1);
    setenv("XDG_SESSION_CLASS", "user", 1);
    setenv("LIBSEAT_BACKEND", "logind", 1);
    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus, 1);
    setenv("HELIX_DRM_DEVICE", r->o.card, 1);
    /* A nested compositor would take these for its parent. */
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("DISPLAY");
    if (r->o.log) {
        int fd = open(r->o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(r->o.argv[0], r->o.argv);
    fprintf(stderr, "hfx-lease-launcher: cannot run %s: %s\n", r->o.argv[0], strerror(errno));
    _exit(127);
}

static void cleanup(struct run *r)
{
    if (r->dbus_watch)
        g_source_remove(r->dbus_watch);
    if (r->dbus_pid > 0) {
        kill(r->dbus_pid, SIGTERM);
        waitpid(r->dbus_pid, NULL, 0);
    }
    if (r->cgroup_dir && rmdir(r->cgroup_dir) < 0)
        say("cannot remove %s: %s", r->cgroup_dir, strerror(errno));
    const char *files[] = { r->id_file, r->token_file, r->session_file };
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
        if (files[i])
            unlink(files[i]);
    if (r->private_dir) {
        char *conf = g_build_filename(r->private_dir, "bus.conf", NULL);
        char *sock = g_build_filename(r->private_dir, "bus", NULL);
        unlink(conf);
        unlink(sock);
        rmdir(r->private_dir);
        g_free(conf);
        g_free(sock);
    }
    char **owned[] = { &r->id_file, &r->token_file, &r->session_file, &r->cgroup_dir,
                       &r->private_dir, &r->runtime_dir };
    for (size_t i = 0; i < G_N_ELEMENTS(owned); i++)
        g_clear_pointer(owned[i], g_free);
    g_clear_pointer(&r->loop, g_main_loop_unref);
}

/* XDG_RUNTIME_DIR, or /run/user/UID made as logind would. */
static char *runtime_dir(const struct opts *o)
{
    const char *env = getenv("XDG_RUNTIME_DIR");
    char *dir = env && *env ? g_strdup(env) : g_strdup_printf("/run/user/%u", (unsigned)o->uid);
    struct stat st;
    bool made = stat(dir, &st) < 0;
    /* Its parents (/run/user) are everyone's to pass through. */
    char *parent = g_path_get_dirname(dir);
    g_mkdir_with_parents(parent, 0755);
    g_free(parent);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        say("cannot create %s: %s", dir, strerror(errno));
        g_free(dir);
        return NULL;
    }
    if (made && o->as_user && chown(dir, o->uid, o->gid) < 0)
        say("cannot give %s to uid %u: %s", dir, (unsigned)o->uid, strerror(errno));
    return dir;
}

int main(int argc, char **argv)
{
    struct run r = { .sock = -1, .lease_fd = -1, .dbus_pid = -1 };
    if (parse(argc, argv, &r.o) < 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    struct logind *l = NULL;
    GDBusConnection *conn = NULL;
    char *bus = NULL;
    r.runtime_dir = runtime_dir(&r.o);
    if (!r.runtime_dir || take_lease(&r) < 0)
        goto out;
    if (r.o.session_id)
        snprintf(r.session_id, sizeof r.session_id, "%s", r.o.session_id);
    else
        snprintf(r.session_id, sizeof r.session_id, "hfx%u", r.head);
    r.private_dir = g_strdup_printf("%s/hfx-lease-launcher.%d", r.runtime_dir, (int)getpid());
    if (mkdir(r.private_dir, r.o.as_user ? 0711 : 0700) < 0) {
        say("cannot create %s: %s", r.private_dir, strerror(errno));
        g_clear_pointer(&r.private_dir, g_free);
        goto out;
    }
    write_seat_file();
    make_cgroup(&r);
    if (write_session_file(&r) < 0 || !(bus = start_bus(&r)))
        goto out;
    GError *err = NULL;
    conn = g_dbus_connection_new_for_address_sync(
        bus, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &err);
    struct logind_conf lc = { .session_id = r.session_id, .head = r.head,
                              .lease_fd = r.lease_fd, .leader = getpid(), .uid = r.o.uid,
                              .on_take = on_take, .data = &r };
    if (!conn || !(l = logind_start(conn, &lc, &err))) {
        say("cannot serve logind on %s: %s", bus, err->message);
        g_error_free(err);
        goto out;
    }
    r.loop = g_main_loop_new(NULL, FALSE);
    r.dbus_watch = g_child_watch_add(r.dbus_pid, on_bus_exit, &r);
    r.comp_pid = start_compositor(&r, bus);
    if (r.comp_pid < 0) {
        say("fork: %s", strerror(errno));
        goto out;
    }
    setpgid(r.comp_pid, r.comp_pid);
    say("head %u compositor pid %d: %s (session %s, bus %s)", r.head, (int)r.comp_pid,
        r.o.argv[0], r.session_id, bus);
    r.comp_watch = g_child_watch_add(r.comp_pid, on_comp_exit, &r);
    guint mw = g_unix_fd_add(r.sock, G_IO_IN | G_IO_HUP | G_IO_ERR, on_manager, &r);
    g_unix_signal_add(SIGTERM, on_signal, &r);
    g_unix_signal_add(SIGINT, on_signal, &r);
    g_unix_signal_add(SIGHUP, on_signal, &r);
    while (!r.comp_done) {
        bool was_gone = r.manager_gone;
        g_main_context_iteration(NULL, TRUE);
        if (r.manager_gone && !was_gone) {
            mw = 0;
            logind_devices_gone(l);
            stop_compositor(&r, SIGTERM);
            g_timeout_add(r.o.stop_timeout_ms, kill_late, &r);
        }
    }
    if (mw)
        g_source_remove(mw);
    if (r.manager_gone) {
        say("head %u: exiting: the lease manager went away", r.head);
        rc = EXIT_MANAGER_GONE;
    } else {
        rc = WIFSIGNALED(r.comp_status) ? 128 + WTERMSIG(r.comp_status)
                                        : WEXITSTATUS(r.comp_status);
    }
out:
    if (r.comp_pid > 0 && !r.comp_done) {
        stop_compositor(&r, SIGKILL);
        waitpid(r.comp_pid, NULL, 0);
    }
    logind_stop(l);
    if (conn) {
        g_dbus_connection_close_sync(conn, NULL, NULL);
        g_object_unref(conn);
    }
    if (r.lease_fd >= 0)
        close(r.lease_fd);
    give_back(&r);
    cleanup(&r);
    g_free(bus);
    return rc;
}
