#include "sub.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/hfx-client.h"
#include "common/clock.h"
#include "say.h"

#define RETRY_US 250000
#define TICK_MS 100

void sub_opts_default(struct sub_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "10.0.2.2";
    o->port = 15937;
    o->connect_seconds = 30;
}

int sub_connect(struct hfx_conn *c, const struct sub_opts *o, volatile sig_atomic_t *stop)
{
    char addr[300], err[256] = "";
    snprintf(addr, sizeof addr, "tcp:%s:%ld", o->host, o->port);
    int64_t deadline = hfx_now_ns() + (int64_t)(o->connect_seconds * 1e9);
    for (;;) {
        if (hfx_conn_open(c, addr, err, sizeof err) == 0) {
            /* Plain v1, no HELLO: what a deployed client sends. */
            if (hfx_conn_subscribe(c, (uint32_t)o->scanout, 5000, err, sizeof err) == 0) {
                guest_say("sub scanout %ld subscribed", o->scanout);
                return 0;
            }
            hfx_conn_close(c);
        }
        if (*stop || hfx_now_ns() >= deadline) {
            guest_warn("sub: scanout %ld at %s: %s", o->scanout, addr, err);
            return -1;
        }
        usleep(RETRY_US);
    }
}

static void report(const struct sub_opts *o, uint64_t frames, uint64_t keys, uint64_t bytes)
{
    guest_say("sub scanout %ld frames %llu keyframes %llu bytes %llu", o->scanout,
              (unsigned long long)frames, (unsigned long long)keys, (unsigned long long)bytes);
}

/* The deployed guest consumer's way, through libhfx-client: plain v1 (no
 * HELLO), retried until the exporter answers (the guest may boot first). */
static struct hfx_client *sub_open(const struct sub_opts *o, volatile sig_atomic_t *stop)
{
    char addr[300], err[256] = "";
    snprintf(addr, sizeof addr, "tcp:%s:%ld", o->host, o->port);
    struct hfx_client_options co = {.address = addr, .scanout = (uint32_t)o->scanout};
    int64_t deadline = hfx_now_ns() + (int64_t)(o->connect_seconds * 1e9);
    for (;;) {
        struct hfx_client *c;
        if (hfx_client_open(&co, &c, err, sizeof err) == 0) {
            guest_say("sub scanout %ld subscribed", o->scanout);
            return c;
        }
        if (*stop || hfx_now_ns() >= deadline) {
            guest_warn("sub: scanout %ld at %s: %s", o->scanout, addr, err);
            return NULL;
        }
        usleep(RETRY_US);
    }
}

int sub_run(const struct sub_opts *o, volatile sig_atomic_t *stop)
{
    struct hfx_client *c = sub_open(o, stop);
    if (!c)
        return 1;
    uint64_t frames = 0, keys = 0, bytes = 0;
    int64_t start = hfx_now_ns(), next_report = start + 1000000000;
    char err[256];
    while (!*stop) {
        int64_t now = hfx_now_ns();
        if (o->seconds > 0 && now - start >= (int64_t)(o->seconds * 1e9))
            break;
        if (now >= next_report) {
            report(o, frames, keys, bytes);
            next_report += 1000000000;
        }
        struct hfx_client_frame f;
        int r = hfx_client_next(c, &f, TICK_MS, err, sizeof err);
        if (r < 0) {
            guest_warn("sub: %s", err);
            break;
        }
        if (r == 1 && f.data) {
            frames++;
            keys += f.keyframe;
            bytes += f.size;
        }
    }
    report(o, frames, keys, bytes);
    hfx_client_close(c);
    return frames > 0 ? 0 : 1;
}
