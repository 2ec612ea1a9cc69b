#include "client/hfx-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "common/clock.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_BACKOFF_MS 5000
#define FIRST_BACKOFF_MS 100

struct hfx_client {
    struct hfx_client_options o;
    char *address;
    char token[HXFR_MAX_TOKEN + 1];
    struct hfx_conn conn;
    bool connected;
    bool resumed;           /* the next frame is the first of a subscription */
    const uint8_t *msg;     /* the message hfx_client_next last returned, in conn's buffer */
    size_t msg_len;
    unsigned reconnects;
    int backoff_ms;
    int64_t retry_at_ns;    /* no attempt before this */
};

static int subscribe(struct hfx_client *c, char *err, size_t errlen)
{
    int t = c->o.timeout_ms;
    if (hfx_conn_open(&c->conn, c->address, err, errlen) < 0)
        return -1;
    if ((c->o.extended && hfx_conn_extended(&c->conn, c->o.caps, c->o.token, t, err, errlen) < 0) ||
        hfx_conn_subscribe(&c->conn, c->o.scanout, t, err, errlen) < 0) {
        hfx_conn_close(&c->conn);
        return -1;
    }
    if (c->o.bitrate) {
        uint8_t buf[40];
        struct hxfr_config cfg = {.bitrate = c->o.bitrate, .fps_num = 60, .fps_den = 1,
                                  .profile = 66, .level = 40, .realtime = 1};
        if (hfx_conn_send(&c->conn, buf,
                          hxfr_put_config(buf, HXFR_CONFIG_REQ, (uint16_t)c->o.scanout, &cfg), err,
                          errlen) < 0) {
            hfx_conn_close(&c->conn);
            return -1;
        }
    }
    c->connected = true;
    c->resumed = true;
    c->backoff_ms = FIRST_BACKOFF_MS;
    return 0;
}

int hfx_client_open(const struct hfx_client_options *o, struct hfx_client **out, char *err,
                    size_t errlen)
{
    if (!o->address || o->scanout >= HXFR_MAX_SCANOUTS) {
        snprintf(err, errlen, "an address and a scanout 0..%u are needed", HXFR_MAX_SCANOUTS - 1);
        return -1;
    }
    if (o->token && (!o->extended || strlen(o->token) > HXFR_MAX_TOKEN)) {
        snprintf(err, errlen, "a token needs the extended mode and at most %u characters",
                 HXFR_MAX_TOKEN);
        return -1;
    }
    struct hfx_client *c = calloc(1, sizeof *c);
    if (!c || !(c->address = strdup(o->address))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->o = *o;
    c->o.address = c->address;
    if (o->token) {
        strcpy(c->token, o->token);
        c->o.token = c->token;
    }
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->o.max_backoff_ms <= 0)
        c->o.max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
    c->conn.fd = -1;
    if (subscribe(c, err, errlen) < 0) {
        free(c->address);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Lost the stream: close, and if allowed, schedule the next attempt with a
 * backoff that doubles up to the limit. */
static int lost(struct hfx_client *c, char *err, size_t errlen)
{
    hfx_conn_close(&c->conn);
    c->connected = false;
    if (!c->o.reconnect)
        return -1;
    c->retry_at_ns = hfx_now_ns() + (int64_t)c->backoff_ms * 1000000;
    c->backoff_ms = c->backoff_ms * 2 > c->o.max_backoff_ms ? c->o.max_backoff_ms
                                                           : c->backoff_ms * 2;
    return 0;
}

static void sleep_until(int64_t t_ns)
{
    int64_t left = t_ns - hfx_now_ns();
    if (left > 0) {
        struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

int hfx_client_next(struct hfx_client *c, struct hfx_client_frame *f, int timeout_ms, char *err,
                    size_t errlen)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    memset(f, 0, sizeof *f);
    c->msg = NULL;
    c->msg_len = 0;
    for (;;) {
        if (!c->connected) {
            if (!c->o.reconnect) {
                snprintf(err, errlen, "the stream has ended");
                return -1;
            }
            if (c->retry_at_ns > deadline) {
                sleep_until(deadline);
                return 0;
            }
            sleep_until(c->retry_at_ns);
            if (subscribe(c, err, errlen) < 0) {
                lost(c, err, errlen);
                continue;
            }
            c->reconnects++;
        }
        int64_t now = hfx_now_ns();
        int wait = deadline == INT64_MAX ? -1
                   : now >= deadline     ? 0
                                         : (int)((deadline - now + 999999) / 1000000);
        struct hxfr_msg m;
        int r = hfx_conn_read(&c->conn, &m, wait, err, errlen);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (lost(c, err, errlen) < 0)
                return -1;
            continue;
        }
        f->type = m.h.type;
        c->msg_len = HXFR_HEADER_SIZE + m.h.payload_size;
        c->msg = c->conn.buf + c->conn.off - c->msg_len;
        if (m.h.type == HXFR_FRAME_RESPONSE) {
            f->data = m.u.frame.au;
            f->size = m.u.frame.au_size;
            f->keyframe = m.u.frame.keyframe;
            f->pts_ns = m.u.frame.pts_ns;
            f->resumed = c->resumed;
            c->resumed = false;
        }
        return 1;
    }
}

int hfx_client_request_keyframe(struct hfx_client *c)
{
    if (!c->connected)
        return -1;
    uint8_t buf[16];
    char err[128];
    return hfx_conn_send(&c->conn, buf, hxfr_put_keyframe_req(buf, c->o.scanout, true), err,
                         sizeof err);
}

int hfx_client_send_input(struct hfx_client *c, int kind, bool down, uint32_t code, int32_t x,
                          int32_t y)
{
    if (!c->connected || !c->o.extended || kind < HFX_INPUT_KEY || kind > HFX_INPUT_WHEEL)
        return -1;
    struct hfx_input ev = {.scanout = c->o.scanout, .kind = (uint8_t)kind, .down = down,
                           .code = code, .x = x, .y = y};
    uint8_t buf[HXFR_INPUT_SIZE];
    size_t len = hxfr_put_input(buf, &ev);
    /* Checked as the server will, so a bad event fails here, not later. */
    struct hxfr_msg m;
    if (hxfr_decode(buf, len, HXFR_FROM_CLIENT, &m, NULL) != HXFR_PARSE_OK)
        return -1;
    char err[128];
    return hfx_conn_send(&c->conn, buf, len, err, sizeof err);
}

const uint8_t *hfx_client_message(const struct hfx_client *c, size_t *len)
{
    *len = c->msg_len;
    return c->msg;
}

unsigned hfx_client_reconnects(const struct hfx_client *c)
{
    return c->reconnects;
}

void hfx_client_close(struct hfx_client *c)
{
    if (!c)
        return;
    if (c->connected)
        hfx_conn_close(&c->conn);
    free(c->address);
    free(c);
}
