/* /ws/head/N?token=T: our page's protocol (docs/protocol.md, "Our page's
 * protocol"): video and cursor out, input and keyframe requests in. */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "proto/hxfr.h"
#include "web/internal.h"

#define PAGE_VIDEO 1
#define PAGE_INPUT 2
#define PAGE_CURSOR 3
#define PAGE_KEYFRAME 4
#define PAGE_VIDEO_HEADER 16
#define PAGE_CURSOR_HEADER 20
#define PAGE_INPUT_SIZE 12
#define PAGE_AGE_UNKNOWN 0xFFFFFFFFu

struct page_sock {
    struct hfx_web *w;
    unsigned head;
    struct web_out out;
    struct web_session *session;
    struct web_viewer *viewer;  /* NULL until the token is granted, or after the end */
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int32_t get_le32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void on_frame(void *data, const struct web_frame *f)
{
    struct page_sock *ps = data;
    size_t n = g_bytes_get_size(f->au);
    uint8_t *b = g_malloc(PAGE_VIDEO_HEADER + n);
    b[0] = PAGE_VIDEO;
    b[1] = (f->keyframe ? 1 : 0) | (f->resumed ? 2 : 0);
    b[2] = b[3] = 0;
    put_le(b + 4, (uint64_t)f->pts_ns, 8);
    /* How long ago the exporter made the picture, on our clock: meaningful
     * when the exporter runs on this host (its pts is CLOCK_MONOTONIC). */
    int64_t age = hfx_now_ns() - f->pts_ns;
    put_le(b + 12, age >= 0 && age < 60 * (int64_t)1000000000 ? (uint64_t)(age / 1000)
                                                               : PAGE_AGE_UNKNOWN, 4);
    memcpy(b + PAGE_VIDEO_HEADER, g_bytes_get_data(f->au, NULL), n);
    GBytes *msg = g_bytes_new_take(b, PAGE_VIDEO_HEADER + n);
    if (!web_out_video(&ps->out, msg, f->keyframe))
        web_hub_keyframe(ps->w->hub, ps->head);
    g_bytes_unref(msg);
}

static void on_cursor(void *data, const struct web_cursor *c)
{
    struct page_sock *ps = data;
    size_t n = c->argb ? g_bytes_get_size(c->argb) : 0;
    uint8_t *b = g_malloc0(PAGE_CURSOR_HEADER + n);
    b[0] = PAGE_CURSOR;
    b[1] = (c->visible ? 1 : 0) | (n ? 2 : 0);
    put_le(b + 4, (uint32_t)c->x, 4);
    put_le(b + 8, (uint32_t)c->y, 4);
    put_le(b + 12, c->hot_x, 2);
    put_le(b + 14, c->hot_y, 2);
    put_le(b + 16, c->width, 2);
    put_le(b + 18, c->height, 2);
    if (n)
        memcpy(b + PAGE_CURSOR_HEADER, g_bytes_get_data(c->argb, NULL), n);
    GBytes *msg = g_bytes_new_take(b, PAGE_CURSOR_HEADER + n);
    web_out_other(&ps->out, msg);
    g_bytes_unref(msg);
}

static void on_ended(void *data, const char *reason)
{
    struct page_sock *ps = data;
    ps->viewer = NULL;
    char r[120];
    g_strlcpy(r, reason, sizeof r);
    soup_websocket_connection_close(ps->out.conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, r);
}

static const struct web_viewer_ops page_viewer = {
    .frame = on_frame, .cursor = on_cursor, .ended = on_ended};

static void on_ready(void *data, int status, const struct web_grant *g, const char *err)
{
    struct page_sock *ps = data;
    char r[120];
    if (status < 0 || !web_grant_has(g, ps->head)) {
        if (status < 0)
            g_strlcpy(r, err, sizeof r);
        else
            snprintf(r, sizeof r, "this token does not grant head %u", ps->head);
        soup_websocket_connection_close(ps->out.conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, r);
        return;
    }
    ps->viewer = web_hub_join(ps->w->hub, ps->head, &page_viewer, ps);
}

/* From the page: an input event (the HXFR INPUT fields; checked by the same
 * parser as the exporter's) or a keyframe request. Anything else ends the
 * socket: a page that sends it is not ours. */
static void on_message(SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
    struct page_sock *ps = data;
    gsize n;
    const uint8_t *p = g_bytes_get_data(message, &n);
    if (!ps->viewer)
        return; /* not granted yet, or ended */
    if (type == SOUP_WEBSOCKET_DATA_BINARY && n == 1 && p[0] == PAGE_KEYFRAME) {
        web_hub_keyframe(ps->w->hub, ps->head);
        return;
    }
    if (type == SOUP_WEBSOCKET_DATA_BINARY && n == PAGE_INPUT_SIZE && p[0] == PAGE_INPUT &&
        !p[3]) {
        struct hfx_input ev = {.scanout = ps->head, .kind = p[1], .down = p[2] != 0};
        bool pressed = ev.kind == HFX_INPUT_KEY || ev.kind == HFX_INPUT_BUTTON;
        ev.code = pressed ? (uint32_t)get_le32(p + 4) : 0;
        ev.x = pressed ? 0 : get_le32(p + 4);
        ev.y = pressed ? 0 : get_le32(p + 8);
        uint8_t wire[HXFR_INPUT_SIZE];
        struct hxfr_msg m;
        const char *why = NULL;
        if (p[2] <= 1 && hxfr_decode(wire, hxfr_put_input(wire, &ev), HXFR_FROM_CLIENT, &m,
                                     &why) == HXFR_PARSE_OK) {
            web_session_input(ps->session, &ev);
            return;
        }
        char r[120];
        snprintf(r, sizeof r, "bad input event: %s", why ? why : "down is not 0 or 1");
        soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, r);
        return;
    }
    soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                    "unknown message");
}

static void on_closed(SoupWebsocketConnection *conn, gpointer data)
{
    struct page_sock *ps = data;
    if (ps->viewer)
        web_hub_leave(ps->viewer);
    web_session_close(ps->session);
    web_out_fini(&ps->out);
    g_free(ps);
}

void web_page_ws(struct hfx_web *w, SoupServerMessage *msg, const char *path,
                 SoupWebsocketConnection *conn)
{
    unsigned id;
    char extra;
    if (sscanf(path, "/ws/head/%u%c", &id, &extra) != 1 || id >= WEB_HEADS) {
        soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                        "no such head");
        return;
    }
    struct page_sock *ps = g_new0(struct page_sock, 1);
    ps->w = w;
    ps->head = id;
    web_out_init(&ps->out, w, msg, conn);
    g_signal_connect(conn, "message", G_CALLBACK(on_message), ps);
    g_signal_connect(conn, "closed", G_CALLBACK(on_closed), ps);
    char *token = web_query(msg, "token");
    ps->session = web_session_open(w->sessions, token, on_ready, ps);
    g_free(token);
}
