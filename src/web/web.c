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

/* ---- GET /api/heads, POST /api/heads/N/enable|disable ---- */

enum api_kind { API_STATS, API_ENABLE, API_DISABLE };

struct api_job {
    struct hfx_web *w;
    char *token;
    enum api_kind kind;
    uint32_t head, width, height;
};

static void api_job_free(gpointer p)
{
    struct api_job *j = p;
    g_free(j->token);
    g_free(j);
}

/* What the exporter answered, for the HTTP reply. */
struct api_result {
    guint status;
    const char *type;
    GBytes *body;
};

static void api_result_free(gpointer p)
{
    struct api_result *r = p;
    g_bytes_unref(r->body);
    g_free(r);
}

static struct api_result *api_result(guint status, const char *type, GBytes *body)
{
    struct api_result *r = g_new0(struct api_result, 1);
    *r = (struct api_result){.status = status, .type = type, .body = body};
    return r;
}

static struct api_result *api_text(guint status, const char *text)
{
    return api_result(status, "text/plain; charset=utf-8", g_bytes_new(text, strlen(text)));
}

/* The request of a job, as the exporter takes it. */
static size_t api_request(const struct api_job *j, uint32_t scope, uint8_t req[32])
{
    bool all = scope == HXFR_SCOPE_CONTROL;
    switch (j->kind) {
    case API_ENABLE:
        return hxfr_put_enable(req, j->head, j->width, j->height, 0);
    case API_DISABLE:
        return hxfr_put_disable(req, j->head);
    case API_STATS:
        break;
    }
    return hxfr_put_stats_req(req, all ? 0 : scope, !all);
}

/* The exporter's reply to a job: STATS JSON as is; SCANOUT_RESP as JSON;
 * its refusals (DENIED: the token does not allow this) as 403 with its
 * text, other ERRORs as 409. */
static struct api_result *api_reply(const struct api_job *j, const struct hxfr_msg *m)
{
    char text[512];
    if (m->h.type == HXFR_ERROR) {
        snprintf(text, sizeof text, "the exporter refused: %s", m->u.error.text);
        return api_text(m->u.error.code == HXFR_E_DENIED ? SOUP_STATUS_FORBIDDEN
                                                         : SOUP_STATUS_CONFLICT, text);
    }
    if (j->kind == API_STATS && m->h.type == HXFR_STATS_RESP)
        return api_result(SOUP_STATUS_OK, "application/json",
                          g_bytes_new(m->u.stats_resp.text, m->u.stats_resp.len));
    if (j->kind != API_STATS && m->h.type == HXFR_SCANOUT_RESP) {
        const bool on = j->kind == API_ENABLE;
        if (!m->u.scanout_resp.success) {
            snprintf(text, sizeof text, "the exporter could not turn head %u %s", j->head,
                     on ? "on at that size" : "off");
            return api_text(SOUP_STATUS_CONFLICT, text);
        }
        char *json = g_strdup_printf("{\"id\":%u,\"enabled\":%s,\"width\":%u,\"height\":%u,"
                                     "\"connector\":\"%s\"}",
                                     j->head, on ? "true" : "false", on ? j->width : 0,
                                     on ? j->height : 0, m->u.scanout_resp.connector);
        return api_result(SOUP_STATUS_OK, "application/json", g_bytes_new_take(json, strlen(json)));
    }
    snprintf(text, sizeof text, "the exporter answered %s", hxfr_type_name(m->h.type));
    return api_text(SOUP_STATUS_BAD_GATEWAY, text);
}

/* Asks the exporter on a worker thread, as the browser's token (HELLO,
 * AUTH): the gateway's loop never waits on the exporter, and the exporter
 * decides what the token may do (STATS of every head or one; switching
 * heads needs the control token). */
static void api_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    struct api_job *j = data;
    char err[256];
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, j->w->cfg.exporter, err, sizeof err) < 0) {
        g_task_return_pointer(task, api_text(SOUP_STATUS_BAD_GATEWAY, err), api_result_free);
        return;
    }
    uint32_t scope = 0;
    uint8_t req[32];
    struct hxfr_msg m;
    struct api_result *r = NULL;
    int rc = hfx_conn_hello(&conn, 0, WEB_API_TIMEOUT_MS, err, sizeof err);
    if (rc == 0 && hfx_conn_auth(&conn, j->token, WEB_API_TIMEOUT_MS, &scope, err, sizeof err) < 0)
        r = api_text(SOUP_STATUS_FORBIDDEN, err);
    if (rc == 0 && !r)
        rc = hfx_conn_request(&conn, req, api_request(j, scope, req), &m, WEB_API_TIMEOUT_MS, err,
                              sizeof err);
    if (!r) /* hfx_conn_request: 1 a reply, 0 none in time (err says so), -1 an error */
        r = rc == 1 ? api_reply(j, &m) : api_text(SOUP_STATUS_BAD_GATEWAY, err);
    hfx_conn_close(&conn);
    g_task_return_pointer(task, r, api_result_free);
}

static void reply_text(SoupServerMessage *msg, guint status, const char *text)
{
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text,
                                     strlen(text));
    soup_server_message_set_status(msg, status, NULL);
}

static void api_done(GObject *src, GAsyncResult *res, gpointer data)
{
    SoupServerMessage *msg = data;
    struct api_result *r = g_task_propagate_pointer(G_TASK(res), NULL);
    soup_server_message_set_response(msg, r->type, SOUP_MEMORY_COPY,
                                     g_bytes_get_data(r->body, NULL), g_bytes_get_size(r->body));
    soup_server_message_set_status(msg, r->status, NULL);
    api_result_free(r);
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

/* A decimal number in min..max, nothing else (no sign, no spaces). */
static bool parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!s || !g_ascii_isdigit(*s) || strlen(s) > 9)
        return false;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* POST /api/heads/N/enable?width=W&height=H and /api/heads/N/disable: the
 * job, or NULL with a 400 or 405 sent (every parameter checked here, the
 * exporter checks again). */
static struct api_job *control_job(SoupServerMessage *msg, const char *path)
{
    const char *rest = path + strlen("/api/heads/");
    const char *slash = strchr(rest, '/');
    char *num = slash ? g_strndup(rest, (gsize)(slash - rest)) : NULL;
    struct api_job j = {0};
    bool ok = parse_uint(num, 0, WEB_HEADS - 1, &j.head);
    g_free(num);
    if (ok && !strcmp(slash, "/enable"))
        j.kind = API_ENABLE;
    else if (ok && !strcmp(slash, "/disable"))
        j.kind = API_DISABLE;
    else {
        reply_text(msg, SOUP_STATUS_NOT_FOUND,
                   "no such endpoint: /api/heads/N/enable or /api/heads/N/disable, N 0..15");
        return NULL;
    }
    if (strcmp(soup_server_message_get_method(msg), "POST")) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     "POST");
        reply_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "enable and disable take POST");
        return NULL;
    }
    if (j.kind == API_ENABLE) {
        char *w = web_query(msg, "width"), *h = web_query(msg, "height");
        ok = parse_uint(w, 1, 8192, &j.width) && parse_uint(h, 1, 8192, &j.height);
        g_free(w);
        g_free(h);
        if (!ok) {
            reply_text(msg, SOUP_STATUS_BAD_REQUEST,
                       "enable needs width=W&height=H, whole numbers 1..8192");
            return NULL;
        }
    }
    return g_memdup2(&j, sizeof j);
}

static void on_http(SoupServer *server, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
    struct hfx_web *w = data;
    const char *method = soup_server_message_get_method(msg);
    struct api_job *j = NULL;
    if (g_str_has_prefix(path, "/api/heads/")) {
        if (!(j = control_job(msg, path)))
            return;
    } else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return;
    } else if (!strcmp(path, "/api/heads")) {
        j = g_new0(struct api_job, 1);
        j->kind = API_STATS;
    } else {
        serve_file(msg, path);
        return;
    }
    j->w = w;
    if (!(j->token = request_token(w, msg))) {
        api_job_free(j);
        return;
    }
    soup_server_message_pause(msg);
    GTask *task = g_task_new(NULL, NULL, api_done, g_object_ref(msg));
    g_task_set_task_data(task, j, api_job_free);
    g_task_run_in_thread(task, api_thread);
    g_object_unref(task);
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
