/* libFuzzer target for the HXFR parser. The input is treated as a byte
 * stream in both directions, read the way the server and the clients read
 * a socket, from every starting offset (a reader that lost sync must still
 * be safe). Beyond "no crash" it aborts on broken invariants: results that
 * disagree between hxfr_parse_header and hxfr_decode, a prefix of a message
 * that is not reported as incomplete, and decoded messages that do not
 * survive a rebuild with the builders. */
#include "proto/hxfr.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest message rebuilt; bigger frames and texts are only parsed. */
#define REBUILD_MAX 8192

static bool same_header(const struct hxfr_header *a, const struct hxfr_header *b)
{
    return a->type == b->type && a->flags == b->flags && a->session_id == b->session_id &&
           a->payload_size == b->payload_size;
}

static bool same_opt_scanout(bool has_a, uint32_t id_a, bool has_b, uint32_t id_b)
{
    return has_a == has_b && (!has_a || id_a == id_b);
}

static bool same_config(const struct hxfr_config *a, const struct hxfr_config *b)
{
    return a->width == b->width && a->height == b->height && a->bitrate == b->bitrate &&
           a->fps_num == b->fps_num && a->fps_den == b->fps_den && a->profile == b->profile &&
           a->level == b->level && a->realtime == b->realtime;
}

static bool same_frame(const struct hxfr_frame *a, const struct hxfr_frame *b)
{
    return a->pts_ns == b->pts_ns && a->dts_ns == b->dts_ns && a->keyframe == b->keyframe &&
           a->nal_count == b->nal_count && a->au_size == b->au_size &&
           memcmp(a->au, b->au, a->au_size) == 0;
}

/* Compares what a message means. session_id and flags are left out where
 * the builder derives them instead of taking them as arguments. */
static bool same_payload(const struct hxfr_msg *a, const struct hxfr_msg *b)
{
    switch (a->h.type) {
    case HXFR_SUBSCRIBE:
    case HXFR_DISABLE_SCANOUT:
        return a->u.subscribe.scanout_id == b->u.subscribe.scanout_id;
    case HXFR_KEYFRAME_REQ:
        return same_opt_scanout(a->u.keyframe.has_scanout, a->u.keyframe.scanout_id,
                                b->u.keyframe.has_scanout, b->u.keyframe.scanout_id);
    case HXFR_STATS_REQ:
        return same_opt_scanout(a->u.stats_req.has_scanout, a->u.stats_req.scanout_id,
                                b->u.stats_req.has_scanout, b->u.stats_req.scanout_id);
    case HXFR_CONFIG_REQ:
    case HXFR_CONFIG_RESP:
        return a->h.session_id == b->h.session_id && same_config(&a->u.config, &b->u.config);
    case HXFR_PING:
    case HXFR_PONG:
        return a->h.session_id == b->h.session_id;
    case HXFR_ENABLE_SCANOUT:
        return a->u.enable.scanout_id == b->u.enable.scanout_id && a->u.enable.width == b->u.enable.width &&
               a->u.enable.height == b->u.enable.height && a->u.enable.refresh == b->u.enable.refresh;
    case HXFR_HELLO:
    case HXFR_HELLO_RESP:
        return a->u.hello.version == b->u.hello.version && a->u.hello.caps == b->u.hello.caps &&
               a->u.hello.max_scanouts == b->u.hello.max_scanouts;
    case HXFR_SUBSCRIBE_RESP:
        return a->u.subscribe_resp.scanout_id == b->u.subscribe_resp.scanout_id &&
               a->u.subscribe_resp.success == b->u.subscribe_resp.success;
    case HXFR_SCANOUT_RESP:
        return a->u.scanout_resp.scanout_id == b->u.scanout_resp.scanout_id &&
               a->u.scanout_resp.success == b->u.scanout_resp.success &&
               strcmp(a->u.scanout_resp.connector, b->u.scanout_resp.connector) == 0;
    case HXFR_ERROR:
        return a->h.session_id == b->h.session_id && a->u.error.code == b->u.error.code &&
               strcmp(a->u.error.text, b->u.error.text) == 0;
    case HXFR_FRAME_RESPONSE:
        return same_frame(&a->u.frame, &b->u.frame);
    case HXFR_INPUT:
        return a->u.input.scanout == b->u.input.scanout &&
               a->u.input.kind == b->u.input.kind && a->u.input.down == b->u.input.down &&
               a->u.input.code == b->u.input.code && a->u.input.x == b->u.input.x &&
               a->u.input.y == b->u.input.y;
    case HXFR_STATS_RESP:
        return a->u.stats_resp.len == b->u.stats_resp.len &&
               memcmp(a->u.stats_resp.text, b->u.stats_resp.text, a->u.stats_resp.len) == 0;
    default:
        abort(); /* rebuild() only returns messages it knows */
    }
}

static size_t rebuild_server(const struct hxfr_msg *m, uint8_t *out)
{
    switch (m->h.type) {
    case HXFR_CONFIG_RESP:
        return hxfr_put_config(out, m->h.type, m->h.session_id, &m->u.config);
    case HXFR_PONG:
        return hxfr_put_ping(out, m->h.type, m->h.session_id);
    case HXFR_HELLO_RESP:
        return hxfr_put_hello(out, m->h.type, m->u.hello.version, m->u.hello.caps, m->u.hello.max_scanouts);
    case HXFR_SUBSCRIBE_RESP: /* the builder takes a bool */
        if (m->u.subscribe_resp.success > 1)
            return 0;
        return hxfr_put_subscribe_resp(out, m->u.subscribe_resp.scanout_id, m->u.subscribe_resp.success);
    case HXFR_SCANOUT_RESP: /* a bool, and a connector of at most 63 chars */
        if (m->u.scanout_resp.success > 1 || strlen(m->u.scanout_resp.connector) >= HXFR_CONNECTOR_SIZE)
            return 0;
        return hxfr_put_scanout_resp(out, m->u.scanout_resp.scanout_id, m->u.scanout_resp.success,
                                     m->u.scanout_resp.connector);
    case HXFR_ERROR: /* text of at most 255 chars */
        if (strlen(m->u.error.text) >= HXFR_ERROR_TEXT_SIZE)
            return 0;
        return hxfr_put_error(out, m->h.session_id, m->u.error.code, m->u.error.text);
    case HXFR_FRAME_RESPONSE:
        if (m->u.frame.au_size > REBUILD_MAX - HXFR_FRAME_FIXED_SIZE)
            return 0;
        hxfr_put_frame_head(out, m->h.session_id, m->u.frame.pts_ns, m->u.frame.dts_ns, m->u.frame.keyframe,
                            m->u.frame.au_size);
        memcpy(out + HXFR_FRAME_FIXED_SIZE, m->u.frame.au, m->u.frame.au_size);
        return HXFR_FRAME_FIXED_SIZE + m->u.frame.au_size;
    case HXFR_STATS_RESP:
        if (m->u.stats_resp.len > REBUILD_MAX - HXFR_HEADER_SIZE)
            return 0;
        hxfr_put_stats_resp_head(out, m->u.stats_resp.len);
        memcpy(out + HXFR_HEADER_SIZE, m->u.stats_resp.text, m->u.stats_resp.len);
        return HXFR_HEADER_SIZE + m->u.stats_resp.len;
    default:
        return 0;
    }
}

/* Builds the message again from its decoded fields. Returns 0 where no
 * builder can express it exactly (legacy FRAME_REQUEST has none). */
static size_t rebuild(const struct hxfr_msg *m, uint8_t *out)
{
    switch (m->h.type) {
    case HXFR_SUBSCRIBE:
        return hxfr_put_subscribe(out, m->u.subscribe.scanout_id);
    case HXFR_DISABLE_SCANOUT:
        return hxfr_put_disable(out, m->u.subscribe.scanout_id);
    case HXFR_KEYFRAME_REQ:
        return hxfr_put_keyframe_req(out, m->u.keyframe.scanout_id, m->u.keyframe.has_scanout);
    case HXFR_STATS_REQ:
        return hxfr_put_stats_req(out, m->u.stats_req.scanout_id, m->u.stats_req.has_scanout);
    case HXFR_CONFIG_REQ:
        return hxfr_put_config(out, m->h.type, m->h.session_id, &m->u.config);
    case HXFR_PING:
        return hxfr_put_ping(out, m->h.type, m->h.session_id);
    case HXFR_ENABLE_SCANOUT:
        return hxfr_put_enable(out, m->u.enable.scanout_id, m->u.enable.width, m->u.enable.height,
                               m->u.enable.refresh);
    case HXFR_HELLO:
        return hxfr_put_hello(out, m->h.type, m->u.hello.version, m->u.hello.caps, m->u.hello.max_scanouts);
    case HXFR_INPUT:
        return hxfr_put_input(out, &m->u.input);
    default:
        return rebuild_server(m, out);
    }
}

static void check_rebuild(const struct hxfr_msg *m, enum hxfr_dir dir)
{
    static uint8_t out[REBUILD_MAX];
    size_t n = rebuild(m, out);
    if (n == 0)
        return;
    struct hxfr_msg again;
    REQUIRE(hxfr_decode(out, n, dir, &again, NULL) == HXFR_PARSE_OK);
    REQUIRE(n == HXFR_HEADER_SIZE + (size_t)again.h.payload_size);
    REQUIRE(again.h.type == m->h.type && again.h.payload_size == m->h.payload_size);
    REQUIRE(again.h.flags == (m->h.type == HXFR_HELLO ? HXFR_FLAG_EXTENDED : 0));
    REQUIRE(same_payload(m, &again));
}

/* A stream reader that got only part of the message must be told to wait:
 * every split point inside a message yields NEED_MORE, never an error. */
static void check_prefixes(const uint8_t *msg, size_t total, enum hxfr_dir dir)
{
    for (size_t len = 0; len < total; len++) {
        struct hxfr_msg m;
        REQUIRE(hxfr_decode(msg, len, dir, &m, NULL) == HXFR_PARSE_NEED_MORE);
    }
}

/* Reads messages off the stream until it runs dry or a message is bad,
 * as the server's and the client's read loops do. Each message is the
 * first one of the walk that starts at its own offset, so checking the
 * split points of first messages only covers every message once. */
static void read_stream(const uint8_t *buf, size_t len, enum hxfr_dir dir)
{
    size_t off = 0;
    for (;;) {
        const uint8_t *p = buf + off;
        size_t left = len - off;
        struct hxfr_header h;
        const char *why = NULL;
        enum hxfr_parse r = hxfr_parse_header(p, left, dir, &h, &why);
        REQUIRE(why != NULL || r == HXFR_PARSE_OK);
        if (r == HXFR_PARSE_NEED_MORE)
            REQUIRE(left < HXFR_HEADER_SIZE);
        if (r != HXFR_PARSE_OK)
            return;

        size_t total = HXFR_HEADER_SIZE + (size_t)h.payload_size;
        struct hxfr_msg m;
        why = NULL;
        r = hxfr_decode(p, left, dir, &m, &why);
        REQUIRE(why != NULL || r == HXFR_PARSE_OK);
        REQUIRE(same_header(&h, &m.h));
        if (left < total) {
            REQUIRE(r == HXFR_PARSE_NEED_MORE);
            return;
        }
        if (off == 0)
            check_prefixes(p, total, dir);
        /* With the whole message present only its fields can be wrong. */
        REQUIRE(r == HXFR_PARSE_OK || r == HXFR_PARSE_BAD_FIELD);
        if (r != HXFR_PARSE_OK)
            return;
        check_rebuild(&m, dir);
        off += total;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum hxfr_dir dirs[] = { HXFR_FROM_CLIENT, HXFR_FROM_SERVER };
    for (size_t d = 0; d < 2; d++)
        for (size_t start = 0; start < size; start++)
            read_stream(data + start, size - start, dirs[d]);
    return 0;
}
