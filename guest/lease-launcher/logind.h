/* The part of org.freedesktop.login1 that libseat's logind backend and
 * Mutter use to open devices, served on the launcher's private bus for one
 * session on one seat (guest/README.md, "hfx-lease-launcher"). */
#ifndef HFX_LAUNCHER_LOGIND_H
#define HFX_LAUNCHER_LOGIND_H

#include <gio/gio.h>
#include <stdbool.h>
#include <sys/types.h>

struct logind_conf {
    const char *session_id; /* letters and digits: sd-login checks that */
    unsigned head;          /* input devices of this head are served */
    int lease_fd;           /* TakeDevice of its major:minor answers with it */
    pid_t leader;           /* the session's Leader property */
    uid_t uid;              /* the session's user */
    /* Told of every TakeDevice: fd_ok false with why when it was refused. */
    void (*on_take)(unsigned major, unsigned minor, bool lease, const char *why, void *data);
    void *data;
};

struct logind;

/* Owns org.freedesktop.login1 on conn and serves it. NULL with *err set. */
struct logind *logind_start(GDBusConnection *conn, const struct logind_conf *conf,
                            GError **err);
/* The lease is gone: PauseDevice(major, minor, "gone") for every device
 * taken, so the compositor stops using them. */
void logind_devices_gone(struct logind *l);
/* How many TakeDevice calls were answered with the lease fd. */
unsigned logind_drm_taken(const struct logind *l);
void logind_stop(struct logind *l);

#endif
