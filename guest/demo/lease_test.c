/* lease-test: the guest's half of tests/e2e_lease.py, run beside
 * hfx-drm-manager. Each step prints "hfx-guest: check NAME ok|FAIL ..." with
 * what it measured on the guest's clock; the host reads them, and checks on
 * its side what the exporter saw.
 *
 *   draw      a lessee leases a head and draws the synthetic workload through
 *             the lease (the host decodes it and checks the frame numbers)
 *   kill      SIGKILL of the lessee: its connector goes
 *   many      N leases at once over N connections, each modeset through its
 *             lease; then all given back
 *   malformed bad requests get an error and no fd, hold no head and leak
 *             nothing in the manager; a good request is served after them
 *   token     a lease with a token (command 3): on the exporter (--host) the
 *             token opens its own head and no other, and once the lease is
 *             given back it is revoked and its subscriber cut off
 *
 * After each step it prints "hfx-guest: sync NAME" and pauses, for the host
 * to look at the exporter's heads before the next step changes them. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common/clock.h"
#include "display.h"
#include "draw.h"
#include "lease_client.h"
#include "client/client.h"
#include "say.h"

#define MAX_HEADS 16
#define WAIT_MS 10000

struct scenario {
    const char *path, *size, *host;
    long count;
    double draw_seconds, pause_seconds;
    uint32_t w, h;
    int nconn;
    int failed;
};

static void check(struct scenario *sc, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check(struct scenario *sc, const char *name, bool ok, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    guest_say("check %s %s %s", name, ok ? "ok" : "FAIL", detail);
    sc->failed += !ok;
}

/* The host looks at the exporter now. */
static void sync_point(struct scenario *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sync_point(struct scenario *sc, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    guest_say("sync %s", what);
    usleep((useconds_t)(sc->pause_seconds * 1e6));
}

static double ms_since(int64_t t)
{
    return (double)(hfx_now_ns() - t) / 1e6;
}

/* Heads (bits) whose connector is connected. The kernel's kept state is
 * refreshed only by a probe (virtio-gpu's hotplug does not), and only the
 * master or a lessee may ask for one through the DRM API: sysfs "detect"
 * probes for any root process. The test may; the manager does not. */
static uint32_t connected_heads(struct scenario *sc)
{
    uint32_t mask = 0;
    for (int i = 0; i < sc->nconn; i++) {
        char path[96], state[32] = "";
        snprintf(path, sizeof path, "/sys/class/drm/card0-Virtual-%d/status", i + 1);
        FILE *f = fopen(path, "r+");
        if (f == NULL)
            continue;
        fputs("detect", f);
        fflush(f);
        rewind(f);
        if (fgets(state, sizeof state, f) != NULL && strncmp(state, "connected", 9) == 0)
            mask |= 1u << i;
        fclose(f);
    }
    return mask;
}

/* Waits until (what() & heads) == want; the ms it took, or -1. */
static double wait_mask(struct scenario *sc, int64_t (*what)(struct scenario *), uint32_t heads,
                        uint32_t want, int64_t *last)
{
    int64_t t0 = hfx_now_ns();
    for (;;) {
        *last = what(sc);
        if (*last >= 0 && ((uint32_t)*last & heads) == want)
            return ms_since(t0);
        if (ms_since(t0) > WAIT_MS)
            return -1;
        usleep(5000);
    }
}

static int64_t guest_mask(struct scenario *sc)
{
    return connected_heads(sc);
}

/* Open fds of the manager, the peer of a connection to it. */
static int manager_fds(int sock)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)cred.pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static volatile sig_atomic_t child_stop;

/* draw and kill: a lessee in a child (the only holder of the connection and
 * the lease), drawing until it is SIGKILLed. */
static void step_draw_kill(struct scenario *sc)
{
    int sock, fd;
    struct lease_resp r;
    if (lease_take(sc->path, sc->w, sc->h, &sock, &fd, &r) < 0) {
        check(sc, "draw", false, "no lease");
        return;
    }
    int head = (int)r.scanout_id;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        struct draw_opts o;
        draw_opts_default(&o);
        o.fps = 30;
        o.lease_fd = fd;
        o.lease_head = head;
        _exit(draw_run(&o, &child_stop));
    }
    close(fd);
    close(sock);
    if (child < 0) {
        check(sc, "draw", false, "fork: %s", strerror(errno));
        return;
    }
    guest_say("scenario draw head %d pid %d for %.1f s", head, (int)child, sc->draw_seconds);
    usleep((useconds_t)(sc->draw_seconds * 1e6));
    bool alive = waitpid(child, NULL, WNOHANG) == 0;
    check(sc, "draw", alive, "head %d lessee %s after %.1f s", head,
          alive ? "still drawing" : "DIED", sc->draw_seconds);

    int64_t t_kill = hfx_now_ns();
    kill(child, SIGKILL);
    guest_say("scenario kill pid %d head %d at %lld.%06lld", (int)child, head,
              (long long)(t_kill / 1000000000), (long long)(t_kill % 1000000000 / 1000));
    waitpid(child, NULL, 0);
    int64_t last;
    double gone = wait_mask(sc, guest_mask, 1u << head, 0, &last);
    check(sc, "kill", gone >= 0, "head %d: connector disconnected %.0f ms after the kill", head,
          gone);
    sync_point(sc, "kill head %d", head);
}

static void set_failure(struct lease_resp *r, const char *why)
{
    r->status = LEASE_ERROR;
    snprintf(r->text, sizeof r->text, "%.64s", why);
}

/* many: count connections at once, each holding one lease. */
struct many {
    int n;
    int socks[MAX_HEADS], fds[MAX_HEADS];
    struct lease_resp r[MAX_HEADS];
    bool done[MAX_HEADS];
    struct display *d[MAX_HEADS];
};

/* Every connection asks before any answer is read; the answers come in
 * any order. The ms until the last one came, or -1 if one did not. */
static double many_request(struct scenario *sc, struct many *mn)
{
    int64_t t0 = hfx_now_ns();
    for (int i = 0; i < mn->n; i++) {
        mn->fds[i] = -1;
        mn->socks[i] = lease_connect(sc->path, 5000);
        if (mn->socks[i] < 0 || lease_send(mn->socks[i], LEASE_CMD_LEASE, sc->w, sc->h) < 0)
            mn->done[i] = true, set_failure(&mn->r[i], "no connection");
    }
    double last = 0;
    for (int left = mn->n; left > 0;) {
        struct pollfd p[MAX_HEADS];
        for (int i = 0; i < mn->n; i++)
            p[i] = (struct pollfd){ .fd = mn->done[i] ? -1 : mn->socks[i], .events = POLLIN };
        if (poll(p, (nfds_t)mn->n, 30000) <= 0)
            return -1;
        for (int i = 0; i < mn->n; i++) {
            if (mn->done[i] || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char why[128];
            if (lease_recv(mn->socks[i], &mn->r[i], &mn->fds[i], 5000, why, sizeof why) < 0)
                set_failure(&mn->r[i], why);
            mn->done[i] = true;
            left--;
        }
        last = ms_since(t0);
    }
    return last;
}

static void fill_grey(void *ctx, struct dumb *b)
{
    fill_rect_xrgb(b, (struct hfx_rect){ 0, 0, (int32_t)b->width, (int32_t)b->height },
                   0x404040u + (uint32_t)(uintptr_t)ctx * 0x0a0a0au);
}

/* Modesets a lease's one head, as its compositor would: probe the
 * connector (a lessee may), take its preferred mode, show a buffer. The
 * grant may come a moment before the connector is seen: retry for a while. */
static bool many_show(struct many *mn, int i)
{
    struct display *d = calloc(1, sizeof *d);
    if (d == NULL || display_adopt(d, mn->fds[i], (int)mn->r[i].scanout_id) < 0) {
        free(d);
        mn->fds[i] = -1; /* closed by display_adopt */
        return false;
    }
    mn->fds[i] = -1; /* d owns it now */
    mn->d[i] = d;
    int64_t t0 = hfx_now_ns();
    struct head_state st = { 0 };
    while ((display_probe(d, 0, &st) < 0 || !st.connected) && ms_since(t0) < WAIT_MS)
        usleep(20000);
    return st.connected && head_enable(d, &d->heads[0], &st.mode, fill_grey,
                                       (void *)(uintptr_t)mn->r[i].scanout_id) == 0;
}

static void many_close(struct many *mn, int i)
{
    if (mn->d[i] != NULL)
        display_close(mn->d[i]);
    free(mn->d[i]);
    mn->d[i] = NULL;
    if (mn->fds[i] >= 0)
        close(mn->fds[i]);
    if (mn->socks[i] >= 0)
        close(mn->socks[i]);
    mn->fds[i] = mn->socks[i] = -1;
}

/* Half are given back by request (no fd comes with the answer), the rest
 * by closing the connection. */
static void many_release(struct scenario *sc, struct many *mn)
{
    int released = 0, wanted = 0;
    for (int i = 0; i < mn->n; i += 2) {
        if (mn->socks[i] < 0 || mn->r[i].status != LEASE_OK)
            continue;
        wanted++;
        struct lease_resp rr = { 0 };
        int fd = -1;
        char why[128] = "";
        if (lease_send(mn->socks[i], LEASE_CMD_RELEASE, mn->r[i].scanout_id, 0) == 0 &&
            lease_recv(mn->socks[i], &rr, &fd, 10000, why, sizeof why) == 0 &&
            rr.status == LEASE_OK && fd < 0 && rr.scanout_id == mn->r[i].scanout_id)
            released++;
        else
            guest_say("scenario many: release of head %u: %s", mn->r[i].scanout_id,
                      why[0] ? why : rr.text);
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < mn->n; i++)
        many_close(mn, i);
    int64_t last;
    double gone = wait_mask(sc, guest_mask, 0xfffe, 0, &last);
    check(sc, "many-release", released == wanted && gone >= 0,
          "%d of %d released by request, the rest by closing; every connector disconnected "
          "after %.0f ms (connected 0x%04llx)", released, wanted, gone, (long long)last);
    sync_point(sc, "many-off");
}

static void step_many(struct scenario *sc)
{
    struct many mn = { .n = (int)sc->count };
    double took = many_request(sc, &mn);
    uint32_t heads = 0;
    int ok = 0, shown = 0;
    for (int i = 0; i < mn.n; i++) {
        if (mn.done[i] && mn.r[i].status == LEASE_OK && mn.fds[i] >= 0 &&
            mn.r[i].scanout_id < MAX_HEADS && !(heads >> mn.r[i].scanout_id & 1)) {
            heads |= 1u << mn.r[i].scanout_id;
            ok++;
        } else {
            guest_say("scenario many: connection %d: %s", i, mn.done[i] ? mn.r[i].text : "no answer");
        }
    }
    int64_t t0 = hfx_now_ns();
    for (int i = 0; i < mn.n; i++)
        shown += mn.r[i].status == LEASE_OK && mn.fds[i] >= 0 && many_show(&mn, i);
    check(sc, "many", ok == mn.n && shown == ok && !(heads & 1),
          "%d of %d leases (heads 0x%04x) granted in %.0f ms, all at once; %d modeset through "
          "their leases in %.0f ms", ok, mn.n, heads, took, shown, ms_since(t0));
    sync_point(sc, "many-on heads 0x%04x %ux%u", heads, sc->w, sc->h);
    many_release(sc, &mn);
}

/* One connection sends raw bytes (then half-closes if asked) and must get
 * an error and no fd. */
static bool refused(struct scenario *sc, const char *what, const void *req, size_t len,
                    bool half_close)
{
    int sock = lease_connect(sc->path, 5000);
    if (sock < 0)
        return false;
    struct lease_resp r = { 0 };
    int fd = -1;
    char why[128] = "";
    bool ok = lease_send_raw(sock, req, len) == 0 &&
              (!half_close || shutdown(sock, SHUT_WR) == 0) &&
              lease_recv(sock, &r, &fd, 10000, why, sizeof why) == 0 && r.status == LEASE_ERROR &&
              fd < 0;
    guest_say("scenario malformed %s: %s%s", what, r.status == LEASE_ERROR ? "error: " : "",
              why[0] ? why : r.text);
    if (fd >= 0)
        close(fd);
    close(sock);
    return ok;
}

static size_t req(uint8_t out[LEASE_REQ_SIZE], uint8_t cmd, uint32_t w, uint32_t h)
{
    lease_req_put(out, &(struct lease_req){ .cmd = cmd, .width = w, .height = h });
    return LEASE_REQ_SIZE;
}

static void step_malformed(struct scenario *sc)
{
    int probe = lease_connect(sc->path, 5000);
    /* Counted once the manager has surely accepted the probe (it has
     * answered on it): counting right after connect raced the accept, and
     * the probe's own fd then showed up as a leak in the count after. */
    struct lease_resp pr = { 0 };
    int pfd = -1;
    char pwhy[128] = "";
    uint8_t pb[LEASE_REQ_SIZE];
    bool answered = probe >= 0 &&
                    lease_send_raw(probe, pb, req(pb, LEASE_CMD_RELEASE, 99, 0)) == 0 &&
                    lease_recv(probe, &pr, &pfd, 10000, pwhy, sizeof pwhy) == 0;
    if (pfd >= 0)
        close(pfd);
    int fds_before = answered ? manager_fds(probe) : -1;
    uint8_t b[LEASE_REQ_SIZE];
    int bad = 0, n = 0;
    bad += !refused(sc, "unknown command", b, req(b, 7, 640, 480), false), n++;
    bad += !refused(sc, "6000x3000", b, req(b, LEASE_CMD_LEASE, 6000, 3000), false), n++;
    bad += !refused(sc, "8x8", b, req(b, LEASE_CMD_LEASE, 8, 8), false), n++;
    bad += !refused(sc, "0x1080", b, req(b, LEASE_CMD_LEASE, 0, 1080), false), n++;
    bad += !refused(sc, "truncated", b, 5, true), n++;
    bad += !refused(sc, "release of a head nobody holds", b, req(b, LEASE_CMD_RELEASE, 1, 0),
                    false), n++;
    bad += !refused(sc, "release of head 99", b, req(b, LEASE_CMD_RELEASE, 99, 0), false), n++;

    /* Someone else's head: refused, and the holder keeps it. */
    int sock, fd;
    struct lease_resp r;
    bool good = lease_take(sc->path, sc->w, sc->h, &sock, &fd, &r) == 0;
    if (good) {
        bad += !refused(sc, "release of another client's head", b,
                        req(b, LEASE_CMD_RELEASE, r.scanout_id, 0), false), n++;
        struct lease_resp rr = { 0 };
        int fd2 = -1;
        char why[128] = "";
        good = lease_send(sock, LEASE_CMD_RELEASE, r.scanout_id, 0) == 0 &&
               lease_recv(sock, &rr, &fd2, 10000, why, sizeof why) == 0 &&
               rr.status == LEASE_OK && fd2 < 0;
        if (fd2 >= 0)
            close(fd2);
        close(fd);
        close(sock);
    }
    int64_t last_guest;
    double gone = wait_mask(sc, guest_mask, 0xfffe, 0, &last_guest);
    /* The manager closes a connection when it has read its end: give it a
     * moment before counting. */
    int fds_after = -1;
    for (int i = 0; i < 100 && (fds_after = manager_fds(probe)) != fds_before; i++)
        usleep(10000);
    close(probe);
    check(sc, "malformed", bad == 0 && good && gone >= 0 && fds_before >= 0 &&
                               fds_after == fds_before,
          "%d of %d bad requests refused without an fd; a good lease and release after them %s; "
          "connected 0x%04llx; manager fds %d before, %d after", n - bad, n,
          good ? "served" : "FAILED", (long long)last_guest, fds_before, fds_after);
    sync_point(sc, "malformed-off");
}

/* An extended connection to the exporter that presented token; scope is
 * what the token grants. -1 with err set when refused. */
static int open_with_token(struct scenario *sc, struct hfx_conn *c, const char *token,
                           uint32_t *scope, char *err, size_t errlen)
{
    if (hfx_conn_open(c, sc->host, err, errlen) < 0)
        return -1;
    if (hfx_conn_hello(c, 0, WAIT_MS, err, errlen) < 0 ||
        hfx_conn_auth(c, token, WAIT_MS, scope, err, errlen) < 0) {
        hfx_conn_close(c);
        return -1;
    }
    return 0;
}

/* Reads the stream until the server's ERROR (the revocation) or timeout_ms. */
static bool cut_off(struct hfx_conn *c, int timeout_ms, char *text, size_t len)
{
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    char err[128];
    while (hfx_now_ns() < deadline) {
        struct hxfr_msg m;
        int r = hfx_conn_read(c, &m, 100, err, sizeof err);
        if (r < 0)
            break;
        if (r == 1 && m.h.type == HXFR_ERROR) {
            snprintf(text, len, "%s", m.u.error.text);
            return m.u.error.code == HXFR_E_DENIED;
        }
    }
    snprintf(text, len, "no ERROR");
    return false;
}

static void step_token(struct scenario *sc)
{
    if (!sc->host) {
        check(sc, "token", false, "no --host to check the token against");
        return;
    }
    char why[256], token[LEASE_TOKEN_SIZE + 1] = "";
    struct lease_resp r = { 0 };
    int fd = -1, sock = lease_connect(sc->path, WAIT_MS);
    bool leased = sock >= 0 && lease_send(sock, LEASE_CMD_LEASE_TOKEN, sc->w, sc->h) == 0 &&
                  lease_recv(sock, &r, &fd, 30000, why, sizeof why) == 0 &&
                  r.status == LEASE_OK && fd >= 0 &&
                  lease_recv_token(sock, token, WAIT_MS, why, sizeof why) == 0;
    if (!leased) {
        check(sc, "token", false, "no lease with a token: %s", r.status ? r.text : why);
        if (fd >= 0)
            close(fd);
        if (sock >= 0)
            close(sock);
        return;
    }
    uint32_t head = r.scanout_id, scope = 0;
    char own_err[256] = "", other_err[256] = "", cut_text[HXFR_ERROR_TEXT_SIZE + 1] = "";
    char late_err[256] = "";
    struct hfx_conn own, other, late;
    bool own_ok = open_with_token(sc, &own, token, &scope, own_err, sizeof own_err) == 0;
    if (own_ok && (scope != head ||
                   hfx_conn_subscribe(&own, head, WAIT_MS, own_err, sizeof own_err) < 0))
        own_ok = false;
    bool other_refused = false;
    if (open_with_token(sc, &other, token, NULL, other_err, sizeof other_err) == 0) {
        other_refused = hfx_conn_subscribe(&other, 0, WAIT_MS, other_err, sizeof other_err) < 0 &&
                        strstr(other_err, "(-7)") != NULL;
        hfx_conn_close(&other);
    }
    /* Given back: the token must stop working at once. */
    struct lease_resp rel = { 0 };
    int nofd = -1;
    bool released = lease_send(sock, LEASE_CMD_RELEASE, head, 0) == 0 &&
                    lease_recv(sock, &rel, &nofd, 30000, why, sizeof why) == 0 &&
                    rel.status == LEASE_OK;
    if (nofd >= 0)
        close(nofd);
    bool was_cut = own_ok && cut_off(&own, 3000, cut_text, sizeof cut_text);
    if (own_ok)
        hfx_conn_close(&own);
    bool late_open = open_with_token(sc, &late, token, NULL, late_err, sizeof late_err) == 0;
    bool late_refused = !late_open && strstr(late_err, "revoked") != NULL;
    if (late_open)
        hfx_conn_close(&late);
    close(fd);
    close(sock);
    check(sc, "token", own_ok && other_refused && released && was_cut && late_refused,
          "head %u token %.14s...: own head %s; head 0 %s; given back %s; its subscriber %s; "
          "the token afterwards %s",
          head, token, own_ok ? "subscribed" : own_err,
          other_refused ? "refused" : other_err[0] ? other_err : "NOT refused",
          released ? "ok" : why, was_cut ? cut_text : "NOT cut off",
          late_refused ? "refused (revoked)" : late_err[0] ? late_err : "STILL accepted");
    sync_point(sc, "token-off");
}

static int count_connectors(struct scenario *sc)
{
    for (sc->nconn = 0; sc->nconn < MAX_HEADS; sc->nconn++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/class/drm/card0-Virtual-%d", sc->nconn + 1);
        if (access(path, F_OK) != 0)
            break;
    }
    if (sc->nconn < 2)
        guest_warn("lease-test: %d virtio-gpu connector(s): nothing to lease", sc->nconn);
    return sc->nconn < 2 ? -1 : 0;
}

int cmd_lease_test(int argc, char **argv)
{
    struct scenario sc = { .path = LEASE_SOCKET, .size = "640x480", .count = 15,
                           .draw_seconds = 6, .pause_seconds = 2 };
    const struct arg_spec specs[] = {
        { "--socket", ARG_STR, &sc.path, 0, 0 },
        { "--host", ARG_STR, &sc.host, 0, 0 },
        { "--size", ARG_STR, &sc.size, 0, 0 },
        { "--count", ARG_INT, &sc.count, 1, MAX_HEADS - 1 },
        { "--draw-seconds", ARG_DOUBLE, &sc.draw_seconds, 0, 0 },
        { "--pause-seconds", ARG_DOUBLE, &sc.pause_seconds, 0, 0 },
    };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "lease-test") < 0)
        return 2;
    if (lease_parse_size(sc.size, &sc.w, &sc.h) < 0) {
        guest_warn("lease-test: --size wants WxH");
        return 2;
    }
    /* The manager is up (and master) once its socket answers. */
    int first = lease_connect(sc.path, 15000);
    if (first < 0)
        return 1;
    close(first);
    if (count_connectors(&sc) < 0)
        return 1;
    step_draw_kill(&sc);
    step_many(&sc);
    step_malformed(&sc);
    step_token(&sc);
    guest_say("scenario done, %d check(s) failed", sc.failed);
    return sc.failed ? 1 : 0;
}
