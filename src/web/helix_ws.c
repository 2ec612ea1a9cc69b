/* /ws/stream?token=T[&head=N]: the deployed browsers' protocol
 * (../shared/reference/helix-ws.md; what we serve and every choice:
 * docs/protocol.md, "The deployed browser protocol"). The browser sends a
 * text `init`; we answer StreamInit and ConnectionComplete once the head's
 * first keyframe gives its size, then VideoFrames (the first a keyframe),
 * CursorImages and Pongs; its keyboard, mouse and pointer messages become
 * HXFR INPUT events sent under its token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <xkbcommon/xkbcommon.h>

#include "common/keymap.h"
#include "common/log.h"
#include "web/internal.h"

/* server -> browser */
#define HWS_VIDEO 0x01
#define HWS_STREAM_INIT 0x30
#define HWS_STREAM_ERROR 0x31
#define HWS_PONG 0x41
#define HWS_CURSOR 0x50
/* browser -> server */
#define HWS_KEYBOARD 0x10
#define HWS_MOUSE 0x11
#define HWS_ABSOLUTE 0x12
#define HWS_RELATIVE 0x13
#define HWS_TOUCH 0x14
#define HWS_CONTROL 0x20
#define HWS_PING 0x40

#define HWS_CODEC_H264 0x01
#define HWS_VIDEO_HEADER 15
#define HWS_STREAM_INIT_SIZE 13
#define HWS_PONG_SIZE 29
#define HWS_CURSOR_HEADER 25      /* type + six u32 */
#define HWS_CURSOR_BITMAP_HEADER 16
#define HWS_FPS 60
#define HWS_DRM_ARGB8888 0x34325241u /* fourcc 'AR24': bytes B, G, R, A, as HXFR CURSOR */
#define HWS_INIT_TIMEOUT_S 30
#define HWS_KEEPALIVE_S 5
#define HWS_SILENT_US (30 * G_USEC_PER_SEC)
#define HWS_MAX_INCOMING (64 * 1024)
#define HWS_WHEEL_UNIT 120.0f     /* high-resolution wheel units per step */
#define HWS_KEY_RIGHTSHIFT 54

struct hws_sock {
    struct hfx_web *w;
    struct web_out out;
    struct web_session *session;
    struct web_viewer *viewer;   /* NULL until granted and initialised, or after the end */
    GSource *init_timer, *alive_timer;
    int64_t last_heard;          /* g_get_monotonic_time of the peer's last message */
    int head;                    /* from ?head= (or ?scanout=); -1: the token's */
    bool granted, got_init, started, closing, video_off;
    uint32_t width, height;      /* the head's, from its keyframes */
    uint32_t init_width, init_height; /* what the init asked: only if a keyframe has none */
    uint16_t latency_ms;         /* the last frame's age on arrival */
    int32_t px, py;              /* the pointer, as we last placed it */
    float wheel_x, wheel_y;      /* high-resolution wheel not yet a whole step */
    bool shift_down[2];          /* left, right: as this socket pressed them */
    uint32_t shift_for;          /* the key we pressed Left Shift for, or 0 */
    bool told_touch;
    /* the cursor as the exporter last described it */
    int32_t cx, cy;
    bool cvisible, cshape_sent;
    uint16_t hot_x, hot_y, cw, ch;
    GBytes *cargb;
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static float get_lef32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* StreamError with the text, then the close (code and the same text as its
 * reason). What is queued for the socket goes: the error is its last word. */
static void hws_fail(struct hws_sock *hs, gushort code, const char *text)
{
    if (hs->closing)
        return;
    hs->closing = true;
    size_t n = strlen(text);
    if (n > 1000)
        n = 1000;
    uint8_t *b = g_malloc(3 + n);
    b[0] = HWS_STREAM_ERROR;
    put_be(b + 1, n, 2);
    memcpy(b + 3, text, n);
    g_queue_clear_full(&hs->out.queue, (GDestroyNotify)g_bytes_unref);
    if (soup_websocket_connection_get_state(hs->out.conn) == SOUP_WEBSOCKET_STATE_OPEN) {
        char reason[120]; /* a close frame's reason is at most 123 bytes */
        g_strlcpy(reason, text, sizeof reason);
        soup_websocket_connection_send_binary(hs->out.conn, b, 3 + n);
        soup_websocket_connection_close(hs->out.conn, code, reason);
    }
    g_free(b);
}

/* ---- server -> browser ---- */

/* CursorImage (little-endian). With bitmap: the shape, or a transparent
 * 1x1 one while the exporter says the cursor is hidden (the protocol has no
 * "hidden"); without: a move. */
static void send_cursor(struct hws_sock *hs, bool bitmap)
{
    bool shape = bitmap && hs->cvisible && hs->cargb;
    size_t pixels = shape ? g_bytes_get_size(hs->cargb) : bitmap ? 4 : 0;
    uint32_t w = shape ? hs->cw : 1, h = shape ? hs->ch : 1;
    size_t size = bitmap ? HWS_CURSOR_BITMAP_HEADER + pixels : 0;
    uint8_t *b = g_malloc0(HWS_CURSOR_HEADER + size);
    b[0] = HWS_CURSOR;
    put_le32(b + 1, 0); /* last mover: the VM */
    put_le32(b + 5, (uint32_t)MAX(hs->cx, 0));
    put_le32(b + 9, (uint32_t)MAX(hs->cy, 0));
    put_le32(b + 13, hs->hot_x);
    put_le32(b + 17, hs->hot_y);
    put_le32(b + 21, (uint32_t)size);
    if (bitmap) {
        uint8_t *hd = b + HWS_CURSOR_HEADER;
        put_le32(hd, HWS_DRM_ARGB8888);
        put_le32(hd + 4, w);
        put_le32(hd + 8, h);
        put_le32(hd + 12, w * 4);
        if (shape)
            memcpy(hd + HWS_CURSOR_BITMAP_HEADER, g_bytes_get_data(hs->cargb, NULL), pixels);
        hs->cshape_sent = shape;
    }
    GBytes *msg = g_bytes_new_take(b, HWS_CURSOR_HEADER + size);
    web_out_other(&hs->out, msg);
    g_bytes_unref(msg);
}

static void on_cursor(void *data, const struct web_cursor *c)
{
    struct hws_sock *hs = data;
    bool new_shape = c->width && c->height && c->argb;
    if (new_shape) {
        if (hs->cargb)
            g_bytes_unref(hs->cargb);
        hs->cargb = g_bytes_ref(c->argb);
        hs->cw = c->width;
        hs->ch = c->height;
        hs->hot_x = c->hot_x;
        hs->hot_y = c->hot_y;
    }
    bool shown_changed = hs->cvisible != c->visible;
    hs->cx = c->x;
    hs->cy = c->y;
    hs->cvisible = c->visible;
    /* Before StreamInit this is only remembered: start() sends it. */
    if (hs->started && !hs->closing)
        send_cursor(hs, new_shape || shown_changed || (c->visible && !hs->cshape_sent));
}

/* StreamInit, then ConnectionComplete (text): nothing is queued before
 * them, so they go to libsoup directly, in order. */
static void start(struct hws_sock *hs, const struct web_frame *f)
{
    hs->width = f->width ? f->width : hs->init_width;
    hs->height = f->height ? f->height : hs->init_height;
    if (!f->width)
        hfx_log(HFX_LOG_WARN, "web: /ws/stream: no size in the keyframe's SPS; using %ux%u",
                hs->width, hs->height);
    uint8_t b[HWS_STREAM_INIT_SIZE] = {HWS_STREAM_INIT, HWS_CODEC_H264};
    put_be(b + 2, hs->width, 2);
    put_be(b + 4, hs->height, 2);
    b[6] = HWS_FPS; /* audio channels, sample rate and touch stay 0 */
    soup_websocket_connection_send_binary(hs->out.conn, b, sizeof b);
    char *json = g_strdup_printf("{\"ConnectionComplete\":{\"capabilities\":{\"touch\":false},"
                                 "\"width\":%u,\"height\":%u}}", hs->width, hs->height);
    soup_websocket_connection_send_text(hs->out.conn, json);
    g_free(json);
    hs->started = true;
    hs->px = (int32_t)hs->width / 2;
    hs->py = (int32_t)hs->height / 2;
    if (hs->cargb || !hs->cvisible)
        send_cursor(hs, true);
}

static void on_frame(void *data, const struct web_frame *f)
{
    struct hws_sock *hs = data;
    if (hs->closing)
        return;
    int64_t age = f->arrived_ns - f->pts_ns;
    hs->latency_ms = age >= 0 && age < 60 * (int64_t)1000000000 ? (uint16_t)(age / 1000000) : 0;
    if (!hs->started) {
        if (!f->keyframe)
            return; /* StreamInit waits for the head's size, the first frame for an IDR */
        start(hs, f);
    }
    if (f->keyframe && f->width && f->height) {
        hs->width = f->width;
        hs->height = f->height;
    }
    if (hs->video_off)
        return;
    size_t n = g_bytes_get_size(f->au);
    uint8_t *b = g_malloc(HWS_VIDEO_HEADER + n);
    b[0] = HWS_VIDEO;
    b[1] = HWS_CODEC_H264;
    b[2] = f->keyframe ? 1 : 0; /* bit 1 (a replayed GOP) never: we replay nothing */
    put_be(b + 3, (uint64_t)f->pts_ns / 1000, 8);
    put_be(b + 11, hs->width, 2);
    put_be(b + 13, hs->height, 2);
    memcpy(b + HWS_VIDEO_HEADER, g_bytes_get_data(f->au, NULL), n);
    GBytes *msg = g_bytes_new_take(b, HWS_VIDEO_HEADER + n);
    if (!web_out_video(&hs->out, msg, f->keyframe))
        web_hub_keyframe(hs->w->hub, (unsigned)hs->head);
    g_bytes_unref(msg);
}

static void on_ended(void *data, const char *reason)
{
    struct hws_sock *hs = data;
    hs->viewer = NULL;
    hws_fail(hs, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, reason);
}

static const struct web_viewer_ops hws_viewer = {
    .frame = on_frame, .cursor = on_cursor, .ended = on_ended};

/* Joins the head once the token is granted and the init has come: the first
 * frame the socket gets is the IDR the join asks for. */
static void maybe_join(struct hws_sock *hs)
{
    if (hs->granted && hs->got_init && !hs->viewer && !hs->closing)
        hs->viewer = web_hub_join(hs->w->hub, (unsigned)hs->head, &hws_viewer, hs);
}

static void on_ready(void *data, int status, const struct web_grant *g, const char *err)
{
    struct hws_sock *hs = data;
    if (status < 0) {
        hws_fail(hs, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, err);
        return;
    }
    if (hs->head < 0)
        hs->head = g->control ? 0 : (int)g->head;
    if (!web_grant_has(g, (unsigned)hs->head) || hs->head >= WEB_HEADS) {
        char r[120];
        snprintf(r, sizeof r, "this token does not grant head %d", hs->head);
        hws_fail(hs, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, r);
        return;
    }
    hs->granted = true;
    maybe_join(hs);
}

/* ---- browser -> server ---- */

static void input(struct hws_sock *hs, uint8_t kind, bool down, uint32_t code, int32_t x,
                  int32_t y)
{
    if (kind == HFX_INPUT_KEY && (code == HFX_KEY_LEFTSHIFT || code == HWS_KEY_RIGHTSHIFT))
        hs->shift_down[code == HWS_KEY_RIGHTSHIFT] = down;
    struct hfx_input ev = {.scanout = (uint32_t)hs->head, .kind = kind, .down = down,
                           .code = code, .x = x, .y = y};
    web_session_input(hs->session, &ev);
}

/* X11 keysym -> evdev code and whether it needs Shift, from the keymap of
 * the default rules (evdev, pc105, us) compiled by libxkbcommon once: a
 * key's levels 1 and 2 (the latter only where Shift alone selects it). */
#define KEYSYM_SHIFT 0x10000u
static GHashTable *keysyms;   /* keysym -> evdev code | KEYSYM_SHIFT */

struct keysym_walk {
    struct xkb_keymap *km;
    xkb_mod_mask_t shift;
    xkb_level_index_t level;
};

static void add_key(struct xkb_keymap *km, xkb_keycode_t kc, void *data)
{
    struct keysym_walk *kw = data;
    if (kc < 9 || kc - 8 > HFX_INPUT_MAX_KEY || kw->level >= xkb_keymap_num_levels_for_key(km, kc, 0))
        return;
    if (kw->level) {
        xkb_mod_mask_t masks[8];
        size_t n = xkb_keymap_key_get_mods_for_level(km, kc, 0, kw->level, masks, 8);
        bool by_shift = false;
        for (size_t i = 0; i < n; i++)
            by_shift |= masks[i] == kw->shift;
        if (!by_shift)
            return;
    }
    const xkb_keysym_t *syms;
    int n = xkb_keymap_key_get_syms_by_level(km, kc, 0, kw->level, &syms);
    for (int i = 0; i < n; i++)
        if (!g_hash_table_contains(keysyms, GUINT_TO_POINTER(syms[i])))
            g_hash_table_insert(keysyms, GUINT_TO_POINTER(syms[i]),
                                GUINT_TO_POINTER((kc - 8) | (kw->level ? KEYSYM_SHIFT : 0)));
}

static gpointer keysyms_build(gpointer unused)
{
    keysyms = g_hash_table_new(NULL, NULL);
    struct xkb_context *ctx = xkb_context_new(XKB_CONTEXT_NO_ENVIRONMENT_NAMES);
    struct xkb_rule_names names = {.rules = "evdev", .model = "pc105", .layout = "us"};
    struct xkb_keymap *km = ctx ? xkb_keymap_new_from_names(ctx, &names, 0) : NULL;
    if (!km) {
        hfx_log(HFX_LOG_WARN, "web: /ws/stream: no xkb keymap (evdev/us); keysyms ignored");
    } else {
        struct keysym_walk kw = {.km = km,
                                 .shift = 1u << xkb_keymap_mod_get_index(km, XKB_MOD_NAME_SHIFT)};
        for (kw.level = 0; kw.level < 2; kw.level++) /* level 1 wins over level 2 */
            xkb_keymap_key_for_each(km, add_key, &kw);
        xkb_keymap_unref(km);
    }
    xkb_context_unref(ctx);
    return NULL;
}

/* A keysym's press, release or both (tap). Where its level needs Shift and
 * this socket holds none, Left Shift is pressed before it and released
 * after it. */
static void keysym_key(struct hws_sock *hs, uint32_t keysym, bool press, bool release)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, keysyms_build, NULL);
    gpointer v;
    if (!g_hash_table_lookup_extended(keysyms, GUINT_TO_POINTER(keysym), NULL, &v)) {
        hfx_log(HFX_LOG_INFO, "web: /ws/stream: keysym 0x%x is not on the us keyboard; ignored",
                keysym);
        return;
    }
    uint32_t code = GPOINTER_TO_UINT(v) & ~KEYSYM_SHIFT;
    if (press && (GPOINTER_TO_UINT(v) & KEYSYM_SHIFT) && !hs->shift_down[0] &&
        !hs->shift_down[1] && !hs->shift_for) {
        input(hs, HFX_INPUT_KEY, true, HFX_KEY_LEFTSHIFT, 0, 0);
        hs->shift_for = code;
    }
    if (press)
        input(hs, HFX_INPUT_KEY, true, code, 0, 0);
    if (release)
        input(hs, HFX_INPUT_KEY, false, code, 0, 0);
    if (release && hs->shift_for == code) {
        input(hs, HFX_INPUT_KEY, false, HFX_KEY_LEFTSHIFT, 0, 0);
        hs->shift_for = 0;
    }
}

/* The message handlers return why a message is malformed, or NULL. */
static const char *keyboard(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n == 6 && p[1] == 0 && p[2] <= 1) {
        uint32_t code = get_be(p + 4, 2);
        if (code < 1 || code > HFX_INPUT_MAX_KEY)
            return "keyboard: evdev code out of 1..767";
        input(hs, HFX_INPUT_KEY, p[2], code, 0, 0);
    } else if (n == 8 && p[1] == 2 && p[2] <= 1) {
        keysym_key(hs, get_be(p + 4, 4), p[2], !p[2]);
    } else if (n == 7 && p[1] == 3) {
        keysym_key(hs, get_be(p + 3, 4), true, true);
    } else {
        return "keyboard: unknown sub-type, wrong length or down not 0/1";
    }
    return NULL;
}

/* Whole wheel steps of a high-resolution amount, the rest kept for later. */
static int32_t wheel_steps(float *acc, float amount)
{
    *acc += amount / HWS_WHEEL_UNIT;
    int32_t steps = (int32_t)truncf(*acc);
    *acc -= (float)steps;
    return steps;
}

static void wheel(struct hws_sock *hs, int32_t x, int32_t y)
{
    /* HXFR's bound is 32 steps an event: more go as several. */
    while (x || y) {
        int32_t sx = CLAMP(x, -HFX_INPUT_MAX_STEPS, HFX_INPUT_MAX_STEPS);
        int32_t sy = CLAMP(y, -HFX_INPUT_MAX_STEPS, HFX_INPUT_MAX_STEPS);
        input(hs, HFX_INPUT_WHEEL, false, 0, sx, sy);
        x -= sx;
        y -= sy;
    }
}

static const char *mouse(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n == 4 && p[1] == 2 && p[2] <= 1 && p[3] >= 1 && p[3] <= 3) {
        static const uint32_t buttons[] = {0, HFX_BUTTON_LEFT, HFX_BUTTON_MIDDLE,
                                           HFX_BUTTON_RIGHT};
        input(hs, HFX_INPUT_BUTTON, p[2], buttons[p[3]], 0, 0);
    } else if (n == 10 && p[1] == 3) {
        float dx = get_lef32(p + 2), dy = get_lef32(p + 6);
        if (!isfinite(dx) || !isfinite(dy) || fabsf(dx) > 1e6f || fabsf(dy) > 1e6f)
            return "mouse: wheel amount not a finite number within 1e6";
        int32_t sx = wheel_steps(&hs->wheel_x, dx), sy = wheel_steps(&hs->wheel_y, dy);
        wheel(hs, sx, sy);
    } else if (n == 4 && p[1] == 4) {
        wheel(hs, (int8_t)p[2], (int8_t)p[3]);
    } else {
        return "mouse: unknown sub-type, wrong length, down not 0/1 or button not 1..3";
    }
    return NULL;
}

static void pointer_to(struct hws_sock *hs, int64_t x, int64_t y)
{
    if (!hs->started)
        return; /* the head's size is not known yet */
    hs->px = (int32_t)CLAMP(x, 0, (int64_t)hs->width - 1);
    hs->py = (int32_t)CLAMP(y, 0, (int64_t)hs->height - 1);
    input(hs, HFX_INPUT_POINTER, false, 0, hs->px, hs->py);
}

static const char *absolute(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n != 10 || p[1] != 1)
        return "absolute pointer: wrong length or sub-type";
    int16_t x = (int16_t)get_be(p + 2, 2), y = (int16_t)get_be(p + 4, 2);
    int16_t rw = (int16_t)get_be(p + 6, 2), rh = (int16_t)get_be(p + 8, 2);
    if (rw <= 0 || rh <= 0)
        return "absolute pointer: reference size not positive";
    pointer_to(hs, (int64_t)x * hs->width / rw, (int64_t)y * hs->height / rh);
    return NULL;
}

static const char *relative(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n != 6 || p[1] != 0)
        return "relative pointer: wrong length or sub-type";
    /* Our pointer is a tablet: a move from where we last put it. */
    pointer_to(hs, hs->px + (int16_t)get_be(p + 2, 2), hs->py + (int16_t)get_be(p + 4, 2));
    return NULL;
}

static const char *touch(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n != 11 || p[1] > 2)
        return "touch: wrong length or event";
    if (!hs->told_touch)
        hfx_log(HFX_LOG_INFO, "web: /ws/stream: touch is not supported (StreamInit says so); "
                              "its events are ignored");
    hs->told_touch = true;
    return NULL;
}

/* A JSON object's member of the given type, or NULL. */
static JsonNode *member(JsonObject *o, const char *name, GType type)
{
    JsonNode *v = json_object_get_member(o, name);
    return v && JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == type ? v : NULL;
}

/* The root object of a JSON text, or NULL; *parser to unref either way. */
static JsonObject *json_object_of(const char *text, gsize n, JsonParser **parser)
{
    *parser = json_parser_new();
    if (!json_parser_load_from_data(*parser, text, (gssize)n, NULL))
        return NULL;
    JsonNode *root = json_parser_get_root(*parser);
    return root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
}

static const char *control(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    JsonParser *parser;
    JsonObject *o = json_object_of((const char *)p + 1, n - 1, &parser);
    const char *why = NULL;
    JsonNode *v = o ? json_object_get_member(o, "set_video_enabled") : NULL;
    if (!o) {
        why = "control: not a JSON object";
    } else if (v && !member(o, "set_video_enabled", G_TYPE_BOOLEAN)) {
        why = "control: set_video_enabled is not a boolean";
    } else if (v) {
        bool off = !json_node_get_boolean(v);
        if (hs->video_off && !off) {
            /* Back on: from the next keyframe, asked for now. */
            hs->out.wait_idr = true;
            web_hub_keyframe(hs->w->hub, (unsigned)hs->head);
        }
        hs->video_off = off;
    }
    g_object_unref(parser); /* other keys: ignored */
    return why;
}

static const char *ping(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    if (n != 13)
        return "ping: not 13 bytes";
    uint8_t *b = g_malloc0(HWS_PONG_SIZE);
    b[0] = HWS_PONG;
    memcpy(b + 1, p + 1, 12); /* seq and client time, echoed */
    put_be(b + 13, (uint64_t)g_get_real_time(), 8);
    put_be(b + 21, hs->latency_ms, 2); /* then scheduler p50/p99/max: 0, we have none */
    GBytes *msg = g_bytes_new_take(b, HWS_PONG_SIZE);
    web_out_other(&hs->out, msg);
    g_bytes_unref(msg);
    return NULL;
}

/* The init (text JSON, type "init"): what it asks is not negotiated (the
 * head's size and rate are the exporter's); width and height are kept only
 * for a keyframe whose size the parser could not read. */
static const char *init_message(struct hws_sock *hs, GBytes *message)
{
    gsize n;
    const char *text = g_bytes_get_data(message, &n);
    JsonParser *parser;
    JsonObject *o = json_object_of(text, n, &parser);
    JsonNode *type = o ? member(o, "type", G_TYPE_STRING) : NULL;
    JsonNode *w = o ? member(o, "width", G_TYPE_INT64) : NULL;
    JsonNode *h = o ? member(o, "height", G_TYPE_INT64) : NULL;
    const char *why = !o ? "init: not a JSON object"
                      : !type || strcmp(json_node_get_string(type), "init")
                          ? "init: the first text message's type is not \"init\""
                          : NULL;
    if (w && h && json_node_get_int(w) > 0 && json_node_get_int(w) <= 8192 &&
        json_node_get_int(h) > 0 && json_node_get_int(h) <= 8192) {
        hs->init_width = (uint32_t)json_node_get_int(w);
        hs->init_height = (uint32_t)json_node_get_int(h);
    }
    g_object_unref(parser);
    if (why)
        return why;
    hs->got_init = true;
    g_source_destroy(hs->init_timer);
    g_clear_pointer(&hs->init_timer, g_source_unref);
    maybe_join(hs);
    return NULL;
}

static const char *dispatch(struct hws_sock *hs, const uint8_t *p, gsize n)
{
    switch (p[0]) {
    case HWS_PING: return ping(hs, p, n);
    case HWS_KEYBOARD: return keyboard(hs, p, n);
    case HWS_MOUSE: return mouse(hs, p, n);
    case HWS_ABSOLUTE: return absolute(hs, p, n);
    case HWS_RELATIVE: return relative(hs, p, n);
    case HWS_TOUCH: return touch(hs, p, n);
    case HWS_CONTROL: return control(hs, p, n);
    default: return "unknown type";
    }
}

static void on_message(SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
    struct hws_sock *hs = data;
    hs->last_heard = g_get_monotonic_time();
    if (hs->closing)
        return;
    gsize n;
    const uint8_t *p = g_bytes_get_data(message, &n);
    const char *why = NULL;
    if (!hs->got_init) {
        /* binary before the init: skipped, as the deployed server does */
        if (type == SOUP_WEBSOCKET_DATA_TEXT)
            why = init_message(hs, message);
    } else if (type != SOUP_WEBSOCKET_DATA_BINARY) {
        why = "a text message after the init";
    } else if (!n) {
        why = "empty";
    } else if (hs->granted) { /* before, the exporter has not answered for the token */
        why = dispatch(hs, p, n);
    }
    if (why) {
        char r[200];
        if (n && hs->got_init)
            snprintf(r, sizeof r, "malformed message (type 0x%02x): %s", p[0], why);
        else
            snprintf(r, sizeof r, "malformed message: %s", why);
        hws_fail(hs, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, r);
    }
}

/* ---- the socket's life ---- */

static gboolean init_timeout(gpointer data)
{
    struct hws_sock *hs = data;
    g_clear_pointer(&hs->init_timer, g_source_unref);
    hws_fail(hs, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no init message within 30 s");
    return G_SOURCE_REMOVE;
}

/* libsoup 3.2 pings every HWS_KEEPALIVE_S but drops no one: a peer silent
 * (no message, no pong) for 30 s is dropped here; before the init, the
 * init's own 30 s say why. */
static gboolean alive_check(gpointer data)
{
    struct hws_sock *hs = data;
    if (hs->got_init && !hs->closing && g_get_monotonic_time() - hs->last_heard > HWS_SILENT_US &&
        soup_websocket_connection_get_state(hs->out.conn) == SOUP_WEBSOCKET_STATE_OPEN) {
        hs->closing = true;
        soup_websocket_connection_close(hs->out.conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                        "no answer for 30 s");
    }
    return G_SOURCE_CONTINUE;
}

static void on_pong(SoupWebsocketConnection *conn, GBytes *message, gpointer data)
{
    struct hws_sock *hs = data;
    hs->last_heard = g_get_monotonic_time();
}

static void on_closed(SoupWebsocketConnection *conn, gpointer data)
{
    struct hws_sock *hs = data;
    if (hs->viewer)
        web_hub_leave(hs->viewer);
    if (hs->session)
        web_session_close(hs->session);
    web_out_fini(&hs->out);
    if (hs->init_timer)
        g_source_destroy(hs->init_timer);
    g_clear_pointer(&hs->init_timer, g_source_unref);
    g_source_destroy(hs->alive_timer);
    g_source_unref(hs->alive_timer);
    if (hs->cargb)
        g_bytes_unref(hs->cargb);
    g_free(hs);
}

static GSource *timer(struct hws_sock *hs, guint seconds, GSourceFunc fn)
{
    GSource *t = g_timeout_source_new_seconds(seconds);
    g_source_set_callback(t, fn, hs, NULL);
    g_source_attach(t, hs->w->ctx);
    return t;
}

void web_helix_ws(struct hfx_web *w, SoupServerMessage *msg, const char *path,
                  SoupWebsocketConnection *conn)
{
    struct hws_sock *hs = g_new0(struct hws_sock, 1);
    hs->w = w;
    hs->head = -1;
    hs->last_heard = g_get_monotonic_time();
    hs->cvisible = true;
    web_out_init(&hs->out, w, msg, conn);
    soup_websocket_connection_set_max_incoming_payload_size(conn, HWS_MAX_INCOMING);
    soup_websocket_connection_set_keepalive_interval(conn, HWS_KEEPALIVE_S);
    g_signal_connect(conn, "message", G_CALLBACK(on_message), hs);
    g_signal_connect(conn, "pong", G_CALLBACK(on_pong), hs);
    g_signal_connect(conn, "closed", G_CALLBACK(on_closed), hs);
    hs->alive_timer = timer(hs, HWS_KEEPALIVE_S, alive_check);
    hs->init_timer = timer(hs, HWS_INIT_TIMEOUT_S, init_timeout);
    char *head = web_query(msg, "head");
    if (!head)
        head = web_query(msg, "scanout");
    char *end = NULL;
    unsigned long id = head ? strtoul(head, &end, 10) : 0;
    bool bad = head && (!*head || *end || id >= WEB_HEADS);
    if (head && !bad)
        hs->head = (int)id;
    g_free(head);
    if (bad) {
        hws_fail(hs, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no such head (head=0..15)");
        return;
    }
    char *token = web_query(msg, "token");
    hs->session = web_session_open(w->sessions, token, on_ready, hs);
    g_free(token);
}
