#include "host.h"

#include <stdio.h>
#include <string.h>

#include "common/net.h"
#include "log.h"

void host_init(struct host *h, const char *addr, const char *token, int timeout_ms)
{
    memset(h, 0, sizeof *h);
    h->addr = addr;
    h->token = token;
    h->timeout_ms = timeout_ms;
    h->conn.fd = -1;
}

void host_close(struct host *h)
{
    if (h->open)
        hfx_conn_close(&h->conn);
    h->open = false;
}

static int host_connect(struct host *h, char *err, size_t errlen)
{
    if (h->open)
        return 0;
    /* hfx_conn_open would block in connect() for as long as TCP retries. */
    memset(&h->conn, 0, sizeof h->conn);
    char why[256];
    h->conn.fd = hfx_connect_timeout(h->addr, h->timeout_ms, why, sizeof why);
    if (h->conn.fd < 0) {
        /* The whole reason goes to the log; a client's error field holds
         * 63 characters. */
        mgr_warn("%s", why);
        snprintf(err, errlen, "host %s unreachable", h->addr);
        return -1;
    }
    h->open = true;
    if (h->token && hfx_conn_extended(&h->conn, 0, h->token, h->timeout_ms, why, sizeof why) < 0) {
        mgr_warn("host %s: %s", h->addr, why);
        snprintf(err, errlen, "host %s refused the control token", h->addr);
        host_close(h);
        return -1;
    }
    return 0;
}

/* Sends one request and reads its reply. A kept connection may have been
 * closed by the host meanwhile (an exporter restart): that shows only on
 * use, so one failure on an old connection is retried on a new one. */
static int host_request(struct host *h, const uint8_t *req, size_t len, struct hxfr_msg *reply,
                        char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = h->open;
        if (host_connect(h, err, errlen) < 0)
            return -1;
        int r = hfx_conn_request(&h->conn, req, len, reply, h->timeout_ms, err, errlen);
        if (r == 1)
            return 0;
        /* A late reply would answer the next request: never reuse. */
        host_close(h);
        if (!reused)
            break;
    }
    return -1;
}

/* SCANOUT_RESP(success) for this head, or the host's ERROR in err. */
static int scanout_reply(const struct hxfr_msg *m, uint32_t head, char *err, size_t errlen)
{
    if (m->h.type == HXFR_ERROR) {
        snprintf(err, errlen, "host refused head %u: %s", head, m->u.error.text);
        return -1;
    }
    if (m->h.type != HXFR_SCANOUT_RESP || m->u.scanout_resp.scanout_id != head) {
        snprintf(err, errlen, "host answered %s for head %u", hxfr_type_name(m->h.type), head);
        return -1;
    }
    if (!m->u.scanout_resp.success) {
        snprintf(err, errlen, "host could not switch head %u", head);
        return -1;
    }
    return 0;
}

int host_enable(struct host *h, uint32_t head, uint32_t w, uint32_t hgt, char *err,
                size_t errlen)
{
    uint8_t req[28];
    struct hxfr_msg m;
    size_t len = hxfr_put_enable(req, head, w, hgt, 0);
    if (host_request(h, req, len, &m, err, errlen) < 0)
        return -1;
    return scanout_reply(&m, head, err, errlen);
}

int host_disable(struct host *h, uint32_t head, char *err, size_t errlen)
{
    uint8_t req[16];
    struct hxfr_msg m;
    size_t len = hxfr_put_disable(req, head);
    if (host_request(h, req, len, &m, err, errlen) < 0)
        return -1;
    return scanout_reply(&m, head, err, errlen);
}

static int token_request(struct host *h, uint32_t head, enum hxfr_token_op op,
                         char out[HXFR_MAX_TOKEN + 1], char *err, size_t errlen)
{
    if (!h->token) {
        snprintf(err, errlen, "no control token for the host");
        return -1;
    }
    uint8_t req[20];
    struct hxfr_msg m;
    char why[256];
    if (host_request(h, req, hxfr_put_token_req(req, head, op), &m, err, errlen) < 0)
        return -1;
    if (hfx_conn_expect(&m, HXFR_TOKEN_RESP, "TOKEN_REQ", why, sizeof why) < 0 ||
        m.u.token.scanout_id != head) {
        mgr_warn("host %s: head %u: %s", h->addr, head, m.h.type == HXFR_TOKEN_RESP
                 ? "TOKEN_RESP for another head" : why);
        snprintf(err, errlen, "host gave no token for head %u", head);
        return -1;
    }
    if (out)
        memcpy(out, m.u.token.token, sizeof m.u.token.token);
    return 0;
}

int host_mint_token(struct host *h, uint32_t head, char out[HXFR_MAX_TOKEN + 1], char *err,
                    size_t errlen)
{
    return token_request(h, head, HXFR_TOKEN_MINT, out, err, errlen);
}

int host_revoke_token(struct host *h, uint32_t head, char *err, size_t errlen)
{
    return token_request(h, head, HXFR_TOKEN_REVOKE, NULL, err, errlen);
}
