/* The manager's side of HXFR: turning heads on and off on the exporter
 * (ENABLE_SCANOUT / DISABLE_SCANOUT and their SCANOUT_RESP). One plain v1
 * connection, opened when first needed and again after any failure; every
 * call is bounded by the host timeout, so the manager's loop never waits
 * longer than that for the host. */
#ifndef HFX_DRM_HOST_H
#define HFX_DRM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"

struct host {
    const char *addr;
    int timeout_ms;
    bool open;
    struct hfx_conn conn;
};

void host_init(struct host *h, const char *addr, int timeout_ms);
void host_close(struct host *h);
/* The host turns the head on at w x h (the guest then sees the connector
 * connect with that mode). 0, or -1 with err saying why. */
int host_enable(struct host *h, uint32_t head, uint32_t w, uint32_t hgt, char *err,
                size_t errlen);
int host_disable(struct host *h, uint32_t head, char *err, size_t errlen);

/* Per-head access tokens slot in here when the host grows them:
 *   int host_mint_token(struct host *h, uint32_t head, uint8_t *buf, size_t *len,
 *                       char *err, size_t errlen);
 *   void host_revoke_token(struct host *h, uint32_t head);
 * built on host_request() like enable and disable; see lease_grant() and
 * head_release() in manager.c for where they are called. */

#endif
