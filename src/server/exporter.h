/* The engine and the server wired together: what `hfx serve`, the benchmark
 * and the tests all run. The front end is attached by the caller. Teardown
 * order: hfx_exporter_stop (no more requests reach the front end), stop the
 * front end, hfx_exporter_free. */
#ifndef HFX_SERVER_EXPORTER_H
#define HFX_SERVER_EXPORTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "server/server.h"

struct hfx_exporter {
    struct hfx_server *server;
    struct hfx_engine *engine;
    pthread_t loop;
    bool threaded;
    /* Optional, set before init: sees every packet before the server does,
     * on the encode worker's thread (the benchmark notes per-frame costs that
     * never reach the wire). */
    void (*observe)(void *data, const struct hfx_packet *pkt);
    void *observe_data;
};

/* Opens the listeners and creates the engine with the server as its sink
 * (ecfg's sink fields are filled in). Keeps observe and observe_data. */
int hfx_exporter_init(struct hfx_exporter *x, const struct hfx_server_config *scfg,
                      const struct hfx_engine_config *ecfg, char *err, size_t errlen);
/* Runs the server loop on a thread of its own (instead of hfx_server_run). */
int hfx_exporter_start_thread(struct hfx_exporter *x, char *err, size_t errlen);
/* Stops the loop and joins its thread. */
void hfx_exporter_stop(struct hfx_exporter *x);
void hfx_exporter_free(struct hfx_exporter *x);

#endif
