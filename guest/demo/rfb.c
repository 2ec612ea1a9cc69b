#include "rfb.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/net.h"
#include "say.h"

enum {
    ENC_RAW = 0,
    ENC_COPYRECT = 1,
    ENC_DESKTOP_SIZE = -223, /* pseudo: the screen changed size */
};

enum { MSG_UPDATE = 0, MSG_COLOURMAP = 1, MSG_BELL = 2, MSG_CUT_TEXT = 3 };

/* Once an update has begun, the rest of it is on its way: allow this long. */
#define BODY_MS 10000

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static int send_all(struct rfb *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t w = send(r->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            guest_warn("vnc: send: %s", strerror(errno));
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes sure n unread bytes are buffered: 1, 0 at the deadline (nothing is
 * consumed, so a caller can parse again later), -1 on error or EOF. */
static int need(struct rfb *r, size_t n, int64_t deadline)
{
    while (r->len - r->off < n) {
        if (r->off > 0 && r->off == r->len)
            r->off = r->len = 0;
        if (r->off + n > r->cap) {
            if (r->off > 0) {
                memmove(r->buf, r->buf + r->off, r->len - r->off);
                r->len -= r->off;
                r->off = 0;
            }
            if (n + 65536 > r->cap) {
                size_t cap = r->cap ? r->cap : 1 << 20;
                while (cap < n + 65536)
                    cap *= 2;
                uint8_t *b = realloc(r->buf, cap);
                if (b == NULL) {
                    guest_warn("vnc: out of memory for a %zu-byte message", n);
                    return -1;
                }
                r->buf = b;
                r->cap = cap;
            }
        }
        int64_t left = deadline - hfx_now_ns();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return 0;
        ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            guest_warn("vnc: %s", got == 0 ? "the server closed the connection" : strerror(errno));
            return -1;
        }
        r->len += (size_t)got;
    }
    return 1;
}

/* need() for the handshake, where a timeout is an error. */
static int need_now(struct rfb *r, size_t n, int64_t deadline, const char *what)
{
    int k = need(r, n, deadline);
    if (k == 0)
        guest_warn("vnc: no %s from the server", what);
    return k == 1 ? 0 : -1;
}

static int handshake(struct rfb *r, bool copyrect, int64_t deadline)
{
    if (need_now(r, 12, deadline, "version") < 0)
        return -1;
    if (memcmp(r->buf + r->off, "RFB 003.", 8) != 0) {
        guest_warn("vnc: not an RFB server");
        return -1;
    }
    r->off += 12;
    if (send_all(r, "RFB 003.008\n", 12) < 0 || need_now(r, 1, deadline, "security types") < 0)
        return -1;
    uint8_t ntypes = r->buf[r->off];
    if (ntypes == 0) {
        guest_warn("vnc: the server refused the connection");
        return -1;
    }
    if (need_now(r, 1u + ntypes, deadline, "security types") < 0)
        return -1;
    bool none = memchr(r->buf + r->off + 1, 1, ntypes) != NULL;
    r->off += 1u + ntypes;
    if (!none) {
        guest_warn("vnc: the server wants authentication (run QEMU's -vnc without a password)");
        return -1;
    }
    const uint8_t choose_none = 1, shared = 1;
    if (send_all(r, &choose_none, 1) < 0 || need_now(r, 4, deadline, "security result") < 0)
        return -1;
    if (be32(r->buf + r->off) != 0) {
        guest_warn("vnc: security handshake failed");
        return -1;
    }
    r->off += 4;
    if (send_all(r, &shared, 1) < 0 || need_now(r, 24, deadline, "ServerInit") < 0)
        return -1;
    r->width = be16(r->buf + r->off);
    r->height = be16(r->buf + r->off + 2);
    uint32_t name_len = be32(r->buf + r->off + 20);
    if (name_len > 4096 || need_now(r, 24 + name_len, deadline, "ServerInit") < 0)
        return -1;
    r->off += 24 + name_len;

    /* 32 bpp, depth 24, little-endian, true colour, 8 bits per channel:
     * the guest's own XRGB8888. */
    uint8_t pf[20] = { 0, 0, 0, 0, 32, 24, 0, 1 };
    put16(pf + 8, 255);
    put16(pf + 10, 255);
    put16(pf + 12, 255);
    pf[14] = 16;
    pf[15] = 8;
    pf[16] = 0;
    uint8_t enc[4 + 3 * 4] = { 2, 0 };
    uint16_t n = 0;
    put32(enc + 4 + 4 * n++, (uint32_t)ENC_RAW);
    if (copyrect)
        put32(enc + 4 + 4 * n++, (uint32_t)ENC_COPYRECT);
    put32(enc + 4 + 4 * n++, (uint32_t)ENC_DESKTOP_SIZE);
    put16(enc + 2, n);
    return send_all(r, pf, sizeof pf) < 0 || send_all(r, enc, 4 + 4u * n) < 0 ? -1 : 0;
}

int rfb_connect(struct rfb *r, const char *host, long port, bool copyrect, int timeout_ms)
{
    memset(r, 0, sizeof *r);
    char addr[300], err[256];
    snprintf(addr, sizeof addr, "tcp:%s:%ld", host, port);
    r->fd = hfx_connect(addr, err, sizeof err);
    if (r->fd < 0) {
        guest_warn("vnc: %s", err);
        return -1;
    }
    if (handshake(r, copyrect, hfx_now_ns() + (int64_t)timeout_ms * 1000000) < 0 ||
        rfb_request(r, false) < 0) {
        rfb_close(r);
        return -1;
    }
    return 0;
}

void rfb_close(struct rfb *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int rfb_request(struct rfb *r, bool incremental)
{
    uint8_t m[10] = { 3, incremental };
    put16(m + 6, r->width);
    put16(m + 8, r->height);
    return send_all(r, m, sizeof m);
}

/* Size of the server message at the read position, or 0 if it is not all
 * buffered by the deadline, or -1. Parsing starts over on each call; only
 * headers are looked at, so that is cheap. */
static int64_t message_size(struct rfb *r, int64_t deadline, bool *is_update)
{
    int k;
    *is_update = false;
    if ((k = need(r, 1, deadline)) != 1)
        return k;
    switch (r->buf[r->off]) {
    case MSG_UPDATE: {
        /* The update has begun: wait for the rest of it. */
        int64_t body = hfx_now_ns() + (int64_t)BODY_MS * 1000000;
        if (need(r, 4, body) != 1)
            return -1;
        uint16_t nrects = be16(r->buf + r->off + 2);
        size_t pos = 4;
        for (uint16_t i = 0; i < nrects; i++) {
            if (need(r, pos + 12, body) != 1)
                return -1;
            const uint8_t *h = r->buf + r->off + pos;
            uint16_t w = be16(h + 4), hh = be16(h + 6);
            int32_t enc = (int32_t)be32(h + 8);
            pos += 12;
            if (enc == ENC_RAW) {
                pos += (size_t)w * hh * 4;
            } else if (enc == ENC_COPYRECT) {
                pos += 4;
            } else if (enc == ENC_DESKTOP_SIZE) {
                r->width = w;
                r->height = hh;
            } else {
                guest_warn("vnc: unexpected encoding %d", enc);
                return -1;
            }
        }
        if (need(r, pos, body) != 1)
            return -1;
        *is_update = true;
        return (int64_t)pos;
    }
    case MSG_COLOURMAP:
        if ((k = need(r, 6, deadline)) != 1)
            return k;
        return 6 + 6 * (int64_t)be16(r->buf + r->off + 4);
    case MSG_BELL:
        return 1;
    case MSG_CUT_TEXT:
        if ((k = need(r, 8, deadline)) != 1)
            return k;
        return 8 + (int64_t)be32(r->buf + r->off + 4);
    default:
        guest_warn("vnc: unexpected server message %u", r->buf[r->off]);
        return -1;
    }
}

int rfb_next_update(struct rfb *r, int timeout_ms, uint64_t *bytes)
{
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        bool update;
        int64_t size = message_size(r, deadline, &update);
        if (size <= 0)
            return (int)size;
        /* A colour map or cut text may be longer than what is buffered. */
        int k = need(r, (size_t)size, deadline);
        if (k != 1)
            return k;
        r->off += (size_t)size;
        if (update) {
            *bytes = (uint64_t)size;
            return 1;
        }
    }
}
