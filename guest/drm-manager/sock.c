#include "sock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/net.h"
#include "log.h"

/* mkdir -p of path's folder. */
static int make_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(dir, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int sock_listen(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        mgr_warn("socket path %s is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (make_parent(path) < 0) {
        mgr_warn("cannot create the folder of %s: %s", path, strerror(errno));
        return -1;
    }
    /* A socket left by a manager that died. Another manager alive would
     * hold DRM master, and we would not have got this far. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mgr_warn("socket: %s", strerror(errno));
        return -1;
    }
    /* A lease is a whole screen: only root and the socket's group. */
    mode_t old = umask(0117);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        mgr_warn("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sock_send(int sock, const uint8_t *buf, size_t len, int fd)
{
    return hfx_send_with_fd(sock, buf, len, fd, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0
                                                                                           : -1;
}

pid_t sock_peer_pid(int sock)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : -1;
}
