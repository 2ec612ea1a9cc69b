/* The in-process exporter the C tests run: engine + server (loop on its own
 * thread) + the synthetic front end, listening on an ephemeral loopback port
 * unless the test names its listeners. */
#ifndef HFX_TESTS_PIPELINE_H
#define HFX_TESTS_PIPELINE_H

#include "server/exporter.h"
#include "source/synth_frontend.h"

struct pipeline {
    struct hfx_exporter x;
    struct hfx_synth_frontend *fe;
    char addr[600]; /* of the first listener, for hfx_conn_open; "" for vsock */
    char token[HXFR_MAX_TOKEN + 1]; /* the control token */
};

/* Returns -1 after printing why it could not start. */
int pipeline_start(struct pipeline *p, struct hfx_server_config *scfg,
                   const struct hfx_engine_config *ecfg,
                   const struct hfx_synth_frontend_config *fcfg);
/* Stops the server loop; stats stay readable until pipeline_free. */
void pipeline_stop_loop(struct pipeline *p);
void pipeline_free(struct pipeline *p);
void pipeline_stop(struct pipeline *p);

#endif
