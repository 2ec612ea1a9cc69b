#include "lease_sock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"

int lease_sock_connect(const char *path, int wait_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int64_t deadline = hfx_now_ns() + (int64_t)wait_ms * 1000000;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        int err = errno;
        close(fd);
        errno = err;
        if (hfx_now_ns() >= deadline)
            break;
        usleep(20000);
    }
    return -1;
}

int lease_send_raw(int sock, const void *buf, size_t len)
{
    return send(sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int lease_send(int sock, uint8_t cmd, uint32_t width, uint32_t height)
{
    uint8_t buf[LEASE_REQ_SIZE];
    lease_req_put(buf, &(struct lease_req){ .cmd = cmd, .width = width, .height = height });
    return lease_send_raw(sock, buf, sizeof buf);
}

/* Keeps any fd that comes with the bytes; a second one would be a bug in
 * the manager, and is closed rather than leaked. */
static void take_fds(struct msghdr *msg, int *fd)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
            if (*fd < 0)
                *fd = got;
            else
                close(got);
        }
    }
}

int lease_recv(int sock, struct lease_resp *r, int *fd, int timeout_ms, char *why,
               size_t whylen)
{
    uint8_t buf[LEASE_RESP_SIZE];
    size_t have = 0;
    *fd = -1;
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    while (have < sizeof buf) {
        int left = (int)((deadline - hfx_now_ns()) / 1000000);
        struct pollfd p = { .fd = sock, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, left) == 0) {
            snprintf(why, whylen, "no response within %d ms", timeout_ms);
            return -1;
        }
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        struct iovec iov = { .iov_base = buf + have, .iov_len = sizeof buf - have };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                              .msg_controllen = sizeof ctl.space };
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            take_fds(&msg, fd);
        if (n <= 0) {
            snprintf(why, whylen, "%s after %zu bytes", n == 0 ? "end of stream" : strerror(errno),
                     have);
            if (*fd >= 0)
                close(*fd);
            *fd = -1;
            return -1;
        }
        have += (size_t)n;
    }
    lease_resp_get(buf, r);
    return 0;
}

int lease_recv_token(int sock, char out[LEASE_TOKEN_SIZE + 1], int timeout_ms, char *why,
                     size_t whylen)
{
    size_t have = 0;
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    while (have < LEASE_TOKEN_SIZE) {
        int left = (int)((deadline - hfx_now_ns()) / 1000000);
        struct pollfd p = { .fd = sock, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, left) == 0) {
            snprintf(why, whylen, "no token within %d ms", timeout_ms);
            return -1;
        }
        ssize_t n = recv(sock, out + have, LEASE_TOKEN_SIZE - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "token cut off after %zu bytes", have);
            return -1;
        }
        have += (size_t)n;
    }
    out[LEASE_TOKEN_SIZE] = '\0';
    return 0;
}

int lease_parse_size(const char *s, uint32_t *w, uint32_t *h)
{
    unsigned a, b;
    char tail;
    if (sscanf(s, "%ux%u%c", &a, &b, &tail) != 2)
        return -1;
    *w = a;
    *h = b;
    return 0;
}
