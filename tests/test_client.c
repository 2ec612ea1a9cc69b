/* libhfx-client against a real server on loopback: frames arrive, the first
 * is a keyframe marked resumed, KEYFRAME_REQ brings an IDR, and when the
 * server goes and comes back on the same address the client reconnects by
 * itself and resumes with an IDR. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "client/hfx-client.h"
#include "common/clock.h"
#include "pipeline.h"

static int start_at(struct pipeline *p, const char *listen)
{
    struct hfx_server_config sc = {.listen = {listen}, .nlisten = 1};
    struct hfx_engine_config ec = {.max_scanouts = 2};
    struct hfx_synth_frontend_config fc = {.workload = HFX_WL_TYPING, .width = 320, .height = 240,
                                           .heads = 2};
    return pipeline_start(p, &sc, &ec, &fc);
}

/* Frames read within ms milliseconds: counts, keyframes, resumed ones. */
struct seen {
    int frames, keys, resumed, first_resumed_key;
};

static void read_for(struct hfx_client *c, int ms, struct seen *s)
{
    int64_t end = hfx_now_ns() + (int64_t)ms * 1000000;
    char err[256];
    while (hfx_now_ns() < end) {
        struct hfx_client_frame f;
        int r = hfx_client_next(c, &f, 50, err, sizeof err);
        CHECK(r >= 0, "hfx_client_next: %s", err);
        if (r <= 0 || !f.data)
            continue;
        s->frames++;
        s->keys += f.keyframe;
        if (f.resumed) {
            s->resumed++;
            s->first_resumed_key += f.keyframe;
        }
    }
}

int main(void)
{
    struct pipeline p;
    if (start_at(&p, "tcp:127.0.0.1:0") < 0)
        return check_summary("test_client");
    char addr[sizeof p.addr], listen[sizeof p.addr], err[256];
    snprintf(addr, sizeof addr, "%s", p.addr);
    snprintf(listen, sizeof listen, "%s", p.addr);

    struct hfx_client_options o = {.address = addr, .scanout = 1, .reconnect = true,
                                   .max_backoff_ms = 400};
    struct hfx_client *c = NULL;
    CHECK(hfx_client_open(&o, &c, err, sizeof err) == 0, "%s", err);
    if (!c)
        return check_summary("test_client");
    struct seen a = {0};
    read_for(c, 500, &a);
    fprintf(stderr, "connected: %d frames, %d keyframes, %d resumed\n", a.frames, a.keys,
            a.resumed);
    CHECK(a.frames > 10 && a.resumed == 1 && a.first_resumed_key == 1,
          "%d frames, resumed %d (key %d)", a.frames, a.resumed, a.first_resumed_key);

    CHECK(hfx_client_request_keyframe(c) == 0, "KEYFRAME_REQ not sent");
    struct seen b = {0};
    read_for(c, 300, &b);
    CHECK(b.keys >= 1, "no IDR after KEYFRAME_REQ");

    /* The server goes away and comes back at the same address. */
    pipeline_stop(&p);
    struct seen gone = {0};
    read_for(c, 300, &gone);
    CHECK(start_at(&p, listen) == 0, "the server did not come back on %s", listen);
    struct seen back = {0};
    read_for(c, 1500, &back);
    fprintf(stderr, "after a server restart: %d frames in 1.5 s, resumed %d with a keyframe %d, "
                    "%u reconnect(s)\n", back.frames, back.resumed, back.first_resumed_key,
            hfx_client_reconnects(c));
    CHECK(back.frames > 10 && back.resumed == 1 && back.first_resumed_key == 1,
          "%d frames after the restart, resumed %d (key %d)", back.frames, back.resumed,
          back.first_resumed_key);
    CHECK(hfx_client_reconnects(c) == 1, "%u reconnects", hfx_client_reconnects(c));
    hfx_client_close(c);

    /* Without reconnect a lost stream is the end. */
    o.reconnect = false;
    CHECK(hfx_client_open(&o, &c, err, sizeof err) == 0, "%s", err);
    pipeline_stop(&p);
    int r = 0;
    struct hfx_client_frame f;
    for (int i = 0; i < 100 && r >= 0; i++)
        r = hfx_client_next(c, &f, 50, err, sizeof err);
    CHECK(r == -1, "no end of stream without reconnect");
    hfx_client_close(c);
    o.scanout = 99;
    CHECK(hfx_client_open(&o, &c, err, sizeof err) == -1 && err[0], "scanout 99 accepted");
    return check_summary("test_client");
}
