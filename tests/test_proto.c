/* HXFR parser and builder tests. Expected layouts and limits are written
 * out by hand from docs/protocol.md rather than derived from the code, so a
 * mistake in src/proto/hxfr.c cannot also hide in the expectation. Inputs
 * that end where the message ends are copied into exactly-sized heap blocks
 * so that an over-read shows up under ASan. */
#include "proto/hxfr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check_at(bool ok, const char *file, int line, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    failures++;
}

static void check_eq_at(long long got, long long want, const char *file, int line, const char *what)
{
    if (got == want)
        return;
    fprintf(stderr, "%s:%d: check failed: %s: got %lld, want %lld\n", file, line, what, got, want);
    failures++;
}

#define CHECK(c) check_at((c), __FILE__, __LINE__, #c)
#define CHECK_EQ(a, b) check_eq_at((long long)(a), (long long)(b), __FILE__, __LINE__, #a " == " #b)

/* ---- helpers ----------------------------------------------------------- */

static const char *parse_name(enum hxfr_parse r)
{
    switch (r) {
    case HXFR_PARSE_OK: return "OK";
    case HXFR_PARSE_NEED_MORE: return "NEED_MORE";
    case HXFR_PARSE_BAD_MAGIC: return "BAD_MAGIC";
    case HXFR_PARSE_BAD_TYPE: return "BAD_TYPE";
    case HXFR_PARSE_BAD_SIZE: return "BAD_SIZE";
    case HXFR_PARSE_BAD_FIELD: return "BAD_FIELD";
    }
    return "?";
}

/* Checks a parse result, and that every error comes with a reason. The
 * reason is passed by address: it is read only after the call under test
 * has run, whatever order the arguments were evaluated in. */
static void expect_at(enum hxfr_parse got, enum hxfr_parse want, const char *const *reason,
                      const char *file, int line, const char *ctx)
{
    const char *why = *reason;
    if (got != want) {
        fprintf(stderr, "%s:%d: %s: got %s, want %s (why: %s)\n", file, line, ctx,
                parse_name(got), parse_name(want), why ? why : "(null)");
        failures++;
        return;
    }
    if (got < 0 && (!why || !*why)) {
        fprintf(stderr, "%s:%d: %s: error %s without a reason\n", file, line, ctx, parse_name(got));
        failures++;
    }
}

/* Decodes a private copy of msg[0..len) in a block of exactly len bytes. */
static enum hxfr_parse decode_exact(const uint8_t *msg, size_t len, enum hxfr_dir dir,
                                    struct hxfr_msg *out, const char **why)
{
    uint8_t *copy = malloc(len);
    if (len)
        memcpy(copy, msg, len);
    enum hxfr_parse r = hxfr_decode(copy, len, dir, out, why);
    free(copy);
    return r;
}

static enum hxfr_parse parse_exact(const uint8_t *msg, size_t len, enum hxfr_dir dir, const char **why)
{
    struct hxfr_header h;
    uint8_t *copy = malloc(len);
    if (len)
        memcpy(copy, msg, len);
    enum hxfr_parse r = hxfr_parse_header(copy, len, dir, &h, why);
    free(copy);
    return r;
}

#define EXPECT_DECODE(buf, len, dir, want) expect_decode_at(buf, len, dir, want, __FILE__, __LINE__, #buf)
static void expect_decode_at(const uint8_t *buf, size_t len, enum hxfr_dir dir, enum hxfr_parse want,
                             const char *file, int line, const char *ctx)
{
    struct hxfr_msg m;
    const char *why = NULL;
    expect_at(decode_exact(buf, len, dir, &m, &why), want, &why, file, line, ctx);
}

#define EXPECT_HEADER(buf, len, dir, want) expect_header_at(buf, len, dir, want, __FILE__, __LINE__, #buf)
static void expect_header_at(const uint8_t *buf, size_t len, enum hxfr_dir dir, enum hxfr_parse want,
                             const char *file, int line, const char *ctx)
{
    const char *why = NULL;
    expect_at(parse_exact(buf, len, dir, &why), want, &why, file, line, ctx);
}

#define EXPECT_BYTES(got, want) expect_bytes_at(got, sizeof(want), want, sizeof(want), __FILE__, __LINE__, #want)
static void expect_bytes_at(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
                            const char *file, int line, const char *ctx)
{
    if (got_len != want_len) {
        fprintf(stderr, "%s:%d: %s: length %zu, want %zu\n", file, line, ctx, got_len, want_len);
        failures++;
        return;
    }
    for (size_t i = 0; i < want_len; i++) {
        if (got[i] != want[i]) {
            fprintf(stderr, "%s:%d: %s: byte %zu is 0x%02x, want 0x%02x\n", file, line, ctx, i,
                    got[i], want[i]);
            failures++;
            return;
        }
    }
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static enum hxfr_dir other_dir(enum hxfr_dir d)
{
    return d == HXFR_FROM_CLIENT ? HXFR_FROM_SERVER : HXFR_FROM_CLIENT;
}

/* ---- one sample of every message the builders make --------------------- */

struct sample {
    const char *name;
    enum hxfr_dir dir;
    size_t len;
    uint8_t bytes[320];
};

static const struct hxfr_config sample_config = {
    .width = 1920, .height = 1080, .bitrate = 8000000, .fps_num = 60, .fps_den = 1,
    .profile = 66, .level = 40, .realtime = 1,
};

#define MAX_SAMPLES 32

static const uint8_t sample_au[] = { 0, 0, 0, 1, 0x65, 0x88, 0x84 };
static const char sample_json[] = "{\"fps\":60}";

static size_t make_samples(struct sample s[MAX_SAMPLES])
{
    size_t n = 0;
    memset(s, 0, MAX_SAMPLES * sizeof *s);
#define ADD(nm, d, expr) do { s[n].name = nm; s[n].dir = d; uint8_t *out = s[n].bytes; \
                              s[n].len = (expr); n++; } while (0)
    ADD("SUBSCRIBE", HXFR_FROM_CLIENT, hxfr_put_subscribe(out, 5));
    ADD("KEYFRAME_REQ", HXFR_FROM_CLIENT, hxfr_put_keyframe_req(out, 2, true));
    ADD("KEYFRAME_REQ empty", HXFR_FROM_CLIENT, hxfr_put_keyframe_req(out, 0, false));
    ADD("CONFIG_REQ", HXFR_FROM_CLIENT, hxfr_put_config(out, HXFR_CONFIG_REQ, 0, &sample_config));
    ADD("PING", HXFR_FROM_CLIENT, hxfr_put_ping(out, HXFR_PING, 77));
    ADD("ENABLE_SCANOUT", HXFR_FROM_CLIENT, hxfr_put_enable(out, 3, 2560, 1440, 60));
    ADD("DISABLE_SCANOUT", HXFR_FROM_CLIENT, hxfr_put_disable(out, 3));
    ADD("HELLO", HXFR_FROM_CLIENT, hxfr_put_hello(out, HXFR_HELLO, 1, 0x5, 0));
    ADD("STATS_REQ", HXFR_FROM_CLIENT, hxfr_put_stats_req(out, 15, true));
    ADD("STATS_REQ empty", HXFR_FROM_CLIENT, hxfr_put_stats_req(out, 0, false));
    ADD("AUTH", HXFR_FROM_CLIENT, hxfr_put_auth(out, "hfx1.h3.0000000000000001.abc"));
    ADD("TOKEN_REQ", HXFR_FROM_CLIENT, hxfr_put_token_req(out, 3, HXFR_TOKEN_MINT));
    ADD("INPUT", HXFR_FROM_CLIENT, hxfr_put_input(out, &(struct hfx_input){2, HFX_INPUT_KEY, true, 30, 0, 0}));
    ADD("AUTH_RESP", HXFR_FROM_SERVER, hxfr_put_auth_resp(out, HXFR_SCOPE_CONTROL));
    ADD("TOKEN_RESP", HXFR_FROM_SERVER, hxfr_put_token_resp(out, 3, HXFR_TOKEN_MINT, "hfx1.x"));
    ADD("TOKEN_RESP revoke", HXFR_FROM_SERVER, hxfr_put_token_resp(out, 3, HXFR_TOKEN_REVOKE, NULL));
    ADD("SUBSCRIBE_RESP", HXFR_FROM_SERVER, hxfr_put_subscribe_resp(out, 5, true));
    ADD("FRAME_RESPONSE", HXFR_FROM_SERVER,
        hxfr_put_frame_head(out, 1, 1000, 900, true, sizeof sample_au) +
        (memcpy(out + 40, sample_au, sizeof sample_au), sizeof sample_au));
    ADD("FRAME_RESPONSE empty", HXFR_FROM_SERVER, hxfr_put_frame_head(out, 1, 0, 0, false, 0));
    ADD("CONFIG_RESP", HXFR_FROM_SERVER, hxfr_put_config(out, HXFR_CONFIG_RESP, 4, &sample_config));
    ADD("PONG", HXFR_FROM_SERVER, hxfr_put_ping(out, HXFR_PONG, 77));
    ADD("SCANOUT_RESP", HXFR_FROM_SERVER, hxfr_put_scanout_resp(out, 3, true, "Virtual-4"));
    ADD("ERROR", HXFR_FROM_SERVER, hxfr_put_error(out, 0, HXFR_E_NOT_FOUND, "no such scanout"));
    ADD("HELLO_RESP", HXFR_FROM_SERVER, hxfr_put_hello(out, HXFR_HELLO_RESP, 1, 0x5, 16));
    ADD("STATS_RESP", HXFR_FROM_SERVER,
        hxfr_put_stats_resp_head(out, sizeof sample_json - 1) +
        (memcpy(out + 12, sample_json, sizeof sample_json - 1), sizeof sample_json - 1));
#undef ADD
    return n;
}

/* ---- round trips -------------------------------------------------------- */

/* Decodes in place (the buffer outlives the pointers the message holds). */
static struct hxfr_msg decode_ok(const uint8_t *buf, size_t len, enum hxfr_dir dir, int line)
{
    struct hxfr_msg m;
    const char *why = NULL;
    expect_at(hxfr_decode(buf, len, dir, &m, &why), HXFR_PARSE_OK, &why, __FILE__, line, "decode_ok");
    return m;
}

static void test_roundtrip_client(void)
{
    uint8_t b[64];
    struct hxfr_msg m;

    m = decode_ok(b, hxfr_put_subscribe(b, 7), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_SUBSCRIBE);
    CHECK_EQ(m.h.flags, 0);
    CHECK_EQ(m.h.session_id, 7);
    CHECK_EQ(m.h.payload_size, 4);
    CHECK_EQ(m.u.subscribe.scanout_id, 7);

    m = decode_ok(b, hxfr_put_keyframe_req(b, 9, true), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_KEYFRAME_REQ);
    CHECK(m.u.keyframe.has_scanout);
    CHECK_EQ(m.u.keyframe.scanout_id, 9);
    m = decode_ok(b, hxfr_put_keyframe_req(b, 9, false), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.payload_size, 0);
    CHECK(!m.u.keyframe.has_scanout);

    struct hxfr_config c = { 3840, 2160, 20000000, 30000, 1001, 100, 51, 0 };
    m = decode_ok(b, hxfr_put_config(b, HXFR_CONFIG_REQ, 2, &c), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_CONFIG_REQ);
    CHECK_EQ(m.h.session_id, 2);
    CHECK_EQ(m.u.config.width, 3840);
    CHECK_EQ(m.u.config.height, 2160);
    CHECK_EQ(m.u.config.bitrate, 20000000);
    CHECK_EQ(m.u.config.fps_num, 30000);
    CHECK_EQ(m.u.config.fps_den, 1001);
    CHECK_EQ(m.u.config.profile, 100);
    CHECK_EQ(m.u.config.level, 51);
    CHECK_EQ(m.u.config.realtime, 0);

    m = decode_ok(b, hxfr_put_ping(b, HXFR_PING, 0xBEEF), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_PING);
    CHECK_EQ(m.h.session_id, 0xBEEF);
    CHECK_EQ(m.h.payload_size, 0);

    m = decode_ok(b, hxfr_put_enable(b, 15, 8192, 1, 240), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_ENABLE_SCANOUT);
    CHECK_EQ(m.u.enable.scanout_id, 15);
    CHECK_EQ(m.u.enable.width, 8192);
    CHECK_EQ(m.u.enable.height, 1);
    CHECK_EQ(m.u.enable.refresh, 240);

    m = decode_ok(b, hxfr_put_disable(b, 0), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_DISABLE_SCANOUT);
    CHECK_EQ(m.u.subscribe.scanout_id, 0);

    m = decode_ok(b, hxfr_put_hello(b, HXFR_HELLO, 1, 0xA5A5A5A5u, 0), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_HELLO);
    CHECK_EQ(m.h.flags, HXFR_FLAG_EXTENDED);
    CHECK_EQ(m.u.hello.version, 1);
    CHECK_EQ(m.u.hello.caps, 0xA5A5A5A5u);

    m = decode_ok(b, hxfr_put_stats_req(b, 4, true), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.h.type, HXFR_STATS_REQ);
    CHECK(m.u.stats_req.has_scanout);
    CHECK_EQ(m.u.stats_req.scanout_id, 4);
    m = decode_ok(b, hxfr_put_stats_req(b, 4, false), HXFR_FROM_CLIENT, __LINE__);
    CHECK(!m.u.stats_req.has_scanout);
}

static void test_roundtrip_server(void)
{
    uint8_t b[400];
    struct hxfr_msg m;

    m = decode_ok(b, hxfr_put_subscribe_resp(b, 12, true), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_SUBSCRIBE_RESP);
    CHECK_EQ(m.h.session_id, 12);
    CHECK_EQ(m.u.subscribe_resp.scanout_id, 12);
    CHECK_EQ(m.u.subscribe_resp.success, 1);
    m = decode_ok(b, hxfr_put_subscribe_resp(b, 12, false), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.u.subscribe_resp.success, 0);

    size_t n = hxfr_put_frame_head(b, 6, -5, INT64_MIN, true, 300);
    CHECK_EQ(n, HXFR_FRAME_FIXED_SIZE);
    for (int i = 0; i < 300; i++)
        b[40 + i] = (uint8_t)i;
    m = decode_ok(b, n + 300, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_FRAME_RESPONSE);
    CHECK_EQ(m.h.session_id, 6);
    CHECK_EQ(m.h.payload_size, 328);
    CHECK_EQ(m.u.frame.pts_ns, -5);
    CHECK(m.u.frame.dts_ns == INT64_MIN);
    CHECK(m.u.frame.keyframe);
    CHECK_EQ(m.u.frame.nal_count, 1);
    CHECK_EQ(m.u.frame.au_size, 300);
    CHECK(m.u.frame.au == b + 40);

    m = decode_ok(b, hxfr_put_frame_head(b, 0, INT64_MAX, 0, false, 0), HXFR_FROM_SERVER, __LINE__);
    CHECK(m.u.frame.pts_ns == INT64_MAX);
    CHECK(!m.u.frame.keyframe);
    CHECK_EQ(m.u.frame.au_size, 0);

    struct hxfr_config zero = { 0 };
    m = decode_ok(b, hxfr_put_config(b, HXFR_CONFIG_RESP, 1, &zero), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_CONFIG_RESP);
    CHECK_EQ(m.u.config.width, 0);
    CHECK_EQ(m.u.config.bitrate, 0);
    m = decode_ok(b, hxfr_put_config(b, HXFR_CONFIG_RESP, 1, &sample_config), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.u.config.bitrate, 8000000);
    CHECK_EQ(m.u.config.level, 40);

    m = decode_ok(b, hxfr_put_ping(b, HXFR_PONG, 31), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_PONG);
    CHECK_EQ(m.h.session_id, 31);

    m = decode_ok(b, hxfr_put_scanout_resp(b, 3, false, "Virtual-4"), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_SCANOUT_RESP);
    CHECK_EQ(m.u.scanout_resp.scanout_id, 3);
    CHECK_EQ(m.u.scanout_resp.success, 0);
    CHECK(strcmp(m.u.scanout_resp.connector, "Virtual-4") == 0);

    m = decode_ok(b, hxfr_put_error(b, 8, HXFR_E_INTERNAL, "boom"), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_ERROR);
    CHECK_EQ(m.h.session_id, 8);
    CHECK_EQ(m.u.error.code, -99);
    CHECK(strcmp(m.u.error.text, "boom") == 0);

    m = decode_ok(b, hxfr_put_hello(b, HXFR_HELLO_RESP, 1, 3, 16), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_HELLO_RESP);
    CHECK_EQ(m.h.flags, 0);
    CHECK_EQ(m.u.hello.version, 1);
    CHECK_EQ(m.u.hello.caps, 3);
    CHECK_EQ(m.u.hello.max_scanouts, 16);

    n = hxfr_put_stats_resp_head(b, sizeof sample_json - 1);
    memcpy(b + n, sample_json, sizeof sample_json - 1);
    m = decode_ok(b, n + sizeof sample_json - 1, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.h.type, HXFR_STATS_RESP);
    CHECK_EQ(m.u.stats_resp.len, sizeof sample_json - 1);
    CHECK(m.u.stats_resp.text == (const char *)b + 12);
    m = decode_ok(b, hxfr_put_stats_resp_head(b, 0), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.u.stats_resp.len, 0);
}

/* Every sample is refused by the other side, and decodes identically when
 * followed by more bytes (the next message in a stream). */
static void test_samples_direction_and_trailing(void)
{
    struct sample s[MAX_SAMPLES];
    size_t n = make_samples(s);
    for (size_t i = 0; i < n; i++) {
        struct hxfr_msg a, b;
        const char *why = NULL;
        expect_at(hxfr_decode(s[i].bytes, s[i].len, other_dir(s[i].dir), &a, &why),
                  HXFR_PARSE_BAD_TYPE, &why, __FILE__, __LINE__, s[i].name);
        expect_at(hxfr_decode(s[i].bytes, s[i].len, s[i].dir, &a, &why), HXFR_PARSE_OK, &why,
                  __FILE__, __LINE__, s[i].name);
        expect_at(hxfr_decode(s[i].bytes, sizeof s[i].bytes, s[i].dir, &b, &why), HXFR_PARSE_OK, &why,
                  __FILE__, __LINE__, s[i].name);
        CHECK(memcmp(&a.h, &b.h, sizeof a.h) == 0);
        CHECK_EQ(HXFR_HEADER_SIZE + a.h.payload_size, s[i].len);
    }
}

/* ---- exact layouts ------------------------------------------------------ */

static void test_layouts(void)
{
    uint8_t b[272];

    static const uint8_t subscribe[16] = {
        0x48, 0x58, 0x46, 0x52, 0x30, 0x00, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00,
        0x05, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_subscribe(b, 5), 16);
    EXPECT_BYTES(b, subscribe);

    static const uint8_t subscribe_resp[20] = {
        0x48, 0x58, 0x46, 0x52, 0x31, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00,
        0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_subscribe_resp(b, 5, true), 20);
    EXPECT_BYTES(b, subscribe_resp);

    static const uint8_t frame_head[40] = {
        0x48, 0x58, 0x46, 0x52, 0x02, 0x00, 0x02, 0x00, 0x50, 0x12, 0x00, 0x00, /* 28 + 0x1234 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,                         /* pts */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,                         /* dts = -1 */
        0x01, 0x00, 0x00, 0x00,                                                 /* key, reserved */
        0x01, 0x00, 0x00, 0x00,                                                 /* nal_count */
        0x34, 0x12, 0x00, 0x00,                                                 /* nal_size */
    };
    memset(b, 0xAA, sizeof b);
    CHECK_EQ(hxfr_put_frame_head(b, 2, 0x0102030405060708, -1, true, 0x1234), 40);
    EXPECT_BYTES(b, frame_head);

    static const uint8_t config_req[40] = {
        0x48, 0x58, 0x46, 0x52, 0x04, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00,
        0x80, 0x07, 0x00, 0x00, 0x38, 0x04, 0x00, 0x00, /* 1920 x 1080 */
        0x00, 0x12, 0x7a, 0x00,                         /* 8 000 000 bit/s */
        0x3c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* 60 / 1 */
        66, 40, 1, 0, 0, 0, 0, 0,
    };
    memset(b, 0xAA, sizeof b);
    CHECK_EQ(hxfr_put_config(b, HXFR_CONFIG_REQ, 0, &sample_config), 40);
    EXPECT_BYTES(b, config_req);

    static const uint8_t scanout_resp[84] = {
        0x48, 0x58, 0x46, 0x52, 0x22, 0x00, 0x03, 0x00, 0x48, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        'V', 'i', 'r', 't', 'u', 'a', 'l', '-', '4', /* then zero padding */
    };
    memset(b, 0xAA, sizeof b);
    CHECK_EQ(hxfr_put_scanout_resp(b, 3, true, "Virtual-4"), 84);
    EXPECT_BYTES(b, scanout_resp);

    static const uint8_t error[272] = {
        0x48, 0x58, 0x46, 0x52, 0xff, 0x00, 0x09, 0x00, 0x04, 0x01, 0x00, 0x00,
        0xfe, 0xff, 0xff, 0xff, /* -2 */
        'n', 'o', ' ', 's', 'u', 'c', 'h', ' ', 's', 'c', 'a', 'n', 'o', 'u', 't',
    };
    memset(b, 0xAA, sizeof b);
    CHECK_EQ(hxfr_put_error(b, 9, HXFR_E_NOT_FOUND, "no such scanout"), 272);
    EXPECT_BYTES(b, error);

    static const uint8_t enable[28] = {
        0x48, 0x58, 0x46, 0x52, 0x20, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0xa0, 0x05, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_enable(b, 1, 2560, 1440, 60), 28);
    EXPECT_BYTES(b, enable);

    static const uint8_t disable[16] = {
        0x48, 0x58, 0x46, 0x52, 0x21, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_disable(b, 1), 16);
    EXPECT_BYTES(b, disable);

    static const uint8_t pong[12] = {
        0x48, 0x58, 0x46, 0x52, 0x11, 0x00, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_ping(b, HXFR_PONG, 0x1234), 12);
    EXPECT_BYTES(b, pong);

    static const uint8_t hello[24] = {
        0x48, 0x58, 0x46, 0x52, 0x40, 0x01, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    memset(b, 0xAA, sizeof b);
    CHECK_EQ(hxfr_put_hello(b, HXFR_HELLO, 1, 7, 0), 24);
    EXPECT_BYTES(b, hello);

    static const uint8_t hello_resp[24] = {
        0x48, 0x58, 0x46, 0x52, 0x41, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_hello(b, HXFR_HELLO_RESP, 1, 7, 16), 24);
    EXPECT_BYTES(b, hello_resp);

    static const uint8_t keyframe_empty[12] = {
        0x48, 0x58, 0x46, 0x52, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    CHECK_EQ(hxfr_put_keyframe_req(b, 0, false), 12);
    EXPECT_BYTES(b, keyframe_empty);

    static const uint8_t stats_resp_head[12] = {
        0x48, 0x58, 0x46, 0x52, 0x51, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
    };
    CHECK_EQ(hxfr_put_stats_resp_head(b, HXFR_MAX_TEXT_PAYLOAD), 12);
    EXPECT_BYTES(b, stats_resp_head);
}

/* ---- malformed input ---------------------------------------------------- */

static void test_bad_magic(void)
{
    struct sample s[MAX_SAMPLES];
    size_t n = make_samples(s);
    for (size_t i = 0; i < n; i++) {
        for (int byte = 0; byte < 4; byte++) {
            uint8_t m[sizeof s[i].bytes];
            memcpy(m, s[i].bytes, s[i].len);
            m[byte] ^= 0x20; /* e.g. "hXFR": a case slip must not pass */
            EXPECT_HEADER(m, s[i].len, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_MAGIC);
            EXPECT_HEADER(m, s[i].len, HXFR_FROM_SERVER, HXFR_PARSE_BAD_MAGIC);
            EXPECT_DECODE(m, s[i].len, s[i].dir, HXFR_PARSE_BAD_MAGIC);
        }
    }
    static const uint8_t big_endian[12] = { 'R', 'F', 'X', 'H', HXFR_PING };
    EXPECT_HEADER(big_endian, sizeof big_endian, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_MAGIC);
}

/* Types each side may send, per docs/protocol.md, with a valid size. */
struct type_rule {
    uint8_t type;
    enum hxfr_dir dir;
    uint32_t size;
};

static const struct type_rule valid_types[] = {
    { HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 44 },
    { HXFR_KEYFRAME_REQ, HXFR_FROM_CLIENT, 4 },
    { HXFR_CONFIG_REQ, HXFR_FROM_CLIENT, 28 },
    { HXFR_PING, HXFR_FROM_CLIENT, 0 },
    { HXFR_ENABLE_SCANOUT, HXFR_FROM_CLIENT, 16 },
    { HXFR_DISABLE_SCANOUT, HXFR_FROM_CLIENT, 4 },
    { HXFR_SUBSCRIBE, HXFR_FROM_CLIENT, 4 },
    { HXFR_HELLO, HXFR_FROM_CLIENT, 12 },
    { HXFR_STATS_REQ, HXFR_FROM_CLIENT, 0 },
    { HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, 28 },
    { HXFR_CONFIG_RESP, HXFR_FROM_SERVER, 28 },
    { HXFR_PONG, HXFR_FROM_SERVER, 0 },
    { HXFR_SCANOUT_RESP, HXFR_FROM_SERVER, 72 },
    { HXFR_SUBSCRIBE_RESP, HXFR_FROM_SERVER, 8 },
    { HXFR_HELLO_RESP, HXFR_FROM_SERVER, 12 },
    { HXFR_STATS_RESP, HXFR_FROM_SERVER, 0 },
    { HXFR_ERROR, HXFR_FROM_SERVER, 260 },
    { HXFR_CURSOR, HXFR_FROM_SERVER, 24 },
    { HXFR_AUTH, HXFR_FROM_CLIENT, 1 },
    { HXFR_TOKEN_REQ, HXFR_FROM_CLIENT, 8 },
    { HXFR_INPUT, HXFR_FROM_CLIENT, 16 },
    { HXFR_AUTH_RESP, HXFR_FROM_SERVER, 4 },
    { HXFR_TOKEN_RESP, HXFR_FROM_SERVER, 8 },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct type_rule *valid_rule(unsigned type, enum hxfr_dir dir)
{
    for (size_t i = 0; i < COUNT(valid_types); i++)
        if (valid_types[i].type == type && valid_types[i].dir == dir)
            return &valid_types[i];
    return NULL;
}

/* All 256 types in both directions: unknown ones and those that only the
 * other side may send are BAD_TYPE, whatever the size. */
static void test_types(void)
{
    for (unsigned t = 0; t < 256; t++) {
        for (int d = 0; d < 2; d++) {
            enum hxfr_dir dir = d ? HXFR_FROM_SERVER : HXFR_FROM_CLIENT;
            const struct type_rule *ok = valid_rule(t, dir);
            const struct type_rule *other = valid_rule(t, other_dir(dir));
            uint8_t h[12];
            hxfr_put_header(h, (uint8_t)t, 0, 0, ok ? ok->size : other ? other->size : 0);
            EXPECT_HEADER(h, sizeof h, dir, ok ? HXFR_PARSE_OK : HXFR_PARSE_BAD_TYPE);
            CHECK((strcmp(hxfr_type_name((uint8_t)t), "UNKNOWN") != 0) == (ok || other));
        }
    }
    CHECK(strcmp(hxfr_type_name(HXFR_SUBSCRIBE), "SUBSCRIBE") == 0);
    CHECK(strcmp(hxfr_type_name(HXFR_ERROR), "ERROR") == 0);
    CHECK(strcmp(hxfr_type_name(HXFR_STATS_RESP), "STATS_RESP") == 0);
    CHECK(strcmp(hxfr_type_name(0x06), "UNKNOWN") == 0);
}

/* Fixed-size types: exactly the listed sizes pass. */
struct fixed_size {
    uint8_t type;
    enum hxfr_dir dir;
    uint32_t size;
    bool empty_ok; /* payload 0 also valid (optional scanout id) */
};

static const struct fixed_size fixed_sizes[] = {
    { HXFR_KEYFRAME_REQ, HXFR_FROM_CLIENT, 4, true },
    { HXFR_CONFIG_REQ, HXFR_FROM_CLIENT, 28, false },
    { HXFR_PING, HXFR_FROM_CLIENT, 0, false },
    { HXFR_ENABLE_SCANOUT, HXFR_FROM_CLIENT, 16, false },
    { HXFR_DISABLE_SCANOUT, HXFR_FROM_CLIENT, 4, false },
    { HXFR_SUBSCRIBE, HXFR_FROM_CLIENT, 4, false },
    { HXFR_HELLO, HXFR_FROM_CLIENT, 12, false },
    { HXFR_STATS_REQ, HXFR_FROM_CLIENT, 4, true },
    { HXFR_CONFIG_RESP, HXFR_FROM_SERVER, 28, false },
    { HXFR_PONG, HXFR_FROM_SERVER, 0, false },
    { HXFR_SCANOUT_RESP, HXFR_FROM_SERVER, 72, false },
    { HXFR_SUBSCRIBE_RESP, HXFR_FROM_SERVER, 8, false },
    { HXFR_HELLO_RESP, HXFR_FROM_SERVER, 12, false },
    { HXFR_ERROR, HXFR_FROM_SERVER, 260, false },
};

static void test_fixed_sizes(void)
{
    static const uint32_t probes[] = {
        0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 16, 17, 27, 28, 29, 44, 71, 72, 73, 259, 260, 261,
        4084, 4096, 0x10000, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFF3u, 0xFFFFFFF4u, 0xFFFFFFFFu,
    };
    for (size_t i = 0; i < COUNT(fixed_sizes); i++) {
        const struct fixed_size *f = &fixed_sizes[i];
        uint32_t near[] = { f->size - 1, f->size + 1 };
        for (size_t j = 0; j < COUNT(probes) + COUNT(near); j++) {
            uint32_t size = j < COUNT(probes) ? probes[j] : near[j - COUNT(probes)];
            bool ok = size == f->size || (size == 0 && f->empty_ok);
            uint8_t h[12];
            hxfr_put_header(h, f->type, 0, 0, size);
            /* A header alone: a bad size must be refused before the
             * payload is needed, so exactly 12 bytes are allocated. */
            EXPECT_HEADER(h, sizeof h, f->dir, ok ? HXFR_PARSE_OK : HXFR_PARSE_BAD_SIZE);
            EXPECT_DECODE(h, sizeof h, f->dir,
                          !ok ? HXFR_PARSE_BAD_SIZE : size ? HXFR_PARSE_NEED_MORE : HXFR_PARSE_OK);
        }
    }
}

static void expect_size(uint8_t type, enum hxfr_dir dir, uint32_t size, enum hxfr_parse want, int line)
{
    uint8_t h[12];
    const char *why = NULL;
    hxfr_put_header(h, type, 0, 0, size);
    expect_at(parse_exact(h, sizeof h, dir, &why), want, &why, __FILE__, line, hxfr_type_name(type));
}

static void test_variable_sizes(void)
{
    const uint32_t frame_max = 28 + HXFR_MAX_FRAME_PAYLOAD;
    const uint32_t request_max = HXFR_MAX_CLIENT_MSG - 12;

    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 0, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 43, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 44, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, request_max, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, request_max + 1, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 1920 * 1080 * 4 + 44, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 0xFFFFFFFFu, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_REQUEST, HXFR_FROM_CLIENT, 0xFFFFFFF4u, HXFR_PARSE_BAD_SIZE, __LINE__);

    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, 0, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, 27, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, 28, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, frame_max, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, frame_max + 1, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_FRAME_RESPONSE, HXFR_FROM_SERVER, 0xFFFFFFFFu, HXFR_PARSE_BAD_SIZE, __LINE__);

    expect_size(HXFR_STATS_RESP, HXFR_FROM_SERVER, 0, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_STATS_RESP, HXFR_FROM_SERVER, HXFR_MAX_TEXT_PAYLOAD, HXFR_PARSE_OK, __LINE__);
    expect_size(HXFR_STATS_RESP, HXFR_FROM_SERVER, HXFR_MAX_TEXT_PAYLOAD + 1, HXFR_PARSE_BAD_SIZE, __LINE__);
    expect_size(HXFR_STATS_RESP, HXFR_FROM_SERVER, 0xFFFFFFFFu, HXFR_PARSE_BAD_SIZE, __LINE__);
}

/* The legacy request must parse (the server refuses it with an ERROR, which
 * needs the whole message skipped cleanly), up to the client size limit. */
static void test_frame_request(void)
{
    uint8_t *m = calloc(1, HXFR_MAX_CLIENT_MSG);
    hxfr_put_header(m, HXFR_FRAME_REQUEST, 0, 0, 44);
    EXPECT_DECODE(m, 56, HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(m, 55, HXFR_FROM_CLIENT, HXFR_PARSE_NEED_MORE);
    EXPECT_DECODE(m, 56, HXFR_FROM_SERVER, HXFR_PARSE_BAD_TYPE);
    hxfr_put_header(m, HXFR_FRAME_REQUEST, 0x01, 0, HXFR_MAX_CLIENT_MSG - 12); /* raw pixels follow */
    EXPECT_DECODE(m, HXFR_MAX_CLIENT_MSG, HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    hxfr_put_header(m, HXFR_FRAME_REQUEST, 0x01, 0, HXFR_MAX_CLIENT_MSG - 11);
    EXPECT_DECODE(m, HXFR_MAX_CLIENT_MSG, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_SIZE);
    free(m);
}

/* Every prefix of every message is incomplete, never an error and never a
 * read past the end (each prefix sits in its own exactly-sized block). */
static void test_truncation(void)
{
    struct sample s[MAX_SAMPLES];
    size_t n = make_samples(s);
    for (size_t i = 0; i < n; i++) {
        for (size_t len = 0; len < s[i].len; len++) {
            const char *why = NULL;
            struct hxfr_msg m;
            enum hxfr_parse r = decode_exact(s[i].bytes, len, s[i].dir, &m, &why);
            if (r != HXFR_PARSE_NEED_MORE) {
                fprintf(stderr, "%s:%d: %s truncated to %zu: got %s (why: %s)\n", __FILE__, __LINE__,
                        s[i].name, len, parse_name(r), why ? why : "(null)");
                failures++;
            }
            if (len < HXFR_HEADER_SIZE)
                EXPECT_HEADER(s[i].bytes, len, s[i].dir, HXFR_PARSE_NEED_MORE);
            else
                EXPECT_HEADER(s[i].bytes, len, s[i].dir, HXFR_PARSE_OK);
        }
        EXPECT_DECODE(s[i].bytes, s[i].len, s[i].dir, HXFR_PARSE_OK);
    }
}

static void test_scanout_ids(void)
{
    static const uint32_t bad[] = { HXFR_MAX_SCANOUTS, 17, 0xFFFF, 0x10000, 0x80000000u, 0xFFFFFFFFu };
    uint8_t b[28];
    for (size_t i = 0; i < COUNT(bad); i++) {
        uint32_t id = bad[i];
        EXPECT_DECODE(b, hxfr_put_subscribe(b, id), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
        EXPECT_DECODE(b, hxfr_put_disable(b, id), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
        EXPECT_DECODE(b, hxfr_put_enable(b, id, 640, 480, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
        EXPECT_DECODE(b, hxfr_put_keyframe_req(b, id, true), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
        EXPECT_DECODE(b, hxfr_put_stats_req(b, id, true), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    }
    const uint32_t last = HXFR_MAX_SCANOUTS - 1;
    EXPECT_DECODE(b, hxfr_put_subscribe(b, last), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_disable(b, last), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_enable(b, last, 640, 480, 60), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_keyframe_req(b, last, true), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_stats_req(b, last, true), HXFR_FROM_CLIENT, HXFR_PARSE_OK);

    /* The payload names the scanout; session_id is informational only. */
    struct hxfr_msg m;
    hxfr_put_subscribe(b, 3);
    b[6] = 9;
    m = decode_ok(b, 16, HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.u.subscribe.scanout_id, 3);
    CHECK_EQ(m.h.session_id, 9);
    /* Nor may a valid session_id rescue an out-of-range payload id. */
    hxfr_put_subscribe(b, 0x10003);
    CHECK_EQ(b[6], 3);
    m = decode_ok(b, 16, HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(m.u.subscribe.scanout_id, 0x10003);
}

static void test_enable_fields(void)
{
    uint8_t b[28];
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 0, 480, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 640, 0, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 8193, 480, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 640, 8193, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 0xFFFFFFFFu, 480, 60), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 640, 480, 241), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 640, 480, 0xFFFFFFFFu), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 1, 1, 0), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 8192, 8192, 240), HXFR_FROM_CLIENT, HXFR_PARSE_OK);
    EXPECT_DECODE(b, hxfr_put_enable(b, 1, 641, 481, 75), HXFR_FROM_CLIENT, HXFR_PARSE_OK); /* odd is fine */
}

static void expect_config(struct hxfr_config c, enum hxfr_parse want, int line)
{
    uint8_t b[40];
    const char *why = NULL;
    struct hxfr_msg m;
    hxfr_put_config(b, HXFR_CONFIG_REQ, 0, &c);
    expect_at(decode_exact(b, sizeof b, HXFR_FROM_CLIENT, &m, &why), want, &why, __FILE__, line, "CONFIG_REQ");
    hxfr_put_config(b, HXFR_CONFIG_RESP, 0, &c);
    expect_at(decode_exact(b, sizeof b, HXFR_FROM_SERVER, &m, &why), want, &why, __FILE__, line, "CONFIG_RESP");
}

static void test_config_fields(void)
{
    struct hxfr_config c = sample_config;
    expect_config(c, HXFR_PARSE_OK, __LINE__);

    c = sample_config, c.width = 0, c.height = 0;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.width = 8192, c.height = 8192;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.width = 8193;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
    c = sample_config, c.height = 8193;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
    c = sample_config, c.width = 0xFFFFFFFFu;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);

    c = sample_config, c.bitrate = 0;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.bitrate = 10000;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.bitrate = 1000000000;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.bitrate = 9999;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
    c = sample_config, c.bitrate = 1;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
    c = sample_config, c.bitrate = 1000000001;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
    c = sample_config, c.bitrate = 0xFFFFFFFFu;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);

    c = sample_config, c.fps_num = 0, c.fps_den = 0;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.fps_num = 0, c.fps_den = 1;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.fps_num = 30000, c.fps_den = 1001;
    expect_config(c, HXFR_PARSE_OK, __LINE__);
    c = sample_config, c.fps_num = 60, c.fps_den = 0;
    expect_config(c, HXFR_PARSE_BAD_FIELD, __LINE__);
}

static void test_frame_fields(void)
{
    uint8_t b[40 + sizeof sample_au];
    hxfr_put_frame_head(b, 0, 0, 0, true, sizeof sample_au);
    memcpy(b + 40, sample_au, sizeof sample_au);
    EXPECT_DECODE(b, sizeof b, HXFR_FROM_SERVER, HXFR_PARSE_OK);

    static const uint32_t bad_counts[] = { 0, 2, 0xFFFFFFFFu };
    for (size_t i = 0; i < COUNT(bad_counts); i++) {
        wr32(b + 32, bad_counts[i]);
        EXPECT_DECODE(b, sizeof b, HXFR_FROM_SERVER, HXFR_PARSE_BAD_FIELD);
    }
    wr32(b + 32, 1);

    const uint32_t n = sizeof sample_au;
    const uint32_t bad_sizes[] = { 0, n - 1, n + 1, 0xFFFFFFFFu };
    for (size_t i = 0; i < COUNT(bad_sizes); i++) {
        wr32(b + 36, bad_sizes[i]);
        EXPECT_DECODE(b, sizeof b, HXFR_FROM_SERVER, HXFR_PARSE_BAD_FIELD);
    }
}

/* Strings that fill their whole field with no NUL are still read safely:
 * each message ends where the field ends, in an exactly-sized block. */
static void test_strings(void)
{
    uint8_t b[272];
    struct hxfr_msg m;
    const char *why = NULL;

    hxfr_put_scanout_resp(b, 1, true, "");
    memset(b + 20, 'A', 64);
    expect_at(decode_exact(b, 84, HXFR_FROM_SERVER, &m, &why), HXFR_PARSE_OK, &why, __FILE__, __LINE__, "connector");
    CHECK_EQ(strlen(m.u.scanout_resp.connector), 64);
    CHECK(m.u.scanout_resp.connector[63] == 'A');

    hxfr_put_error(b, 0, HXFR_E_INVALID_MSG, "");
    memset(b + 16, 'x', 256);
    expect_at(decode_exact(b, 272, HXFR_FROM_SERVER, &m, &why), HXFR_PARSE_OK, &why, __FILE__, __LINE__, "error text");
    CHECK_EQ(strlen(m.u.error.text), 256);

    /* Bytes after the first NUL are not part of the string. */
    hxfr_put_scanout_resp(b, 1, true, "ab");
    memcpy(b + 23, "cd", 2);
    m = decode_ok(b, 84, HXFR_FROM_SERVER, __LINE__);
    CHECK(strcmp(m.u.scanout_resp.connector, "ab") == 0);

    /* Builders truncate and always leave a terminating NUL on the wire. */
    char longer[400];
    memset(longer, 'z', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    hxfr_put_scanout_resp(b, 1, true, longer);
    CHECK_EQ(b[20 + 62], 'z');
    CHECK_EQ(b[20 + 63], 0);
    m = decode_ok(b, 84, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(strlen(m.u.scanout_resp.connector), 63);

    hxfr_put_error(b, 0, HXFR_E_INVALID_MSG, longer);
    CHECK_EQ(b[16 + 254], 'z');
    CHECK_EQ(b[16 + 255], 0);
    m = decode_ok(b, 272, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(strlen(m.u.error.text), 255);

    memset(b, 0xAA, sizeof b);
    hxfr_put_error(b, 0, HXFR_E_INVALID_MSG, NULL);
    m = decode_ok(b, 272, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(strlen(m.u.error.text), 0);
    CHECK_EQ(b[271], 0);
}

/* A reader walks a byte stream message by message. */
static void test_stream(void)
{
    uint8_t b[16 + 40 + 12];
    size_t n = hxfr_put_subscribe(b, 1);
    n += hxfr_put_config(b + n, HXFR_CONFIG_REQ, 1, &sample_config);
    n += hxfr_put_ping(b + n, HXFR_PING, 1);
    CHECK_EQ(n, sizeof b);

    static const uint8_t want[] = { HXFR_SUBSCRIBE, HXFR_CONFIG_REQ, HXFR_PING };
    size_t off = 0;
    for (size_t i = 0; i < COUNT(want); i++) {
        struct hxfr_msg m = decode_ok(b + off, n - off, HXFR_FROM_CLIENT, __LINE__);
        CHECK_EQ(m.h.type, want[i]);
        off += HXFR_HEADER_SIZE + m.h.payload_size;
    }
    CHECK_EQ(off, n);
}

/* CURSOR: a move carries no shape; a shape's size must match payload_size
 * and stay within 256x256. */
static void test_cursor(void)
{
    uint8_t move[HXFR_CURSOR_FIXED_SIZE];
    CHECK_EQ(hxfr_put_cursor_head(move, 3, -5, 700, true, 0, 0, 0, 0), HXFR_CURSOR_FIXED_SIZE);
    struct hxfr_msg m = decode_ok(move, sizeof move, HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.u.cursor.scanout_id, 3);
    CHECK_EQ(m.u.cursor.x, -5);
    CHECK_EQ(m.u.cursor.y, 700);
    CHECK(m.u.cursor.visible && !m.u.cursor.argb);

    size_t len = HXFR_CURSOR_FIXED_SIZE + 4 * 3 * 4;
    uint8_t *shape = calloc(1, len);
    hxfr_put_cursor_head(shape, 1, 10, 20, false, 2, 3, 4, 3);
    shape[HXFR_CURSOR_FIXED_SIZE] = 0xAB;
    m = decode_ok(shape, len, HXFR_FROM_SERVER, __LINE__);
    CHECK(m.u.cursor.width == 4 && m.u.cursor.height == 3 && m.u.cursor.hot_x == 2 &&
          m.u.cursor.hot_y == 3 && !m.u.cursor.visible);
    CHECK(m.u.cursor.argb == shape + HXFR_CURSOR_FIXED_SIZE && m.u.cursor.argb[0] == 0xAB);
    /* A shape bigger than the payload, and one bigger than 256x256. */
    hxfr_put_cursor_head(shape, 1, 0, 0, true, 0, 0, 5, 3);
    hxfr_put_header(shape, HXFR_CURSOR, 0, 1, (uint32_t)len - HXFR_HEADER_SIZE);
    EXPECT_DECODE(shape, len, HXFR_FROM_SERVER, HXFR_PARSE_BAD_FIELD);
    hxfr_put_cursor_head(shape, 1, 0, 0, true, 0, 0, 257, 1);
    hxfr_put_header(shape, HXFR_CURSOR, 0, 1, (uint32_t)len - HXFR_HEADER_SIZE);
    EXPECT_DECODE(shape, len, HXFR_FROM_SERVER, HXFR_PARSE_BAD_FIELD);
    free(shape);
    /* Clients may not send it. */
    EXPECT_DECODE(move, sizeof move, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_TYPE);
}

/* Tokens are printable ASCII within the size limit; TOKEN_REQ names a
 * scanout and an operation that exist. */
static void test_tokens(void)
{
    uint8_t b[20 + HXFR_MAX_TOKEN];
    char longest[HXFR_MAX_TOKEN + 2];
    memset(longest, 'A', sizeof longest - 1);
    longest[sizeof longest - 1] = 0;
    struct hxfr_msg m = decode_ok(b, hxfr_put_auth(b, longest), HXFR_FROM_CLIENT, __LINE__);
    CHECK_EQ(strlen(m.u.auth.token), HXFR_MAX_TOKEN); /* the builder cut the extra one */
    hxfr_put_auth(b, "good");
    b[13] = ' ';
    EXPECT_DECODE(b, 16, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    b[13] = 0x80;
    EXPECT_DECODE(b, 16, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    hxfr_put_header(b, HXFR_AUTH, 0, 0, 0);
    EXPECT_HEADER(b, 12, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_SIZE);
    hxfr_put_header(b, HXFR_AUTH, 0, 0, HXFR_MAX_TOKEN + 1);
    EXPECT_HEADER(b, 12, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_SIZE);

    m = decode_ok(b, hxfr_put_token_req(b, 15, HXFR_TOKEN_REVOKE), HXFR_FROM_CLIENT, __LINE__);
    CHECK(m.u.token.scanout_id == 15 && m.u.token.op == HXFR_TOKEN_REVOKE && !m.u.token.token[0]);
    EXPECT_DECODE(b, hxfr_put_token_req(b, 16, HXFR_TOKEN_MINT), HXFR_FROM_CLIENT,
                  HXFR_PARSE_BAD_FIELD);
    EXPECT_DECODE(b, hxfr_put_token_req(b, 1, (enum hxfr_token_op)3), HXFR_FROM_CLIENT,
                  HXFR_PARSE_BAD_FIELD);
    m = decode_ok(b, hxfr_put_token_resp(b, 2, HXFR_TOKEN_MINT, "hfx1.h2.x.y"), HXFR_FROM_SERVER,
                  __LINE__);
    CHECK(m.u.token.scanout_id == 2 && strcmp(m.u.token.token, "hfx1.h2.x.y") == 0);
    m = decode_ok(b, hxfr_put_auth_resp(b, 7), HXFR_FROM_SERVER, __LINE__);
    CHECK_EQ(m.u.auth_resp.scope, 7);
}

/* INPUT: each kind carries only its own fields, each within its range;
 * every unused byte is 0. */
static void test_input(void)
{
    uint8_t b[HXFR_INPUT_SIZE];
#define PUT(...) hxfr_put_input(b, &(struct hfx_input){__VA_ARGS__})
    struct hxfr_msg m = decode_ok(b, PUT(15, HFX_INPUT_KEY, true, 0x2ff, 0, 0), HXFR_FROM_CLIENT,
                                  __LINE__);
    CHECK(m.u.input.scanout == 15 && m.u.input.kind == HFX_INPUT_KEY && m.u.input.down &&
          m.u.input.code == 0x2ff);
    m = decode_ok(b, PUT(1, HFX_INPUT_POINTER, false, 0, 8191, 0), HXFR_FROM_CLIENT, __LINE__);
    CHECK(m.u.input.kind == HFX_INPUT_POINTER && m.u.input.x == 8191 && m.u.input.y == 0);
    m = decode_ok(b, PUT(1, HFX_INPUT_WHEEL, false, 0, 0, -32), HXFR_FROM_CLIENT, __LINE__);
    CHECK(m.u.input.kind == HFX_INPUT_WHEEL && m.u.input.y == -32);
    m = decode_ok(b, PUT(1, HFX_INPUT_BUTTON, false, HFX_BUTTON_EXTRA, 0, 0), HXFR_FROM_CLIENT,
                  __LINE__);
    CHECK(m.u.input.code == HFX_BUTTON_EXTRA && !m.u.input.down);

    const struct hfx_input bad[] = {
        {0, HFX_INPUT_KEY, true, 0, 0, 0},        {0, HFX_INPUT_KEY, true, 0x300, 0, 0},
        {0, HFX_INPUT_BUTTON, true, 0, 0, 0},     {0, HFX_INPUT_BUTTON, true, 6, 0, 0},
        {0, HFX_INPUT_POINTER, false, 0, -1, 0},  {0, HFX_INPUT_POINTER, false, 0, 0, 8192},
        {0, HFX_INPUT_WHEEL, false, 0, 0, 0},     {0, HFX_INPUT_WHEEL, false, 0, 33, 0},
        {0, 0, false, 0, 0, 0},                   {0, 5, false, 0, 0, 0},
        {16, HFX_INPUT_KEY, true, 30, 0, 0},
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        EXPECT_DECODE(b, hxfr_put_input(b, &bad[i]), HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    PUT(0, HFX_INPUT_KEY, true, 30, 0, 0);
    b[17] = 2; /* down is 0 or 1 */
    EXPECT_DECODE(b, sizeof b, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    PUT(0, HFX_INPUT_POINTER, false, 0, 5, 5);
    b[17] = 1; /* a pointer is not pressed */
    EXPECT_DECODE(b, sizeof b, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    PUT(0, HFX_INPUT_KEY, true, 30, 0, 0);
    b[24] = 1; /* the key's unused field */
    EXPECT_DECODE(b, sizeof b, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    PUT(0, HFX_INPUT_KEY, true, 30, 0, 0);
    b[19] = 1; /* reserved */
    EXPECT_DECODE(b, sizeof b, HXFR_FROM_CLIENT, HXFR_PARSE_BAD_FIELD);
    /* Servers do not send it. */
    EXPECT_DECODE(b, PUT(0, HFX_INPUT_KEY, true, 30, 0, 0), HXFR_FROM_SERVER, HXFR_PARSE_BAD_TYPE);
#undef PUT
}

/* why is optional; errors must not depend on it. */
static void test_null_why(void)
{
    uint8_t b[16];
    struct hxfr_msg m;
    struct hxfr_header h;
    hxfr_put_disable(b, 99);
    CHECK_EQ(hxfr_decode(b, sizeof b, HXFR_FROM_CLIENT, &m, NULL), HXFR_PARSE_BAD_FIELD);
    CHECK_EQ(hxfr_parse_header(b, 3, HXFR_FROM_CLIENT, &h, NULL), HXFR_PARSE_NEED_MORE);
    b[0] = 0;
    CHECK_EQ(hxfr_parse_header(b, sizeof b, HXFR_FROM_CLIENT, &h, NULL), HXFR_PARSE_BAD_MAGIC);
}

int main(void)
{
    test_roundtrip_client();
    test_roundtrip_server();
    test_samples_direction_and_trailing();
    test_layouts();
    test_bad_magic();
    test_types();
    test_fixed_sizes();
    test_variable_sizes();
    test_frame_request();
    test_truncation();
    test_scanout_ids();
    test_enable_fields();
    test_config_fields();
    test_frame_fields();
    test_strings();
    test_stream();
    test_null_why();
    test_cursor();
    test_tokens();
    test_input();
    if (failures) {
        fprintf(stderr, "test_proto: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_proto: all checks passed\n");
    return 0;
}
