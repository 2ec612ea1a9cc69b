#include "manager.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "log.h"
#include "sock.h"
#include "uevent.h"

/* Pending heads are looked at this often for their deadline, and, where
 * there are no uevents, for the connector state (reading it is cheap). */
#define RECHECK_MS 200

static double ms_since(int64_t t)
{
    return (double)(hfx_now_ns() - t) / 1e6;
}

/* Heads a manager before us left on (it died, and its leases with it):
 * the pool starts with every head off on the host. A head switched to the
 * size it already has would make no hotplug in the guest, and its lease
 * would wait out the timeout. An unreachable host is tried once, not per head. */
static void host_reset(struct manager *m)
{
    int64_t t0 = hfx_now_ns();
    char err[256];
    for (int i = 1; i <= m->max_head; i++)
        if (host_disable(&m->host, (uint32_t)i, err, sizeof err) < 0) {
            mgr_warn("cannot turn heads off on the host at start: %s", err);
            if (!m->host.open)
                return;
        }
    mgr_log("heads 1..%d off on the host in %.1f ms", m->max_head, ms_since(t0));
}

/* The control token comes out of band (fw_cfg): without it the manager
 * still leases, over plain v1, where the exporter's listener allows that. */
static void load_token(struct manager *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        mgr_warn("no control token (%s: %s): heads are switched as a plain v1 client and "
                 "leases come without tokens", path, strerror(errno));
        return;
    }
    char line[HXFR_MAX_TOKEN + 2] = "";
    if (fgets(line, sizeof line, f))
        line[strcspn(line, "\r\n")] = 0;
    fclose(f);
    if (!line[0] || strlen(line) > HXFR_MAX_TOKEN) {
        mgr_warn("%s holds no token", path);
        return;
    }
    strcpy(m->token, line);
}

int manager_open(struct manager *m, const struct settings *s)
{
    memset(m, 0, sizeof *m);
    m->s = s;
    m->listen_fd = m->uevent_fd = -1;
    if (kms_open(&m->kms, s->card) < 0)
        return -1;
    int max = m->kms.nheads - 1;
    if (s->max_heads > 0 && s->max_heads < max)
        max = (int)s->max_heads;
    m->max_head = max;
    if (max < 1) {
        mgr_warn("%s has %d connector(s): no head besides the console to lease", s->card,
                 m->kms.nheads);
        kms_close(&m->kms);
        return -1;
    }
    /* Before the socket exists: a client that can connect is served. */
    m->uevent_fd = uevent_open();
    m->listen_fd = sock_listen(s->socket);
    if (m->listen_fd < 0) {
        kms_close(&m->kms);
        return -1;
    }
    load_token(m, s->token_file);
    host_init(&m->host, s->host, m->token[0] ? m->token : NULL, (int)s->host_timeout_ms);
    host_reset(m);
    mgr_log("serving heads 1..%d (%s..%s) of %s on %s, host %s (%s)", max,
            m->kms.heads[1].name, m->kms.heads[max].name, s->card, s->socket, s->host,
            m->token[0] ? "control token: leases can carry head tokens" : "no control token");
    return 0;
}

/* ---- responses ---- */

/* The 69-byte response, with the lease fd when there is one. tail is what
 * a later command may append after it (the access token of cmd 3). A client
 * that cannot take it at once is dropped. */
static void respond(struct client *c, uint8_t status, uint32_t id, const char *text, int fd,
                    const uint8_t *tail, size_t tail_len)
{
    uint8_t buf[LEASE_RESP_TOKEN_SIZE];
    struct lease_resp r = { .status = status, .scanout_id = id };
    snprintf(r.text, sizeof r.text, "%s", text);
    lease_resp_put(buf, &r);
    if (tail_len > sizeof buf - LEASE_RESP_SIZE)
        tail_len = 0;
    if (tail_len)
        memcpy(buf + LEASE_RESP_SIZE, tail, tail_len);
    if (sock_send(c->fd, buf, LEASE_RESP_SIZE + tail_len, fd) < 0)
        c->dead = true;
}

static void respond_error(struct client *c, uint32_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void respond_error(struct client *c, uint32_t id, const char *fmt, ...)
{
    char text[LEASE_TEXT_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mgr_log("refused pid %d: %s", (int)c->pid, text);
    respond(c, LEASE_ERROR, id, text, -1, NULL, 0);
}

/* ---- heads ---- */

static void head_free(struct manager *m, int i)
{
    struct mhead *h = &m->heads[i];
    if (h->owner != NULL)
        h->owner->held--;
    memset(h, 0, sizeof *h);
}

/* Takes a head back from its client: the lease is revoked first, so the
 * compositor loses the screen before the host turns it off. */
static void head_release(struct manager *m, int i, const char *why)
{
    struct mhead *h = &m->heads[i];
    int64_t t0 = hfx_now_ns();
    char err[256];
    if (h->state == HEAD_LEASED && kms_revoke(&m->kms, &h->lease, err, sizeof err) < 0)
        mgr_warn("head %d: %s", i, err);
    /* Its token goes with the lease: the next lessee of the head must not
     * share the screen with this one. */
    if (m->host.token && host_revoke_token(&m->host, (uint32_t)i, err, sizeof err) < 0)
        mgr_warn("head %d: revoking its token: %s", i, err);
    if (host_disable(&m->host, (uint32_t)i, err, sizeof err) < 0)
        mgr_warn("head %d: DISABLE_SCANOUT: %s", i, err);
    mgr_log("release head %d %s pid %d (%s) in %.1f ms", i, m->kms.heads[i].name,
            h->owner ? (int)h->owner->pid : -1, why, ms_since(t0));
    head_free(m, i);
}

static void lease_fail(struct manager *m, int i, const char *why)
{
    struct mhead *h = &m->heads[i];
    struct client *c = h->owner;
    char err[256];
    if (host_disable(&m->host, (uint32_t)i, err, sizeof err) < 0)
        mgr_warn("head %d: DISABLE_SCANOUT: %s", i, err);
    c->waiting = false;
    respond_error(c, (uint32_t)i, "head %d %s: %s", i, m->kms.heads[i].name, why);
    head_free(m, i);
}

/* The connector is up at the size asked for: lease it and hand it over. */
static void lease_grant(struct manager *m, int i)
{
    struct mhead *h = &m->heads[i];
    struct client *c = h->owner;
    struct kms_lease busy[KMS_MAX_HEADS];
    int nbusy = 0;
    for (int j = 1; j <= m->max_head; j++)
        if (m->heads[j].state == HEAD_LEASED)
            busy[nbusy++] = m->heads[j].lease;
    char err[256];
    int fd = kms_lease(&m->kms, i, busy, nbusy, &h->lease, err, sizeof err);
    if (fd < 0) {
        lease_fail(m, i, err);
        return;
    }
    char token[LEASE_TOKEN_SIZE + 1] = "";
    if (h->with_token && host_mint_token(&m->host, (uint32_t)i, token, err, sizeof err) < 0) {
        close(fd);
        char e2[256];
        if (kms_revoke(&m->kms, &h->lease, e2, sizeof e2) < 0)
            mgr_warn("head %d: %s", i, e2);
        lease_fail(m, i, err);
        return;
    }
    h->state = HEAD_LEASED;
    c->waiting = false;
    respond(c, LEASE_OK, (uint32_t)i, m->kms.heads[i].name, fd, (const uint8_t *)token,
            h->with_token ? LEASE_TOKEN_SIZE : 0);
    /* The client has its copy (or is dead and its copy is gone): the lease
     * now lives exactly as long as the client keeps it. */
    close(fd);
    mgr_log("lease head %d %s %ux%u pid %d lessee %u in %.1f ms", i, m->kms.heads[i].name, h->w,
            h->h, (int)c->pid, h->lease.lessee_id, ms_since(h->started));
}

/* When is a head ready to be leased? The host has turned it on; the guest
 * learns of it through virtio-gpu's display event, which ends in a DRM
 * hotplug uevent. The connector state the kernel keeps (what
 * drmModeGetConnectorCurrent reads) is only refreshed by a probe, though:
 * virtio-gpu has no connector polling, so in Linux 6.1 the hotplug path
 * leaves status and modes as the last probe saw them, and the manager may
 * not probe (it would contend with the compositors for the modeset locks).
 * So a head is ready at the first hotplug uevent after the host's reply;
 * without uevents, or at the deadline, when the kept state shows the
 * connector connected at that size. The lessee probes its own connector,
 * as every compositor does when it starts. */
/* Every head waiting now had its ENABLE answered before this uevent was
 * read. */
static void note_hotplug(struct manager *m)
{
    for (int i = 1; i <= m->max_head; i++)
        if (m->heads[i].state == HEAD_PENDING)
            m->heads[i].hotplugged = true;
}

static void check_pending(struct manager *m, int i, int64_t now)
{
    struct mhead *h = &m->heads[i];
    if (h->state != HEAD_PENDING)
        return;
    char why[128];
    if (h->hotplugged)
        lease_grant(m, i);
    else if ((m->uevent_fd < 0 || now >= h->deadline) &&
             kms_head_ready(&m->kms, i, h->w, h->h, why, sizeof why))
        lease_grant(m, i);
    else if (now >= h->deadline) {
        char text[200];
        snprintf(text, sizeof text, "no hotplug within %ld ms (connector %s)",
                 m->s->connect_timeout_ms, why);
        lease_fail(m, i, text);
    }
}

/* ---- requests ---- */

static void start_lease(struct manager *m, struct client *c, uint32_t w, uint32_t hgt,
                        bool with_token)
{
    if (with_token && !m->host.token) {
        respond_error(c, 0, "no control token: the manager cannot mint head tokens");
        return;
    }
    if (w == 0 && hgt == 0) {
        w = LEASE_DEFAULT_W;
        hgt = LEASE_DEFAULT_H;
    }
    if (w < LEASE_MIN_SIDE || hgt < LEASE_MIN_SIDE || w > LEASE_MAX_W || hgt > LEASE_MAX_H) {
        respond_error(c, 0, "size %ux%u is not within %ux%u..%ux%u", w, hgt, LEASE_MIN_SIDE,
                      LEASE_MIN_SIDE, LEASE_MAX_W, LEASE_MAX_H);
        return;
    }
    if (c->held >= m->s->max_leases) {
        respond_error(c, 0, "this connection holds %d leases already", c->held);
        return;
    }
    int i = 1;
    while (i <= m->max_head && m->heads[i].state != HEAD_FREE)
        i++;
    if (i > m->max_head) {
        respond_error(c, 0, "no free head (all %d leased)", m->max_head);
        return;
    }
    struct mhead *h = &m->heads[i];
    int64_t now = hfx_now_ns();
    char err[256];
    /* Hotplugs so far are older than this change: only later ones count. */
    if (m->uevent_fd >= 0 && uevent_drm_hotplug(m->uevent_fd))
        note_hotplug(m);
    if (host_enable(&m->host, (uint32_t)i, w, hgt, err, sizeof err) < 0) {
        respond_error(c, (uint32_t)i, "%s", err);
        return;
    }
    *h = (struct mhead){ .state = HEAD_PENDING, .owner = c, .w = w, .h = hgt, .started = now,
                         .deadline = now + m->s->connect_timeout_ms * 1000000,
                         .with_token = with_token };
    c->held++;
    c->waiting = true;
    check_pending(m, i, hfx_now_ns());
}

static void release_request(struct manager *m, struct client *c, uint32_t head)
{
    if (head < 1 || head > (uint32_t)m->max_head || m->heads[head].owner != c ||
        m->heads[head].state != HEAD_LEASED) {
        respond_error(c, head, "head %u is not leased by this connection", head);
        return;
    }
    head_release(m, (int)head, "released");
    respond(c, LEASE_OK, head, m->kms.heads[head].name, -1, NULL, 0);
}

static void on_request(struct manager *m, struct client *c)
{
    struct lease_req r;
    lease_req_get(c->in, &r);
    c->in_len = 0;
    switch (r.cmd) {
    case LEASE_CMD_LEASE:
    case LEASE_CMD_LEASE_TOKEN:
        start_lease(m, c, r.width, r.height, r.cmd == LEASE_CMD_LEASE_TOKEN);
        break;
    case LEASE_CMD_RELEASE:
        release_request(m, c, r.width);
        break;
    default:
        respond_error(c, 0, "unknown command %u", r.cmd);
        break;
    }
}

/* ---- clients ---- */

static void client_close(struct manager *m, struct client *c, const char *why)
{
    for (int i = 1; i <= m->max_head; i++) {
        if (m->heads[i].owner != c)
            continue;
        if (m->heads[i].state == HEAD_LEASED)
            head_release(m, i, why);
        else
            lease_fail(m, i, why); /* the response goes nowhere; the head comes back */
    }
    close(c->fd);
    free(c);
}

static void accept_clients(struct manager *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                mgr_warn("accept: %s", strerror(errno));
            return;
        }
        struct client *c = calloc(1, sizeof *c);
        struct client **grown = c ? realloc(m->clients, (size_t)(m->nclients + 1) * sizeof *grown)
                                  : NULL;
        if (grown == NULL || m->nclients >= m->s->max_clients) {
            struct client tmp = { .fd = fd, .pid = sock_peer_pid(fd) };
            respond_error(&tmp, 0, "too many clients (%d)", m->nclients);
            if (grown != NULL)
                m->clients = grown;
            free(c);
            close(fd);
            continue;
        }
        m->clients = grown;
        c->fd = fd;
        c->pid = sock_peer_pid(fd);
        m->clients[m->nclients++] = c;
    }
}

/* Reads requests until one is pending (the next waits until it is
 * answered, so a client's requests keep their order), the socket is empty,
 * or a few were served: a client that floods the socket gets its turn, then
 * the others theirs. */
#define REQUESTS_PER_TURN 8

static void client_read(struct manager *m, struct client *c)
{
    for (int served = 0; !c->waiting && !c->dead && served < REQUESTS_PER_TURN;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, LEASE_REQ_SIZE - c->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (c->in_len > 0)
                respond_error(c, 0, "truncated request (%zu of %d bytes)", c->in_len,
                              LEASE_REQ_SIZE);
            c->dead = true;
            return;
        }
        c->in_len += (size_t)n;
        if (c->in_len == LEASE_REQ_SIZE) {
            on_request(m, c);
            served++;
        }
    }
}

static void drop_dead_clients(struct manager *m)
{
    int kept = 0;
    for (int i = 0; i < m->nclients; i++) {
        if (m->clients[i]->dead)
            client_close(m, m->clients[i], "client closed");
        else
            m->clients[kept++] = m->clients[i];
    }
    m->nclients = kept;
}

/* ---- the loop ---- */

static int poll_timeout(const struct manager *m, int64_t now)
{
    int64_t wait = -1;
    for (int i = 1; i <= m->max_head; i++) {
        if (m->heads[i].state != HEAD_PENDING)
            continue;
        int64_t left = (m->heads[i].deadline - now + 999999) / 1000000;
        left = left < RECHECK_MS ? (left < 0 ? 0 : left) : RECHECK_MS;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return (int)wait;
}

int manager_run(struct manager *m, volatile sig_atomic_t *stop)
{
    struct pollfd *pfd = NULL;
    int rc = 0;
    while (!*stop) {
        struct pollfd *grown = realloc(pfd, (size_t)(m->nclients + 2) * sizeof *pfd);
        if (grown == NULL) {
            mgr_warn("out of memory");
            rc = 1;
            break;
        }
        pfd = grown;
        pfd[0] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = m->uevent_fd, .events = POLLIN };
        /* A waiting client is not read, but its hang-up still shows. */
        for (int i = 0; i < m->nclients; i++)
            pfd[i + 2] = (struct pollfd){ .fd = m->clients[i]->fd,
                                          .events = m->clients[i]->waiting ? 0 : POLLIN };
        int n = m->nclients;
        int r = poll(pfd, (nfds_t)n + 2, poll_timeout(m, hfx_now_ns()));
        if (r < 0 && errno != EINTR) {
            mgr_warn("poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        if (r > 0 && (pfd[1].revents & POLLIN) && uevent_drm_hotplug(m->uevent_fd))
            note_hotplug(m);
        for (int i = 0; r > 0 && i < n; i++) {
            struct client *c = m->clients[i];
            short ev = pfd[i + 2].revents;
            if (ev & POLLIN)
                client_read(m, c);
            else if (ev & (POLLHUP | POLLERR))
                c->dead = true;
        }
        int64_t now = hfx_now_ns();
        for (int i = 1; i <= m->max_head; i++)
            check_pending(m, i, now);
        drop_dead_clients(m);
        if (r > 0 && (pfd[0].revents & POLLIN))
            accept_clients(m);
    }
    free(pfd);
    for (int i = 0; i < m->nclients; i++)
        m->clients[i]->dead = true;
    drop_dead_clients(m);
    free(m->clients);
    close(m->listen_fd);
    unlink(m->s->socket);
    if (m->uevent_fd >= 0)
        close(m->uevent_fd);
    host_close(&m->host);
    kms_close(&m->kms);
    mgr_log("stopped");
    return rc;
}
