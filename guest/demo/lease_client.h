/* The client side of the lease manager's socket (guest/drm-manager): what
 * a desktop launcher does to get a head. */
#ifndef HFX_GUEST_LEASE_CLIENT_H
#define HFX_GUEST_LEASE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lease_sock.h"

/* lease_sock_connect, saying why it failed (hfx-guest-demo: ...). */
int lease_connect(const char *path, int wait_ms);
/* Connects, asks for a w x h head and says what came back:
 *   hfx-guest: lease head N connector NAME WxH fd ok in X ms
 *   hfx-guest: lease error TEXT
 * 0 with *sock and *fd open (the lease lasts as long as the connection), or
 * -1 with both closed. */
int lease_take(const char *path, uint32_t w, uint32_t h, int *sock, int *fd,
               struct lease_resp *r);

#endif
