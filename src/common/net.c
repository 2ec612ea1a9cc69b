#include "common/net.h"

#include <errno.h>
#include <fcntl.h>
/* Before linux/vm_sockets.h: older UAPI headers (the arm64 cross
 * toolchain's) do not include it themselves. */
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

struct addr {
    int family;
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Splits "HOST:PORT" at the last colon so "[::1]:80" and "::1:80" work. */
static int split_host_port(const char *s, char *host, size_t hostlen, long *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n >= hostlen)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    char *end;
    errno = 0;
    *port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || *port < 0 || *port > 65535)
        return -1;
    return 0;
}

static int parse_tcp(const char *rest, struct addr *a, char *err, size_t errlen)
{
    char host[256];
    long port;
    if (split_host_port(rest, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "'tcp:%s' is not HOST:PORT (e.g. tcp:127.0.0.1:15937)", rest);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV}, *res;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%ld", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    a->family = res->ai_family;
    memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int parse_unix(const char *path, struct addr *a, char *err, size_t errlen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    if (!*path || strlen(path) >= sizeof un->sun_path) {
        snprintf(err, errlen, "unix socket path must be 1..%zu bytes",
                 sizeof un->sun_path - 1);
        return -1;
    }
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    a->family = AF_UNIX;
    a->len = sizeof *un;
    return 0;
}

static int parse_vsock(const char *rest, struct addr *a, char *err, size_t errlen)
{
    char cid[32];
    long port;
    if (split_host_port(rest, cid, sizeof cid, &port) < 0) {
        snprintf(err, errlen, "'vsock:%s' is not CID:PORT (e.g. vsock:any:15937)", rest);
        return -1;
    }
    struct sockaddr_vm *vm = (struct sockaddr_vm *)&a->ss;
    vm->svm_family = AF_VSOCK;
    vm->svm_port = (unsigned)port;
    if (!strcmp(cid, "any")) {
        vm->svm_cid = VMADDR_CID_ANY;
    } else {
        char *end;
        unsigned long v = strtoul(cid, &end, 10);
        if (*end || end == cid || v > 0xffffffffUL) {
            snprintf(err, errlen, "vsock CID '%s' is not a number or 'any'", cid);
            return -1;
        }
        vm->svm_cid = (unsigned)v;
    }
    a->family = AF_VSOCK;
    a->len = sizeof *vm;
    return 0;
}

static int parse(const char *spec, struct addr *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!strncmp(spec, "tcp:", 4))
        return parse_tcp(spec + 4, a, err, errlen);
    if (!strncmp(spec, "unix:", 5))
        return parse_unix(spec + 5, a, err, errlen);
    if (!strncmp(spec, "vsock:", 6))
        return parse_vsock(spec + 6, a, err, errlen);
    snprintf(err, errlen, "'%s' is not an address: use tcp:HOST:PORT, unix:PATH or vsock:CID:PORT",
             spec);
    return -1;
}

int hfx_local_spec(const char *listen_spec, int port, char *out, size_t outlen, char *err,
                   size_t errlen)
{
    int n;
    if (!strncmp(listen_spec, "tcp:", 4)) {
        char host[256];
        long spec_port;
        if (split_host_port(listen_spec + 4, host, sizeof host, &spec_port) < 0) {
            snprintf(err, errlen, "'%s' is not HOST:PORT (e.g. tcp:127.0.0.1:15937)",
                     listen_spec);
            return -1;
        }
        const char *local = !strcmp(host, "0.0.0.0") ? "127.0.0.1"
                            : !strcmp(host, "::")    ? "::1"
                                                     : host;
        n = snprintf(out, outlen, strchr(local, ':') ? "tcp:[%s]:%ld" : "tcp:%s:%ld", local,
                     port >= 0 ? (long)port : spec_port);
    } else if (!strncmp(listen_spec, "unix:", 5)) {
        n = snprintf(out, outlen, "%s", listen_spec);
    } else {
        snprintf(err, errlen, "a client on this host cannot connect to '%s'", listen_spec);
        return -1;
    }
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "address '%s' is too long", listen_spec);
        return -1;
    }
    return 0;
}

int hfx_listen(const char *spec, char *err, size_t errlen)
{
    struct addr a;
    if (parse(spec, &a, err, errlen) < 0)
        return -1;
    int fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the socket: %s%s", spec, strerror(errno),
                 a.family == AF_VSOCK ? " (is the vsock module loaded?)" : "");
        return -1;
    }
    int one = 1;
    if (a.family == AF_INET || a.family == AF_INET6)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family == AF_UNIX)
        unlink(((struct sockaddr_un *)&a.ss)->sun_path); /* a stale socket from a dead run */
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "%s: cannot listen: %s%s", spec, strerror(errno),
                 errno == EADDRINUSE ? " (another server runs there? choose another --listen)"
                                     : "");
        close(fd);
        return -1;
    }
    return fd;
}

int hfx_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    switch (ss.ss_family) {
    case AF_INET:
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    case AF_INET6:
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    case AF_VSOCK:
        return (int)((struct sockaddr_vm *)&ss)->svm_port;
    default:
        return -1;
    }
}

/* A connect that gives up after timeout_ms: non-blocking, then poll for
 * writability and read the outcome with SO_ERROR. */
static int connect_within(int fd, const struct addr *a, int timeout_ms)
{
    if (timeout_ms < 0)
        return connect(fd, (const struct sockaddr *)&a->ss, a->len);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    int r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
            ;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (n == 0)
            soerr = ETIMEDOUT;
        else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        r = soerr ? -1 : 0;
        errno = soerr;
    }
    int saved = errno;
    if (fcntl(fd, F_SETFL, flags) < 0 && r == 0)
        return -1;
    errno = saved;
    return r;
}

int hfx_connect(const char *spec, char *err, size_t errlen)
{
    return hfx_connect_timeout(spec, -1, err, errlen);
}

int hfx_connect_timeout(const char *spec, int timeout_ms, char *err, size_t errlen)
{
    struct addr a;
    if (parse(spec, &a, err, errlen) < 0)
        return -1;
    int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the socket: %s", spec, strerror(errno));
        return -1;
    }
    if (connect_within(fd, &a, timeout_ms) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s%s", spec, strerror(errno),
                 errno == ECONNREFUSED ? " (is hfx serve running there?)" : "");
        close(fd);
        return -1;
    }
    if (a.family == AF_INET || a.family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

ssize_t hfx_send_with_fd(int sock, const void *buf, size_t len, int fd, int flags)
{
    struct iovec iov = {(void *)buf, len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, flags)) < 0 && errno == EINTR)
        ;
    return n;
}
