/* HXFR v1 wire protocol (docs/protocol.md): message layout, parsing and
 * building. Pure functions on byte buffers: no I/O, no allocation, so the
 * server, the client tools and the fuzzer share exactly one parser. */
#ifndef HFX_PROTO_HXFR_H
#define HFX_PROTO_HXFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/input.h"

#define HXFR_MAGIC 0x52465848u /* "HXFR" little-endian */
#define HXFR_HEADER_SIZE 12u
#define HXFR_FRAME_FIXED_SIZE 40u  /* FRAME_RESPONSE up to the access unit */
#define HXFR_ERROR_TEXT_SIZE 256u
#define HXFR_CONNECTOR_SIZE 64u
/* Largest message a client may send. Nothing a client legitimately sends
 * comes near it; anything larger is refused before it is buffered. */
#define HXFR_MAX_CLIENT_MSG 4096u
/* Largest access unit a server may send (a 5120x2880 IDR at high quality
 * stays far below); bounds what a client will buffer. */
#define HXFR_MAX_FRAME_PAYLOAD (64u << 20)
/* Largest extended-mode text payload (STATS_RESP). */
#define HXFR_MAX_TEXT_PAYLOAD (256u << 10)
/* Scanout ids on the wire are 0..HXFR_MAX_SCANOUTS-1; the parser refuses
 * larger ones except in SUBSCRIBE, which a server answers with
 * SUBSCRIBE_RESP success 0. A server may configure fewer and must check its
 * own limit. */
#define HXFR_MAX_SCANOUTS 16u

/* CURSOR: a position, and a shape of at most this many pixels a side. */
#define HXFR_CURSOR_FIXED_SIZE 36u
#define HXFR_CURSOR_MAX_SIDE 256u

/* INPUT (docs/protocol.md): struct hfx_input on the wire. */
#define HXFR_INPUT_SIZE 28u

/* AUTH / TOKEN_RESP: a token is 1..HXFR_MAX_TOKEN printable ASCII bytes. */
#define HXFR_MAX_TOKEN 128u
/* AUTH_RESP scope of the control token (otherwise a scanout id). */
#define HXFR_SCOPE_CONTROL 0xFFFFFFFFu

/* TOKEN_REQ operations. */
enum hxfr_token_op { HXFR_TOKEN_MINT = 1, HXFR_TOKEN_REVOKE = 2 };

/* HELLO capability bits. */
#define HXFR_CAP_CURSOR 0x01u /* send CURSOR messages with the frames */

/* Header flags. Deployed clients always send 0. */
#define HXFR_FLAG_EXTENDED 0x01u /* HELLO sets it; marks extended-only traffic */

enum hxfr_type {
    HXFR_FRAME_REQUEST = 0x01,   /* legacy, refused */
    HXFR_FRAME_RESPONSE = 0x02,
    HXFR_KEYFRAME_REQ = 0x03,
    HXFR_CONFIG_REQ = 0x04,
    HXFR_CONFIG_RESP = 0x05,
    HXFR_PING = 0x10,
    HXFR_PONG = 0x11,
    HXFR_ENABLE_SCANOUT = 0x20,
    HXFR_DISABLE_SCANOUT = 0x21,
    HXFR_SCANOUT_RESP = 0x22,
    HXFR_SUBSCRIBE = 0x30,
    HXFR_SUBSCRIBE_RESP = 0x31,
    /* Extended mode (not in deployed v1 clients; docs/protocol.md). */
    HXFR_HELLO = 0x40,
    HXFR_HELLO_RESP = 0x41,
    HXFR_AUTH = 0x42,
    HXFR_AUTH_RESP = 0x43,
    HXFR_TOKEN_REQ = 0x44,
    HXFR_TOKEN_RESP = 0x45,
    HXFR_STATS_REQ = 0x50,
    HXFR_STATS_RESP = 0x51,
    HXFR_CURSOR = 0x60,
    HXFR_INPUT = 0x70,
    HXFR_ERROR = 0xFF,
};

enum hxfr_status {
    HXFR_OK = 0,
    HXFR_E_INVALID_MSG = -1,
    HXFR_E_NOT_FOUND = -2,
    HXFR_E_NOT_METAL_TEXTURE = -3,
    HXFR_E_NO_IOSURFACE = -4,
    HXFR_E_ENCODE_FAILED = -5,
    HXFR_E_NOT_CONFIGURED = -6,
    HXFR_E_DENIED = -7,          /* extended: no token grants this */
    HXFR_E_INTERNAL = -99,
};

struct hxfr_header {
    uint8_t type;
    uint8_t flags;
    uint16_t session_id;
    uint32_t payload_size;
};

struct hxfr_config {
    uint32_t width, height; /* 0 = keep */
    uint32_t bitrate;       /* bits/s, 0 = keep */
    uint32_t fps_num, fps_den;
    uint8_t profile, level, realtime;
};

struct hxfr_frame {
    int64_t pts_ns, dts_ns;
    bool keyframe;
    uint32_t nal_count;
    const uint8_t *au; /* points into the parsed buffer */
    uint32_t au_size;
};

/* One decoded message. Pointers point into the buffer that was parsed. */
struct hxfr_msg {
    struct hxfr_header h;
    union {
        struct { uint32_t scanout_id; } subscribe;           /* SUBSCRIBE, DISABLE_SCANOUT */
        struct { uint32_t scanout_id, success; } subscribe_resp;
        struct { uint32_t scanout_id, width, height, refresh; } enable;
        struct { uint32_t scanout_id, success; char connector[HXFR_CONNECTOR_SIZE + 1]; } scanout_resp;
        struct { bool has_scanout; uint32_t scanout_id; } keyframe; /* payload 0 or 4 */
        struct hxfr_config config;                           /* CONFIG_REQ, CONFIG_RESP */
        struct { int32_t code; char text[HXFR_ERROR_TEXT_SIZE + 1]; } error;
        struct { uint16_t version; uint32_t caps; uint32_t max_scanouts; } hello;
        struct { bool has_scanout; uint32_t scanout_id; } stats_req;
        struct { const char *text; uint32_t len; } stats_resp;   /* not NUL-terminated */
        struct { char token[HXFR_MAX_TOKEN + 1]; } auth;         /* NUL-terminated */
        struct { uint32_t scope; } auth_resp;
        struct {
            uint32_t scanout_id, op;
            char token[HXFR_MAX_TOKEN + 1];                      /* TOKEN_RESP; "" for a revoke */
        } token;                                                 /* TOKEN_REQ, TOKEN_RESP */
        struct hxfr_frame frame;
        struct hfx_input input;
        struct {
            uint32_t scanout_id;
            int32_t x, y;
            bool visible;
            uint16_t hot_x, hot_y, width, height; /* width/height 0: position only */
            const uint8_t *argb;                   /* width * height * 4 bytes */
        } cursor;
    } u;
};

/* Result of hxfr_parse_header / hxfr_decode. Errors say why in *why. */
enum hxfr_parse {
    HXFR_PARSE_OK = 0,
    HXFR_PARSE_NEED_MORE = 1,  /* buffer holds less than the header or the message */
    HXFR_PARSE_BAD_MAGIC = -1,
    HXFR_PARSE_BAD_TYPE = -2,
    HXFR_PARSE_BAD_SIZE = -3,  /* payload_size wrong for the type, or over the limit */
    HXFR_PARSE_BAD_FIELD = -4, /* a field's value is out of range */
};

/* Which side is reading: limits and the set of acceptable types differ. */
enum hxfr_dir { HXFR_FROM_CLIENT, HXFR_FROM_SERVER };

/* Reads the 12-byte header and checks magic, type and payload_size for the
 * direction, so the caller knows the full size (12 + payload_size) is sane
 * before buffering it. */
enum hxfr_parse hxfr_parse_header(const uint8_t *buf, size_t len, enum hxfr_dir dir,
                                  struct hxfr_header *h, const char **why);

/* Decodes one whole message (len >= 12 + payload_size). */
enum hxfr_parse hxfr_decode(const uint8_t *buf, size_t len, enum hxfr_dir dir,
                            struct hxfr_msg *msg, const char **why);

const char *hxfr_type_name(uint8_t type);

/* Builders: write one whole message into out (which must have room for the
 * returned size) and return its size in bytes. */
size_t hxfr_put_header(uint8_t *out, uint8_t type, uint8_t flags, uint16_t session, uint32_t payload);
size_t hxfr_put_subscribe(uint8_t out[16], uint32_t scanout_id);
size_t hxfr_put_subscribe_resp(uint8_t out[20], uint32_t scanout_id, bool success);
size_t hxfr_put_frame_head(uint8_t out[HXFR_FRAME_FIXED_SIZE], uint32_t scanout_id, int64_t pts_ns,
                           int64_t dts_ns, bool keyframe, uint32_t au_size);
size_t hxfr_put_keyframe_req(uint8_t out[16], uint32_t scanout_id, bool with_payload);
size_t hxfr_put_config(uint8_t out[40], uint8_t type, uint16_t session, const struct hxfr_config *c);
size_t hxfr_put_ping(uint8_t out[12], uint8_t type, uint16_t session);
size_t hxfr_put_enable(uint8_t out[28], uint32_t scanout_id, uint32_t w, uint32_t h, uint32_t refresh);
size_t hxfr_put_disable(uint8_t out[16], uint32_t scanout_id);
size_t hxfr_put_scanout_resp(uint8_t out[84], uint32_t scanout_id, bool success, const char *connector);
size_t hxfr_put_error(uint8_t out[272], uint16_t session, int32_t code, const char *text);
size_t hxfr_put_hello(uint8_t out[24], uint8_t type, uint16_t version, uint32_t caps, uint32_t max_scanouts);
size_t hxfr_put_stats_req(uint8_t out[16], uint32_t scanout_id, bool with_payload);
/* CURSOR up to the shape; the caller appends width * height * 4 bytes of
 * ARGB (none when width or height is 0: a move). */
size_t hxfr_put_cursor_head(uint8_t out[HXFR_CURSOR_FIXED_SIZE], uint32_t scanout_id, int32_t x,
                            int32_t y, bool visible, uint16_t hot_x, uint16_t hot_y,
                            uint16_t width, uint16_t height);
/* AUTH carries a token of 1..HXFR_MAX_TOKEN bytes (longer ones are cut). */
size_t hxfr_put_auth(uint8_t out[12 + HXFR_MAX_TOKEN], const char *token);
size_t hxfr_put_auth_resp(uint8_t out[16], uint32_t scope);
size_t hxfr_put_token_req(uint8_t out[20], uint32_t scanout_id, enum hxfr_token_op op);
/* token: NULL or "" for a revoke. */
size_t hxfr_put_token_resp(uint8_t out[20 + HXFR_MAX_TOKEN], uint32_t scanout_id,
                           enum hxfr_token_op op, const char *token);
/* INPUT: code for KEY and BUTTON, x and y for POINTER and WHEEL (the
 * fields a kind does not use are written as 0). */
size_t hxfr_put_input(uint8_t out[HXFR_INPUT_SIZE], const struct hfx_input *ev);
/* STATS_RESP: header only; the caller appends len bytes of text. */
size_t hxfr_put_stats_resp_head(uint8_t out[12], uint32_t len);

#endif
