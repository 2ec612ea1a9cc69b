#include "client/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/net.h"

int hfx_conn_open(struct hfx_conn *c, const char *addr, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = hfx_connect(addr, err, errlen);
    return c->fd < 0 ? -1 : 0;
}

void hfx_conn_close(struct hfx_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

int hfx_conn_send(struct hfx_conn *c, const void *data, size_t len, char *err, size_t errlen)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "send failed: %s", strerror(errno));
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int reserve(struct hfx_conn *c, size_t need, char *err, size_t errlen)
{
    if (c->off && c->off == c->len)
        c->off = c->len = 0;
    if (c->len + need <= c->cap)
        return 0;
    if (c->off) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        if (c->len + need <= c->cap)
            return 0;
    }
    size_t cap = c->cap ? c->cap : 65536;
    while (cap < c->len + need)
        cap *= 2;
    uint8_t *b = realloc(c->buf, cap);
    if (!b) {
        snprintf(err, errlen, "out of memory for a %zu-byte message", need);
        return -1;
    }
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* Waits for at least one more byte. 1 = got some, 0 = timeout, -1 = end. */
static int fill(struct hfx_conn *c, int64_t deadline, char *err, size_t errlen)
{
    if (reserve(c, 65536, err, errlen) < 0)
        return -1;
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - hfx_now_ns();
            if (left <= 0)
                return 0;
            timeout = (int)((left + 999999) / 1000000);
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return 0;
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s", n == 0 ? "the server closed the connection"
                                               : strerror(errno));
            return -1;
        }
        c->len += (size_t)n;
        return 1;
    }
}

int hfx_conn_read(struct hfx_conn *c, struct hxfr_msg *msg, int timeout_ms, char *err,
                  size_t errlen)
{
    int64_t deadline = timeout_ms < 0 ? -1 : hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        const char *why = NULL;
        enum hxfr_parse r =
            hxfr_decode(c->buf + c->off, c->len - c->off, HXFR_FROM_SERVER, msg, &why);
        if (r == HXFR_PARSE_OK) {
            c->off += HXFR_HEADER_SIZE + msg->h.payload_size;
            return 1;
        }
        if (r != HXFR_PARSE_NEED_MORE) {
            snprintf(err, errlen, "malformed message from the server: %s", why ? why : "?");
            return -1;
        }
        /* Make room for the whole message at once when its size is known. */
        struct hxfr_header h;
        if (hxfr_parse_header(c->buf + c->off, c->len - c->off, HXFR_FROM_SERVER, &h, &why) ==
                HXFR_PARSE_OK &&
            reserve(c, HXFR_HEADER_SIZE + h.payload_size, err, errlen) < 0)
            return -1;
        int f = fill(c, deadline, err, errlen);
        if (f <= 0)
            return f;
    }
}

int hfx_conn_expect(const struct hxfr_msg *reply, uint8_t want, const char *what, char *err,
                    size_t errlen)
{
    if (reply->h.type == want)
        return 0;
    if (reply->h.type == HXFR_ERROR)
        snprintf(err, errlen, "%s refused: %s (%d)", what, reply->u.error.text,
                 reply->u.error.code);
    else
        snprintf(err, errlen, "expected %s, got %s", hxfr_type_name(want),
                 hxfr_type_name(reply->h.type));
    return -1;
}

int hfx_conn_hello(struct hfx_conn *c, uint32_t caps, int timeout_ms, char *err, size_t errlen)
{
    uint8_t buf[24];
    struct hxfr_msg m;
    if (hfx_conn_request(c, buf, hxfr_put_hello(buf, HXFR_HELLO, 1, caps, 0), &m, timeout_ms, err,
                         errlen) <= 0)
        return -1;
    return hfx_conn_expect(&m, HXFR_HELLO_RESP, "HELLO", err, errlen);
}

int hfx_conn_auth(struct hfx_conn *c, const char *token, int timeout_ms, uint32_t *scope,
                  char *err, size_t errlen)
{
    uint8_t buf[12 + HXFR_MAX_TOKEN];
    struct hxfr_msg m;
    if (!token || !*token || strlen(token) > HXFR_MAX_TOKEN) {
        snprintf(err, errlen, "a token is 1 to %u characters", HXFR_MAX_TOKEN);
        return -1;
    }
    if (hfx_conn_request(c, buf, hxfr_put_auth(buf, token), &m, timeout_ms, err, errlen) <= 0 ||
        hfx_conn_expect(&m, HXFR_AUTH_RESP, "token", err, errlen) < 0)
        return -1;
    if (scope)
        *scope = m.u.auth_resp.scope;
    return 0;
}

int hfx_conn_extended(struct hfx_conn *c, uint32_t caps, const char *token, int timeout_ms,
                      char *err, size_t errlen)
{
    if (hfx_conn_hello(c, caps, timeout_ms, err, errlen) < 0)
        return -1;
    return token && *token ? hfx_conn_auth(c, token, timeout_ms, NULL, err, errlen) : 0;
}

int hfx_conn_token(struct hfx_conn *c, uint32_t scanout, enum hxfr_token_op op,
                   char out[HXFR_MAX_TOKEN + 1], int timeout_ms, char *err, size_t errlen)
{
    uint8_t buf[20];
    struct hxfr_msg m;
    if (hfx_conn_request(c, buf, hxfr_put_token_req(buf, scanout, op), &m, timeout_ms, err,
                         errlen) <= 0 ||
        hfx_conn_expect(&m, HXFR_TOKEN_RESP, "TOKEN_REQ", err, errlen) < 0)
        return -1;
    if (m.u.token.scanout_id != scanout) {
        snprintf(err, errlen, "TOKEN_RESP for scanout %u, not %u", m.u.token.scanout_id, scanout);
        return -1;
    }
    if (out)
        memcpy(out, m.u.token.token, sizeof m.u.token.token);
    return 0;
}

int hfx_conn_subscribe(struct hfx_conn *c, uint32_t scanout, int timeout_ms, char *err,
                       size_t errlen)
{
    uint8_t buf[24];
    struct hxfr_msg m;
    if (hfx_conn_send(c, buf, hxfr_put_subscribe(buf, scanout), err, errlen) < 0)
        return -1;
    int r = hfx_conn_read(c, &m, timeout_ms, err, errlen);
    if (r == 0)
        snprintf(err, errlen, "no SUBSCRIBE_RESP within %d ms", timeout_ms);
    if (r <= 0 || hfx_conn_expect(&m, HXFR_SUBSCRIBE_RESP, "subscribe", err, errlen) < 0)
        return -1;
    if (!m.u.subscribe_resp.success) {
        snprintf(err, errlen, "the server refused scanout %u", scanout);
        return -1;
    }
    return 0;
}

int hfx_conn_request(struct hfx_conn *c, const void *req, size_t len, struct hxfr_msg *reply,
                     int timeout_ms, char *err, size_t errlen)
{
    if (hfx_conn_send(c, req, len, err, errlen) < 0)
        return -1;
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int left = (int)((deadline - hfx_now_ns()) / 1000000);
        int r = hfx_conn_read(c, reply, left < 0 ? 0 : left, err, errlen);
        if (r == 0)
            snprintf(err, errlen, "no reply within %d ms", timeout_ms);
        if (r <= 0 || reply->h.type != HXFR_FRAME_RESPONSE)
            return r;
    }
}
