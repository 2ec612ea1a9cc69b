/* The client side of the lease manager's socket (guest/drm-manager): what
 * a desktop launcher does to get a head. */
#ifndef HFX_GUEST_LEASE_CLIENT_H
#define HFX_GUEST_LEASE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lease_wire.h"

#define LEASE_SOCKET "/run/helix-drm/drm.sock"

/* Connects, retrying for up to wait_ms while the manager starts. The
 * socket, or -1 after saying why. */
int lease_connect(const char *path, int wait_ms);
/* Sends raw bytes (malformed requests included). 0 or -1. */
int lease_send_raw(int sock, const void *buf, size_t len);
int lease_send(int sock, uint8_t cmd, uint32_t width, uint32_t height);
/* Reads one response and the fd it carries (*fd = -1 if none). 0, or -1
 * on timeout, error or end of stream, with why set. */
int lease_recv(int sock, struct lease_resp *r, int *fd, int timeout_ms, char *why,
               size_t whylen);
/* Reads the token that follows a command-3 response into out (NUL-ended).
 * 0, or -1 with why set. */
int lease_recv_token(int sock, char out[LEASE_TOKEN_SIZE + 1], int timeout_ms, char *why,
                     size_t whylen);
/* Connects, asks for a w x h head and says what came back:
 *   hfx-guest: lease head N connector NAME WxH fd ok in X ms
 *   hfx-guest: lease error TEXT
 * 0 with *sock and *fd open (the lease lasts as long as the connection), or
 * -1 with both closed. */
int lease_take(const char *path, uint32_t w, uint32_t h, int *sock, int *fd,
               struct lease_resp *r);
/* "WxH" into w and h; -1 if it is not that. */
int lease_parse_size(const char *s, uint32_t *w, uint32_t *h);

#endif
