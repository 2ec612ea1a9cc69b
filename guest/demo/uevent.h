/* Kernel uevents, read straight from netlink (there is no udev in the
 * guest): virtio-gpu announces every display change the host makes with a
 * "HOTPLUG=1" event of the drm subsystem. */
#ifndef HFX_GUEST_UEVENT_H
#define HFX_GUEST_UEVENT_H

#include <stdbool.h>

/* A non-blocking socket on the kernel's uevent multicast group, or -1. */
int uevent_open(void);
/* Reads every pending uevent; true if one was a DRM hotplug. */
bool uevent_drm_hotplug(int fd);

#endif
