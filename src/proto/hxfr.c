/* HXFR v1 parsing and building (docs/protocol.md). Every multi-byte field
 * is packed byte by byte: the wire is little-endian and packed, and byte
 * access is the only way to read it that is portable and alignment-safe. */
#include "proto/hxfr.h"

#include <string.h>

#define MAX_DIMENSION 8192u
#define MAX_REFRESH 240u
#define MIN_BITRATE 10000u
#define MAX_BITRATE 1000000000u

/* ---- little-endian access ---------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

static enum hxfr_parse fail(enum hxfr_parse r, const char **why, const char *text)
{
    if (why)
        *why = text;
    return r;
}

/* ---- header ------------------------------------------------------------ */

/* Acceptable payload sizes per type and direction. Types that carry an
 * optional scanout id accept 0 as well as their one fixed size. */
struct size_rule {
    uint8_t type;
    bool empty_ok;
    uint32_t min, max;
    const char *why;
};

static const struct size_rule client_rules[] = {
    { HXFR_FRAME_REQUEST, false, 44, HXFR_MAX_CLIENT_MSG - HXFR_HEADER_SIZE,
      "payload_size is wrong for FRAME_REQUEST (expects 44 up to the client message limit)" },
    { HXFR_KEYFRAME_REQ, true, 4, 4, "payload_size is wrong for KEYFRAME_REQ (expects 0 or 4)" },
    { HXFR_CONFIG_REQ, false, 28, 28, "payload_size is wrong for CONFIG_REQ (expects 28)" },
    { HXFR_PING, false, 0, 0, "payload_size is wrong for PING (expects 0)" },
    { HXFR_ENABLE_SCANOUT, false, 16, 16, "payload_size is wrong for ENABLE_SCANOUT (expects 16)" },
    { HXFR_DISABLE_SCANOUT, false, 4, 4, "payload_size is wrong for DISABLE_SCANOUT (expects 4)" },
    { HXFR_SUBSCRIBE, false, 4, 4, "payload_size is wrong for SUBSCRIBE (expects 4)" },
    { HXFR_HELLO, false, 12, 12, "payload_size is wrong for HELLO (expects 12)" },
    { HXFR_STATS_REQ, true, 4, 4, "payload_size is wrong for STATS_REQ (expects 0 or 4)" },
    { HXFR_AUTH, false, 1, HXFR_MAX_TOKEN, "payload_size is wrong for AUTH (expects 1..128)" },
    { HXFR_TOKEN_REQ, false, 8, 8, "payload_size is wrong for TOKEN_REQ (expects 8)" },
    { HXFR_INPUT, false, 16, 16, "payload_size is wrong for INPUT (expects 16)" },
};

static const struct size_rule server_rules[] = {
    { HXFR_FRAME_RESPONSE, false, HXFR_FRAME_FIXED_SIZE - HXFR_HEADER_SIZE,
      HXFR_FRAME_FIXED_SIZE - HXFR_HEADER_SIZE + HXFR_MAX_FRAME_PAYLOAD,
      "payload_size is wrong for FRAME_RESPONSE (expects 28 plus at most the frame limit)" },
    { HXFR_CONFIG_RESP, false, 28, 28, "payload_size is wrong for CONFIG_RESP (expects 28)" },
    { HXFR_PONG, false, 0, 0, "payload_size is wrong for PONG (expects 0)" },
    { HXFR_SCANOUT_RESP, false, 72, 72, "payload_size is wrong for SCANOUT_RESP (expects 72)" },
    { HXFR_SUBSCRIBE_RESP, false, 8, 8, "payload_size is wrong for SUBSCRIBE_RESP (expects 8)" },
    { HXFR_HELLO_RESP, false, 12, 12, "payload_size is wrong for HELLO_RESP (expects 12)" },
    { HXFR_STATS_RESP, false, 0, HXFR_MAX_TEXT_PAYLOAD,
      "payload_size is wrong for STATS_RESP (over the text limit)" },
    { HXFR_ERROR, false, 260, 260, "payload_size is wrong for ERROR (expects 260)" },
    { HXFR_AUTH_RESP, false, 4, 4, "payload_size is wrong for AUTH_RESP (expects 4)" },
    { HXFR_TOKEN_RESP, false, 8, 8 + HXFR_MAX_TOKEN,
      "payload_size is wrong for TOKEN_RESP (expects 8..136)" },
    { HXFR_CURSOR, false, HXFR_CURSOR_FIXED_SIZE - HXFR_HEADER_SIZE,
      HXFR_CURSOR_FIXED_SIZE - HXFR_HEADER_SIZE + HXFR_CURSOR_MAX_SIDE * HXFR_CURSOR_MAX_SIDE * 4,
      "payload_size is wrong for CURSOR (expects 24 plus at most a 256x256 shape)" },
};

static const struct size_rule *find_rule(uint8_t type, enum hxfr_dir dir)
{
    const struct size_rule *rules = dir == HXFR_FROM_CLIENT ? client_rules : server_rules;
    size_t n = dir == HXFR_FROM_CLIENT ? sizeof client_rules / sizeof client_rules[0]
                                       : sizeof server_rules / sizeof server_rules[0];
    for (size_t i = 0; i < n; i++)
        if (rules[i].type == type)
            return &rules[i];
    return NULL;
}

static enum hxfr_parse bad_type(uint8_t type, enum hxfr_dir dir, const char **why)
{
    /* Naming the wrong-direction case separately makes a peer that is
     * talking to the wrong end (or echoing) obvious in the logs. */
    enum hxfr_dir other = dir == HXFR_FROM_CLIENT ? HXFR_FROM_SERVER : HXFR_FROM_CLIENT;
    if (!find_rule(type, other))
        return fail(HXFR_PARSE_BAD_TYPE, why, "unknown message type");
    return fail(HXFR_PARSE_BAD_TYPE, why, dir == HXFR_FROM_CLIENT
                ? "message type is only sent by a server, not by a client"
                : "message type is only sent by a client, not by a server");
}

enum hxfr_parse hxfr_parse_header(const uint8_t *buf, size_t len, enum hxfr_dir dir,
                                  struct hxfr_header *h, const char **why)
{
    if (len < HXFR_HEADER_SIZE)
        return fail(HXFR_PARSE_NEED_MORE, why, "header is incomplete");
    if (rd32(buf) != HXFR_MAGIC)
        return fail(HXFR_PARSE_BAD_MAGIC, why, "magic is not HXFR");

    h->type = buf[4];
    h->flags = buf[5];
    h->session_id = rd16(buf + 6);
    h->payload_size = rd32(buf + 8);

    const struct size_rule *rule = find_rule(h->type, dir);
    if (!rule)
        return bad_type(h->type, dir, why);
    uint32_t size = h->payload_size;
    if (!(size == 0 && rule->empty_ok) && (size < rule->min || size > rule->max))
        return fail(HXFR_PARSE_BAD_SIZE, why, rule->why);
    return HXFR_PARSE_OK;
}

/* ---- payload decoding -------------------------------------------------- */

static bool scanout_ok(uint32_t id)
{
    return id < HXFR_MAX_SCANOUTS;
}

static bool dimension_ok(uint32_t v)
{
    return v >= 1 && v <= MAX_DIMENSION;
}

/* Copies a fixed-size char field, stopping at its first NUL. dst has room
 * for size + 1 so a field that fills its whole width still terminates. */
static void copy_text(char *dst, const uint8_t *src, size_t size)
{
    size_t n = 0;
    while (n < size && src[n] != 0) {
        dst[n] = (char)src[n];
        n++;
    }
    dst[n] = '\0';
}

static enum hxfr_parse decode_frame(const uint8_t *buf, struct hxfr_msg *m, const char **why)
{
    struct hxfr_frame *f = &m->u.frame;
    f->pts_ns = (int64_t)rd64(buf + 12);
    f->dts_ns = (int64_t)rd64(buf + 20);
    f->keyframe = buf[28] != 0;
    f->nal_count = rd32(buf + 32);
    f->au_size = rd32(buf + 36);
    f->au = buf + HXFR_FRAME_FIXED_SIZE;
    if (f->nal_count != 1)
        return fail(HXFR_PARSE_BAD_FIELD, why, "FRAME_RESPONSE nal_count is not 1");
    if (f->au_size != m->h.payload_size - (HXFR_FRAME_FIXED_SIZE - HXFR_HEADER_SIZE))
        return fail(HXFR_PARSE_BAD_FIELD, why, "FRAME_RESPONSE nal_size does not match payload_size");
    return HXFR_PARSE_OK;
}

/* KEYFRAME_REQ and STATS_REQ: an absent scanout id means "mine" or "all". */
static enum hxfr_parse decode_opt_scanout(const uint8_t *buf, uint32_t payload, bool *has,
                                          uint32_t *id, const char **why)
{
    *has = payload != 0;
    if (!*has)
        return HXFR_PARSE_OK;
    *id = rd32(buf + 12);
    if (!scanout_ok(*id))
        return fail(HXFR_PARSE_BAD_FIELD, why, "scanout id is out of range");
    return HXFR_PARSE_OK;
}

static enum hxfr_parse decode_scanout(const uint8_t *buf, uint32_t *id, const char **why)
{
    *id = rd32(buf + 12);
    if (!scanout_ok(*id))
        return fail(HXFR_PARSE_BAD_FIELD, why, "scanout id is out of range");
    return HXFR_PARSE_OK;
}

static enum hxfr_parse decode_enable(const uint8_t *buf, struct hxfr_msg *m, const char **why)
{
    m->u.enable.width = rd32(buf + 16);
    m->u.enable.height = rd32(buf + 20);
    m->u.enable.refresh = rd32(buf + 24);
    enum hxfr_parse r = decode_scanout(buf, &m->u.enable.scanout_id, why);
    if (r != HXFR_PARSE_OK)
        return r;
    if (!dimension_ok(m->u.enable.width) || !dimension_ok(m->u.enable.height))
        return fail(HXFR_PARSE_BAD_FIELD, why, "ENABLE_SCANOUT size is outside 1..8192");
    if (m->u.enable.refresh > MAX_REFRESH)
        return fail(HXFR_PARSE_BAD_FIELD, why, "ENABLE_SCANOUT refresh rate is over 240");
    return HXFR_PARSE_OK;
}

static enum hxfr_parse decode_config(const uint8_t *buf, struct hxfr_config *c, const char **why)
{
    c->width = rd32(buf + 12);
    c->height = rd32(buf + 16);
    c->bitrate = rd32(buf + 20);
    c->fps_num = rd32(buf + 24);
    c->fps_den = rd32(buf + 28);
    c->profile = buf[32];
    c->level = buf[33];
    c->realtime = buf[34];
    /* 0 means "keep the current value" for size and bitrate. */
    if (c->width > MAX_DIMENSION || c->height > MAX_DIMENSION)
        return fail(HXFR_PARSE_BAD_FIELD, why, "config size is over 8192");
    if (c->bitrate != 0 && (c->bitrate < MIN_BITRATE || c->bitrate > MAX_BITRATE))
        return fail(HXFR_PARSE_BAD_FIELD, why, "config bitrate is outside 10 kbit/s..1 Gbit/s");
    if (c->fps_den == 0 && c->fps_num != 0)
        return fail(HXFR_PARSE_BAD_FIELD, why, "config frame rate has a zero denominator");
    return HXFR_PARSE_OK;
}

static void decode_scanout_resp(const uint8_t *buf, struct hxfr_msg *m)
{
    m->u.scanout_resp.scanout_id = rd32(buf + 12);
    m->u.scanout_resp.success = rd32(buf + 16);
    copy_text(m->u.scanout_resp.connector, buf + 20, HXFR_CONNECTOR_SIZE);
}

static void decode_error(const uint8_t *buf, struct hxfr_msg *m)
{
    m->u.error.code = (int32_t)rd32(buf + 12);
    copy_text(m->u.error.text, buf + 16, HXFR_ERROR_TEXT_SIZE);
}

/* CURSOR: scanout_id u32 @12, x i32 @16, y i32 @20, visible u8 @24,
 * reserved[3], hot_x u16 @28, hot_y u16 @30, width u16 @32, height u16 @34,
 * then width * height * 4 bytes of ARGB. */
static enum hxfr_parse decode_cursor(const uint8_t *buf, uint32_t payload, struct hxfr_msg *m,
                                     const char **why)
{
    m->u.cursor.scanout_id = rd32(buf + 12);
    m->u.cursor.x = (int32_t)rd32(buf + 16);
    m->u.cursor.y = (int32_t)rd32(buf + 20);
    m->u.cursor.visible = buf[24] != 0;
    m->u.cursor.hot_x = rd16(buf + 28);
    m->u.cursor.hot_y = rd16(buf + 30);
    m->u.cursor.width = rd16(buf + 32);
    m->u.cursor.height = rd16(buf + 34);
    uint32_t w = m->u.cursor.width, h = m->u.cursor.height;
    uint32_t shape = w && h ? w * h * 4 : 0;
    if (w > HXFR_CURSOR_MAX_SIDE || h > HXFR_CURSOR_MAX_SIDE ||
        payload != HXFR_CURSOR_FIXED_SIZE - HXFR_HEADER_SIZE + shape)
        return fail(HXFR_PARSE_BAD_FIELD, why, "CURSOR shape size does not match payload_size");
    m->u.cursor.argb = shape ? buf + HXFR_CURSOR_FIXED_SIZE : NULL;
    return HXFR_PARSE_OK;
}

/* A token is printable ASCII without spaces, so it survives files,
 * environment variables and command lines unchanged. */
static enum hxfr_parse decode_token(const uint8_t *p, uint32_t len, char *out, const char **why)
{
    for (uint32_t i = 0; i < len; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return fail(HXFR_PARSE_BAD_FIELD, why, "token holds a byte that is not printable ASCII");
    memcpy(out, p, len);
    out[len] = 0;
    return HXFR_PARSE_OK;
}

static enum hxfr_parse decode_token_msg(const uint8_t *buf, uint32_t payload, struct hxfr_msg *m,
                                        const char **why)
{
    m->u.token.scanout_id = rd32(buf + 12);
    m->u.token.op = rd32(buf + 16);
    if (m->u.token.scanout_id >= HXFR_MAX_SCANOUTS)
        return fail(HXFR_PARSE_BAD_FIELD, why, "scanout_id is out of range");
    if (m->u.token.op != HXFR_TOKEN_MINT && m->u.token.op != HXFR_TOKEN_REVOKE)
        return fail(HXFR_PARSE_BAD_FIELD, why, "token operation is neither 1 (mint) nor 2 (revoke)");
    return decode_token(buf + 20, payload - 8, m->u.token.token, why);
}

static bool pressed_kind(uint8_t kind)
{
    return kind == HFX_INPUT_KEY || kind == HFX_INPUT_BUTTON;
}

/* INPUT: scanout_id u32 @12, kind u8 @16, down u8 @17, zero u16 @18,
 * a i32 @20 (code, or x), b i32 @24 (y). Every field a kind does not use
 * must be 0, so a later kind can give them meaning. */
static enum hxfr_parse decode_input(const uint8_t *buf, struct hxfr_msg *m, const char **why)
{
    uint32_t id = rd32(buf + 12);
    uint8_t kind = buf[16], down = buf[17];
    int32_t a = (int32_t)rd32(buf + 20), b = (int32_t)rd32(buf + 24);
    if (!scanout_ok(id))
        return fail(HXFR_PARSE_BAD_FIELD, why, "scanout_id is out of range");
    if (down > 1 || rd16(buf + 18) != 0)
        return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT down is not 0 or 1, or its reserved bytes are not 0");
    bool pressable = pressed_kind(kind);
    if (!pressable && down)
        return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT down is set for a pointer or wheel event");
    switch (kind) {
    case HFX_INPUT_KEY:
        if (a < 1 || a > (int32_t)HFX_INPUT_MAX_KEY || b)
            return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT key code is not an evdev code (1..767)");
        break;
    case HFX_INPUT_BUTTON:
        if (a < HFX_BUTTON_LEFT || a > HFX_BUTTON_EXTRA || b)
            return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT button is not 1..5");
        break;
    case HFX_INPUT_POINTER:
        if (a < 0 || b < 0 || a > HFX_INPUT_MAX_COORD || b > HFX_INPUT_MAX_COORD)
            return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT pointer position is outside 0..8191");
        break;
    case HFX_INPUT_WHEEL:
        if (a < -HFX_INPUT_MAX_STEPS || a > HFX_INPUT_MAX_STEPS || b < -HFX_INPUT_MAX_STEPS ||
            b > HFX_INPUT_MAX_STEPS || (!a && !b))
            return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT wheel steps are 0 or beyond 32");
        break;
    default:
        return fail(HXFR_PARSE_BAD_FIELD, why, "INPUT kind is not 1 (key), 2 (pointer), 3 (button) or 4 (wheel)");
    }
    m->u.input.scanout = id;
    m->u.input.kind = kind;
    m->u.input.down = down;
    if (pressable)
        m->u.input.code = (uint32_t)a;
    else {
        m->u.input.x = a;
        m->u.input.y = b;
    }
    return HXFR_PARSE_OK;
}

static void decode_hello(const uint8_t *buf, struct hxfr_msg *m)
{
    m->u.hello.version = rd16(buf + 12);
    m->u.hello.caps = rd32(buf + 16);
    m->u.hello.max_scanouts = rd32(buf + 20);
}

/* The header has been checked for this direction, so only types valid in
 * it reach here and every fixed-size payload is known to be complete. */
static enum hxfr_parse decode_payload(const uint8_t *buf, struct hxfr_msg *m, const char **why)
{
    uint32_t payload = m->h.payload_size;
    switch (m->h.type) {
    case HXFR_FRAME_RESPONSE:
        return decode_frame(buf, m, why);
    case HXFR_KEYFRAME_REQ:
        return decode_opt_scanout(buf, payload, &m->u.keyframe.has_scanout,
                                  &m->u.keyframe.scanout_id, why);
    case HXFR_STATS_REQ:
        return decode_opt_scanout(buf, payload, &m->u.stats_req.has_scanout,
                                  &m->u.stats_req.scanout_id, why);
    case HXFR_CONFIG_REQ:
    case HXFR_CONFIG_RESP:
        return decode_config(buf, &m->u.config, why);
    case HXFR_ENABLE_SCANOUT:
        return decode_enable(buf, m, why);
    case HXFR_DISABLE_SCANOUT:
        return decode_scanout(buf, &m->u.subscribe.scanout_id, why);
    case HXFR_SUBSCRIBE:
        /* Any id parses: the deployed subscriber must get SUBSCRIBE_RESP
         * with success 0 for one it cannot have, not an ERROR. */
        m->u.subscribe.scanout_id = rd32(buf + 12);
        return HXFR_PARSE_OK;
    case HXFR_SUBSCRIBE_RESP:
        m->u.subscribe_resp.scanout_id = rd32(buf + 12);
        m->u.subscribe_resp.success = rd32(buf + 16);
        return HXFR_PARSE_OK;
    case HXFR_SCANOUT_RESP:
        decode_scanout_resp(buf, m);
        return HXFR_PARSE_OK;
    case HXFR_ERROR:
        decode_error(buf, m);
        return HXFR_PARSE_OK;
    case HXFR_HELLO:
    case HXFR_HELLO_RESP:
        decode_hello(buf, m);
        return HXFR_PARSE_OK;
    case HXFR_STATS_RESP:
        m->u.stats_resp.text = (const char *)buf + HXFR_HEADER_SIZE;
        m->u.stats_resp.len = payload;
        return HXFR_PARSE_OK;
    case HXFR_CURSOR:
        return decode_cursor(buf, payload, m, why);
    case HXFR_AUTH:
        return decode_token(buf + 12, payload, m->u.auth.token, why);
    case HXFR_AUTH_RESP:
        m->u.auth_resp.scope = rd32(buf + 12);
        return HXFR_PARSE_OK;
    case HXFR_TOKEN_REQ:
    case HXFR_TOKEN_RESP:
        return decode_token_msg(buf, payload, m, why);
    case HXFR_INPUT:
        return decode_input(buf, m, why);
    default: /* FRAME_REQUEST, PING, PONG: nothing beyond the header */
        return HXFR_PARSE_OK;
    }
}

enum hxfr_parse hxfr_decode(const uint8_t *buf, size_t len, enum hxfr_dir dir,
                            struct hxfr_msg *msg, const char **why)
{
    /* Zeroed so fields a type does not carry compare equal across decodes. */
    memset(msg, 0, sizeof *msg);
    enum hxfr_parse r = hxfr_parse_header(buf, len, dir, &msg->h, why);
    if (r != HXFR_PARSE_OK)
        return r;
    if (len - HXFR_HEADER_SIZE < msg->h.payload_size)
        return fail(HXFR_PARSE_NEED_MORE, why, "payload is incomplete");
    return decode_payload(buf, msg, why);
}

const char *hxfr_type_name(uint8_t type)
{
    switch (type) {
    case HXFR_FRAME_REQUEST: return "FRAME_REQUEST";
    case HXFR_FRAME_RESPONSE: return "FRAME_RESPONSE";
    case HXFR_KEYFRAME_REQ: return "KEYFRAME_REQ";
    case HXFR_CONFIG_REQ: return "CONFIG_REQ";
    case HXFR_CONFIG_RESP: return "CONFIG_RESP";
    case HXFR_PING: return "PING";
    case HXFR_PONG: return "PONG";
    case HXFR_ENABLE_SCANOUT: return "ENABLE_SCANOUT";
    case HXFR_DISABLE_SCANOUT: return "DISABLE_SCANOUT";
    case HXFR_SCANOUT_RESP: return "SCANOUT_RESP";
    case HXFR_SUBSCRIBE: return "SUBSCRIBE";
    case HXFR_SUBSCRIBE_RESP: return "SUBSCRIBE_RESP";
    case HXFR_HELLO: return "HELLO";
    case HXFR_HELLO_RESP: return "HELLO_RESP";
    case HXFR_STATS_REQ: return "STATS_REQ";
    case HXFR_STATS_RESP: return "STATS_RESP";
    case HXFR_CURSOR: return "CURSOR";
    case HXFR_INPUT: return "INPUT";
    case HXFR_AUTH: return "AUTH";
    case HXFR_AUTH_RESP: return "AUTH_RESP";
    case HXFR_TOKEN_REQ: return "TOKEN_REQ";
    case HXFR_TOKEN_RESP: return "TOKEN_RESP";
    case HXFR_ERROR: return "ERROR";
    default: return "UNKNOWN";
    }
}

/* ---- builders ---------------------------------------------------------- */

size_t hxfr_put_header(uint8_t *out, uint8_t type, uint8_t flags, uint16_t session, uint32_t payload)
{
    wr32(out, HXFR_MAGIC);
    out[4] = type;
    out[5] = flags;
    wr16(out + 6, session);
    wr32(out + 8, payload);
    return HXFR_HEADER_SIZE;
}

/* Writes a fixed-width char field: zero-padded, truncated so that at least
 * one NUL always remains for readers that expect C strings. */
static void put_text(uint8_t *dst, size_t size, const char *text)
{
    memset(dst, 0, size);
    if (!text)
        return;
    size_t n = 0;
    while (n < size - 1 && text[n] != '\0')
        n++;
    memcpy(dst, text, n);
}

/* A message whose whole payload is one u32 scanout id. */
static size_t put_scanout_msg(uint8_t *out, uint8_t type, uint32_t scanout_id)
{
    hxfr_put_header(out, type, 0, (uint16_t)scanout_id, 4);
    wr32(out + 12, scanout_id);
    return 16;
}

/* KEYFRAME_REQ and STATS_REQ: without a payload the id means nothing, so
 * session_id is 0 rather than a stale id. */
static size_t put_opt_scanout_msg(uint8_t *out, uint8_t type, uint32_t scanout_id, bool with_payload)
{
    if (with_payload)
        return put_scanout_msg(out, type, scanout_id);
    return hxfr_put_header(out, type, 0, 0, 0);
}

size_t hxfr_put_subscribe(uint8_t out[16], uint32_t scanout_id)
{
    return put_scanout_msg(out, HXFR_SUBSCRIBE, scanout_id);
}

size_t hxfr_put_subscribe_resp(uint8_t out[20], uint32_t scanout_id, bool success)
{
    hxfr_put_header(out, HXFR_SUBSCRIBE_RESP, 0, (uint16_t)scanout_id, 8);
    wr32(out + 12, scanout_id);
    wr32(out + 16, success ? 1 : 0);
    return 20;
}

size_t hxfr_put_frame_head(uint8_t out[HXFR_FRAME_FIXED_SIZE], uint32_t scanout_id, int64_t pts_ns,
                           int64_t dts_ns, bool keyframe, uint32_t au_size)
{
    hxfr_put_header(out, HXFR_FRAME_RESPONSE, 0, (uint16_t)scanout_id,
                    HXFR_FRAME_FIXED_SIZE - HXFR_HEADER_SIZE + au_size);
    wr64(out + 12, (uint64_t)pts_ns);
    wr64(out + 20, (uint64_t)dts_ns);
    out[28] = keyframe ? 1 : 0;
    memset(out + 29, 0, 3);
    wr32(out + 32, 1);
    wr32(out + 36, au_size);
    return HXFR_FRAME_FIXED_SIZE;
}

size_t hxfr_put_keyframe_req(uint8_t out[16], uint32_t scanout_id, bool with_payload)
{
    return put_opt_scanout_msg(out, HXFR_KEYFRAME_REQ, scanout_id, with_payload);
}

size_t hxfr_put_config(uint8_t out[40], uint8_t type, uint16_t session, const struct hxfr_config *c)
{
    hxfr_put_header(out, type, 0, session, 28);
    wr32(out + 12, c->width);
    wr32(out + 16, c->height);
    wr32(out + 20, c->bitrate);
    wr32(out + 24, c->fps_num);
    wr32(out + 28, c->fps_den);
    out[32] = c->profile;
    out[33] = c->level;
    out[34] = c->realtime;
    memset(out + 35, 0, 5);
    return 40;
}

size_t hxfr_put_ping(uint8_t out[12], uint8_t type, uint16_t session)
{
    return hxfr_put_header(out, type, 0, session, 0);
}

size_t hxfr_put_enable(uint8_t out[28], uint32_t scanout_id, uint32_t w, uint32_t h, uint32_t refresh)
{
    hxfr_put_header(out, HXFR_ENABLE_SCANOUT, 0, (uint16_t)scanout_id, 16);
    wr32(out + 12, scanout_id);
    wr32(out + 16, w);
    wr32(out + 20, h);
    wr32(out + 24, refresh);
    return 28;
}

size_t hxfr_put_disable(uint8_t out[16], uint32_t scanout_id)
{
    return put_scanout_msg(out, HXFR_DISABLE_SCANOUT, scanout_id);
}

size_t hxfr_put_scanout_resp(uint8_t out[84], uint32_t scanout_id, bool success, const char *connector)
{
    hxfr_put_header(out, HXFR_SCANOUT_RESP, 0, (uint16_t)scanout_id, 72);
    wr32(out + 12, scanout_id);
    wr32(out + 16, success ? 1 : 0);
    put_text(out + 20, HXFR_CONNECTOR_SIZE, connector);
    return 84;
}

size_t hxfr_put_error(uint8_t out[272], uint16_t session, int32_t code, const char *text)
{
    hxfr_put_header(out, HXFR_ERROR, 0, session, 260);
    wr32(out + 12, (uint32_t)code);
    put_text(out + 16, HXFR_ERROR_TEXT_SIZE, text);
    return 272;
}

size_t hxfr_put_hello(uint8_t out[24], uint8_t type, uint16_t version, uint32_t caps, uint32_t max_scanouts)
{
    /* Only the client's HELLO announces itself; deployed v1 clients never
     * set a flag, so the flag alone tells the two kinds of client apart. */
    uint8_t flags = type == HXFR_HELLO ? HXFR_FLAG_EXTENDED : 0;
    hxfr_put_header(out, type, flags, 0, 12);
    wr16(out + 12, version);
    wr16(out + 14, 0);
    wr32(out + 16, caps);
    wr32(out + 20, max_scanouts);
    return 24;
}

size_t hxfr_put_stats_req(uint8_t out[16], uint32_t scanout_id, bool with_payload)
{
    return put_opt_scanout_msg(out, HXFR_STATS_REQ, scanout_id, with_payload);
}

size_t hxfr_put_cursor_head(uint8_t out[HXFR_CURSOR_FIXED_SIZE], uint32_t scanout_id, int32_t x,
                            int32_t y, bool visible, uint16_t hot_x, uint16_t hot_y,
                            uint16_t width, uint16_t height)
{
    uint32_t shape = width && height ? (uint32_t)width * height * 4 : 0;
    hxfr_put_header(out, HXFR_CURSOR, 0, (uint16_t)scanout_id,
                    HXFR_CURSOR_FIXED_SIZE - HXFR_HEADER_SIZE + shape);
    wr32(out + 12, scanout_id);
    wr32(out + 16, (uint32_t)x);
    wr32(out + 20, (uint32_t)y);
    memset(out + 24, 0, 4);
    out[24] = visible;
    wr16(out + 28, hot_x);
    wr16(out + 30, hot_y);
    wr16(out + 32, width);
    wr16(out + 34, height);
    return HXFR_CURSOR_FIXED_SIZE;
}

static uint32_t token_len(const char *token)
{
    size_t n = token ? strlen(token) : 0;
    return (uint32_t)(n > HXFR_MAX_TOKEN ? HXFR_MAX_TOKEN : n);
}

size_t hxfr_put_auth(uint8_t out[12 + HXFR_MAX_TOKEN], const char *token)
{
    uint32_t n = token_len(token);
    hxfr_put_header(out, HXFR_AUTH, 0, 0, n);
    if (n)
        memcpy(out + 12, token, n);
    return 12 + n;
}

size_t hxfr_put_auth_resp(uint8_t out[16], uint32_t scope)
{
    hxfr_put_header(out, HXFR_AUTH_RESP, 0, 0, 4);
    wr32(out + 12, scope);
    return 16;
}

size_t hxfr_put_token_req(uint8_t out[20], uint32_t scanout_id, enum hxfr_token_op op)
{
    hxfr_put_header(out, HXFR_TOKEN_REQ, 0, (uint16_t)scanout_id, 8);
    wr32(out + 12, scanout_id);
    wr32(out + 16, (uint32_t)op);
    return 20;
}

size_t hxfr_put_token_resp(uint8_t out[20 + HXFR_MAX_TOKEN], uint32_t scanout_id,
                           enum hxfr_token_op op, const char *token)
{
    uint32_t n = token_len(token);
    hxfr_put_header(out, HXFR_TOKEN_RESP, 0, (uint16_t)scanout_id, 8 + n);
    wr32(out + 12, scanout_id);
    wr32(out + 16, (uint32_t)op);
    if (n)
        memcpy(out + 20, token, n);
    return 20 + n;
}

size_t hxfr_put_input(uint8_t out[HXFR_INPUT_SIZE], const struct hfx_input *ev)
{
    bool pressable = pressed_kind(ev->kind);
    hxfr_put_header(out, HXFR_INPUT, 0, (uint16_t)ev->scanout, 16);
    wr32(out + 12, ev->scanout);
    out[16] = ev->kind;
    out[17] = pressable && ev->down;
    wr16(out + 18, 0);
    wr32(out + 20, pressable ? ev->code : (uint32_t)ev->x);
    wr32(out + 24, pressable ? 0 : (uint32_t)ev->y);
    return HXFR_INPUT_SIZE;
}

size_t hxfr_put_stats_resp_head(uint8_t out[12], uint32_t len)
{
    return hxfr_put_header(out, HXFR_STATS_RESP, 0, 0, len);
}
