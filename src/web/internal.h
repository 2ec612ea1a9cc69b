/* What the gateway's files share (see web.h for the map). Everything here
 * runs on the gateway's thread (w->ctx) unless it says otherwise. */
#ifndef HFX_WEB_INTERNAL_H
#define HFX_WEB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libsoup/soup.h>

#include "common/input.h"
#include "web/web.h"

#define WEB_HEADS 16

struct web_hub;
struct web_sessions;

struct hfx_web {
    struct hfx_web_config cfg;
    char *exporter, *token, *http; /* cfg's strings, ours */
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    SoupServer *server;
    struct web_hub *hub;
    struct web_sessions *sessions;
    GPtrArray *outs;        /* struct web_out *: every open socket's queue */
};

/* Runs fn(data) on the gateway's thread, later (from any thread, that one
 * included). */
void web_invoke(struct hfx_web *w, GSourceFunc fn, gpointer data);

/* ---- hub.c: one subscription per head, shared by its viewers ---- */

/* What a viewer receives. `au` is one access unit (Annex B); keyframe: an
 * IDR preceded by SPS and PPS; resumed: the first of a (re)subscription. */
struct web_frame {
    GBytes *au;
    int64_t pts_ns;         /* the exporter's CLOCK_MONOTONIC at production */
    int64_t arrived_ns;     /* ours (CLOCK_MONOTONIC) when it arrived */
    uint32_t width, height; /* from the SPS; 0 when not a keyframe */
    bool keyframe, resumed;
};
struct web_cursor {
    int32_t x, y;
    bool visible;
    uint16_t hot_x, hot_y, width, height; /* width/height 0: a move only */
    GBytes *argb;                         /* width * height * 4, or NULL */
};
struct web_viewer_ops {
    void (*frame)(void *data, const struct web_frame *f);
    void (*cursor)(void *data, const struct web_cursor *c);
    /* The subscription ended (exporter gone, token refused): the viewer is
     * already detached and must not call web_hub_leave. */
    void (*ended)(void *data, const char *reason);
};
struct web_viewer;

struct web_hub *web_hub_new(struct hfx_web *w);
void web_hub_free(struct web_hub *h); /* waits for the reader threads */
/* Starts the head's subscription if it has none; asks for an IDR if it has. */
struct web_viewer *web_hub_join(struct web_hub *h, unsigned head, const struct web_viewer_ops *ops,
                                void *data);
void web_hub_leave(struct web_viewer *v);
void web_hub_keyframe(struct web_hub *h, unsigned head);

/* ---- out.c: one socket's bounded queue ---- */

struct web_out {
    struct hfx_web *w;
    SoupWebsocketConnection *conn;
    GSocket *socket;        /* its TCP connection, for SIOCOUTQ; may be NULL */
    GQueue queue;           /* GBytes, whole messages */
    bool wait_idr;          /* dropping video until the next keyframe */
    uint64_t sent, dropped;
};
/* Registers the socket's queue with the gateway, which offers it to the
 * kernel again every few milliseconds; fini unregisters it. */
void web_out_init(struct web_out *o, struct hfx_web *w, SoupServerMessage *msg,
                  SoupWebsocketConnection *conn);
void web_out_fini(struct web_out *o);
/* web_out_flush for every registered queue (the gateway's timer). */
void web_out_flush_all(struct hfx_web *w);
/* Queues a video message. false when the queue overflowed: it was emptied
 * and the caller should ask for a keyframe (this message was dropped unless
 * it is one). */
bool web_out_video(struct web_out *o, GBytes *msg, bool keyframe);
/* Queues a message that is never dropped for an IDR (cursor, control). */
void web_out_other(struct web_out *o, GBytes *msg);
/* Hands queued messages to libsoup while the kernel has room. */
void web_out_flush(struct web_out *o);

/* ---- session.c: a browser's token and input ---- */

/* What a token grants, from the exporter's AUTH_RESP. */
struct web_grant {
    bool control;           /* every head */
    uint32_t head;          /* else this one */
};
static inline bool web_grant_has(const struct web_grant *g, unsigned head)
{
    return g->control || g->head == head;
}
struct web_session;
/* status 0: granted. Called once on the gateway's thread. */
typedef void (*web_session_ready_fn)(void *data, int status, const struct web_grant *g,
                                     const char *err);

struct web_sessions *web_sessions_new(struct hfx_web *w);
void web_sessions_free(struct web_sessions *s);
/* Opens a session with the exporter for a browser's token (NULL or "": the
 * gateway's own, when cfg.open; refused otherwise) and reports what it
 * grants. Never blocks: the exporter is asked on the sessions' thread. */
struct web_session *web_session_open(struct web_sessions *s, const char *token,
                                     web_session_ready_fn ready, void *data);
/* Sends one input event as this session's token (the exporter checks it
 * again). Never blocks; events beyond a bound are dropped with a log line. */
void web_session_input(struct web_session *s, const struct hfx_input *ev);
/* No more callbacks; the connection closes. */
void web_session_close(struct web_session *s);
/* A query parameter of a request (?token=, ?head=), newly allocated, or
 * NULL. */
char *web_query(SoupServerMessage *msg, const char *name);

/* ---- the socket endpoints (one file each) ---- */
void web_page_ws(struct hfx_web *w, SoupServerMessage *msg, const char *path,
                 SoupWebsocketConnection *conn);
void web_helix_ws(struct hfx_web *w, SoupServerMessage *msg, const char *path,
                  SoupWebsocketConnection *conn);

#endif
