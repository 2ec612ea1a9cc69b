#include "uevent.h"

#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "say.h"

int uevent_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    NETLINK_KOBJECT_UEVENT);
    if (fd < 0) {
        guest_warn("no uevent socket: hotplug only by polling");
        return -1;
    }
    /* Group 1: events as the kernel sends them (udev re-broadcasts on 2). */
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        guest_warn("cannot bind the uevent socket: hotplug only by polling");
        close(fd);
        return -1;
    }
    return fd;
}

/* A message is "ACTION@DEVPATH" then NUL-separated KEY=VALUE strings. */
static bool is_drm_hotplug(const char *msg, size_t len)
{
    bool drm = false, hotplug = false;
    for (size_t off = 0; off < len;) {
        const char *kv = msg + off;
        size_t n = strnlen(kv, len - off);
        if (n == 13 && memcmp(kv, "SUBSYSTEM=drm", 13) == 0)
            drm = true;
        if (n == 9 && memcmp(kv, "HOTPLUG=1", 9) == 0)
            hotplug = true;
        off += n + 1;
    }
    return drm && hotplug;
}

bool uevent_drm_hotplug(int fd)
{
    bool found = false;
    char buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            return found;
        buf[n] = '\0';
        found |= is_drm_hotplug(buf, (size_t)n);
    }
}
