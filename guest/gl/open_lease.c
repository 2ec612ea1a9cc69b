/* open-lease.so: preloaded into kmscube in the GL test guest (see
 * guest/demo/kmscube.h). Opening the path $HFX_LEASE_PATH gives a duplicate
 * of the inherited fd $HFX_LEASE_FD; every other open goes to libc.
 *
 * Why: kmscube takes its DRM device only as a path (-D), but its head is a
 * DRM lease, an fd that hfx-guest-demo (card0's master) made with
 * drmModeCreateLease, and no path names a lease: opening /proc/self/fd/N
 * would open card0 afresh, as a client that is no lessee and cannot
 * modeset. kmscube opens the device with open() (open64 under
 * _FILE_OFFSET_BITS=64); nothing else in it or in Mesa opens it by path,
 * so those two are all that is answered. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The lease's duplicate when path is the lease's, else -2. */
static int lease_dup(const char *path, int flags)
{
    const char *want = getenv("HFX_LEASE_PATH"), *fd = getenv("HFX_LEASE_FD");
    if (want == NULL || fd == NULL || path == NULL || strcmp(path, want) != 0)
        return -2;
    return fcntl(atoi(fd), (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

static int forward(const char *name, const char *path, int flags, mode_t mode)
{
    int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
    return real(path, flags, mode);
}

#define OPEN_LIKE(name)                                                                          \
    int name(const char *path, int flags, ...)                                                   \
    {                                                                                            \
        mode_t mode = 0;                                                                         \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {                             \
            va_list ap;                                                                          \
            va_start(ap, flags);                                                                 \
            mode = va_arg(ap, mode_t);                                                           \
            va_end(ap);                                                                          \
        }                                                                                        \
        int fd = lease_dup(path, flags);                                                         \
        return fd != -2 ? fd : forward(#name, path, flags, mode);                                \
    }

OPEN_LIKE(open)
OPEN_LIKE(open64)
