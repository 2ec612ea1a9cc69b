/* The manager's side of HXFR: turning heads on and off on the exporter
 * (ENABLE_SCANOUT / DISABLE_SCANOUT and their SCANOUT_RESP) and minting and
 * revoking the lessees' head tokens. One connection, opened when first
 * needed and again after any failure: extended with the control token when
 * the manager has one, plain v1 otherwise. Every call is bounded by the host
 * timeout, so the manager's loop never waits longer than that for the host. */
#ifndef HFX_DRM_HOST_H
#define HFX_DRM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"

struct host {
    const char *addr;
    const char *token;      /* the control token, or NULL */
    int timeout_ms;
    bool open;
    struct hfx_conn conn;
};

void host_init(struct host *h, const char *addr, const char *token, int timeout_ms);
void host_close(struct host *h);
/* The host turns the head on at w x h (the guest then sees the connector
 * connect with that mode). 0, or -1 with err saying why. */
int host_enable(struct host *h, uint32_t head, uint32_t w, uint32_t hgt, char *err,
                size_t errlen);
int host_disable(struct host *h, uint32_t head, char *err, size_t errlen);

/* A token for this head only (revoking any earlier one); needs the control
 * token. 0, or -1 with err saying why. */
int host_mint_token(struct host *h, uint32_t head, char out[HXFR_MAX_TOKEN + 1], char *err,
                    size_t errlen);
/* Every token for this head stops working. */
int host_revoke_token(struct host *h, uint32_t head, char *err, size_t errlen);

#endif
