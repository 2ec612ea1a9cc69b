/* Just enough of QEMU's QMP to hand QEMU a file descriptor and attach it as
 * a D-Bus display client (getfd + add_client), for QEMU started with
 * `-display dbus,p2p=yes`. */
#ifndef HFX_FRONTEND_QMP_H
#define HFX_FRONTEND_QMP_H

#include <stddef.h>

/* Connects to the QMP unix socket at path and negotiates capabilities.
 * Returns the socket fd or -1 with err filled. */
int hfx_qmp_open(const char *path, char *err, size_t errlen);
/* Passes fd to QEMU as the D-Bus display's peer-to-peer connection. */
int hfx_qmp_add_dbus_client(int qmp, int fd, char *err, size_t errlen);

#endif
