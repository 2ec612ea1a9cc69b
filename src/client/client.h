/* The subscriber side of HXFR: connect, subscribe, read whole messages.
 * Blocking calls with timeouts, for tools and tests (hfx sub, hfx ctl, the
 * benchmark). */
#ifndef HFX_CLIENT_H
#define HFX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/hxfr.h"

struct hfx_conn {
    int fd;
    uint8_t *buf;
    size_t cap, len, off;   /* buf[off..len) holds unread bytes */
};

/* addr: "tcp:HOST:PORT", "unix:PATH" or "vsock:CID:PORT". */
int hfx_conn_open(struct hfx_conn *c, const char *addr, char *err, size_t errlen);
void hfx_conn_close(struct hfx_conn *c);
/* Sends all of data (blocking). */
int hfx_conn_send(struct hfx_conn *c, const void *data, size_t len, char *err, size_t errlen);
/* Reads the next whole message. Returns 1 with msg filled (its pointers stay
 * valid until the next read), 0 on timeout (timeout_ms < 0 waits forever),
 * -1 when the stream ended or is malformed (err says which). */
int hfx_conn_read(struct hfx_conn *c, struct hxfr_msg *msg, int timeout_ms, char *err,
                  size_t errlen);
/* HELLO: switches the connection to the extended mode with these
 * capabilities (HXFR_CAP_*). */
int hfx_conn_hello(struct hfx_conn *c, uint32_t caps, int timeout_ms, char *err, size_t errlen);
/* AUTH (extended mode): presents a token; scope (optional) receives what it
 * grants, a scanout id or HXFR_SCOPE_CONTROL. */
int hfx_conn_auth(struct hfx_conn *c, const char *token, int timeout_ms, uint32_t *scope,
                  char *err, size_t errlen);
/* HELLO, then AUTH when token is neither NULL nor empty. */
int hfx_conn_extended(struct hfx_conn *c, uint32_t caps, const char *token, int timeout_ms,
                      char *err, size_t errlen);
/* TOKEN_REQ (needs the control token): mints a token for one scanout into
 * out, or revokes every token for it (out receives ""). */
int hfx_conn_token(struct hfx_conn *c, uint32_t scanout, enum hxfr_token_op op,
                   char out[HXFR_MAX_TOKEN + 1], int timeout_ms, char *err, size_t errlen);
/* SUBSCRIBE and its SUBSCRIBE_RESP. */
int hfx_conn_subscribe(struct hfx_conn *c, uint32_t scanout, int timeout_ms, char *err,
                       size_t errlen);
/* 0 when reply is a `want` message; else -1 with err saying what came
 * instead: "WHAT refused: TEXT (CODE)" for the server's ERROR. */
int hfx_conn_expect(const struct hxfr_msg *reply, uint8_t want, const char *what, char *err,
                    size_t errlen);
/* Sends a request and waits for its reply (skipping FRAME_RESPONSEs). */
int hfx_conn_request(struct hfx_conn *c, const void *req, size_t len, struct hxfr_msg *reply,
                     int timeout_ms, char *err, size_t errlen);

#endif
