/* The lease manager: the heads' pool, the clients of the lease socket and
 * the one poll() loop that serves them. */
#ifndef HFX_DRM_MANAGER_H
#define HFX_DRM_MANAGER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host.h"
#include "kms.h"
#include "lease_wire.h"
#include "settings.h"

struct client {
    int fd;
    pid_t pid;
    uint8_t in[LEASE_REQ_SIZE];
    size_t in_len;
    int held;     /* heads pending or leased */
    bool waiting; /* a lease is pending: its next requests wait in the socket */
    bool dead;    /* to be closed at the end of this loop turn */
};

enum head_state { HEAD_FREE, HEAD_PENDING, HEAD_LEASED };

struct mhead {
    enum head_state state;
    struct client *owner;
    uint32_t w, h;
    int64_t started, deadline; /* ns, CLOCK_MONOTONIC */
    bool hotplugged;           /* a DRM hotplug uevent came after the host's ENABLE reply */
    bool with_token;           /* asked for by command 3: the response carries a head token */
    struct kms_lease lease;
};

struct manager {
    const struct settings *s;
    struct kms kms;
    struct host host;
    char token[HXFR_MAX_TOKEN + 1]; /* the control token; "" when there is none */
    int listen_fd, uevent_fd;
    int max_head; /* heads 1..max_head are leased; 0 is the console */
    struct mhead heads[KMS_MAX_HEADS];
    struct client **clients;
    int nclients;
};

/* Opens the card, the socket and the uevent socket. 0, or -1 after saying why. */
int manager_open(struct manager *m, const struct settings *s);
/* Serves until *stop; then releases every head and removes the socket. */
int manager_run(struct manager *m, volatile sig_atomic_t *stop);

#endif
