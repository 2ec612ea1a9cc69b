/* The one-clock latency probe shared by `latency` (HXFR) and `vnc-latency`
 * (QEMU's VNC server): the guest draws a change, takes t0 when it queues the
 * flip, and takes t1 when the update that follows has arrived complete at
 * its own subscriber, so both ends read the same CLOCK_MONOTONIC. */
#ifndef HFX_GUEST_PROBE_H
#define HFX_GUEST_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "display.h"

struct probe_opts {
    const char *host;
    long port;
    long head;
    long reps;
    const char *change; /* "small" (a 64x64 block) or "full" (a new colour) */
    long quiet_ms;      /* nothing changes this long before each change */
    long flips;         /* > 0: continuous mode, N changes as fast as possible */
    long fps;           /* continuous mode: at most this many flips a second (0: no limit) */
    long timeout_ms;    /* per change, for its update to arrive */
    bool dirty;         /* draw on screen and DirtyFB the rect instead of flipping */
    bool copyrect;      /* vnc-latency: offer CopyRect besides Raw */
};

/* An update stream: the HXFR subscription or the VNC connection. */
struct sink {
    const char *name; /* "latency", "vnc-latency": the summary line's tag */
    void *ctx;
    int fd;
    /* 1 when an update arrived complete (*bytes set), 0 when none did
     * within timeout_ms (0: look only at what is already buffered), -1 on
     * error (said). */
    int (*next)(void *ctx, int timeout_ms, uint64_t *bytes);
};

struct probe {
    const struct probe_opts *o;
    struct display d;
    struct head *h;
    bool full;
    uint8_t *background; /* the desktop under the small blocks */
    uint32_t bg_stride;
    uint32_t changes;    /* changes drawn so far */
    uint32_t applied[2]; /* changes each buffer holds */
};

/* The options latency and vnc-latency share, for their arg_spec tables. */
#define PROBE_SPECS(o)                                                                             \
    { "--host", ARG_STR, &(o).host, 0, 0 }, { "--port", ARG_INT, &(o).port, 1, 65535 },           \
        { "--head", ARG_INT, &(o).head, 0, 15 }, { "--reps", ARG_INT, &(o).reps, 1, 100000 },      \
        { "--change", ARG_STR, &(o).change, 0, 0 },                                               \
        { "--quiet-ms", ARG_INT, &(o).quiet_ms, 0, 60000 },                                       \
        { "--flips", ARG_INT, &(o).flips, 0, 10000000 },                                          \
        { "--fps", ARG_INT, &(o).fps, 0, 1000 },                                                  \
        { "--timeout-ms", ARG_INT, &(o).timeout_ms, 1, 600000 },                                  \
        { "--dirty", ARG_FLAG, &(o).dirty, 0, 0 }

void probe_opts_default(struct probe_opts *o, long port);
int probe_opts_check(const struct probe_opts *o, const char *cmd);
/* Opens the display and modesets o->head (which must be connected) with a
 * desktop background. Returns 0, or -1 after saying why. */
int probe_prepare(struct probe *p, const struct probe_opts *o);
/* Runs the reps (or flips) against s and prints the summary line. Returns
 * the exit code. */
int probe_measure(struct probe *p, struct sink *s);
void probe_close(struct probe *p);

#endif
