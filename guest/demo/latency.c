/* latency: the probe against the HXFR exporter, through a plain v1
 * subscription to the head's scanout in the same process. */
#include "commands.h"

#include <signal.h>
#include <stdio.h>

#include "args.h"
#include "client/client.h"
#include "common/clock.h"
#include "probe.h"
#include "say.h"
#include "sub.h"

/* The next FRAME_RESPONSE; other messages are skipped. */
static int hxfr_next(void *ctx, int timeout_ms, uint64_t *bytes)
{
    struct hfx_conn *c = ctx;
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    char err[256];
    for (;;) {
        int64_t left = deadline - hfx_now_ns();
        struct hxfr_msg m;
        int r = hfx_conn_read(c, &m, left > 0 ? (int)((left + 999999) / 1000000) : 0, err,
                              sizeof err);
        if (r < 0)
            guest_warn("latency: %s", err);
        if (r <= 0)
            return r;
        if (m.h.type == HXFR_FRAME_RESPONSE) {
            *bytes = m.u.frame.au_size;
            return 1;
        }
    }
}

int cmd_latency(int argc, char **argv)
{
    struct probe_opts o;
    probe_opts_default(&o, 15937);
    const struct arg_spec specs[] = { PROBE_SPECS(o) };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "latency") < 0 ||
        probe_opts_check(&o, "latency") < 0)
        return 2;
    struct probe p;
    if (probe_prepare(&p, &o) < 0) {
        probe_close(&p);
        return 1;
    }
    static volatile sig_atomic_t never;
    struct sub_opts so;
    sub_opts_default(&so);
    so.host = o.host;
    so.port = o.port;
    so.scanout = o.head;
    struct hfx_conn c;
    if (sub_connect(&c, &so, &never) < 0) {
        probe_close(&p);
        return 1;
    }
    struct sink s = { .name = "latency", .ctx = &c, .fd = c.fd, .next = hxfr_next };
    int rc = probe_measure(&p, &s);
    hfx_conn_close(&c);
    probe_close(&p);
    return rc;
}
