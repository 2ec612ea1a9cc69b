/* A browser's standing with the exporter: each page or socket brings a
 * token (?token=); the gateway presents it to the exporter on a connection
 * of its own (HELLO, AUTH), so the exporter, which holds the secret, says
 * what it grants, and every input event the browser sends goes out on that
 * connection under that token: the exporter checks each one again. A head
 * token's page sees and drives only its head.
 *
 * The exporter's client calls block, so one thread does them for every
 * session, in order, from a queue; the gateway's thread never waits. A
 * session's input beyond WEB_INPUT_MAX waiting events is dropped (a VM or
 * exporter that does not keep up must not make us hold input without
 * bound). */
#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "common/log.h"
#include "proto/hxfr.h"
#include "web/internal.h"

#define WEB_INPUT_MAX 256
#define WEB_SESSION_TIMEOUT_MS 5000

struct web_session {
    struct web_sessions *owner;
    char *token;
    web_session_ready_fn ready;
    void *data;
    atomic_bool closed;
    atomic_int waiting;     /* input events queued */
    /* the sessions' thread's */
    struct hfx_conn conn;
    bool connected;
    /* the ready report */
    int status;
    struct web_grant grant;
    char err[256];
};

struct web_job {
    enum { JOB_OPEN, JOB_INPUT, JOB_CLOSE, JOB_QUIT } kind;
    struct web_session *s;
    struct hfx_input ev;
};

struct web_sessions {
    struct hfx_web *w;
    GAsyncQueue *jobs;
    GThread *thread;
};

static void push(struct web_sessions *ss, int kind, struct web_session *s,
                 const struct hfx_input *ev)
{
    struct web_job *j = g_new0(struct web_job, 1);
    j->kind = kind;
    j->s = s ? g_atomic_rc_box_acquire(s) : NULL;
    if (ev)
        j->ev = *ev;
    g_async_queue_push(ss->jobs, j);
}

static void session_free(gpointer p)
{
    struct web_session *s = p;
    if (s->connected)
        hfx_conn_close(&s->conn);
    g_free(s->token);
}

static gboolean report(gpointer data)
{
    struct web_session *s = data;
    if (!atomic_load(&s->closed))
        s->ready(s->data, s->status, &s->grant, s->err);
    g_atomic_rc_box_release_full(s, session_free);
    return G_SOURCE_REMOVE;
}

/* Reads what the exporter sent without waiting: ERRORs for refused input
 * (a revoked token, a VM without input) are logged, not left to pile up. */
static void drain(struct web_session *s)
{
    struct hxfr_msg m;
    char err[256];
    int r;
    while ((r = hfx_conn_read(&s->conn, &m, 0, err, sizeof err)) > 0)
        if (m.h.type == HXFR_ERROR)
            hfx_log(HFX_LOG_INFO, "web: input refused: %s", m.u.error.text);
    if (r < 0) {
        hfx_log(HFX_LOG_INFO, "web: input connection lost: %s", err);
        hfx_conn_close(&s->conn);
        s->connected = false;
    }
}

static void do_open(struct web_sessions *ss, struct web_session *s)
{
    uint32_t scope = 0;
    s->status = -1;
    if (hfx_conn_open(&s->conn, ss->w->cfg.exporter, s->err, sizeof s->err) < 0)
        return;
    s->connected = true;
    if (hfx_conn_hello(&s->conn, 0, WEB_SESSION_TIMEOUT_MS, s->err, sizeof s->err) < 0 ||
        hfx_conn_auth(&s->conn, s->token, WEB_SESSION_TIMEOUT_MS, &scope, s->err,
                      sizeof s->err) < 0) {
        hfx_conn_close(&s->conn);
        s->connected = false;
        return;
    }
    s->grant = (struct web_grant){.control = scope == HXFR_SCOPE_CONTROL,
                                  .head = scope == HXFR_SCOPE_CONTROL ? 0 : scope};
    s->status = 0;
}

static void do_input(struct web_session *s, const struct hfx_input *ev)
{
    atomic_fetch_sub(&s->waiting, 1);
    if (!s->connected || atomic_load(&s->closed))
        return;
    uint8_t buf[HXFR_INPUT_SIZE];
    char err[256];
    if (hfx_conn_send(&s->conn, buf, hxfr_put_input(buf, ev), err, sizeof err) < 0) {
        hfx_log(HFX_LOG_INFO, "web: input not sent: %s", err);
        hfx_conn_close(&s->conn);
        s->connected = false;
        return;
    }
    drain(s);
}

static gpointer sessions_main(gpointer data)
{
    struct web_sessions *ss = data;
    for (;;) {
        struct web_job *j = g_async_queue_pop(ss->jobs);
        int kind = j->kind;
        struct web_session *s = j->s;
        if (kind == JOB_OPEN && !atomic_load(&s->closed)) {
            do_open(ss, s);
            web_invoke(ss->w, report, g_atomic_rc_box_acquire(s));
        } else if (kind == JOB_INPUT) {
            do_input(s, &j->ev);
        } else if (kind == JOB_CLOSE && s->connected) {
            hfx_conn_close(&s->conn);
            s->connected = false;
        }
        if (s)
            g_atomic_rc_box_release_full(s, session_free);
        g_free(j);
        if (kind == JOB_QUIT)
            return NULL;
    }
}

struct web_sessions *web_sessions_new(struct hfx_web *w)
{
    struct web_sessions *ss = g_new0(struct web_sessions, 1);
    ss->w = w;
    ss->jobs = g_async_queue_new();
    ss->thread = g_thread_new("hfx-web-sessions", sessions_main, ss);
    return ss;
}

void web_sessions_free(struct web_sessions *ss)
{
    push(ss, JOB_QUIT, NULL, NULL);
    g_thread_join(ss->thread);
    g_async_queue_unref(ss->jobs);
    g_free(ss);
}

struct web_session *web_session_open(struct web_sessions *ss, const char *token,
                                     web_session_ready_fn ready, void *data)
{
    struct web_session *s = g_atomic_rc_box_new0(struct web_session);
    s->owner = ss;
    s->ready = ready;
    s->data = data;
    if (!token || !*token) {
        if (!ss->w->cfg.open) {
            s->status = -1;
            snprintf(s->err, sizeof s->err,
                     "this server needs a token: open the page as /?token=TOKEN (the exporter's "
                     "control token, or a head's token from hfx token / the lease manager)");
            web_invoke(ss->w, report, g_atomic_rc_box_acquire(s));
            return s;
        }
        token = ss->w->cfg.token;
    }
    s->token = g_strdup(token);
    push(ss, JOB_OPEN, s, NULL);
    return s;
}

void web_session_input(struct web_session *s, const struct hfx_input *ev)
{
    if (atomic_fetch_add(&s->waiting, 1) >= WEB_INPUT_MAX) {
        atomic_fetch_sub(&s->waiting, 1);
        hfx_log(HFX_LOG_INFO, "web: %d input events wait for the exporter; event dropped",
                WEB_INPUT_MAX);
        return;
    }
    push(s->owner, JOB_INPUT, s, ev);
}

void web_session_close(struct web_session *s)
{
    atomic_store(&s->closed, true);
    push(s->owner, JOB_CLOSE, s, NULL);
    g_atomic_rc_box_release_full(s, session_free);
}

char *web_query(SoupServerMessage *msg, const char *name)
{
    const char *q = g_uri_get_query(soup_server_message_get_uri(msg));
    if (!q)
        return NULL;
    GHashTable *t = g_uri_parse_params(q, -1, "&", G_URI_PARAMS_NONE, NULL);
    if (!t)
        return NULL;
    char *v = g_strdup(g_hash_table_lookup(t, name));
    g_hash_table_unref(t);
    return v;
}
