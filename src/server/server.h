/* The HXFR server: one event-loop thread, non-blocking sockets, a bounded
 * queue of whole messages per client. It is the engine's sink: encoded frames
 * arrive from the scanout workers through a lock-free inbox, so a worker never
 * waits for the network and the loop never waits for a worker. */
#ifndef HFX_SERVER_H
#define HFX_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "proto/hxfr.h"

#define HFX_DEFAULT_PORT 15937
/* Where the server listens and clients connect unless told otherwise. */
#define HFX_DEFAULT_ADDR "tcp:127.0.0.1:15937"
#define HFX_MAX_LISTENERS 8

struct hfx_server_config {
    /* "tcp:HOST:PORT", "unix:PATH" or "vsock:CID:PORT" (CID "any" for all),
     * optionally followed by ",v1=off": that listener serves only clients
     * that present a token (docs/protocol.md, "Access control"). */
    const char *listen[HFX_MAX_LISTENERS];
    int nlisten;
    /* The secret tokens derive from: NULL for a random one per run; a file
     * that does not exist is created. */
    const char *secret_file;
    size_t queue_bytes;         /* per-client queue bound; 0 = 32 MiB */
    uint32_t stuck_ms;          /* no progress this long with data queued: drop; 0 = 5000 */
    uint32_t keyframe_gap_ms;   /* least time between IDRs asked for a lagging client; 0 = 1000 */
    int max_clients;            /* 0 = 256 */
};

struct hfx_server;

struct hfx_server *hfx_server_new(const struct hfx_server_config *cfg, char *err, size_t errlen);
/* The sink to give hfx_engine_new, with the server as its data. */
extern const struct hfx_engine_sink hfx_server_sink;
/* Must be called once, before hfx_server_run. */
void hfx_server_attach(struct hfx_server *s, struct hfx_engine *engine);
/* Runs the loop on the calling thread until hfx_server_stop. */
int hfx_server_run(struct hfx_server *s);
/* From any thread or a signal handler. */
void hfx_server_stop(struct hfx_server *s);
/* The local port of listener i (TCP/vsock), e.g. after listening on port 0. */
int hfx_server_port(const struct hfx_server *s, int i);
/* The address a client on this host reaches the first listener at (its
 * bound port, loopback for a wildcard host). -1 with err if none can. */
int hfx_server_local_address(const struct hfx_server *s, char *out, size_t outlen, char *err,
                             size_t errlen);
/* Closes every socket and drops queued packets. The engine must be freed
 * first (its workers call the sink). */
void hfx_server_free(struct hfx_server *s);

/* The token that grants everything (for the trusted guest daemon and host
 * tools); the same for as long as the secret is. */
void hfx_server_control_token(const struct hfx_server *s, char out[HXFR_MAX_TOKEN + 1]);

struct hfx_server_stats {
    int clients, subscribers;
    uint64_t frames_sent, bytes_sent, frames_dropped, skips_to_idr, clients_dropped;
    uint64_t malformed;
    uint64_t denied;            /* requests refused for want of a token */
};
void hfx_server_get_stats(const struct hfx_server *s, struct hfx_server_stats *out);

#endif
