/* sub: a plain HXFR v1 subscriber, as the deployed guest consumer is
 * (SUBSCRIBE, then FRAME_RESPONSEs), counting what arrives. */
#ifndef HFX_GUEST_SUB_H
#define HFX_GUEST_SUB_H

#include <signal.h>

#include "client/client.h"

struct sub_opts {
    const char *host;
    long port;
    long scanout;
    double seconds;         /* from the subscription; 0: until the stream ends */
    double connect_seconds; /* keep trying to connect and subscribe this long */
};

void sub_opts_default(struct sub_opts *o);
/* Connects to o->host:o->port and subscribes to o->scanout, retrying until
 * connect_seconds have passed (the exporter may come up after the guest, or
 * enable the scanout later). Returns 0, or -1 after saying why. */
int sub_connect(struct hfx_conn *c, const struct sub_opts *o, volatile sig_atomic_t *stop);
/* Returns 0 when at least one frame arrived. */
int sub_run(const struct sub_opts *o, volatile sig_atomic_t *stop);

#endif
