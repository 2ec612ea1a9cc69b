#ifndef HFX_COMMON_NET_H
#define HFX_COMMON_NET_H

#include <stddef.h>
#include <sys/types.h>

/* Socket addresses as users write them, for the server and the clients.
 * Opens a non-blocking listening socket for "tcp:HOST:PORT", "unix:PATH" or
 * "vsock:CID:PORT". Returns the fd, or -1 with err saying what to fix. */
int hfx_listen(const char *spec, char *err, size_t errlen);
/* The bound port of a TCP or vsock listener; -1 for others. */
int hfx_listen_port(int fd);
/* The address a client on this host connects to for a listener at
 * `listen_spec` whose bound port is `port` (-1: keep the spec's): a TCP
 * wildcard host (0.0.0.0 or ::) becomes loopback. -1 with err for a
 * vsock listener, which a local client cannot reach. */
int hfx_local_spec(const char *listen_spec, int port, char *out, size_t outlen, char *err,
                   size_t errlen);
/* Connects (blocking) to the same kind of address; for clients. */
int hfx_connect(const char *spec, char *err, size_t errlen);
/* The same, giving up after timeout_ms (negative: no limit). */
int hfx_connect_timeout(const char *spec, int timeout_ms, char *err, size_t errlen);
/* One sendmsg of len bytes on a unix socket, with fd attached as SCM_RIGHTS
 * when fd >= 0; flags as for sendmsg (MSG_NOSIGNAL is the caller's choice).
 * Returns what sendmsg returns (retried on EINTR). */
ssize_t hfx_send_with_fd(int sock, const void *buf, size_t len, int fd, int flags);

#endif
