/* The gateway's lifecycle, its HTTP side (static files, /api/heads) and its
 * routing of sockets; see web.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "proto/hxfr.h"
#include "web/internal.h"

#define WEB_FLUSH_MS 10     /* how often queued messages are offered to the kernel again */
#define WEB_API_TIMEOUT_MS 5000

void web_invoke(struct hfx_web *w, GSourceFunc fn, gpointer data)
{
    /* Always queued, never called here: g_main_context_invoke calls fn in
     * the caller's thread when no thread owns the context, as between the
     * iterations of hfx_web_stop, where a reader's frame would then meet
     * sockets being freed on the other thread. */
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, fn, data, NULL);
    g_source_attach(s, w->ctx);
    g_source_unref(s);
}

/* ---- GET /api/heads ---- */

struct api_job {
    struct hfx_web *w;
    char *token;
};

static void api_job_free(gpointer p)
{
    struct api_job *j = p;
    g_free(j->token);
    g_free(j);
}

/* The exporter's STATS as the browser's token sees it: every head for the
 * control token, its own for a head token (the exporter decides). Asked on
 * a worker thread: the gateway's loop never waits on the exporter. */
static void stats_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    struct api_job *j = data;
    char err[256];
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, j->w->cfg.exporter, err, sizeof err) < 0) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err);
        return;
    }
    uint32_t scope = 0;
    uint8_t req[16];
    struct hxfr_msg m;
    int rc = hfx_conn_hello(&conn, 0, WEB_API_TIMEOUT_MS, err, sizeof err);
    if (rc == 0)
        rc = hfx_conn_auth(&conn, j->token, WEB_API_TIMEOUT_MS, &scope, err, sizeof err);
    if (rc == 0) {
        bool all = scope == HXFR_SCOPE_CONTROL;
        size_t len = hxfr_put_stats_req(req, all ? 0 : scope, !all);
        rc = hfx_conn_request(&conn, req, len, &m, WEB_API_TIMEOUT_MS, err, sizeof err);
    }
    if (rc == 0)
        rc = hfx_conn_expect(&m, HXFR_STATS_RESP, "STATS_REQ", err, sizeof err);
    if (rc < 0) {
        hfx_conn_close(&conn);
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "%s", err);
        return;
    }
    GBytes *b = g_bytes_new(m.u.stats_resp.text, m.u.stats_resp.len);
    hfx_conn_close(&conn);
    g_task_return_pointer(task, b, (GDestroyNotify)g_bytes_unref);
}

static void reply_text(SoupServerMessage *msg, guint status, const char *text)
{
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text,
                                     strlen(text));
    soup_server_message_set_status(msg, status, NULL);
}

static void stats_done(GObject *src, GAsyncResult *res, gpointer data)
{
    SoupServerMessage *msg = data;
    GError *err = NULL;
    GBytes *b = g_task_propagate_pointer(G_TASK(res), &err);
    if (b) {
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY,
                                         g_bytes_get_data(b, NULL), g_bytes_get_size(b));
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        g_bytes_unref(b);
    } else {
        reply_text(msg, err->code == G_IO_ERROR_PERMISSION_DENIED ? SOUP_STATUS_FORBIDDEN
                                                                  : SOUP_STATUS_BAD_GATEWAY,
                   err->message);
        g_error_free(err);
    }
    soup_server_message_unpause(msg);
    g_object_unref(msg);
}

/* The browser's token, or the gateway's own on an open listener; NULL (and
 * a 403 sent) when there is none. */
static char *request_token(struct hfx_web *w, SoupServerMessage *msg)
{
    char *t = web_query(msg, "token");
    if (t && *t)
        return t;
    g_free(t);
    if (w->cfg.open)
        return g_strdup(w->cfg.token ? w->cfg.token : "");
    reply_text(msg, SOUP_STATUS_FORBIDDEN,
               "this server needs a token: open the page as /?token=TOKEN");
    return NULL;
}

/* ---- static files, compiled into the binary (web/web.gresource.xml) ---- */

static void serve_file(SoupServerMessage *msg, const char *path)
{
    if (!strcmp(path, "/"))
        path = "/index.html";
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"}};
    const char *type = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (g_str_has_suffix(path, types[i].ext))
            type = types[i].type;
    char *res = g_strconcat("/org/hfx/web", path, NULL);
    GBytes *b = type && !strstr(path, "..")
                    ? g_resources_lookup_data(res, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL)
                    : NULL;
    g_free(res);
    if (!b) {
        soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
        return;
    }
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 "no-cache");
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, g_bytes_get_data(b, NULL),
                                     g_bytes_get_size(b));
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    g_bytes_unref(b);
}

static void on_http(SoupServer *server, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
    struct hfx_web *w = data;
    const char *method = soup_server_message_get_method(msg);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    if (!strcmp(path, "/api/heads")) {
        struct api_job *j = g_new0(struct api_job, 1);
        j->w = w;
        if (!(j->token = request_token(w, msg))) {
            api_job_free(j);
            return;
        }
        soup_server_message_pause(msg);
        GTask *task = g_task_new(NULL, NULL, stats_done, g_object_ref(msg));
        g_task_set_task_data(task, j, api_job_free);
        g_task_run_in_thread(task, stats_thread);
        g_object_unref(task);
        return;
    }
    serve_file(msg, path);
}

static void on_page_ws(SoupServer *server, SoupServerMessage *msg, const char *path,
                       SoupWebsocketConnection *conn, gpointer data)
{
    web_page_ws(data, msg, path, conn);
}

static void on_helix_ws(SoupServer *server, SoupServerMessage *msg, const char *path,
                        SoupWebsocketConnection *conn, gpointer data)
{
    web_helix_ws(data, msg, path, conn);
}

/* ---- lifecycle ---- */

static gpointer web_main(gpointer data)
{
    struct hfx_web *w = data;
    g_main_context_push_thread_default(w->ctx);
    g_main_loop_run(w->loop);
    g_main_context_pop_thread_default(w->ctx);
    return NULL;
}

static gboolean flush_all(gpointer data)
{
    web_out_flush_all(data);
    return G_SOURCE_CONTINUE;
}

static int listen_http(struct hfx_web *w, char *err, size_t errlen)
{
    const char *spec = w->cfg.http, *colon = strrchr(spec, ':');
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || colon == spec || !end || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "--http needs HOST:PORT, e.g. 127.0.0.1:8080, not '%s'", spec);
        return -1;
    }
    char *host = g_strndup(spec, (gsize)(colon - spec));
    GInetAddress *ia = g_inet_address_new_from_string(host);
    if (!ia && !strcmp(host, "localhost"))
        ia = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_free(host);
    if (!ia) {
        snprintf(err, errlen, "--http needs a numeric address (or localhost), not '%s'", spec);
        return -1;
    }
    GSocketAddress *sa = g_inet_socket_address_new(ia, (guint16)port);
    GError *e = NULL;
    int rc = 0;
    if (!soup_server_listen(w->server, sa, 0, &e)) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, e->message);
        g_error_free(e);
        rc = -1;
    }
    g_object_unref(sa);
    g_object_unref(ia);
    return rc;
}

static void web_free(struct hfx_web *w)
{
    g_ptr_array_free(w->outs, TRUE);
    g_main_loop_unref(w->loop);
    g_main_context_unref(w->ctx);
    g_free(w->exporter);
    g_free(w->token);
    g_free(w->http);
    g_free(w);
}

struct hfx_web *hfx_web_start(const struct hfx_web_config *cfg, char *err, size_t errlen)
{
    struct hfx_web *w = g_new0(struct hfx_web, 1);
    w->cfg = *cfg;
    /* Ours to keep: the caller's strings may not outlive this call. */
    w->cfg.exporter = w->exporter = g_strdup(cfg->exporter);
    w->cfg.token = w->token = g_strdup(cfg->token ? cfg->token : "");
    w->cfg.http = w->http = g_strdup(cfg->http);
    w->ctx = g_main_context_new();
    w->outs = g_ptr_array_new();
    w->loop = g_main_loop_new(w->ctx, FALSE);
    /* The server attaches its sources to the thread-default context of the
     * thread that creates it and listens. */
    g_main_context_push_thread_default(w->ctx);
    w->server = soup_server_new("server-header", "hfx-web", NULL);
    soup_server_add_handler(w->server, NULL, on_http, w, NULL);
    soup_server_add_websocket_handler(w->server, "/ws/head", NULL, NULL, on_page_ws, w, NULL);
    soup_server_add_websocket_handler(w->server, "/ws/stream", NULL, NULL, on_helix_ws, w, NULL);
    int rc = listen_http(w, err, errlen);
    if (rc == 0) {
        GSource *t = g_timeout_source_new(WEB_FLUSH_MS);
        g_source_set_callback(t, flush_all, w, NULL);
        g_source_attach(t, w->ctx);
        g_source_unref(t);
    }
    g_main_context_pop_thread_default(w->ctx);
    if (rc < 0) {
        g_object_unref(w->server);
        web_free(w);
        return NULL;
    }
    w->hub = web_hub_new(w);
    w->sessions = web_sessions_new(w);
    w->thread = g_thread_new("hfx-web", web_main, w);
    return w;
}

static gboolean quit(gpointer data)
{
    struct hfx_web *w = data;
    /* Closing the sockets here lets their "closed" handlers run on this
     * thread before the loop ends. */
    soup_server_disconnect(w->server);
    g_main_loop_quit(w->loop);
    return G_SOURCE_REMOVE;
}

void hfx_web_stop(struct hfx_web *w)
{
    web_invoke(w, quit, w);
    g_thread_join(w->thread);
    g_main_context_push_thread_default(w->ctx);
    g_object_unref(w->server);
    while (g_main_context_iteration(w->ctx, FALSE))
        ; /* what the sockets' last handlers queued */
    web_hub_free(w->hub);
    web_sessions_free(w->sessions);
    while (g_main_context_iteration(w->ctx, FALSE))
        ; /* the sessions' last reports: to sockets already closed, dropped */
    g_main_context_pop_thread_default(w->ctx);
    web_free(w);
}

int hfx_web_parse_http(const char *spec, struct hfx_web_config *cfg, char **owned)
{
    g_free(*owned);
    *owned = g_strdup(spec);
    char *comma = strchr(*owned, ',');
    cfg->open = false;
    if (comma) {
        if (strcmp(comma + 1, "open")) {
            fprintf(stderr, "hfx: --http takes HOST:PORT or HOST:PORT,open, not '%s'\n", spec);
            return -1;
        }
        *comma = 0;
        cfg->open = true;
    }
    cfg->http = *owned;
    return 0;
}
