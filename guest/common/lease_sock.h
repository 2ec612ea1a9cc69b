/* The client side of the lease manager's socket (guest/drm-manager,
 * lease_wire.h): connecting, requests, responses with their fd, and the
 * token of command 3. Shared by the test guest's demo (demo/lease_client.c)
 * and hfx-lease-launcher; it prints nothing, so each caller words its own
 * messages. */
#ifndef HFX_GUEST_LEASE_SOCK_H
#define HFX_GUEST_LEASE_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lease_wire.h"

#define LEASE_SOCKET "/run/helix-drm/drm.sock"

/* Connects, retrying for up to wait_ms while the manager starts. The
 * socket, or -1 with errno set. */
int lease_sock_connect(const char *path, int wait_ms);
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
/* "WxH" into w and h; -1 if it is not that. */
int lease_parse_size(const char *s, uint32_t *w, uint32_t *h);

#endif
