/* 1000 subscriber life cycles against an in-process pipeline (the same wiring
 * as `hfx serve`): connect, SUBSCRIBE (scanouts 0/1, plain v1 or extended),
 * sometimes wait for the first keyframe, then leave either politely or
 * abruptly in mid-stream. Afterwards nothing may be left behind: no clients,
 * no subscribers, no open encoders, no file descriptors. Memory leaks are
 * caught by running this under AddressSanitizer/LeakSanitizer in CI. */
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client/client.h"
#include "common/clock.h"
#include "common/log.h"
#include "pipeline.h"

#define CYCLES 1000
#define SCANOUTS 2
#define IO_TIMEOUT_MS 5000
/* Stop reporting per-cycle failures after this many: one cause is enough. */
#define MAX_CYCLE_FAILURES 10

/* Open descriptors of this process, not counting the one used to list them. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Reads until the first FRAME_RESPONSE, which must be a keyframe: the server
 * holds back frames until a joining subscriber's IDR. */
static bool wait_first_keyframe(struct hfx_conn *c, int cycle, char *err, size_t errlen)
{
    int64_t deadline = hfx_now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
    for (;;) {
        int left = (int)((deadline - hfx_now_ns()) / 1000000);
        struct hxfr_msg m;
        int r = hfx_conn_read(c, &m, left > 0 ? left : 0, err, errlen);
        if (r == 0)
            snprintf(err, errlen, "cycle %d: no frame within %d ms", cycle, IO_TIMEOUT_MS);
        if (r <= 0)
            return false;
        if (m.h.type != HXFR_FRAME_RESPONSE)
            continue; /* extended mode may interleave replies */
        if (!m.u.frame.keyframe)
            snprintf(err, errlen, "cycle %d: the first frame is not a keyframe", cycle);
        return m.u.frame.keyframe;
    }
}

/* Waits, without reading, until frames are arriving, so the disconnect that
 * follows lands in mid-stream with data unread and more on its way. */
static bool wait_stream(struct hfx_conn *c, int cycle, char *err, size_t errlen)
{
    if (c->len > c->off)
        return true; /* a frame came in with SUBSCRIBE_RESP */
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, IO_TIMEOUT_MS) == 1)
        return true;
    snprintf(err, errlen, "cycle %d: no frame within %d ms", cycle, IO_TIMEOUT_MS);
    return false;
}

/* SO_LINGER 0: close() resets the connection at once, discarding whatever
 * frames are in flight, as a killed client would. */
static void close_abruptly(struct hfx_conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    hfx_conn_close(c);
}

/* Half-closes and reads until the server closes its side: the server must
 * notice the EOF and let go of the connection by itself. */
static bool close_politely(struct hfx_conn *c, int cycle, char *err, size_t errlen)
{
    shutdown(c->fd, SHUT_WR);
    int64_t deadline = hfx_now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
    bool eof = false;
    static uint8_t sink[65536];
    while (!eof) {
        int left = (int)((deadline - hfx_now_ns()) / 1000000);
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        ssize_t n = read(c->fd, sink, sizeof sink);
        eof = n <= 0;
    }
    if (!eof)
        snprintf(err, errlen, "cycle %d: the server kept the half-closed connection open", cycle);
    hfx_conn_close(c);
    return eof;
}

/* One life cycle; false with err filled on a failure. */
static bool cycle(const struct pipeline *p, int i, char *err, size_t errlen)
{
    /* The three choices vary at different rates so every combination of
     * scanout, mode and departure occurs, with and without the keyframe wait. */
    uint32_t scanout = (uint32_t)i % SCANOUTS;
    bool extended = (i / 2) % 2;
    bool abrupt = (i / 4) % 2;
    bool wait_key = i % 10 == 0;

    struct hfx_conn c;
    if (hfx_conn_open(&c, p->addr, err, errlen) < 0)
        return false;
    if ((extended && hfx_conn_extended(&c, 0, p->token, IO_TIMEOUT_MS, err, errlen) < 0) ||
        hfx_conn_subscribe(&c, scanout, IO_TIMEOUT_MS, err, errlen) < 0) {
        hfx_conn_close(&c);
        return false;
    }
    if (wait_key && !wait_first_keyframe(&c, i, err, errlen)) {
        hfx_conn_close(&c);
        return false;
    }
    if (abrupt) {
        bool ok = wait_stream(&c, i, err, errlen);
        close_abruptly(&c);
        return ok;
    }
    return close_politely(&c, i, err, errlen);
}

static bool engine_idle(struct hfx_engine *e, struct hfx_scanout_stats st[SCANOUTS])
{
    bool idle = true;
    for (uint32_t i = 0; i < SCANOUTS; i++) {
        hfx_engine_stats(e, i, &st[i]);
        idle = idle && st[i].subscribers == 0 && !st[i].encoder_open;
    }
    return idle;
}

/* Waits until the server has closed every accepted socket (its descriptors
 * are ours too: same process) and the workers have closed their encoders. */
static void wait_settled(struct pipeline *p, int fds_running)
{
    int64_t deadline = hfx_now_ns() + 5000 * 1000000LL;
    int fds;
    while ((fds = count_fds()) > fds_running && hfx_now_ns() < deadline)
        sleep_ms(10);
    CHECK(fds == fds_running, "%d descriptors open after the cycles, %d before them", fds,
          fds_running);

    struct hfx_scanout_stats st[SCANOUTS];
    deadline = hfx_now_ns() + 2000 * 1000000LL;
    while (!engine_idle(p->x.engine, st) && hfx_now_ns() < deadline)
        sleep_ms(10);
    for (uint32_t i = 0; i < SCANOUTS; i++) {
        fprintf(stderr, "scanout %u: subscribers %d, encoder %s, %llu frames, %llu keyframes\n",
                i, st[i].subscribers, st[i].encoder_open ? "open" : "closed",
                (unsigned long long)st[i].frames, (unsigned long long)st[i].keyframes);
        CHECK(st[i].subscribers == 0, "scanout %u still counts %d subscribers", i,
              st[i].subscribers);
        CHECK(!st[i].encoder_open, "scanout %u: encoder still open 2 s after the last client", i);
    }
}

int main(void)
{
    hfx_log_set_level(HFX_LOG_WARN); /* an encoder opens and closes every cycle */
    int fds_before = count_fds();
    struct pipeline p;
    struct hfx_server_config scfg = {0};
    struct hfx_engine_config ecfg = {.max_scanouts = SCANOUTS};
    struct hfx_synth_frontend_config fcfg = {
        .workload = HFX_WL_TYPING, .width = 320, .height = 240, .heads = SCANOUTS,
    };
    if (pipeline_start(&p, &scfg, &ecfg, &fcfg) < 0) {
        CHECK(0, "the pipeline did not start");
        return check_summary("cycles");
    }
    int fds_running = count_fds();

    int failures = 0;
    int64_t t0 = hfx_now_ns();
    for (int i = 0; i < CYCLES; i++) {
        char err[256] = "";
        if (!cycle(&p, i, err, sizeof err)) {
            failures++;
            if (failures <= MAX_CYCLE_FAILURES)
                CHECK(0, "cycle %d: %s", i, err);
        }
    }
    fprintf(stderr, "%d cycles in %.1f s, %d failed\n", CYCLES, (hfx_now_ns() - t0) / 1e9,
            failures);
    CHECK(failures == 0, "%d of %d cycles failed", failures, CYCLES);

    wait_settled(&p, fds_running);
    pipeline_stop_loop(&p);
    /* The loop has stopped, so its counters can be read without a race. */
    struct hfx_server_stats ss;
    hfx_server_get_stats(p.x.server, &ss);
    fprintf(stderr, "server: clients %d, subscribers %d, frames sent %llu, dropped %llu, "
                    "malformed %llu\n",
            ss.clients, ss.subscribers, (unsigned long long)ss.frames_sent,
            (unsigned long long)ss.frames_dropped, (unsigned long long)ss.malformed);
    CHECK(ss.clients == 0, "the server still holds %d clients", ss.clients);
    CHECK(ss.subscribers == 0, "the server still counts %d subscribers", ss.subscribers);
    CHECK(ss.malformed == 0, "the server saw %llu malformed messages from well-formed clients",
          (unsigned long long)ss.malformed);
    pipeline_free(&p);

    int fds_after = count_fds();
    fprintf(stderr, "descriptors: %d before, %d while serving, %d after\n", fds_before,
            fds_running, fds_after);
    CHECK(fds_after == fds_before, "%d descriptors open at the end, %d at the start", fds_after,
          fds_before);
    return check_summary("cycles");
}
