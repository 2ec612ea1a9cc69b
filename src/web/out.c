/* One socket's bounded queue. A message goes to libsoup only while the
 * kernel's send queue of that TCP connection (SIOCOUTQ) is under
 * WEB_OUTQ_LIMIT, so libsoup's own queue (unbounded) stays short; when ours
 * holds WEB_QUEUE_MAX messages the viewer is too slow: its video is dropped
 * up to the next IDR, as the HXFR server does with a slow subscriber. A
 * stalled browser never holds back another. */
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "web/internal.h"

#define WEB_QUEUE_MAX 30                  /* messages waiting per socket */
#define WEB_OUTQ_LIMIT (512 * 1024)       /* bytes in the kernel before we hold back */

void web_out_init(struct web_out *o, struct hfx_web *w, SoupServerMessage *msg,
                  SoupWebsocketConnection *conn)
{
    *o = (struct web_out){.w = w, .conn = g_object_ref(conn), .wait_idr = true};
    g_ptr_array_add(w->outs, o);
    /* The connection's own socket: the WebSocket's io stream is libsoup's
     * wrapper, whose fd is not the TCP connection's. */
    GSocket *sock = soup_server_message_get_socket(msg);
    o->socket = sock ? g_object_ref(sock) : NULL;
    g_queue_init(&o->queue);
}

void web_out_fini(struct web_out *o)
{
    g_ptr_array_remove_fast(o->w->outs, o);
    g_queue_clear_full(&o->queue, (GDestroyNotify)g_bytes_unref);
    g_clear_object(&o->socket);
    g_clear_object(&o->conn);
}

static size_t kernel_outq(struct web_out *o)
{
    int n = 0;
    if (!o->socket || ioctl(g_socket_get_fd(o->socket), SIOCOUTQ, &n) < 0)
        return 0;
    return (size_t)n;
}

void web_out_flush(struct web_out *o)
{
    if (!o->conn || soup_websocket_connection_get_state(o->conn) != SOUP_WEBSOCKET_STATE_OPEN)
        return;
    while (!g_queue_is_empty(&o->queue) && kernel_outq(o) < WEB_OUTQ_LIMIT) {
        GBytes *b = g_queue_pop_head(&o->queue);
        soup_websocket_connection_send_message(o->conn, SOUP_WEBSOCKET_DATA_BINARY, b);
        g_bytes_unref(b);
        o->sent++;
    }
}

void web_out_flush_all(struct hfx_web *w)
{
    for (guint i = 0; i < w->outs->len; i++)
        web_out_flush(g_ptr_array_index(w->outs, i));
}

bool web_out_video(struct web_out *o, GBytes *msg, bool keyframe)
{
    bool ok = true;
    if (o->wait_idr && !keyframe) {
        o->dropped++;
        return true;
    }
    if (g_queue_get_length(&o->queue) >= WEB_QUEUE_MAX) {
        o->dropped += g_queue_get_length(&o->queue);
        g_queue_clear_full(&o->queue, (GDestroyNotify)g_bytes_unref);
        o->wait_idr = true;
        ok = false;
        if (!keyframe) {
            o->dropped++;
            return false;
        }
    }
    o->wait_idr = false;
    g_queue_push_tail(&o->queue, g_bytes_ref(msg));
    web_out_flush(o);
    return ok;
}

void web_out_other(struct web_out *o, GBytes *msg)
{
    /* Small and rarer than video (a cursor, a reply): kept unless the queue
     * is far over the video's bound, which only a stalled viewer reaches. */
    if (g_queue_get_length(&o->queue) >= 2 * WEB_QUEUE_MAX) {
        o->dropped++;
        return;
    }
    g_queue_push_tail(&o->queue, g_bytes_ref(msg));
    web_out_flush(o);
}
