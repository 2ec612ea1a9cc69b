/* Who may watch and switch what: tokens derived from the exporter's secret,
 * against the real server over real sockets. A lessee's token opens its own
 * head and no other; forged, malformed, stale and revoked tokens get an
 * ERROR; v1 clients are served only where their listener allows them.
 * INPUT: only in the extended mode, and a head's token drives only its own
 * head. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client/client.h"
#include "common/clock.h"
#include "pipeline.h"
#include "server/access.h"

#define T 3000 /* ms for any one reply */

static void open_conn(struct hfx_conn *c, const char *addr)
{
    char err[256];
    CHECK(hfx_conn_open(c, addr, err, sizeof err) == 0, "%s", err);
}

/* An extended connection that presented token (none if NULL). */
static void open_ext(struct hfx_conn *c, const char *addr, const char *token)
{
    char err[256];
    open_conn(c, addr);
    CHECK(hfx_conn_extended(c, 0, token, T, err, sizeof err) == 0, "%s", err);
}

/* Sends a request and returns its reply's type; an ERROR's code and text
 * land in *m. */
static uint8_t ask(struct hfx_conn *c, const uint8_t *req, size_t len, struct hxfr_msg *m)
{
    char err[256];
    int r = hfx_conn_request(c, req, len, m, T, err, sizeof err);
    CHECK(r == 1, "no reply: %s", err);
    return r == 1 ? m->h.type : 0;
}

static void expect_denied(struct hfx_conn *c, const uint8_t *req, size_t len, const char *what,
                          const char *text_part)
{
    struct hxfr_msg m;
    uint8_t t = ask(c, req, len, &m);
    CHECK(t == HXFR_ERROR && m.u.error.code == HXFR_E_DENIED &&
              (!text_part || strstr(m.u.error.text, text_part)),
          "%s: got %s %d '%s'", what, hxfr_type_name(t), t == HXFR_ERROR ? m.u.error.code : 0,
          t == HXFR_ERROR ? m.u.error.text : "");
    if (t == HXFR_ERROR)
        fprintf(stderr, "  %s: ERROR %d '%s'\n", what, m.u.error.code, m.u.error.text);
}

static void expect_auth(struct hfx_conn *c, const char *token, uint32_t scope, const char *what)
{
    uint32_t got = 0;
    char err[256];
    int r = hfx_conn_auth(c, token, T, &got, err, sizeof err);
    CHECK(r == 0 && got == scope, "%s: %s (scope %u)", what, r ? err : "wrong scope", got);
}

static void expect_auth_refused(struct hfx_conn *c, const char *token, const char *text_part,
                                const char *what)
{
    uint8_t b[12 + HXFR_MAX_TOKEN];
    expect_denied(c, b, hxfr_put_auth(b, token), what, text_part);
}

/* Waits for a frame of the connection's stream; false if the stream stops. */
static bool frame_arrives(struct hfx_conn *c, int ms, struct hxfr_msg *last)
{
    char err[256];
    int64_t end = hfx_now_ns() + (int64_t)ms * 1000000;
    while (hfx_now_ns() < end) {
        int r = hfx_conn_read(c, last, 50, err, sizeof err);
        if (r < 0)
            return false;
        if (r == 1 && last->h.type == HXFR_FRAME_RESPONSE)
            return true;
        if (r == 1 && last->h.type == HXFR_ERROR)
            return false;
    }
    return false;
}

static void mint(struct hfx_conn *ctl, uint32_t head, char out[HXFR_MAX_TOKEN + 1])
{
    char err[256];
    CHECK(hfx_conn_token(ctl, head, HXFR_TOKEN_MINT, out, T, err, sizeof err) == 0, "%s", err);
}

/* INPUT is not answered when taken: a PING behind it must come back as
 * PONG, not ERROR. */
static void expect_input_taken(struct hfx_conn *c, const struct hfx_input *ev, const char *what)
{
    uint8_t b[HXFR_INPUT_SIZE];
    char err[256];
    CHECK(hfx_conn_send(c, b, hxfr_put_input(b, ev), err, sizeof err) == 0, "%s", err);
    struct hxfr_msg m;
    uint8_t t = ask(c, b, hxfr_put_ping(b, HXFR_PING, 0), &m);
    CHECK(t == HXFR_PONG, "%s: got %s %d '%s'", what, hxfr_type_name(t),
          t == HXFR_ERROR ? m.u.error.code : 0, t == HXFR_ERROR ? m.u.error.text : "");
}

static void test_input(struct pipeline *p, struct hfx_conn *lessee)
{
    uint8_t b[HXFR_INPUT_SIZE];
    struct hxfr_msg m;
    fprintf(stderr, "INPUT: extended mode only; a head token drives only its head\n");
    struct hfx_input key = {.scanout = 1, .kind = HFX_INPUT_KEY, .down = true, .code = 30};
    struct hfx_conn v1;
    open_conn(&v1, p->addr);
    uint8_t t = ask(&v1, b, hxfr_put_input(b, &key), &m);
    CHECK(t == HXFR_ERROR && m.u.error.code == HXFR_E_INVALID_MSG && strstr(m.u.error.text,
                                                                              "extended"),
          "v1 INPUT: got %s", hxfr_type_name(t));
    hfx_conn_close(&v1);
    key.scanout = 0;
    expect_denied(lessee, b, hxfr_put_input(b, &key), "lessee INPUT 0", NULL);
    key.scanout = 1;
    expect_input_taken(lessee, &key, "lessee key down on 1");
    key.down = false;
    expect_input_taken(lessee, &key, "lessee key up on 1");
    struct hfx_input ptr = {.scanout = 1, .kind = HFX_INPUT_POINTER, .x = 8000, .y = 100};
    expect_input_taken(lessee, &ptr, "lessee pointer on 1 (clamped)");
    CHECK(ask(lessee, b, hxfr_put_stats_req(b, 1, true), &m) == HXFR_STATS_RESP &&
              memmem(m.u.stats_resp.text, m.u.stats_resp.len, "\"input_events\":3", 16),
          "STATS of head 1 does not count 3 input events");
}

static void test_tokens(struct pipeline *p, const char *closed_addr)
{
    uint8_t b[20 + HXFR_MAX_TOKEN];
    struct hxfr_msg m;
    char err[256];

    fprintf(stderr, "an extended client without a token\n");
    struct hfx_conn anon;
    open_ext(&anon, p->addr, NULL);
    expect_denied(&anon, b, hxfr_put_subscribe(b, 1), "SUBSCRIBE 1", "needs a token");
    expect_denied(&anon, b, hxfr_put_enable(b, 2, 640, 480, 60), "ENABLE 2", "control token");
    expect_denied(&anon, b, hxfr_put_token_req(b, 1, HXFR_TOKEN_MINT), "TOKEN_REQ", "control");
    expect_denied(&anon, b, hxfr_put_stats_req(b, 0, false), "STATS_REQ all", "control");
    hfx_conn_close(&anon);

    fprintf(stderr, "the control token mints a head token\n");
    struct hfx_conn ctl;
    open_ext(&ctl, p->addr, NULL);
    expect_auth(&ctl, p->token, HXFR_SCOPE_CONTROL, "control token");
    char tok1[HXFR_MAX_TOKEN + 1];
    mint(&ctl, 1, tok1);
    CHECK(!strncmp(tok1, "hfx1.h1.", 8), "head token '%s'", tok1);

    fprintf(stderr, "a lessee's token opens its own head and no other\n");
    struct hfx_conn lessee;
    open_ext(&lessee, p->addr, NULL);
    expect_auth(&lessee, tok1, 1, "head 1 token");
    expect_denied(&lessee, b, hxfr_put_subscribe(b, 0), "lessee SUBSCRIBE 0", "scanout 0");
    expect_denied(&lessee, b, hxfr_put_keyframe_req(b, 0, true), "lessee KEYFRAME_REQ 0", NULL);
    expect_denied(&lessee, b, hxfr_put_stats_req(b, 0, true), "lessee STATS_REQ 0", NULL);
    expect_denied(&lessee, b, hxfr_put_disable(b, 1), "lessee DISABLE 1", "control token");
    expect_denied(&lessee, b, hxfr_put_token_req(b, 1, HXFR_TOKEN_MINT), "lessee TOKEN_REQ",
                  "control token");
    CHECK(ask(&lessee, b, hxfr_put_stats_req(b, 1, true), &m) == HXFR_STATS_RESP,
          "lessee STATS_REQ 1 not answered");
    test_input(p, &lessee);
    CHECK(hfx_conn_subscribe(&lessee, 1, T, err, sizeof err) == 0, "lessee SUBSCRIBE 1: %s", err);
    CHECK(frame_arrives(&lessee, 3000, &m) && m.u.frame.keyframe,
          "no keyframe for the lessee on its own head");

    fprintf(stderr, "forged and malformed tokens\n");
    struct hfx_conn other;
    open_ext(&other, p->addr, NULL);
    char forged[HXFR_MAX_TOKEN + 1];
    strcpy(forged, tok1);
    forged[strlen(forged) - 1] ^= 1; /* one bit of the MAC */
    expect_auth_refused(&other, forged, "wrong signature", "forged MAC");
    strcpy(forged, tok1);
    forged[6] = '2'; /* the same MAC for another head */
    expect_auth_refused(&other, forged, "wrong signature", "head id changed");
    expect_auth_refused(&other, "hfx1.c.0000", "wrong signature", "forged control token");
    expect_auth_refused(&other, "hello", "malformed", "not a token");
    expect_denied(&other, b, hxfr_put_subscribe(b, 1), "SUBSCRIBE after refused tokens", NULL);

    fprintf(stderr, "minting again makes the earlier token stale and cuts its subscriber off\n");
    char tok1b[HXFR_MAX_TOKEN + 1];
    mint(&ctl, 1, tok1b);
    CHECK(strcmp(tok1, tok1b) != 0, "the new token equals the old one");
    struct hxfr_msg cut;
    bool still = true;
    for (int i = 0; i < 100 && still; i++)
        still = frame_arrives(&lessee, 100, &cut);
    CHECK(!still && cut.h.type == HXFR_ERROR && cut.u.error.code == HXFR_E_DENIED,
          "the stale token's subscriber still receives frames");
    if (cut.h.type == HXFR_ERROR)
        fprintf(stderr, "  subscriber of the stale token: ERROR %d '%s'\n", cut.u.error.code,
                cut.u.error.text);
    expect_auth_refused(&other, tok1, "revoked", "stale token");
    expect_auth(&other, tok1b, 1, "the new token");

    fprintf(stderr, "a revoked token\n");
    CHECK(hfx_conn_token(&ctl, 1, HXFR_TOKEN_REVOKE, NULL, T, err, sizeof err) == 0, "%s", err);
    struct hfx_conn late;
    open_ext(&late, p->addr, NULL);
    expect_auth_refused(&late, tok1b, "revoked", "revoked token");
    /* The connection that presented it before the revocation lost it too. */
    expect_denied(&other, b, hxfr_put_subscribe(b, 1), "SUBSCRIBE with a revoked grant", NULL);
    hfx_conn_close(&late);
    hfx_conn_close(&other);
    hfx_conn_close(&lessee);

    fprintf(stderr, "a token from another exporter (another secret)\n");
    char err2[256];
    struct hfx_access *stranger = hfx_access_new(NULL, err2, sizeof err2);
    CHECK(stranger, "%s", err2);
    char foreign[HFX_TOKEN_SIZE];
    hfx_access_control_token(stranger, foreign);
    hfx_access_free(stranger);
    open_ext(&other, p->addr, NULL);
    expect_auth_refused(&other, foreign, "wrong signature", "another exporter's control token");
    hfx_conn_close(&other);

    fprintf(stderr, "the control token switches heads and watches any\n");
    struct hxfr_msg r;
    CHECK(ask(&ctl, b, hxfr_put_enable(b, 2, 320, 240, 60), &r) == HXFR_SCANOUT_RESP &&
              r.u.scanout_resp.success,
          "control ENABLE 2 not done");
    CHECK(ask(&ctl, b, hxfr_put_stats_req(b, 0, false), &r) == HXFR_STATS_RESP,
          "control STATS_REQ all not answered");
    hfx_conn_close(&ctl);

    fprintf(stderr, "v1 clients: served where allowed, refused where not\n");
    struct hfx_conn v1;
    open_conn(&v1, p->addr);
    CHECK(hfx_conn_subscribe(&v1, 1, T, err, sizeof err) == 0,
          "v1 on the default listener: %s", err);
    CHECK(frame_arrives(&v1, 3000, &m), "v1 on the default listener gets no frames");
    hfx_conn_close(&v1);
    open_conn(&v1, closed_addr);
    CHECK(ask(&v1, b, hxfr_put_subscribe(b, 1), &m) == HXFR_SUBSCRIBE_RESP &&
              !m.u.subscribe_resp.success,
          "v1 SUBSCRIBE on a v1=off listener was not refused with SUBSCRIBE_RESP 0");
    CHECK(hfx_conn_read(&v1, &m, T, err, sizeof err) < 0, "still open after the refusal");
    hfx_conn_close(&v1);
    open_conn(&v1, closed_addr);
    expect_denied(&v1, b, hxfr_put_disable(b, 2), "v1 DISABLE on a v1=off listener", NULL);
    hfx_conn_close(&v1);
    /* With a token the same listener serves. */
    open_ext(&v1, closed_addr, p->token);
    CHECK(hfx_conn_subscribe(&v1, 0, T, err, sizeof err) == 0, "%s", err);
    CHECK(frame_arrives(&v1, 3000, &m), "no frames on the v1=off listener with a token");
    hfx_conn_close(&v1);

    fprintf(stderr, "guessing: the connection closes after repeated bad tokens\n");
    open_ext(&other, p->addr, NULL);
    bool closed = false;
    for (int i = 0; i < 20 && !closed; i++) {
        int n = (int)hxfr_put_auth(b, "hfx1.c.guess");
        closed = hfx_conn_request(&other, b, (size_t)n, &m, T, err, sizeof err) < 0;
    }
    CHECK(closed, "20 bad tokens and the connection is still open");
    hfx_conn_close(&other);
}

/* The secret file: created when missing, read back the same, and the
 * control token it yields is the server's. */
static void test_secret_file(void)
{
    fprintf(stderr, "secret file\n");
    char path[64], err[256];
    snprintf(path, sizeof path, "/tmp/hfx-test-secret-%d", getpid());
    unlink(path);
    struct hfx_access *a = hfx_access_new(path, err, sizeof err);
    CHECK(a, "%s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "secret file mode %o",
          st.st_mode & 0777);
    struct hfx_access *b = hfx_access_new(path, err, sizeof err);
    CHECK(b, "%s", err);
    char ta[HFX_TOKEN_SIZE], tb[HFX_TOKEN_SIZE], tf[HFX_TOKEN_SIZE];
    hfx_access_control_token(a, ta);
    hfx_access_control_token(b, tb);
    CHECK(hfx_access_token_from_file(path, tf, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(ta, tb) && !strcmp(ta, tf), "one secret, different control tokens");
    /* Head tokens do not outlive their run: epochs start anew at random. */
    char ha[HFX_TOKEN_SIZE];
    hfx_access_mint(a, 3, ha);
    struct hfx_access_check r;
    hfx_access_check(b, ha, &r);
    CHECK(r.grant == HFX_GRANT_NONE, "a head token of one run is valid in the next");
    hfx_access_check(a, ha, &r);
    CHECK(r.grant == HFX_GRANT_HEAD && r.scanout == 3, "a fresh head token is not valid");
    hfx_access_free(a);
    hfx_access_free(b);
    FILE *f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    a = hfx_access_new(path, err, sizeof err);
    CHECK(!a && strstr(err, "shorter"), "a 5-byte secret was accepted (%s)", err);
    hfx_access_free(a);
    unlink(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_secret_file();
    char closed[64];
    snprintf(closed, sizeof closed, "unix:/tmp/hfx-test-access-%d.sock", getpid());
    char closed_spec[80];
    snprintf(closed_spec, sizeof closed_spec, "%s,v1=off", closed);
    struct pipeline p;
    struct hfx_server_config sc = {.listen = {"tcp:127.0.0.1:0", closed_spec}, .nlisten = 2};
    struct hfx_engine_config ec = {.max_scanouts = 4};
    struct hfx_synth_frontend_config fc = {.workload = HFX_WL_TYPING, .width = 320, .height = 240,
                                           .heads = 2};
    CHECK(pipeline_start(&p, &sc, &ec, &fc) == 0, "the pipeline did not start");
    if (!check_failures) {
        test_tokens(&p, closed);
        pipeline_stop(&p);
    }
    unlink(closed + 5);
    return check_summary("test_access");
}
