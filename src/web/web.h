/* The web gateway (hfx web, hfx serve --http, hfx run --http): an HTTP and
 * WebSocket server (libsoup 3) that serves a page of every head and each
 * head's stream to browsers, as a subscriber of an exporter over HXFR.
 *
 * It runs on a thread of its own with its own GMainContext, so it can live
 * beside an exporter in one process without sharing its loop. Files:
 *   web.c       lifecycle, listening, static files, /api/heads, routing
 *   hub.c       one exporter subscription per head, fanned out to viewers
 *   out.c       a socket's bounded queue: skip to the next IDR on overflow
 *   session.c   a browser's token (what it may see) and its input to the VM
 *   page_ws.c   /ws/head/N: our page's protocol (docs/protocol.md)
 *   helix_ws.c  /ws/stream: the deployed browsers' protocol */
#ifndef HFX_WEB_WEB_H
#define HFX_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct hfx_web_config {
    const char *exporter;   /* HXFR address of the exporter */
    const char *token;      /* the gateway's own token: subscribes for every viewer */
    const char *http;       /* HOST:PORT to listen on */
    /* Serve browsers that bring no token as if they had the gateway's own;
     * off by default: every request then needs ?token=. */
    bool open;
};

struct hfx_web;

/* Listens and starts serving; NULL with err filled when it cannot. */
struct hfx_web *hfx_web_start(const struct hfx_web_config *cfg, char *err, size_t errlen);
/* Closes every socket and subscription and waits for the gateway's thread. */
void hfx_web_stop(struct hfx_web *w);

/* The HTTP option's help text, shared by hfx web, serve and run. */
#define HFX_WEB_HTTP_HELP                                                                         \
    "  --http HOST:PORT    serve the web page of every head there (e.g. 127.0.0.1:8080); a\n"   \
    "                      browser brings a token (http://HOST:PORT/?token=...). Append\n"       \
    "                      ,open to serve browsers without a token as the control token:\n"    \
    "                      only where everyone who can connect may see and drive every head\n"

/* Parses "HOST:PORT[,open]" into cfg->http and cfg->open; -1 with a message
 * on stderr when it is not that. The string is kept (cfg->http points into
 * a copy owned by cfg's caller via *owned, freed with g_free). */
int hfx_web_parse_http(const char *spec, struct hfx_web_config *cfg, char **owned);

#endif
