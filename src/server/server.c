/* The HXFR event loop. Everything here runs on one thread except the sink
 * callbacks and head-request completions, which only push onto the
 * lock-free inbox and poke an eventfd. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "proto/hxfr.h"
#include "server/access.h"

#define HFX_SERVER_VERSION 1
#define MAX_IOV 64
#define TICK_MS 250
#define LINGER_NS 2000000000LL
#define REPLY_BYTES (1u << 20)

/* One whole message waiting in a client's queue: either a shared frame
 * packet (its header sits in the packet's headroom) or bytes of its own. */
struct txmsg {
    struct txmsg *next;
    struct hfx_packet *pkt;
    bool reply;             /* counted in reply_bytes */
    const uint8_t *data;
    size_t len;
    uint8_t own[];
};

struct client {
    struct client *next, *prev;             /* all clients */
    struct client *sub_next, *sub_prev;     /* subscribers of one scanout */
    struct hfx_server *srv;
    int fd;
    uint64_t serial;
    bool extended;
    bool v1_ok;             /* its listener serves clients without a token */
    bool control;           /* presented the control token */
    uint8_t bad_auths;
    uint32_t heads;         /* bit N: presented a token for scanout N ... */
    uint64_t head_epoch[HFX_MAX_SCANOUTS];  /* ... at this epoch */
    uint32_t caps;          /* HELLO capability bits */
    bool subscribed;
    bool closing;           /* flush what is queued, then close */
    bool lingering;         /* flushed and half-closed: waiting for the peer's close */
    int64_t linger_until;
    bool want_key;          /* drop frames until the next keyframe */
    uint32_t events;        /* the epoll mask in force */
    uint32_t scanout;
    uint8_t rx[HXFR_MAX_CLIENT_MSG];
    size_t rx_len;
    struct txmsg *head, *tail;
    size_t head_off;        /* bytes of head already sent */
    size_t queued;          /* bytes queued, head included */
    size_t reply_bytes;     /* memory held by queued control replies */
    int64_t last_progress_ns;
    int64_t last_key_req_ns;
};

enum inbox_kind { IN_PACKET, IN_ENDED, IN_HEAD_DONE, IN_CURSOR };

struct inbox_item {
    struct inbox_item *next;
    enum inbox_kind kind;
    uint32_t scanout;
    struct hfx_packet *pkt;
    uint64_t serial;        /* IN_HEAD_DONE: the requesting client */
    int status;
    char text[HXFR_CONNECTOR_SIZE];
    struct hfx_cursor cursor;   /* IN_CURSOR; argb points into shape[] */
    uint8_t shape[];
};

/* The last pointer state of a scanout, for subscribers that join later. */
struct cursor_state {
    bool known;
    struct hfx_cursor c;        /* c.argb points at shape */
    uint8_t *shape;
};

struct head_req {
    struct hfx_server *srv;
    uint64_t serial;
    uint32_t scanout;
};

struct hfx_server {
    struct hfx_server_config cfg;
    struct hfx_engine *engine;
    int epfd;
    int wake_fd;
    int listen_fd[HFX_MAX_LISTENERS];
    bool listen_v1[HFX_MAX_LISTENERS];
    char first_listen[512];         /* the first listener's address, without options */
    int nlisten;
    struct hfx_access *access;
    atomic_bool stop;
    _Atomic(struct inbox_item *) inbox;
    struct client *clients;
    struct client *subs[HFX_MAX_SCANOUTS];
    struct cursor_state cursors[HFX_MAX_SCANOUTS];
    uint64_t next_serial;
    int nclients;
    struct hfx_server_stats stats;
};

/* epoll data: listeners and the wake fd are tagged by small numbers, clients
 * by their pointer (always aligned, never that small). */
#define TAG_WAKE ((uint64_t)1)
#define TAG_LISTEN(i) ((uint64_t)(16 + (i)))
#define IS_LISTEN_TAG(t) ((t) >= 16 && (t) < 16 + HFX_MAX_LISTENERS)

/* ---- inbox (any thread) ---- */

static void inbox_push(struct hfx_server *s, struct inbox_item *it)
{
    struct inbox_item *old = atomic_load(&s->inbox);
    do
        it->next = old;
    while (!atomic_compare_exchange_weak(&s->inbox, &old, it));
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        hfx_log(HFX_LOG_WARN, "server wake-up failed: %s", strerror(errno));
}

static void sink_packet(void *data, struct hfx_packet *pkt)
{
    struct inbox_item *it = calloc(1, sizeof *it);
    if (!it) {
        hfx_packet_unref(pkt);
        return;
    }
    it->kind = IN_PACKET;
    it->scanout = pkt->scanout;
    it->pkt = pkt;
    inbox_push(data, it);
}

static void sink_ended(void *data, uint32_t scanout)
{
    struct inbox_item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->kind = IN_ENDED;
    it->scanout = scanout;
    inbox_push(data, it);
}

static void sink_cursor(void *data, uint32_t scanout, const struct hfx_cursor *c)
{
    size_t shape = c->width && c->height ? (size_t)c->width * c->height * 4 : 0;
    struct inbox_item *it = calloc(1, sizeof *it + shape);
    if (!it)
        return;
    it->kind = IN_CURSOR;
    it->scanout = scanout;
    it->cursor = *c;
    if (shape) {
        memcpy(it->shape, c->argb, shape);
        it->cursor.argb = it->shape;
    }
    inbox_push(data, it);
}

const struct hfx_engine_sink hfx_server_sink = {
    .packet = sink_packet,
    .scanout_ended = sink_ended,
    .cursor = sink_cursor,
};

static void head_done(void *data, int status, const char *text)
{
    struct head_req *req = data;
    struct inbox_item *it = calloc(1, sizeof *it);
    if (it) {
        it->kind = IN_HEAD_DONE;
        it->scanout = req->scanout;
        it->serial = req->serial;
        it->status = status;
        snprintf(it->text, sizeof it->text, "%s", text ? text : "");
        inbox_push(req->srv, it);
    }
    free(req);
}

/* ---- client queues ---- */

/* Always reads (a closing client's input is discarded, so its close does not
 * reset what it has yet to read); writes while anything is queued or a close
 * is pending. */
static void update_events(struct client *c)
{
    uint32_t want = EPOLLIN | (c->head || (c->closing && !c->lingering) ? EPOLLOUT : 0u);
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = want;
}

/* Ends the connection once what is queued has gone out. */
static void close_later(struct client *c)
{
    c->closing = true;
    update_events(c);
}

static void free_msg(struct txmsg *m)
{
    hfx_packet_unref(m->pkt);
    free(m);
}

static void enqueue(struct client *c, struct txmsg *m)
{
    m->next = NULL;
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    if (!c->queued)
        c->last_progress_ns = hfx_now_ns();
    c->queued += m->len;
}

/* Drops every frame not yet started. The message being sent stays: a message
 * goes out whole or not at all. */
static void drop_unsent_frames(struct client *c)
{
    struct txmsg **pp = &c->head;
    c->tail = NULL;
    while (*pp) {
        struct txmsg *m = *pp;
        bool started = m == c->head && c->head_off;
        if (m->pkt && !started) {
            *pp = m->next;
            c->queued -= m->len;
            c->srv->stats.frames_dropped++;
            free_msg(m);
        } else {
            c->tail = m;
            pp = &m->next;
        }
    }
}

static void ask_keyframe(struct client *c)
{
    int64_t now = hfx_now_ns();
    if (now - c->last_key_req_ns < (int64_t)c->srv->cfg.keyframe_gap_ms * 1000000)
        return;
    c->last_key_req_ns = now;
    hfx_engine_request_keyframe(c->srv->engine, c->scanout);
}

static void queue_frame(struct client *c, struct hfx_packet *pkt)
{
    if (c->closing)
        return;
    if (c->want_key && !pkt->keyframe) {
        /* Keep asking (rate-limited) until an IDR fits: a request that was
         * suppressed or whose IDR did not fit must not leave it waiting. */
        ask_keyframe(c);
        return;
    }
    size_t len = HXFR_FRAME_FIXED_SIZE + pkt->au_size;
    /* An empty queue takes any one frame, so an IDR larger than the bound
     * still reaches a client that keeps up. */
    if (c->queued && c->queued + len > c->srv->cfg.queue_bytes) {
        /* The client cannot keep up: skip to the next IDR rather than
         * letting the queue grow or anyone wait. */
        drop_unsent_frames(c);
        c->want_key = true;
        c->srv->stats.skips_to_idr++;
        ask_keyframe(c);
        if (!pkt->keyframe || (c->queued && c->queued + len > c->srv->cfg.queue_bytes))
            return;
    }
    struct txmsg *m = malloc(sizeof *m);
    if (!m)
        return;
    m->reply = false;
    m->pkt = hfx_packet_ref(pkt);
    m->data = pkt->au - HXFR_FRAME_FIXED_SIZE;
    m->len = len;
    c->want_key = false;
    enqueue(c, m);
    update_events(c);
}

/* Control replies are small; a client that sends requests without reading
 * the replies is closed once they reach REPLY_BYTES (counting the queue's own
 * overhead), so requests cannot make the server allocate without bound. */
static void queue_bytes(struct client *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    c->reply_bytes += sizeof(struct txmsg) + len;
    if (c->reply_bytes > REPLY_BYTES || c->queued + len > c->srv->cfg.queue_bytes) {
        hfx_log(HFX_LOG_WARN, "client %" PRIu64 ": does not read its replies; closing", c->serial);
        close_later(c);
        return;
    }
    struct txmsg *m = malloc(sizeof *m + len);
    if (!m)
        return;
    m->pkt = NULL;
    m->reply = true;
    memcpy(m->own, data, len);
    m->data = m->own;
    m->len = len;
    enqueue(c, m);
    update_events(c);
}

static bool wants_cursor(const struct client *c)
{
    return c->extended && (c->caps & HXFR_CAP_CURSOR);
}

static void queue_cursor(struct client *cl, uint32_t scanout, const struct hfx_cursor *c)
{
    size_t shape = c->width && c->height ? (size_t)c->width * c->height * 4 : 0;
    uint8_t *msg = malloc(HXFR_CURSOR_FIXED_SIZE + shape);
    if (!msg)
        return;
    hxfr_put_cursor_head(msg, scanout, c->x, c->y, c->visible, c->hot_x, c->hot_y,
                         shape ? c->width : 0, shape ? c->height : 0);
    if (shape)
        memcpy(msg + HXFR_CURSOR_FIXED_SIZE, c->argb, shape);
    queue_bytes(cl, msg, HXFR_CURSOR_FIXED_SIZE + shape);
    free(msg);
}

/* ---- client life cycle ---- */

static void unsubscribe(struct client *c)
{
    if (!c->subscribed)
        return;
    struct hfx_server *s = c->srv;
    if (c->sub_prev)
        c->sub_prev->sub_next = c->sub_next;
    else
        s->subs[c->scanout] = c->sub_next;
    if (c->sub_next)
        c->sub_next->sub_prev = c->sub_prev;
    c->subscribed = false;
    s->stats.subscribers--;
    if (s->engine)
        hfx_engine_subscribe(s->engine, c->scanout, -1);
}

static void destroy_client(struct client *c)
{
    struct hfx_server *s = c->srv;
    unsubscribe(c);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    while (c->head) {
        struct txmsg *m = c->head;
        c->head = m->next;
        free_msg(m);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    free(c);
}

static void accept_clients(struct hfx_server *s, int li)
{
    for (;;) {
        int fd = accept4(s->listen_fd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                hfx_log(HFX_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        if (s->nclients >= s->cfg.max_clients) {
            hfx_log(HFX_LOG_WARN, "refusing a connection: %d clients already", s->nclients);
            close(fd);
            continue;
        }
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix */
        c->srv = s;
        c->fd = fd;
        c->serial = ++s->next_serial;
        c->v1_ok = s->listen_v1[li];
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = s->clients;
        if (s->clients)
            s->clients->prev = c;
        s->clients = c;
        s->nclients++;
    }
}

/* Writes as much of the queue as the socket takes. Returns -1 if the client
 * is gone. */
static int flush_client(struct client *c)
{
    while (c->head) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        size_t off = c->head_off;
        for (struct txmsg *m = c->head; m && n < MAX_IOV; m = m->next, off = 0)
            iov[n++] = (struct iovec){(void *)(m->data + off), m->len - off};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        c->last_progress_ns = hfx_now_ns();
        c->srv->stats.bytes_sent += (uint64_t)w;
        c->queued -= (size_t)w;
        size_t left = (size_t)w;
        while (left && c->head) {
            struct txmsg *m = c->head;
            size_t rem = m->len - c->head_off;
            if (left < rem) {
                c->head_off += left;
                break;
            }
            left -= rem;
            c->head_off = 0;
            c->head = m->next;
            if (!c->head)
                c->tail = NULL;
            if (m->pkt)
                c->srv->stats.frames_sent++;
            if (m->reply)
                c->reply_bytes -= sizeof *m + m->len;
            free_msg(m);
        }
    }
    if (!c->head && c->closing && !c->lingering) {
        /* Half-close and wait briefly for the peer: closing with its unread
         * input pending would reset the connection and could destroy the
         * ERROR we just sent. */
        shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        c->linger_until = hfx_now_ns() + LINGER_NS;
    }
    update_events(c);
    return 0;
}

/* ---- requests ---- */

/* A plain v1 subscriber reads nothing but FRAME_RESPONSE once subscribed:
 * it gets no replies and no errors, only a close. */
static bool may_reply(const struct client *c)
{
    return c->extended || !c->subscribed;
}

static void reply_error(struct client *c, int32_t code, const char *text)
{
    if (!may_reply(c))
        return;
    uint8_t buf[272];
    queue_bytes(c, buf, hxfr_put_error(buf, (uint16_t)c->scanout, code, text));
}

static bool scanout_ok(struct client *c, uint32_t id)
{
    if (id < hfx_engine_max_scanouts(c->srv->engine))
        return true;
    reply_error(c, HXFR_E_NOT_FOUND, "no such scanout");
    return false;
}

/* Deployed v1 clients cannot carry a token: where their listener allows
 * them they may do anything, as with the reference server. Everyone else
 * needs a grant. */
static bool unrestricted(const struct client *c)
{
    return !c->extended && c->v1_ok;
}

static bool may_control(const struct client *c)
{
    return unrestricted(c) || c->control;
}

static bool may_watch(const struct client *c, uint32_t id)
{
    if (may_control(c))
        return true;
    return id < HFX_MAX_SCANOUTS && (c->heads >> id & 1) &&
           c->head_epoch[id] == hfx_access_epoch(c->srv->access, id);
}

static void deny(struct client *c, const char *text)
{
    c->srv->stats.denied++;
    hfx_log(HFX_LOG_INFO, "client %" PRIu64 ": denied: %s", c->serial, text);
    reply_error(c, HXFR_E_DENIED, text);
}

static bool check_watch(struct client *c, uint32_t id)
{
    if (may_watch(c, id))
        return true;
    char text[128];
    snprintf(text, sizeof text, "scanout %u needs a token that grants it (send AUTH)", id);
    deny(c, text);
    return false;
}

static bool check_control(struct client *c, const char *what)
{
    if (may_control(c))
        return true;
    char text[128];
    snprintf(text, sizeof text, "%s needs the control token (send AUTH)", what);
    deny(c, text);
    return false;
}

static void handle_subscribe(struct client *c, uint32_t id)
{
    struct hfx_server *s = c->srv;
    uint8_t buf[20];
    if (c->subscribed) {
        reply_error(c, HXFR_E_INVALID_MSG, "this connection is already subscribed");
        close_later(c);
        return;
    }
    if (id >= hfx_engine_max_scanouts(s->engine)) {
        /* A deployed subscriber requires SUBSCRIBE_RESP as its first reply. */
        queue_bytes(c, buf, hxfr_put_subscribe_resp(buf, id, false));
        close_later(c);
        return;
    }
    if (!may_watch(c, id)) {
        if (c->extended) {
            check_watch(c, id);
        } else {
            /* A v1 client on a listener that wants tokens: refused the way
             * the deployed subscriber understands. */
            s->stats.denied++;
            queue_bytes(c, buf, hxfr_put_subscribe_resp(buf, id, false));
            close_later(c);
        }
        return;
    }
    queue_bytes(c, buf, hxfr_put_subscribe_resp(buf, id, true));
    c->subscribed = true;
    c->scanout = id;
    c->want_key = true;
    c->sub_prev = NULL;
    c->sub_next = s->subs[id];
    if (s->subs[id])
        s->subs[id]->sub_prev = c;
    s->subs[id] = c;
    s->stats.subscribers++;
    if (wants_cursor(c) && s->cursors[id].known)
        queue_cursor(c, id, &s->cursors[id].c);
    hfx_engine_subscribe(s->engine, id, +1);
}

static void handle_config(struct client *c, const struct hxfr_msg *m)
{
    uint32_t id = c->subscribed ? c->scanout : m->h.session_id;
    if (!scanout_ok(c, id) || !check_watch(c, id))
        return;
    if (m->u.config.bitrate)
        hfx_engine_set_bitrate(c->srv->engine, id, m->u.config.bitrate);
    if (!c->extended)
        return;
    struct hfx_scanout_stats st;
    hfx_engine_stats(c->srv->engine, id, &st);
    struct hxfr_config now = {
        .width = st.width, .height = st.height,
        .bitrate = m->u.config.bitrate ? m->u.config.bitrate : st.bitrate,
        .fps_num = 60, .fps_den = 1, .profile = 66, .level = 0, .realtime = 1,
    };
    uint8_t buf[40];
    queue_bytes(c, buf, hxfr_put_config(buf, HXFR_CONFIG_RESP, (uint16_t)id, &now));
}

static void handle_head(struct client *c, uint32_t id, bool enable, uint32_t w, uint32_t h,
                        uint32_t refresh)
{
    if (!scanout_ok(c, id) || !check_control(c, enable ? "ENABLE_SCANOUT" : "DISABLE_SCANOUT"))
        return;
    struct head_req *req = malloc(sizeof *req);
    if (!req) {
        reply_error(c, HXFR_E_INTERNAL, "out of memory");
        return;
    }
    *req = (struct head_req){c->srv, c->serial, id};
    hfx_engine_set_head(c->srv->engine, id, enable, w, h, refresh, head_done, req);
}

static void add_int(JsonBuilder *b, const char *key, int64_t value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

static void add_bool(JsonBuilder *b, const char *key, bool value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_boolean_value(b, value);
}

static void add_scanout_stats(JsonBuilder *b, struct hfx_engine *engine, uint32_t id)
{
    struct hfx_scanout_stats st;
    hfx_engine_stats(engine, id, &st);
    json_builder_begin_object(b);
    add_int(b, "id", id);
    add_bool(b, "enabled", st.enabled);
    add_int(b, "width", st.width);
    add_int(b, "height", st.height);
    add_int(b, "subscribers", st.subscribers);
    json_builder_set_member_name(b, "encoder");
    json_builder_add_string_value(b, st.encoder);
    add_bool(b, "encoder_open", st.encoder_open);
    add_int(b, "bitrate", st.bitrate);
    add_int(b, "updates", (int64_t)st.updates);
    add_int(b, "frames", (int64_t)st.frames);
    add_int(b, "keyframes", (int64_t)st.keyframes);
    add_int(b, "bytes", (int64_t)st.bytes);
    add_int(b, "coalesced", (int64_t)st.coalesced);
    add_int(b, "move_searches", (int64_t)st.move_searches);
    add_int(b, "moves", (int64_t)st.moves);
    add_int(b, "moves_shared", (int64_t)st.moves_shared);
    add_int(b, "last_encode_us", st.last_encode_ns / 1000);
    /* The encoder's own counters, under the names it gives them (the
     * hybrid's writer_frames, x264_frames, switch_idrs, ...). */
    for (uint32_t i = 0; i < st.ncounters; i++)
        add_int(b, st.counters[i].name, (int64_t)st.counters[i].value);
    add_int(b, "input_events", (int64_t)st.input_events);
    json_builder_end_object(b);
}

static void handle_stats(struct client *c, bool one, uint32_t id)
{
    struct hfx_server *s = c->srv;
    uint32_t n = hfx_engine_max_scanouts(s->engine);
    if (one ? !scanout_ok(c, id) || !check_watch(c, id) : !check_control(c, "STATS_REQ for all scanouts"))
        return;
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    add_int(b, "clients", s->nclients);
    add_int(b, "subscribers", s->stats.subscribers);
    add_int(b, "frames_sent", (int64_t)s->stats.frames_sent);
    add_int(b, "frames_dropped", (int64_t)s->stats.frames_dropped);
    add_int(b, "skips_to_idr", (int64_t)s->stats.skips_to_idr);
    add_int(b, "clients_dropped", (int64_t)s->stats.clients_dropped);
    add_int(b, "malformed", (int64_t)s->stats.malformed);
    add_int(b, "denied", (int64_t)s->stats.denied);
    json_builder_set_member_name(b, "scanouts");
    json_builder_begin_array(b);
    for (uint32_t i = one ? id : 0; i < (one ? id + 1 : n); i++)
        add_scanout_stats(b, s->engine, i);
    json_builder_end_array(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    char *text = json_to_string(root, FALSE);
    json_node_unref(root);
    g_object_unref(b);
    size_t len = strlen(text);
    uint8_t *msg = NULL;
    /* Sixteen scanouts take a few KiB of the 256 KiB a reply may carry. */
    if (len > HXFR_MAX_TEXT_PAYLOAD - HXFR_HEADER_SIZE) {
        reply_error(c, HXFR_E_INTERNAL, "the statistics do not fit a reply; ask for one scanout");
    } else if (!(msg = malloc(HXFR_HEADER_SIZE + len))) {
        reply_error(c, HXFR_E_INTERNAL, "out of memory");
    } else {
        hxfr_put_stats_resp_head(msg, (uint32_t)len);
        memcpy(msg + HXFR_HEADER_SIZE, text, len);
        queue_bytes(c, msg, HXFR_HEADER_SIZE + len);
    }
    free(msg);
    g_free(text);
}

/* Guessing a 256-bit MAC is hopeless, but a client that keeps trying is
 * not one to keep talking to. */
#define MAX_BAD_AUTHS 8

static void handle_auth(struct client *c, const char *token)
{
    if (!c->extended) {
        reply_error(c, HXFR_E_INVALID_MSG, "AUTH needs the extended mode (HELLO)");
        return;
    }
    struct hfx_access_check r;
    hfx_access_check(c->srv->access, token, &r);
    uint32_t scope = HXFR_SCOPE_CONTROL;
    switch (r.grant) {
    case HFX_GRANT_NONE:
        deny(c, r.why);
        if (++c->bad_auths >= MAX_BAD_AUTHS)
            close_later(c);
        return;
    case HFX_GRANT_CONTROL:
        c->control = true;
        break;
    case HFX_GRANT_HEAD:
        c->heads |= 1u << r.scanout;
        c->head_epoch[r.scanout] = r.epoch;
        scope = r.scanout;
        break;
    }
    uint8_t buf[16];
    queue_bytes(c, buf, hxfr_put_auth_resp(buf, scope));
}

/* Subscribers whose token for the scanout no longer holds stop receiving it. */
static void cut_off_revoked(struct hfx_server *s, uint32_t id)
{
    for (struct client *c = s->subs[id], *next; c; c = next) {
        next = c->sub_next;
        if (!may_watch(c, id)) {
            reply_error(c, HXFR_E_DENIED, "the token for this scanout was revoked");
            unsubscribe(c);
        }
    }
}

static void handle_token(struct client *c, const struct hxfr_msg *m)
{
    uint32_t id = m->u.token.scanout_id;
    if (!c->extended) {
        reply_error(c, HXFR_E_INVALID_MSG, "TOKEN_REQ needs the extended mode (HELLO)");
        return;
    }
    if (!c->control) {
        deny(c, "minting or revoking tokens needs the control token");
        return;
    }
    if (!scanout_ok(c, id))
        return;
    char token[HFX_TOKEN_SIZE] = "";
    if (m->u.token.op == HXFR_TOKEN_MINT)
        hfx_access_mint(c->srv->access, id, token);
    else
        hfx_access_revoke(c->srv->access, id);
    cut_off_revoked(c->srv, id);
    uint8_t buf[20 + HXFR_MAX_TOKEN];
    queue_bytes(c, buf, hxfr_put_token_resp(buf, id, m->u.token.op, token));
}

/* Input drives a desktop, so it needs what watching needs: the control
 * token or that head's token. Success is not answered. */
static void handle_input(struct client *c, const struct hfx_input *ev)
{
    if (!c->extended) {
        reply_error(c, HXFR_E_INVALID_MSG, "INPUT needs the extended mode (HELLO)");
        return;
    }
    if (!scanout_ok(c, ev->scanout) || !check_watch(c, ev->scanout))
        return;
    char err[160];
    if (hfx_engine_input(c->srv->engine, ev, err, sizeof err) < 0)
        reply_error(c, HXFR_E_NOT_CONFIGURED, err);
}

static void handle_message(struct client *c, const struct hxfr_msg *m)
{
    struct hfx_server *s = c->srv;
    uint8_t buf[24];
    switch (m->h.type) {
    case HXFR_HELLO:
        if (c->subscribed) {
            reply_error(c, HXFR_E_INVALID_MSG, "HELLO must come before SUBSCRIBE");
            close_later(c);
            return;
        }
        c->extended = true;
        c->caps = m->u.hello.caps & HXFR_CAP_CURSOR;
        queue_bytes(c, buf, hxfr_put_hello(buf, HXFR_HELLO_RESP, HFX_SERVER_VERSION, c->caps,
                                           hfx_engine_max_scanouts(s->engine)));
        break;
    case HXFR_SUBSCRIBE:
        handle_subscribe(c, m->u.subscribe.scanout_id);
        break;
    case HXFR_CONFIG_REQ:
        handle_config(c, m);
        break;
    case HXFR_KEYFRAME_REQ: {
        uint32_t id = m->u.keyframe.has_scanout ? m->u.keyframe.scanout_id
                      : c->subscribed           ? c->scanout
                                                : m->h.session_id;
        if (scanout_ok(c, id) && check_watch(c, id))
            hfx_engine_request_keyframe(s->engine, id);
        break;
    }
    case HXFR_PING:
        if (may_reply(c))
            queue_bytes(c, buf, hxfr_put_ping(buf, HXFR_PONG, m->h.session_id));
        break;
    case HXFR_ENABLE_SCANOUT:
        handle_head(c, m->u.enable.scanout_id, true, m->u.enable.width, m->u.enable.height,
                    m->u.enable.refresh);
        break;
    case HXFR_DISABLE_SCANOUT:
        handle_head(c, m->u.subscribe.scanout_id, false, 0, 0, 0);
        break;
    case HXFR_STATS_REQ:
        if (c->extended)
            handle_stats(c, m->u.stats_req.has_scanout, m->u.stats_req.scanout_id);
        else
            reply_error(c, HXFR_E_INVALID_MSG, "STATS_REQ needs the extended mode (HELLO)");
        break;
    case HXFR_AUTH:
        handle_auth(c, m->u.auth.token);
        break;
    case HXFR_TOKEN_REQ:
        handle_token(c, m);
        break;
    case HXFR_INPUT:
        handle_input(c, &m->u.input);
        break;
    case HXFR_FRAME_REQUEST:
        reply_error(c, HXFR_E_INVALID_MSG,
                    "FRAME_REQUEST (legacy request/response mode) is not supported; use SUBSCRIBE");
        break;
    default:
        reply_error(c, HXFR_E_INVALID_MSG, "unexpected message type");
        break;
    }
}

static void malformed(struct client *c, const char *why)
{
    c->srv->stats.malformed++;
    hfx_log(HFX_LOG_INFO, "client %" PRIu64 ": malformed message (%s); closing", c->serial, why);
    reply_error(c, HXFR_E_INVALID_MSG, why);
    close_later(c);
}

/* Reads what is there and handles every whole message. Returns -1 when the
 * peer closed or the socket failed. */
static int read_client(struct client *c)
{
    if (c->closing) {
        uint8_t discard[4096];
        ssize_t n = read(c->fd, discard, sizeof discard);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ? -1 : 0;
    }
    ssize_t n = read(c->fd, c->rx + c->rx_len, sizeof c->rx - c->rx_len);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    c->rx_len += (size_t)n;
    size_t off = 0;
    while (!c->closing) {
        struct hxfr_msg m;
        const char *why = NULL;
        enum hxfr_parse r = hxfr_decode(c->rx + off, c->rx_len - off, HXFR_FROM_CLIENT, &m, &why);
        if (r == HXFR_PARSE_NEED_MORE)
            break;
        if (r != HXFR_PARSE_OK) {
            malformed(c, why ? why : "malformed message");
            break;
        }
        off += HXFR_HEADER_SIZE + m.h.payload_size;
        handle_message(c, &m);
    }
    if (c->closing) {
        /* Whatever else it sent is not read: flush, then close. */
        c->rx_len = 0;
        update_events(c);
        return 0;
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
    return 0;
}

/* ---- inbox (loop thread) ---- */

static struct client *find_client(struct hfx_server *s, uint64_t serial)
{
    for (struct client *c = s->clients; c; c = c->next)
        if (c->serial == serial)
            return c;
    return NULL;
}

static void deliver_head_done(struct hfx_server *s, const struct inbox_item *it)
{
    struct client *c = find_client(s, it->serial);
    if (!c)
        return;
    if (it->status != 0) {
        reply_error(c, HXFR_E_NOT_FOUND, it->text[0] ? it->text : "the head request failed");
        return;
    }
    if (!may_reply(c))
        return;
    uint8_t buf[84];
    queue_bytes(c, buf, hxfr_put_scanout_resp(buf, it->scanout, true, it->text));
}

static void deliver_packet(struct hfx_server *s, struct hfx_packet *pkt)
{
    hxfr_put_frame_head(pkt->au - HXFR_FRAME_FIXED_SIZE, pkt->scanout, pkt->pts_ns, pkt->pts_ns,
                        pkt->keyframe, (uint32_t)pkt->au_size);
    for (struct client *c = s->subs[pkt->scanout]; c; c = c->sub_next)
        queue_frame(c, pkt);
}

/* Keeps the newest position and shape for late joiners and sends the
 * change to those who asked for the cursor: a move as a move, a new shape
 * with its pixels. */
static void deliver_cursor(struct hfx_server *s, uint32_t scanout, const struct hfx_cursor *c)
{
    struct cursor_state *st = &s->cursors[scanout];
    bool new_shape = c->width && c->height;
    if (new_shape) {
        size_t bytes = (size_t)c->width * c->height * 4;
        uint8_t *shape = malloc(bytes);
        if (!shape)
            return;
        memcpy(shape, c->argb, bytes);
        free(st->shape);
        st->shape = shape;
        st->c = *c;
        st->c.argb = shape;
    } else {
        st->c.x = c->x;
        st->c.y = c->y;
        st->c.visible = c->visible;
    }
    st->known = true;
    for (struct client *cl = s->subs[scanout]; cl; cl = cl->sub_next)
        if (wants_cursor(cl))
            queue_cursor(cl, scanout, new_shape ? &st->c : c);
}

static void deliver_ended(struct hfx_server *s, uint32_t scanout)
{
    /* The stream ends cleanly: what is queued goes out, then the close. */
    for (struct client *c = s->subs[scanout]; c; c = c->sub_next)
        close_later(c);
}

static void drain_inbox(struct hfx_server *s)
{
    uint64_t v;
    if (read(s->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        hfx_log(HFX_LOG_WARN, "server wake read: %s", strerror(errno));
    struct inbox_item *list = atomic_exchange(&s->inbox, NULL), *fifo = NULL;
    while (list) {
        struct inbox_item *n = list->next;
        list->next = fifo;
        fifo = list;
        list = n;
    }
    while (fifo) {
        struct inbox_item *it = fifo;
        fifo = it->next;
        switch (it->kind) {
        case IN_PACKET:
            deliver_packet(s, it->pkt);
            hfx_packet_unref(it->pkt);
            break;
        case IN_ENDED:
            deliver_ended(s, it->scanout);
            break;
        case IN_HEAD_DONE:
            deliver_head_done(s, it);
            break;
        case IN_CURSOR:
            deliver_cursor(s, it->scanout, &it->cursor);
            break;
        }
        free(it);
    }
}

/* Clients with data queued and no progress for too long are dropped, so one
 * stuck reader holds neither memory nor anyone else's frames. */
static void reap_stuck(struct hfx_server *s)
{
    int64_t now = hfx_now_ns(), limit = (int64_t)s->cfg.stuck_ms * 1000000;
    for (struct client *c = s->clients, *n; c; c = n) {
        n = c->next;
        if (c->lingering && now > c->linger_until) {
            destroy_client(c);
        } else if (c->head && now - c->last_progress_ns > limit) {
            hfx_log(HFX_LOG_WARN, "client %" PRIu64 ": no progress for %u ms; disconnecting",
                    c->serial, s->cfg.stuck_ms);
            s->stats.clients_dropped++;
            destroy_client(c);
        }
    }
}

static void flush_all(struct hfx_server *s)
{
    for (struct client *c = s->clients, *n; c; c = n) {
        n = c->next;
        if ((c->head || (c->closing && !c->lingering)) && flush_client(c) < 0)
            destroy_client(c);
    }
}

int hfx_server_run(struct hfx_server *s)
{
    struct epoll_event evs[64];
    int64_t next_tick = hfx_now_ns();
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->epfd, evs, 64, TICK_MS);
        if (n < 0 && errno != EINTR) {
            hfx_log(HFX_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_WAKE) {
                drain_inbox(s);
            } else if (IS_LISTEN_TAG(tag)) {
                accept_clients(s, (int)(tag - 16));
            } else {
                struct client *c = evs[i].data.ptr;
                bool gone = (evs[i].events & (EPOLLERR | EPOLLHUP)) && !(evs[i].events & EPOLLIN);
                if (!gone && evs[i].events & EPOLLIN)
                    gone = read_client(c) < 0;
                if (!gone && (evs[i].events & EPOLLOUT || c->closing))
                    gone = flush_client(c) < 0;
                if (gone)
                    destroy_client(c);
            }
        }
        /* Frames queued by the inbox go out in the same iteration. */
        flush_all(s);
        int64_t now = hfx_now_ns();
        if (now >= next_tick) {
            reap_stuck(s);
            next_tick = now + (int64_t)TICK_MS * 1000000;
        }
    }
    return 0;
}

/* ---- life cycle ---- */

/* "ADDR[,v1=on|off]": the address, and whether clients without a token are
 * served there (on unless said otherwise: deployed clients cannot carry one). */
static int listen_spec(const char *spec, char *addr, size_t len, bool *v1, char *err,
                       size_t errlen)
{
    const char *comma = strrchr(spec, ',');
    *v1 = true;
    size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
    if (comma) {
        if (strcmp(comma, ",v1=off") == 0)
            *v1 = false;
        else if (strcmp(comma, ",v1=on") != 0) {
            snprintf(err, errlen, "listener '%s': the only option is ,v1=on or ,v1=off", spec);
            return -1;
        }
    }
    if (n >= len) {
        snprintf(err, errlen, "listener address is too long");
        return -1;
    }
    memcpy(addr, spec, n);
    addr[n] = 0;
    return 0;
}

struct hfx_server *hfx_server_new(const struct hfx_server_config *cfg, char *err, size_t errlen)
{
    struct hfx_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->epfd = s->wake_fd = -1;
    if (!s->cfg.queue_bytes)
        s->cfg.queue_bytes = 32u << 20;
    if (!s->cfg.stuck_ms)
        s->cfg.stuck_ms = 5000;
    if (!s->cfg.keyframe_gap_ms)
        s->cfg.keyframe_gap_ms = 1000;
    if (s->cfg.max_clients <= 0)
        s->cfg.max_clients = 256;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->epfd < 0 || s->wake_fd < 0) {
        snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
        hfx_server_free(s);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake_fd, &ev);
    s->access = hfx_access_new(cfg->secret_file, err, errlen);
    if (!s->access) {
        hfx_server_free(s);
        return NULL;
    }
    int nl = cfg->nlisten ? cfg->nlisten : 1;
    for (int i = 0; i < nl && i < HFX_MAX_LISTENERS; i++) {
        char addr[512];
        bool v1;
        if (listen_spec(cfg->nlisten ? cfg->listen[i] : HFX_DEFAULT_ADDR, addr, sizeof addr,
                        &v1, err, errlen) < 0) {
            hfx_server_free(s);
            return NULL;
        }
        int fd = hfx_listen(addr, err, errlen);
        if (fd < 0) {
            hfx_server_free(s);
            return NULL;
        }
        if (s->nlisten == 0)
            snprintf(s->first_listen, sizeof s->first_listen, "%s", addr);
        s->listen_v1[s->nlisten] = v1;
        s->listen_fd[s->nlisten++] = fd;
        ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_LISTEN(i)};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
        hfx_log(HFX_LOG_INFO, "listening on %s (%s)", addr,
                v1 ? "v1 clients without a token allowed: any client may watch and switch any head"
                   : "token required");
    }
    return s;
}

void hfx_server_attach(struct hfx_server *s, struct hfx_engine *engine)
{
    s->engine = engine;
}

void hfx_server_stop(struct hfx_server *s)
{
    atomic_store(&s->stop, true);
    uint64_t one = 1;
    ssize_t r = write(s->wake_fd, &one, sizeof one);
    (void)r; /* async-signal context: nothing to report to */
}

int hfx_server_port(const struct hfx_server *s, int i)
{
    return i < s->nlisten ? hfx_listen_port(s->listen_fd[i]) : -1;
}

int hfx_server_local_address(const struct hfx_server *s, char *out, size_t outlen, char *err,
                             size_t errlen)
{
    if (s->nlisten == 0) {
        snprintf(err, errlen, "the server has no listener");
        return -1;
    }
    return hfx_local_spec(s->first_listen, hfx_server_port(s, 0), out, outlen, err, errlen);
}

void hfx_server_control_token(const struct hfx_server *s, char out[HXFR_MAX_TOKEN + 1])
{
    hfx_access_control_token(s->access, out);
}

void hfx_server_get_stats(const struct hfx_server *s, struct hfx_server_stats *out)
{
    *out = s->stats;
    out->clients = s->nclients;
}

void hfx_server_free(struct hfx_server *s)
{
    if (!s)
        return;
    s->engine = NULL; /* already freed: see server.h */
    while (s->clients)
        destroy_client(s->clients);
    struct inbox_item *it = atomic_exchange(&s->inbox, NULL);
    while (it) {
        struct inbox_item *n = it->next;
        hfx_packet_unref(it->pkt);
        free(it);
        it = n;
    }
    for (int i = 0; i < s->nlisten; i++)
        close(s->listen_fd[i]);
    for (int i = 0; i < HFX_MAX_SCANOUTS; i++)
        free(s->cursors[i].shape);
    hfx_access_free(s->access);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s);
}
