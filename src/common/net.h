#ifndef HFX_COMMON_NET_H
#define HFX_COMMON_NET_H

#include <stddef.h>

/* Socket addresses as users write them, for the server and the clients.
 * Opens a non-blocking listening socket for "tcp:HOST:PORT", "unix:PATH" or
 * "vsock:CID:PORT". Returns the fd, or -1 with err saying what to fix. */
int hfx_listen(const char *spec, char *err, size_t errlen);
/* The bound port of a TCP or vsock listener; -1 for others. */
int hfx_listen_port(int fd);
/* Connects (blocking) to the same kind of address; for clients. */
int hfx_connect(const char *spec, char *err, size_t errlen);

#endif
