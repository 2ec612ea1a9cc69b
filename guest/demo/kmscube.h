/* kmscube on heads of its own, beside draw's dumb buffers (the GL test
 * guest, guest/build --gl; see guest/README.md).
 *
 * Only one process can be DRM master of card0, and draw is. Each kmscube
 * gets its head as a DRM lease that draw makes on its master fd, as the
 * lease manager makes them (guest/drm-manager/kms.c): the connector, a CRTC
 * and its planes, which the lessee sees as a card of its own and can modeset
 * and flip. Debian's kmscube then runs chrooted in the GL userland that
 * /init mounted at GL_ROOT, rendering with Mesa's virtio_gpu (virgl) driver.
 * It takes a device only as a path (-D), which no lease has: it runs with
 * open-lease.so preloaded (guest/gl/open_lease.c), which answers the open
 * of that path with the lease fd it inherits.
 *
 * A head's kmscube starts when its connector is connected, is stopped when
 * it disconnects and started again when its size changes (kmscube keeps
 * the mode it started with). Its output comes through a pseudo-terminal
 * (kmscube stops at input on stdin, and a terminal is line-buffered) as
 *   hfx-guest: kmscube head N: LINE
 * and its end as "hfx-guest: kmscube head N exited STATUS". */
#ifndef HFX_GUEST_KMSCUBE_H
#define HFX_GUEST_KMSCUBE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kms.h"

/* Where /init mounts the GL userland (a read-only ext4 disk). */
#define GL_ROOT "/gl"

struct gl_head {
    pid_t pid;               /* 0: not running */
    int pty;                 /* the master side of its terminal, or -1 */
    bool on;                 /* connected at w x h: kmscube was started (it
                              * may have ended by itself since: it is not
                              * started again until the connector changes) */
    struct kms_lease lease;
    uint32_t w, h;
    char line[200];          /* output not yet passed on */
    size_t len;
    bool cut;                /* the rest of an over-long line is dropped */
};

struct kmscube {
    uint32_t heads;          /* bit N: head N runs kmscube; 0: none */
    struct kms kms;
    struct gl_head g[KMS_MAX_HEADS];
};

/* heads is a list like "1+2" (not "1,2": on the kernel command line,
 * hfx.args, commas stand for spaces). Makes master_fd able to lease (universal
 * planes). 0, or -1 after saying why. */
int kmscube_init(struct kmscube *k, int master_fd, const char *heads);
static inline bool kmscube_has(const struct kmscube *k, int head)
{
    return head >= 0 && head < KMS_MAX_HEADS && (k->heads >> head & 1);
}
/* Starts, stops or restarts head's kmscube to match its connector. */
void kmscube_follow(struct kmscube *k, int head, bool connected, uint32_t w, uint32_t h);
/* The terminals to poll, one per running kmscube; heads[i] is pfd[i]'s head.
 * Returns how many. */
int kmscube_fds(const struct kmscube *k, struct pollfd *pfd, int *heads, int max);
/* Passes on what head's kmscube wrote; reaps it when it has ended. */
void kmscube_read(struct kmscube *k, int head);
void kmscube_stop_all(struct kmscube *k);

#endif
