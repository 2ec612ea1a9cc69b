#include "server/exporter.h"

#include <stdio.h>
#include <string.h>

int hfx_exporter_init(struct hfx_exporter *x, const struct hfx_server_config *scfg,
                      const struct hfx_engine_config *ecfg, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->server = hfx_server_new(scfg, err, errlen);
    if (!x->server)
        return -1;
    struct hfx_engine_config cfg = *ecfg;
    cfg.sink = &hfx_server_sink;
    cfg.sink_data = x->server;
    x->engine = hfx_engine_new(&cfg, err, errlen);
    if (!x->engine) {
        hfx_server_free(x->server);
        x->server = NULL;
        return -1;
    }
    hfx_server_attach(x->server, x->engine);
    return 0;
}

static void *loop_main(void *arg)
{
    hfx_server_run(arg);
    return NULL;
}

int hfx_exporter_start_thread(struct hfx_exporter *x, char *err, size_t errlen)
{
    if (pthread_create(&x->loop, NULL, loop_main, x->server) != 0) {
        snprintf(err, errlen, "cannot start the server thread");
        return -1;
    }
    x->threaded = true;
    return 0;
}

void hfx_exporter_stop(struct hfx_exporter *x)
{
    hfx_server_stop(x->server);
    if (x->threaded)
        pthread_join(x->loop, NULL);
    x->threaded = false;
}

void hfx_exporter_free(struct hfx_exporter *x)
{
    /* The engine's workers call into the server: they go first. */
    hfx_engine_free(x->engine);
    hfx_server_free(x->server);
    memset(x, 0, sizeof *x);
}
