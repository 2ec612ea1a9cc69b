#include "lease_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "say.h"

int lease_connect(const char *path, int wait_ms)
{
    int fd = lease_sock_connect(path, wait_ms);
    if (fd < 0)
        guest_warn("cannot connect to the lease manager at %s: %s", path, strerror(errno));
    return fd;
}

int lease_take(const char *path, uint32_t w, uint32_t h, int *sock, int *fd,
               struct lease_resp *r)
{
    char why[128];
    *fd = -1;
    *sock = lease_connect(path, 15000);
    if (*sock < 0)
        return -1;
    int64_t t0 = hfx_now_ns();
    if (lease_send(*sock, LEASE_CMD_LEASE, w, h) < 0 ||
        lease_recv(*sock, r, fd, 30000, why, sizeof why) < 0) {
        guest_say("lease error %s", why);
    } else if (r->status != LEASE_OK || *fd < 0) {
        guest_say("lease error %s%s", r->text, r->status == LEASE_OK ? " (no fd)" : "");
    } else {
        guest_say("lease head %u connector %s %ux%u fd ok in %.1f ms", r->scanout_id, r->text, w,
                  h, (double)(hfx_now_ns() - t0) / 1e6);
        return 0;
    }
    if (*fd >= 0)
        close(*fd);
    close(*sock);
    *fd = *sock = -1;
    return -1;
}
