#include "frontend/qmp.h"

#include "common/net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define FDNAME "hfx-dbus"

/* Reads one line (QMP sends one JSON object per line). Events, which QEMU
 * may send at any time, are skipped by the callers. */
static int read_line(int fd, char *buf, size_t len, char *err, size_t errlen)
{
    size_t n = 0;
    while (n + 1 < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, QMP_TIMEOUT_MS) <= 0) {
            snprintf(err, errlen, "QMP: no answer from QEMU within %d ms", QMP_TIMEOUT_MS);
            return -1;
        }
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0) {
            snprintf(err, errlen, "QMP: QEMU closed the monitor connection");
            return -1;
        }
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 0;
        }
        n++;
    }
    snprintf(err, errlen, "QMP: a reply longer than %zu bytes", len);
    return -1;
}

/* Waits for the reply to the last command: a line with "return" (success)
 * or "error" (its text goes to err). The replies we expect are tiny and
 * fixed in form, so a key test is all the parsing they need. */
static int await_reply(int fd, char *err, size_t errlen)
{
    char line[4096];
    for (;;) {
        if (read_line(fd, line, sizeof line, err, errlen) < 0)
            return -1;
        if (strstr(line, "\"return\""))
            return 0;
        if (strstr(line, "\"error\"")) {
            snprintf(err, errlen, "QMP: QEMU refused: %.400s", line);
            return -1;
        }
    }
}

static int send_all(int fd, const char *s, int pass_fd, char *err, size_t errlen)
{
    if (hfx_send_with_fd(fd, s, strlen(s), pass_fd, MSG_NOSIGNAL) != (ssize_t)strlen(s)) {
        snprintf(err, errlen, "QMP: send failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int hfx_qmp_open(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof un.sun_path) {
        snprintf(err, errlen, "QMP socket path too long: %s", path);
        return -1;
    }
    strcpy(un.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof un) < 0) {
        snprintf(err, errlen, "cannot connect to QEMU's QMP socket %s: %s", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char greeting[4096];
    if (read_line(fd, greeting, sizeof greeting, err, errlen) < 0 ||
        send_all(fd, "{\"execute\":\"qmp_capabilities\"}\n", -1, err, errlen) < 0 ||
        await_reply(fd, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int hfx_qmp_add_dbus_client(int qmp, int fd, char *err, size_t errlen)
{
    if (send_all(qmp, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"" FDNAME "\"}}\n", fd,
                 err, errlen) < 0 ||
        await_reply(qmp, err, errlen) < 0)
        return -1;
    if (send_all(qmp,
                 "{\"execute\":\"add_client\",\"arguments\":{\"protocol\":\"@dbus-display\","
                 "\"fdname\":\"" FDNAME "\"}}\n",
                 -1, err, errlen) < 0 ||
        await_reply(qmp, err, errlen) < 0) {
        if (strstr(err, "dbus"))
            snprintf(err + strlen(err), errlen - strlen(err),
                     " (was QEMU started with -display dbus,p2p=yes?)");
        return -1;
    }
    return 0;
}
