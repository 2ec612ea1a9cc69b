/* hfx web: an HTTP and WebSocket server (libsoup 3) that serves a page of
 * every head and forwards each head's access units to the page's sockets.
 *
 * Threads: the SoupServer runs on the process's default GMainContext in the
 * main thread (nothing else in this command uses a main loop, so it needs no
 * context of its own). Each head that has at least one socket gets one
 * reader thread with one exporter subscription (libhfx-client is blocking);
 * it hands each access unit to the main thread (g_main_context_invoke), which
 * fans it out to every socket of that head: one encode, any number of viewers.
 *
 * Per socket a bounded queue of our own: a message goes to libsoup only while
 * the kernel's send queue of that socket (SIOCOUTQ) is under WEB_OUTQ_LIMIT,
 * so libsoup's own (unbounded) queue stays short; when our queue is full, the
 * socket drops frames until the next IDR, as the HXFR server does. */
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <glib-unix.h>
#include <libsoup/soup.h>

#include "cli/cli.h"
#include "client/client.h"
#include "client/hfx-client.h"
#include "proto/hxfr.h"

#define WEB_HEADS 16
#define WEB_QUEUE_MAX 30                  /* frames waiting per socket */
#define WEB_OUTQ_LIMIT (512 * 1024)       /* bytes in the kernel before we hold back */
#define WEB_HEADER 12                     /* docs/protocol.md, "our page's protocol" */

static const char help[] =
    "usage: hfx web [OPTIONS]\n"
    "\n"
    "Serves a page of every head of an exporter: each head live in the browser\n"
    "(WebCodecs), e.g.\n"
    "  hfx web --connect tcp:127.0.0.1:15937 --token-file control.token\n"
    "then open http://127.0.0.1:8080/\n"
    "\n"
    "  --connect ADDR    the exporter (default " HFX_DEFAULT_ADDR ")\n"
    "  --token-file F    the access token to present, first line of F; also --token,\n"
    "                    $HFX_TOKEN, $HFX_TOKEN_FILE\n"
    "  --token TOKEN     the token itself\n"
    "  --http ADDR       where to listen for browsers, HOST:PORT (default 127.0.0.1:8080)\n"
    "  --duration SEC    stop after SEC seconds\n";

struct web_head;

struct web_sock {
    SoupWebsocketConnection *conn;
    GSocket *socket;        /* its TCP connection, for SIOCOUTQ */
    struct web_head *head;
    GQueue queue;           /* GBytes, whole messages */
    bool wait_idr;          /* dropping until the next keyframe */
    uint64_t dropped;
};

/* One subscription's reader thread; shared (atomic refcount) by the head and
 * the thread, so a stopped reader is left to finish on its own and the main
 * loop never waits for it. */
struct web_reader {
    struct web_head *head;
    unsigned gen;
    atomic_bool stop, want_idr;
};

struct web_head {
    unsigned id;
    GPtrArray *socks;       /* struct web_sock *, main thread only */
    struct web_reader *reader; /* NULL: no subscription */
    GThread *thread;
    unsigned gen;           /* the current reader's; messages of older ones are dropped */
};

static struct {
    const char *addr;
    const char *token;
    struct web_head heads[WEB_HEADS];
    GMainLoop *loop;
} web;

/* A message from a reader thread to the main thread. */
struct web_msg {
    struct web_head *head;
    GBytes *bytes;          /* NULL: the subscription ended, text in err */
    bool keyframe;
    unsigned gen;
    char err[256];
};

static gboolean deliver(gpointer data);

static void post(struct web_msg *m)
{
    g_main_context_invoke(NULL, deliver, m);
}

static gpointer head_reader(gpointer data)
{
    struct web_reader *rd = data;
    struct web_head *h = rd->head;
    unsigned gen = rd->gen;
    struct hfx_client_options o = {.address = web.addr, .scanout = h->id, .extended = true,
                                   .token = web.token, .reconnect = true};
    struct hfx_client *c;
    struct web_msg *m = g_new0(struct web_msg, 1);
    m->head = h;
    m->gen = gen;
    if (hfx_client_open(&o, &c, m->err, sizeof m->err) < 0) {
        post(m);
        g_atomic_rc_box_release(rd);
        return NULL;
    }
    while (!atomic_load(&rd->stop)) {
        if (atomic_exchange(&rd->want_idr, false))
            hfx_client_request_keyframe(c);
        struct hfx_client_frame f;
        int r = hfx_client_next(c, &f, 200, m->err, sizeof m->err);
        if (r < 0)
            break;
        if (r == 0 || !f.data || f.type != HXFR_FRAME_RESPONSE)
            continue;
        uint8_t *buf = g_malloc(WEB_HEADER + f.size);
        buf[0] = 1; /* a video access unit */
        buf[1] = (f.keyframe ? 1 : 0) | (f.resumed ? 2 : 0);
        buf[2] = buf[3] = 0;
        uint64_t pts = (uint64_t)f.pts_ns;
        for (int i = 0; i < 8; i++)
            buf[4 + i] = (uint8_t)(pts >> (8 * i)); /* little-endian */
        memcpy(buf + WEB_HEADER, f.data, f.size);
        m->bytes = g_bytes_new_take(buf, WEB_HEADER + f.size);
        m->keyframe = f.keyframe;
        post(m);
        m = g_new0(struct web_msg, 1);
        m->head = h;
        m->gen = gen;
    }
    hfx_client_close(c);
    if (atomic_load(&rd->stop))
        g_free(m);
    else
        post(m); /* the stream ended with m->err */
    g_atomic_rc_box_release(rd);
    return NULL;
}

static size_t kernel_outq(struct web_sock *s)
{
    int n = 0;
    if (!s->socket || ioctl(g_socket_get_fd(s->socket), SIOCOUTQ, &n) < 0)
        return 0;
    return (size_t)n;
}

static void flush(struct web_sock *s)
{
    if (soup_websocket_connection_get_state(s->conn) != SOUP_WEBSOCKET_STATE_OPEN)
        return;
    while (!g_queue_is_empty(&s->queue) && kernel_outq(s) < WEB_OUTQ_LIMIT) {
        GBytes *b = g_queue_pop_head(&s->queue);
        soup_websocket_connection_send_message(s->conn, SOUP_WEBSOCKET_DATA_BINARY, b);
        g_bytes_unref(b);
    }
}

static void queue_frame(struct web_sock *s, GBytes *b, bool keyframe)
{
    if (s->wait_idr && !keyframe) {
        s->dropped++;
        return;
    }
    if (g_queue_get_length(&s->queue) >= WEB_QUEUE_MAX) {
        /* Overflow: drop everything queued and skip to the next IDR. */
        s->dropped += g_queue_get_length(&s->queue) + 1;
        g_queue_clear_full(&s->queue, (GDestroyNotify)g_bytes_unref);
        s->wait_idr = true;
        if (s->head->reader)
            atomic_store(&s->head->reader->want_idr, true);
        if (!keyframe)
            return;
    }
    s->wait_idr = false;
    g_queue_push_tail(&s->queue, g_bytes_ref(b));
    flush(s);
}

/* Ends the head's subscription without waiting (join: at exit, wait for
 * the thread too). */
static void head_stop(struct web_head *h, bool join)
{
    if (!h->reader)
        return;
    atomic_store(&h->reader->stop, true);
    g_atomic_rc_box_release(h->reader);
    h->reader = NULL;
    if (join)
        g_thread_join(h->thread);
    else
        g_thread_unref(h->thread);
    h->thread = NULL;
}

static gboolean deliver(gpointer data)
{
    struct web_msg *m = data;
    struct web_head *h = m->head;
    if (m->bytes && m->gen == h->gen) {
        for (guint i = 0; i < h->socks->len; i++)
            queue_frame(g_ptr_array_index(h->socks, i), m->bytes, m->keyframe);
    }
    if (m->bytes)
        g_bytes_unref(m->bytes);
    else if (h->reader && m->gen == h->gen) {
        /* The subscription failed or ended: close this head's sockets
         * with the reason (the page shows it). */
        fprintf(stderr, "hfx web: head %u: %s\n", h->id, m->err);
        head_stop(h, false);
        char reason[120];
        g_strlcpy(reason, m->err, sizeof reason);
        while (h->socks->len) {
            struct web_sock *s = g_ptr_array_index(h->socks, h->socks->len - 1);
            g_ptr_array_remove_index(h->socks, h->socks->len - 1);
            s->head = NULL;
            soup_websocket_connection_close(s->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, reason);
        }
    }
    g_free(m);
    return G_SOURCE_REMOVE;
}

static gboolean flush_all(gpointer data)
{
    for (unsigned i = 0; i < WEB_HEADS; i++)
        for (guint j = 0; j < web.heads[i].socks->len; j++)
            flush(g_ptr_array_index(web.heads[i].socks, j));
    return G_SOURCE_CONTINUE;
}

static void on_closed(SoupWebsocketConnection *conn, gpointer data)
{
    struct web_sock *s = data;
    if (s->head) {
        g_ptr_array_remove(s->head->socks, s);
        if (!s->head->socks->len)
            head_stop(s->head, false); /* no viewer left: end the subscription */
    }
    g_queue_clear_full(&s->queue, (GDestroyNotify)g_bytes_unref);
    g_object_unref(s->conn);
    if (s->socket)
        g_object_unref(s->socket);
    g_free(s);
}

static void on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
                         SoupWebsocketConnection *conn, gpointer data)
{
    unsigned id;
    char extra;
    if (sscanf(path, "/ws/head/%u%c", &id, &extra) != 1 || id >= WEB_HEADS) {
        soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no such head");
        return;
    }
    struct web_head *h = &web.heads[id];
    struct web_sock *s = g_new0(struct web_sock, 1);
    s->conn = g_object_ref(conn);
    GSocket *sock = soup_server_message_get_socket(msg);
    s->socket = sock ? g_object_ref(sock) : NULL;
    s->head = h;
    s->wait_idr = true; /* every socket starts at an IDR */
    g_queue_init(&s->queue);
    g_ptr_array_add(h->socks, s);
    g_signal_connect(conn, "closed", G_CALLBACK(on_closed), s);
    if (!h->reader) {
        /* A new subscription starts with an IDR of its own. */
        h->reader = g_atomic_rc_box_new0(struct web_reader);
        h->reader->head = h;
        h->reader->gen = ++h->gen;
        h->thread = g_thread_new("hfx-web-head", head_reader,
                                 g_atomic_rc_box_acquire(h->reader));
    } else {
        atomic_store(&h->reader->want_idr, true);
    }
}

/* GET /api/heads: the exporter's STATS JSON as it is (which heads are on and
 * their sizes), asked for on a worker thread so the main loop never waits on
 * the exporter. */
static void stats_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    char err[256];
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, web.addr, err, sizeof err) < 0) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err);
        return;
    }
    uint8_t req[16];
    size_t len = hxfr_put_stats_req(req, 0, false);
    struct hxfr_msg m;
    if (hfx_conn_extended(&conn, 0, web.token, 5000, err, sizeof err) < 0 ||
        hfx_conn_request(&conn, req, len, &m, 5000, err, sizeof err) < 0 ||
        hfx_conn_expect(&m, HXFR_STATS_RESP, "STATS_REQ", err, sizeof err) < 0) {
        hfx_conn_close(&conn);
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err);
        return;
    }
    GBytes *b = g_bytes_new(m.u.stats_resp.text, m.u.stats_resp.len);
    hfx_conn_close(&conn);
    g_task_return_pointer(task, b, (GDestroyNotify)g_bytes_unref);
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
        soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                         err->message, strlen(err->message));
        soup_server_message_set_status(msg, SOUP_STATUS_BAD_GATEWAY, NULL);
        g_error_free(err);
    }
    soup_server_message_unpause(msg);
    g_object_unref(msg);
}

/* Static files, compiled into the binary (web/web.gresource.xml). */
static void on_http(SoupServer *server, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
    const char *method = soup_server_message_get_method(msg);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    if (!strcmp(path, "/api/heads")) {
        soup_server_message_pause(msg);
        GTask *task = g_task_new(NULL, NULL, stats_done, g_object_ref(msg));
        g_task_run_in_thread(task, stats_thread);
        g_object_unref(task);
        return;
    }
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
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY,
                                     g_bytes_get_data(b, NULL), g_bytes_get_size(b));
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    g_bytes_unref(b);
}

static gboolean on_stop(gpointer data)
{
    g_main_loop_quit(web.loop);
    return G_SOURCE_REMOVE;
}

static int listen_http(SoupServer *server, const char *spec)
{
    const char *colon = strrchr(spec, ':');
    uint32_t port;
    if (!colon || colon == spec || cli_uint("--http", colon + 1, 1, 65535, &port) < 0) {
        fprintf(stderr, "hfx web: --http needs HOST:PORT, e.g. 127.0.0.1:8080, not '%s'\n", spec);
        return -1;
    }
    char *host = g_strndup(spec, (gsize)(colon - spec));
    GInetAddress *ia = g_inet_address_new_from_string(host);
    if (!ia && !strcmp(host, "localhost"))
        ia = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    if (!ia) {
        fprintf(stderr, "hfx web: --http needs a numeric address (or localhost), not '%s'\n", host);
        g_free(host);
        return -1;
    }
    GSocketAddress *sa = g_inet_socket_address_new(ia, (guint16)port);
    GError *err = NULL;
    int rc = 0;
    if (!soup_server_listen(server, sa, 0, &err)) {
        fprintf(stderr, "hfx web: cannot listen on %s: %s\n", spec, err->message);
        g_error_free(err);
        rc = -1;
    }
    g_object_unref(sa);
    g_object_unref(ia);
    g_free(host);
    return rc;
}

int cmd_web(int argc, char **argv)
{
    enum { O_CONNECT = 256, O_TOKEN, O_TOKEN_FILE, O_HTTP, O_DURATION };
    static const struct option opts[] = {
        {"connect", 1, 0, O_CONNECT}, {"token", 1, 0, O_TOKEN}, {"token-file", 1, 0, O_TOKEN_FILE},
        {"http", 1, 0, O_HTTP}, {"duration", 1, 0, O_DURATION}, {"help", 0, 0, 'h'}, {0}};
    const char *token_arg = NULL, *token_file = NULL, *http = "127.0.0.1:8080";
    uint32_t duration = 0;
    web.addr = HFX_DEFAULT_ADDR;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_CONNECT: web.addr = optarg; break;
        case O_TOKEN: token_arg = optarg; break;
        case O_TOKEN_FILE: token_file = optarg; break;
        case O_HTTP: http = optarg; break;
        case O_DURATION:
            if (cli_uint("--duration", optarg, 1, 86400 * 365, &duration) < 0)
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hfx web: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    static char token_buf[HXFR_MAX_TOKEN + 1];
    bool bad = false;
    web.token = cli_token(token_arg, token_file, token_buf, &bad);
    if (bad)
        return 2;

    signal(SIGPIPE, SIG_IGN);
    for (unsigned i = 0; i < WEB_HEADS; i++) {
        web.heads[i].id = i;
        web.heads[i].socks = g_ptr_array_new();
    }
    SoupServer *server = soup_server_new("server-header", "hfx-web", NULL);
    soup_server_add_handler(server, NULL, on_http, NULL, NULL);
    soup_server_add_websocket_handler(server, "/ws/head", NULL, NULL, on_websocket, NULL, NULL);
    if (listen_http(server, http) < 0) {
        g_object_unref(server);
        return 1;
    }
    fprintf(stderr, "hfx web: serving http://%s/ for the exporter at %s\n", http, web.addr);

    web.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, on_stop, NULL);
    g_unix_signal_add(SIGTERM, on_stop, NULL);
    g_timeout_add(10, flush_all, NULL);
    if (duration)
        g_timeout_add_seconds(duration, on_stop, NULL);
    g_main_loop_run(web.loop);

    for (unsigned i = 0; i < WEB_HEADS; i++)
        head_stop(&web.heads[i], true);
    soup_server_disconnect(server);
    g_object_unref(server);
    g_main_loop_unref(web.loop);
    return 0;
}
