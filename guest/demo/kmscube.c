#include "kmscube.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

/* Paths inside GL_ROOT (guest/build --gl puts them there). */
#define KMSCUBE "/usr/bin/kmscube"
#define OPEN_LEASE "/usr/lib/hfx/open-lease.so"
/* The fd the lease is inherited on, and the path that names it for
 * open-lease.so: no such file exists, and kmscube never learns it is a lease. */
#define LEASE_FD 3
#define LEASE_PATH_FMT "/dev/dri/lease-head%d"

int kmscube_init(struct kmscube *k, int master_fd, const char *heads)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < KMS_MAX_HEADS; i++)
        k->g[i].pty = -1;
    for (const char *p = heads; *p != '\0';) {
        char *end;
        long h = strtol(p, &end, 10);
        if (end == p || h < 0 || h >= KMS_MAX_HEADS || (*end != '+' && *end != '\0')) {
            guest_warn("--kmscube wants head numbers 0..%d like 1+2, not '%s'", KMS_MAX_HEADS - 1,
                       heads);
            return -1;
        }
        k->heads |= 1u << h;
        p = *end == '+' ? end + 1 : end;
    }
    if (access(GL_ROOT KMSCUBE, X_OK) != 0) {
        guest_warn("no %s: --kmscube needs the GL guest (guest/build --gl)", GL_ROOT KMSCUBE);
        return -1;
    }
    return kms_adopt(&k->kms, master_fd);
}

/* The child: kmscube on the terminal tty, with the lease on LEASE_FD. */
static void exec_kmscube(int head, int tty, int lease_fd)
{
    /* A session of its own, with the terminal as its controlling one: when
     * the demo ends, the terminal's hangup ends kmscube too. */
    if (setsid() < 0 || ioctl(tty, TIOCSCTTY, 0) < 0 || dup2(tty, 0) < 0 || dup2(tty, 1) < 0 ||
        dup2(tty, 2) < 0)
        _exit(126);
    /* lease_fd >= 3: 0-2 were open when it was made. dup2 onto itself
     * would keep close-on-exec. */
    if (lease_fd == LEASE_FD ? fcntl(LEASE_FD, F_SETFD, 0) < 0 : dup2(lease_fd, LEASE_FD) < 0)
        _exit(126);
    signal(SIGPIPE, SIG_DFL); /* the demo ignores it; exec would keep that */
    if (chroot(GL_ROOT) != 0 || chdir("/") != 0)
        _exit(126);
    char path[64], fd_env[32], path_env[96];
    snprintf(path, sizeof path, LEASE_PATH_FMT, head);
    snprintf(fd_env, sizeof fd_env, "HFX_LEASE_FD=%d", LEASE_FD);
    snprintf(path_env, sizeof path_env, "HFX_LEASE_PATH=%s", path);
    char *argv[] = { "kmscube", "-D", path, NULL };
    /* HOME: GL_ROOT is read-only; /tmp there is a tmpfs. */
    char *envp[] = { "PATH=/usr/bin:/bin", "HOME=/tmp", "LD_PRELOAD=" OPEN_LEASE, fd_env,
                     path_env, NULL };
    execve(KMSCUBE, argv, envp);
    _exit(127);
}

static int collect_leases(const struct kmscube *k, struct kms_lease *busy)
{
    int n = 0;
    for (int i = 0; i < KMS_MAX_HEADS; i++)
        if (k->g[i].pid > 0)
            busy[n++] = k->g[i].lease;
    return n;
}

static void start(struct kmscube *k, int head, uint32_t w, uint32_t h)
{
    struct gl_head *g = &k->g[head];
    struct kms_lease busy[KMS_MAX_HEADS];
    int nbusy = collect_leases(k, busy);
    char err[160], tty_name[64];
    /* The dumb heads' CRTCs are not in busy: virtio-gpu's encoders each
     * drive one CRTC of their own, so they cannot be picked for this one. */
    int lease_fd = kms_lease(&k->kms, head, busy, nbusy, &g->lease, err, sizeof err);
    if (lease_fd < 0) {
        guest_warn("head %d: no lease for kmscube: %s", head, err);
        return;
    }
    /* The terminal's slave side is opened here, before the fork: a master
     * whose slave was never opened reads as hung up (EIO), as after kmscube
     * ended. */
    int pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), tty = -1;
    if (pty < 0 || grantpt(pty) != 0 || unlockpt(pty) != 0 ||
        ptsname_r(pty, tty_name, sizeof tty_name) != 0 ||
        (tty = open(tty_name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        guest_warn("head %d: no terminal for kmscube: %s", head, strerror(errno));
        goto fail;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        guest_warn("head %d: fork: %s", head, strerror(errno));
        goto fail;
    }
    if (pid == 0)
        exec_kmscube(head, tty, lease_fd);
    close(tty);
    /* kmscube holds the lease now: when it ends, so does the lease. */
    close(lease_fd);
    g->pid = pid;
    g->pty = pty;
    g->len = 0;
    g->cut = false;
    guest_say("head %d connected %ux%u kmscube pid %d lessee %u", head, w, h, (int)pid,
              g->lease.lessee_id);
    return;
fail:
    if (tty >= 0)
        close(tty);
    if (pty >= 0)
        close(pty);
    close(lease_fd);
    kms_revoke(&k->kms, &g->lease, err, sizeof err);
}

/* After kmscube ended: its terminal goes, its lease is revoked (a child it
 * left behind may still hold the fd). */
static void reaped(struct kmscube *k, int head, int status)
{
    struct gl_head *g = &k->g[head];
    char err[160];
    if (WIFEXITED(status))
        guest_say("kmscube head %d exited %d", head, WEXITSTATUS(status));
    else
        guest_say("kmscube head %d exited on signal %d", head, WTERMSIG(status));
    if (kms_revoke(&k->kms, &g->lease, err, sizeof err) < 0)
        guest_warn("head %d: %s", head, err);
    close(g->pty);
    g->pty = -1;
    g->pid = 0;
}

static void stop(struct kmscube *k, int head)
{
    struct gl_head *g = &k->g[head];
    if (g->pid <= 0)
        return;
    int status = 0;
    kill(g->pid, SIGTERM);
    while (waitpid(g->pid, &status, 0) < 0 && errno == EINTR)
        ;
    reaped(k, head, status);
}

void kmscube_follow(struct kmscube *k, int head, bool connected, uint32_t w, uint32_t h)
{
    struct gl_head *g = &k->g[head];
    if (!connected) {
        if (g->on) {
            stop(k, head);
            guest_say("head %d disconnected", head);
        }
        g->on = false;
        return;
    }
    /* Running, or ended by itself: left alone until the connector changes. */
    if (g->on && g->w == w && g->h == h)
        return;
    stop(k, head);
    g->on = true;
    g->w = w;
    g->h = h;
    start(k, head, w, h);
}

int kmscube_fds(const struct kmscube *k, struct pollfd *pfd, int *heads, int max)
{
    int n = 0;
    for (int i = 0; i < KMS_MAX_HEADS && n < max; i++)
        if (k->g[i].pid > 0) {
            pfd[n] = (struct pollfd){ .fd = k->g[i].pty, .events = POLLIN };
            heads[n++] = i;
        }
    return n;
}

static void pass_on(struct gl_head *g, int head, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\r')
            continue; /* the terminal's newline is CR LF */
        if (c == '\n') {
            if (!g->cut)
                guest_say("kmscube head %d: %.*s", head, (int)g->len, g->line);
            g->len = 0;
            g->cut = false;
        } else if (g->cut) {
            continue;
        } else if (g->len == sizeof g->line) {
            guest_say("kmscube head %d: %.*s ...", head, (int)g->len, g->line);
            g->cut = true;
        } else {
            g->line[g->len++] = c;
        }
    }
}

void kmscube_read(struct kmscube *k, int head)
{
    struct gl_head *g = &k->g[head];
    char buf[1024];
    ssize_t n = read(g->pty, buf, sizeof buf);
    if (n > 0) {
        pass_on(g, head, buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    /* EIO: no process holds the terminal any more. */
    int status = 0;
    pid_t r;
    while ((r = waitpid(g->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    reaped(k, head, r == g->pid ? status : 0);
}

void kmscube_stop_all(struct kmscube *k)
{
    for (int i = 0; i < KMS_MAX_HEADS; i++)
        stop(k, i);
}
