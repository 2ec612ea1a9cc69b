/* vnc-latency: the same probe against QEMU's built-in VNC server, which
 * shows console 0 (head 0) unless told otherwise. */
#include "commands.h"

#include "args.h"
#include "probe.h"
#include "rfb.h"
#include "say.h"

/* The next complete FramebufferUpdate; a new incremental request goes out
 * at once, so one is always outstanding, as a viewer keeps it. */
static int vnc_next(void *ctx, int timeout_ms, uint64_t *bytes)
{
    struct rfb *r = ctx;
    int k = rfb_next_update(r, timeout_ms, bytes);
    if (k == 1 && rfb_request(r, true) < 0)
        return -1;
    return k;
}

int cmd_vnc_latency(int argc, char **argv)
{
    struct probe_opts o;
    probe_opts_default(&o, 5900);
    const struct arg_spec specs[] = { PROBE_SPECS(o), { "--copyrect", ARG_FLAG, &o.copyrect, 0, 0 } };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "vnc-latency") < 0 ||
        probe_opts_check(&o, "vnc-latency") < 0)
        return 2;
    if (o.head != 0)
        guest_warn("vnc-latency: QEMU's VNC shows head 0 unless told otherwise; timing head %ld",
                   o.head);
    struct probe p;
    if (probe_prepare(&p, &o) < 0) {
        probe_close(&p);
        return 1;
    }
    struct rfb r;
    if (rfb_connect(&r, o.host, o.port, o.copyrect, 5000) < 0) {
        probe_close(&p);
        return 1;
    }
    struct sink s = { .name = "vnc-latency", .ctx = &r, .fd = r.fd, .next = vnc_next };
    int rc = probe_measure(&p, &s);
    rfb_close(&r);
    probe_close(&p);
    return rc;
}
