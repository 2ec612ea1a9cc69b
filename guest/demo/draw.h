/* draw: the synthetic workload on every connected head, page-flipped, with
 * hotplug followed through uevents. */
#ifndef HFX_GUEST_DRAW_H
#define HFX_GUEST_DRAW_H

#include <signal.h>
#include <stdbool.h>

#include "args.h"

struct draw_opts {
    const char *workload; /* typing, video, scroll, idle */
    long fps;             /* per head; 0: as fast as flips complete */
    long frames;          /* per head, then stop; 0: no limit */
    double seconds;       /* then stop; 0: no limit */
    bool dirty;           /* draw on screen and report rects (DirtyFB), no flips */
    int lease_fd;         /* >= 0: draw through this DRM lease instead of card0 */
    int lease_head;       /* the leased head's scanout id */
    const char *kmscube;  /* heads that run kmscube instead, "1+2" (kmscube.h) */
};

/* The options of struct draw_opts, for the commands that draw. */
#define DRAW_SPECS(o)                                                                              \
    { "--workload", ARG_STR, &(o).workload, 0, 0 }, { "--fps", ARG_INT, &(o).fps, 0, 1000 },       \
        { "--frames", ARG_INT, &(o).frames, 0, 1L << 30 },                                        \
        { "--dirty", ARG_FLAG, &(o).dirty, 0, 0 }, { "--kmscube", ARG_STR, &(o).kmscube, 0, 0 }

void draw_opts_default(struct draw_opts *o);
/* Runs until the limits are reached or *stop is set. Returns an exit code. */
int draw_run(const struct draw_opts *o, volatile sig_atomic_t *stop);

#endif
