/* The lease socket: a unix stream listener, and responses that may carry
 * the lease fd as SCM_RIGHTS. */
#ifndef HFX_DRM_SOCK_H
#define HFX_DRM_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Creates the socket's folder, removes a stale socket and listens
 * (non-blocking). The fd, or -1 after saying why. */
int sock_listen(const char *path);
/* Sends len bytes, with fd attached when fd >= 0, without waiting: 0 when
 * all of it went, -1 otherwise (the client is then dropped: a client that
 * does not read its responses must not hold the manager up). */
int sock_send(int sock, const uint8_t *buf, size_t len, int fd);
/* The peer's pid (SO_PEERCRED), or -1. */
pid_t sock_peer_pid(int sock);

#endif
