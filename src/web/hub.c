/* One exporter subscription per head, shared by every viewer of that head:
 * one encode, any number of browsers.
 *
 * libhfx-client is blocking, so each head with a viewer has a reader
 * thread; it hands each access unit and cursor update to the gateway's
 * thread (web_invoke), which passes them to the head's viewers. The reader
 * is shared (atomic refcount) by the head and the thread, so a stopped
 * reader is left to finish on its own: the gateway's loop never waits for
 * it, and what it still sends is dropped by generation. Only web_hub_free
 * waits, for every reader, stopped ones included. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>

#include "client/hfx-client.h"
#include "common/clock.h"
#include "proto/hxfr.h"
#include "web/internal.h"

struct web_hub;
struct hub_head;

struct web_viewer {
    struct hub_head *head;
    const struct web_viewer_ops *ops;
    void *data;
};

struct hub_reader {
    struct web_hub *hub;
    unsigned head, gen;
    atomic_bool stop, want_idr;
};

struct hub_head {
    unsigned id;
    struct web_hub *hub;
    GPtrArray *viewers;          /* struct web_viewer * */
    struct hub_reader *reader;   /* NULL: no subscription */
    unsigned gen;                /* the current reader's */
    struct web_cursor cursor;    /* the latest, with the latest shape (argb NULL: none yet),
                                  * for viewers that join a running subscription */
};

struct web_hub {
    struct hfx_web *w;
    struct hub_head heads[WEB_HEADS];
    /* Reader threads still running, stopped ones included: web_hub_free
     * waits for none, as they use the gateway's strings and context. */
    GMutex lock;
    GCond gone;
    int readers;
};

/* A reader's message to the gateway's thread. */
struct hub_msg {
    struct web_hub *hub;
    unsigned head, gen;
    enum { MSG_FRAME, MSG_CURSOR, MSG_ENDED } kind;
    struct web_frame frame;
    struct web_cursor cursor;
    char err[256];
};

static gboolean deliver(gpointer data);

static struct hub_msg *msg_new(struct hub_reader *rd)
{
    struct hub_msg *m = g_new0(struct hub_msg, 1);
    m->hub = rd->hub;
    m->head = rd->head;
    m->gen = rd->gen;
    return m;
}

/* The picture's size from a keyframe's SPS, by libavcodec's parser (cheap:
 * it reads headers, decodes nothing). */
static void sps_size(AVCodecParserContext *p, AVCodecContext *avc, const struct hfx_client_frame *f,
                     struct web_frame *out)
{
    uint8_t *o;
    int olen;
    av_parser_parse2(p, avc, &o, &olen, f->data, (int)f->size, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    if (p->width > 0 && p->height > 0) {
        out->width = (uint32_t)p->width;
        out->height = (uint32_t)p->height;
    }
}

static gpointer reader_main(gpointer data)
{
    struct hub_reader *rd = data;
    struct hfx_web *w = rd->hub->w;
    struct hfx_client_options o = {.address = w->cfg.exporter, .scanout = rd->head,
                                   .extended = true, .caps = HXFR_CAP_CURSOR,
                                   .token = w->cfg.token, .reconnect = true};
    struct hfx_client *c = NULL;
    struct hub_msg *m = msg_new(rd);
    AVCodecParserContext *parser = av_parser_init(AV_CODEC_ID_H264);
    AVCodecContext *avc = avcodec_alloc_context3(NULL);
    if (!parser || !avc) {
        snprintf(m->err, sizeof m->err, "out of memory");
        goto end;
    }
    parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;
    if (hfx_client_open(&o, &c, m->err, sizeof m->err) < 0)
        goto end;
    while (!atomic_load(&rd->stop)) {
        if (atomic_exchange(&rd->want_idr, false))
            hfx_client_request_keyframe(c);
        struct hfx_client_frame f;
        int r = hfx_client_next(c, &f, 200, m->err, sizeof m->err);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        if (f.type == HXFR_FRAME_RESPONSE && f.data) {
            m->kind = MSG_FRAME;
            m->frame = (struct web_frame){.au = g_bytes_new(f.data, f.size), .pts_ns = f.pts_ns,
                                          .arrived_ns = hfx_now_ns(), .keyframe = f.keyframe,
                                          .resumed = f.resumed};
            if (f.keyframe)
                sps_size(parser, avc, &f, &m->frame);
        } else if (f.type == HXFR_CURSOR) {
            /* The whole message: f.data is NULL for all but frames. */
            size_t len;
            const uint8_t *raw = hfx_client_message(c, &len);
            struct hxfr_msg cm;
            if (!raw || hxfr_decode(raw, len, HXFR_FROM_SERVER, &cm, NULL) != HXFR_PARSE_OK)
                continue;
            m->kind = MSG_CURSOR;
            m->cursor = (struct web_cursor){
                .x = cm.u.cursor.x, .y = cm.u.cursor.y, .visible = cm.u.cursor.visible,
                .hot_x = cm.u.cursor.hot_x, .hot_y = cm.u.cursor.hot_y,
                .width = cm.u.cursor.width, .height = cm.u.cursor.height};
            if (cm.u.cursor.argb)
                m->cursor.argb = g_bytes_new(cm.u.cursor.argb,
                                             (size_t)cm.u.cursor.width * cm.u.cursor.height * 4);
        } else {
            continue;
        }
        web_invoke(w, deliver, m);
        m = msg_new(rd);
    }
end:
    if (c)
        hfx_client_close(c);
    av_parser_close(parser);
    avcodec_free_context(&avc);
    if (atomic_load(&rd->stop)) {
        g_free(m);
    } else {
        m->kind = MSG_ENDED; /* the stream ended with m->err */
        web_invoke(w, deliver, m);
    }
    struct web_hub *hub = rd->hub;
    g_atomic_rc_box_release(rd);
    g_mutex_lock(&hub->lock); /* the last this thread does with the hub */
    hub->readers--;
    g_cond_signal(&hub->gone);
    g_mutex_unlock(&hub->lock);
    return NULL;
}

static void forget_cursor(struct hub_head *h)
{
    if (h->cursor.argb)
        g_bytes_unref(h->cursor.argb);
    h->cursor = (struct web_cursor){0};
}

static void remember_cursor(struct hub_head *h, const struct web_cursor *c)
{
    if (c->argb) {
        forget_cursor(h);
        h->cursor = *c;
        g_bytes_ref(c->argb);
    } else {
        h->cursor.x = c->x;
        h->cursor.y = c->y;
        h->cursor.visible = c->visible;
    }
}

/* Ends the head's subscription without waiting (web_hub_free waits for
 * every reader). */
static void head_stop(struct hub_head *h)
{
    forget_cursor(h);
    if (!h->reader)
        return;
    atomic_store(&h->reader->stop, true);
    g_atomic_rc_box_release(h->reader);
    h->reader = NULL;
}

static void msg_free(struct hub_msg *m)
{
    if (m->frame.au)
        g_bytes_unref(m->frame.au);
    if (m->cursor.argb)
        g_bytes_unref(m->cursor.argb);
    g_free(m);
}

static gboolean deliver(gpointer data)
{
    struct hub_msg *m = data;
    struct hub_head *h = &m->hub->heads[m->head];
    if (m->gen != h->gen || !h->reader) {
        msg_free(m);
        return G_SOURCE_REMOVE;
    }
    switch (m->kind) {
    case MSG_FRAME:
        for (guint i = 0; i < h->viewers->len; i++) {
            struct web_viewer *v = g_ptr_array_index(h->viewers, i);
            v->ops->frame(v->data, &m->frame);
        }
        break;
    case MSG_CURSOR:
        remember_cursor(h, &m->cursor);
        for (guint i = 0; i < h->viewers->len; i++) {
            struct web_viewer *v = g_ptr_array_index(h->viewers, i);
            if (v->ops->cursor)
                v->ops->cursor(v->data, &m->cursor);
        }
        break;
    case MSG_ENDED:
        /* The subscription failed or ended: every viewer hears why. */
        fprintf(stderr, "hfx web: head %u: %s\n", h->id, m->err);
        head_stop(h);
        while (h->viewers->len) {
            struct web_viewer *v = g_ptr_array_steal_index(h->viewers, h->viewers->len - 1);
            v->ops->ended(v->data, m->err);
            g_free(v);
        }
        break;
    }
    msg_free(m);
    return G_SOURCE_REMOVE;
}

struct web_hub *web_hub_new(struct hfx_web *w)
{
    struct web_hub *hub = g_new0(struct web_hub, 1);
    hub->w = w;
    g_mutex_init(&hub->lock);
    g_cond_init(&hub->gone);
    for (unsigned i = 0; i < WEB_HEADS; i++) {
        hub->heads[i].id = i;
        hub->heads[i].hub = hub;
        hub->heads[i].viewers = g_ptr_array_new();
    }
    return hub;
}

void web_hub_free(struct web_hub *hub)
{
    for (unsigned i = 0; i < WEB_HEADS; i++)
        head_stop(&hub->heads[i]);
    /* Readers stopped earlier (their last viewer left) may still run. */
    g_mutex_lock(&hub->lock);
    while (hub->readers)
        g_cond_wait(&hub->gone, &hub->lock);
    g_mutex_unlock(&hub->lock);
    /* What they handed the gateway's thread last: dropped by generation. */
    while (g_main_context_iteration(hub->w->ctx, FALSE))
        ;
    for (unsigned i = 0; i < WEB_HEADS; i++)
        g_ptr_array_free(hub->heads[i].viewers, TRUE); /* viewers are gone by now */
    g_mutex_clear(&hub->lock);
    g_cond_clear(&hub->gone);
    g_free(hub);
}

struct web_viewer *web_hub_join(struct web_hub *hub, unsigned head,
                                const struct web_viewer_ops *ops, void *data)
{
    struct hub_head *h = &hub->heads[head];
    struct web_viewer *v = g_new0(struct web_viewer, 1);
    *v = (struct web_viewer){.head = h, .ops = ops, .data = data};
    g_ptr_array_add(h->viewers, v);
    if (!h->reader) {
        /* A new subscription starts with an IDR of its own. */
        h->reader = g_atomic_rc_box_new0(struct hub_reader);
        h->reader->hub = hub;
        h->reader->head = head;
        h->reader->gen = ++h->gen;
        g_mutex_lock(&hub->lock);
        hub->readers++;
        g_mutex_unlock(&hub->lock);
        g_thread_unref(g_thread_new("hfx-web-head", reader_main,
                                    g_atomic_rc_box_acquire(h->reader)));
    } else {
        atomic_store(&h->reader->want_idr, true);
        if (h->cursor.argb && ops->cursor)
            ops->cursor(data, &h->cursor); /* the shape was sent before this viewer came */
    }
    return v;
}

void web_hub_leave(struct web_viewer *v)
{
    struct hub_head *h = v->head;
    g_ptr_array_remove(h->viewers, v);
    if (!h->viewers->len)
        head_stop(h); /* no viewer left: end the subscription */
    g_free(v);
}

void web_hub_keyframe(struct web_hub *hub, unsigned head)
{
    struct hub_head *h = &hub->heads[head];
    if (h->reader)
        atomic_store(&h->reader->want_idr, true);
}
