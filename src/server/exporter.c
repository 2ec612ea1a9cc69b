#include "server/exporter.h"

#include <stdio.h>
#include <string.h>

/* The server's sink with the observer in front. */
static void observed_packet(void *data, struct hfx_packet *pkt)
{
    struct hfx_exporter *x = data;
    x->observe(x->observe_data, pkt);
    hfx_server_sink.packet(x->server, pkt);
}

static void observed_ended(void *data, uint32_t scanout)
{
    struct hfx_exporter *x = data;
    hfx_server_sink.scanout_ended(x->server, scanout);
}

static void observed_cursor(void *data, uint32_t scanout, const struct hfx_cursor *c)
{
    struct hfx_exporter *x = data;
    hfx_server_sink.cursor(x->server, scanout, c);
}

static const struct hfx_engine_sink observed_sink = {
    .packet = observed_packet,
    .scanout_ended = observed_ended,
    .cursor = observed_cursor,
};

int hfx_exporter_init(struct hfx_exporter *x, const struct hfx_server_config *scfg,
                      const struct hfx_engine_config *ecfg, char *err, size_t errlen)
{
    struct hfx_exporter keep = {.observe = x->observe, .observe_data = x->observe_data};
    *x = keep;
    x->server = hfx_server_new(scfg, err, errlen);
    if (!x->server)
        return -1;
    struct hfx_engine_config cfg = *ecfg;
    cfg.sink = x->observe ? &observed_sink : &hfx_server_sink;
    cfg.sink_data = x->observe ? (void *)x : (void *)x->server;
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
    pthread_setname_np(pthread_self(), "hfx-server");   /* see worker_main in engine.c */
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
