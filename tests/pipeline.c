#include "pipeline.h"

#include <stdio.h>
#include <string.h>


int pipeline_start(struct pipeline *p, struct hfx_server_config *scfg,
                   const struct hfx_engine_config *ecfg,
                   const struct hfx_synth_frontend_config *fcfg)
{
    char err[256];
    memset(p, 0, sizeof *p);
    if (!scfg->nlisten) {
        scfg->listen[0] = "tcp:127.0.0.1:0";
        scfg->nlisten = 1;
    }
    if (hfx_exporter_init(&p->x, scfg, ecfg, err, sizeof err) < 0) {
        fprintf(stderr, "pipeline: %s\n", err);
        return -1;
    }
    p->fe = hfx_synth_frontend_start(p->x.engine, fcfg, err, sizeof err);
    if (!p->fe || hfx_exporter_start_thread(&p->x, err, sizeof err) < 0) {
        fprintf(stderr, "pipeline: %s\n", err);
        hfx_synth_frontend_stop(p->fe);
        hfx_exporter_free(&p->x);
        return -1;
    }
    /* A vsock listener has no local address: those tests connect by CID. */
    if (hfx_server_local_address(p->x.server, p->addr, sizeof p->addr, err, sizeof err) < 0)
        p->addr[0] = '\0';
    hfx_server_control_token(p->x.server, p->token);
    return 0;
}

void pipeline_stop_loop(struct pipeline *p)
{
    hfx_exporter_stop(&p->x);
}

void pipeline_free(struct pipeline *p)
{
    hfx_synth_frontend_stop(p->fe);
    hfx_exporter_free(&p->x);
}

void pipeline_stop(struct pipeline *p)
{
    pipeline_stop_loop(p);
    pipeline_free(p);
}
