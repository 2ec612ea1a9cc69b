/* libhfx-client: receive the H.264 stream of one scanout from a
 * helix-frame-export server (HXFR, docs/protocol.md).
 *
 *     struct hfx_client_options o = {.address = "tcp:10.0.2.2:15937", .scanout = 1,
 *                                    .reconnect = true};
 *     struct hfx_client *c;
 *     char err[256];
 *     if (hfx_client_open(&o, &c, err, sizeof err) < 0) { puts(err); ... }
 *     struct hfx_client_frame f;
 *     while (hfx_client_next(c, &f, 1000, err, sizeof err) >= 0)
 *         if (f.data) decode(f.data, f.size);     // one access unit, Annex B
 *     hfx_client_close(c);
 *
 * Every (re)subscription starts with an IDR carrying SPS and PPS (the server
 * sends one to each new subscriber), so a decoder can start or restart at
 * any frame whose `resumed` flag is set. Calls block for at most their
 * timeout; the library starts no threads and keeps no global state.
 * Link with `pkg-config --libs hfx-client`. */
#ifndef HFX_CLIENT_PUBLIC_H
#define HFX_CLIENT_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hfx_client_options {
    const char *address;    /* tcp:HOST:PORT, unix:PATH or vsock:CID:PORT */
    uint32_t scanout;       /* 0..15 */
    bool extended;          /* HELLO first: the extended protocol (replies, errors) */
    uint32_t caps;          /* with extended: HXFR_CAP_* bits (e.g. the cursor) */
    const char *token;      /* with extended: the access token to present (AUTH) */
    uint32_t bitrate;       /* ask the server for this many bit/s; 0 = its default */
    int timeout_ms;         /* connect and subscribe; 0 = 5000 */
    bool reconnect;         /* when the stream is lost, connect again with backoff */
    int max_backoff_ms;     /* the longest wait between attempts; 0 = 5000 */
};

struct hfx_client_frame {
    const uint8_t *data;    /* one access unit (Annex B); NULL if this was not a frame */
    size_t size;            /* valid until the next call on the client */
    bool keyframe;          /* an IDR, preceded by SPS and PPS */
    bool resumed;           /* the first frame of a (re)subscription: start decoding here */
    int64_t pts_ns;         /* the server's CLOCK_MONOTONIC when the picture was produced */
    uint8_t type;           /* HXFR message type: FRAME_RESPONSE, or CURSOR etc. (extended) */
};

struct hfx_client;

/* Connects and subscribes. 0, or -1 with err saying why (not retried). */
int hfx_client_open(const struct hfx_client_options *o, struct hfx_client **out, char *err,
                    size_t errlen);
/* Waits up to timeout_ms (negative: no limit) for the next message. 1 with f
 * filled, 0 on timeout, -1 when the stream ended and reconnect is off, with
 * err saying why. With reconnect on, a lost stream is retried (backoff from
 * 0.1 s doubling up to max_backoff_ms) for as long as the caller calls. */
int hfx_client_next(struct hfx_client *c, struct hfx_client_frame *f, int timeout_ms, char *err,
                    size_t errlen);
/* The whole message hfx_client_next returned last (header included), for
 * the types it does not unpack (CURSOR, ERROR...: hxfr_decode reads them);
 * NULL when it returned none. Valid until the next call on the client. */
const uint8_t *hfx_client_message(const struct hfx_client *c, size_t *size);
/* Asks for an IDR (KEYFRAME_REQ); it arrives as a frame with keyframe set. */
int hfx_client_request_keyframe(struct hfx_client *c);
/* Keyboard and pointer input for the subscribed head (INPUT, docs/protocol.md;
 * needs `extended` and a token granting the head; a refusal arrives later as
 * an ERROR). kind 1: key, code an evdev key code, down; 2: pointer at x, y
 * in the head's pixels; 3: button, code 1 left, 2 middle, 3 right, 4 side,
 * 5 extra, down; 4: wheel, x steps right and y steps down. 0, or -1 when not
 * connected or the event is out of range. */
int hfx_client_send_input(struct hfx_client *c, int kind, bool down, uint32_t code, int32_t x,
                          int32_t y);
/* The whole HXFR message (header included) that hfx_client_next last
 * returned, e.g. a CURSOR to read with the layout of docs/protocol.md; NULL
 * when it returned none. Valid until the next call on the client. */
const uint8_t *hfx_client_message(const struct hfx_client *c, size_t *len);
/* How many times the client has connected again after losing the stream. */
unsigned hfx_client_reconnects(const struct hfx_client *c);
void hfx_client_close(struct hfx_client *c);

#endif
