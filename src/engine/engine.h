/* The engine: per-scanout state, damage, conversion to I420 and one encode
 * worker thread per scanout. Every front end (synthetic source, QEMU D-Bus,
 * in-QEMU listener) feeds it through the hfx_engine_scanout_* calls; encoded
 * access units leave through the sink; control requests from the network
 * reach the front end through hfx_frontend_ops.
 *
 * Threading contract: the scanout_* entry points are called by the front end
 * (for the in-QEMU build: QEMU's main thread holding its global lock). They
 * never wait for the encoder or the network: the only lock they take is a
 * per-scanout lock the worker holds for O(1) pointer swaps. The control calls
 * (subscribe, keyframe, bitrate, head requests) may come from any thread and
 * take no lock the front end takes. */
#ifndef HFX_ENGINE_H
#define HFX_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/input.h"
#include "encoder/encoder.h"
#include "engine/rect.h"

#define HFX_MAX_SCANOUTS 16
#define HFX_MAX_WIDTH 8192
#define HFX_MAX_HEIGHT 8192

/* Pixel formats: the DRM fourcc codes, so front ends pass them through. */
#define HFX_FOURCC(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define HFX_FMT_XRGB8888 HFX_FOURCC('X', 'R', '2', '4') /* memory B,G,R,X */
#define HFX_FMT_ARGB8888 HFX_FOURCC('A', 'R', '2', '4') /* memory B,G,R,A */
#define HFX_FMT_XBGR8888 HFX_FOURCC('X', 'B', '2', '4') /* memory R,G,B,X */
#define HFX_FMT_ABGR8888 HFX_FOURCC('A', 'B', '2', '4') /* memory R,G,B,A */
#define HFX_FMT_BGRX8888 HFX_FOURCC('B', 'X', '2', '4') /* memory X,R,G,B */
#define HFX_FMT_BGRA8888 HFX_FOURCC('B', 'A', '2', '4') /* memory A,R,G,B */

bool hfx_format_supported(uint32_t fourcc);
/* The fourcc of a pixman format code (what QEMU's display surfaces use), or
 * 0 when the engine does not take that format. */
uint32_t hfx_format_from_pixman(uint32_t pixman_format);

/* Room reserved in front of every access unit so the server can put its
 * message header there and send the packet as one buffer. */
#define HFX_PACKET_HEADROOM 64

/* One encoded access unit, shared by reference between every subscriber
 * queue that holds it. */
struct hfx_packet {
    atomic_int refs;
    uint32_t scanout;
    bool keyframe;
    uint32_t generation;    /* bumps on every size change of the scanout */
    uint64_t seq;           /* access units encoded on this scanout */
    int64_t pts_ns;         /* CLOCK_MONOTONIC of the newest update it shows */
    int64_t first_damage_ns;/* oldest update coalesced into it */
    int64_t convert_ns;     /* front-end time spent converting its damage */
    int64_t encode_ns;      /* time inside the encoder call */
    int64_t encoded_at_ns;
    uint32_t width, height;
    uint32_t damaged_mbs, total_mbs;
    size_t au_size;
    uint8_t *au;            /* = buf + HFX_PACKET_HEADROOM */
    uint8_t buf[];
};

struct hfx_packet *hfx_packet_ref(struct hfx_packet *p);
void hfx_packet_unref(struct hfx_packet *p);

/* A head's pointer: where it is and, when it changed, its shape. */
#define HFX_CURSOR_MAX_SIDE 256
struct hfx_cursor {
    int32_t x, y;
    bool visible;
    uint16_t width, height;     /* 0: this is a move, the shape stays */
    uint16_t hot_x, hot_y;
    const uint8_t *argb;        /* width * height 32-bit ARGB words (bytes B,G,R,A) */
};

/* Where encoded output and scanout events go (the server). Called on the
 * scanouts' worker threads (cursor: the front end's thread): implementations
 * hand off and return at once. */
struct hfx_engine_sink {
    /* Takes over one reference to pkt. */
    void (*packet)(void *data, struct hfx_packet *pkt);
    /* A scanout was disabled by its front end: its stream has ended. */
    void (*scanout_ended)(void *data, uint32_t scanout);
    /* The pointer moved or changed shape; the sink copies what it keeps. */
    void (*cursor)(void *data, uint32_t scanout, const struct hfx_cursor *c);
};

/* Result of a head request, delivered once, from any thread. */
typedef void (*hfx_head_done_fn)(void *done_data, int status, const char *text);

/* What the front end lets the network do to its heads. NULL entries mean the
 * front end cannot do that; the engine answers with an error. */
struct hfx_frontend_ops {
    /* Turn head `scanout` on at w x h (refresh in Hz, 0 = default) or off.
     * Must not block; calls done exactly once, possibly before returning.
     * On success text is the connector name the guest sees. */
    void (*set_head)(void *data, uint32_t scanout, bool enable, uint32_t w, uint32_t h,
                     uint32_t refresh, hfx_head_done_fn done, void *done_data);
    /* Hand one keyboard or pointer event to the VM's devices of that head.
     * Must not block. 0, or -1 with err saying why it was not taken. */
    int (*input)(void *data, const struct hfx_input *ev, char *err, size_t errlen);
};

struct hfx_engine_config {
    uint32_t max_scanouts;      /* 1..HFX_MAX_SCANOUTS */
    const char *encoder;        /* backend name; NULL = the registry's default */
    uint32_t bitrate;           /* bits/s; 0 = scaled to the resolution */
    uint32_t fps;               /* nominal rate for rate control; 0 = 60 */
    int threads;                /* encoder threads per scanout; 0 = 1 */
    int quality;                /* QP (x264: CRF); 0 = HFX_DEFAULT_QUALITY */
    uint32_t idr_interval_ms;   /* periodic IDR; 0 = never */
    uint32_t idle_refresh_ms;   /* all-skip frame after this long without one; 0 = off */
    bool no_damage_hints;       /* encode whole frames (benchmark baseline) */
    const struct hfx_engine_sink *sink;
    void *sink_data;
};

struct hfx_engine;

/* NULL with err filled if the configuration is unusable. */
struct hfx_engine *hfx_engine_new(const struct hfx_engine_config *cfg, char *err, size_t errlen);
/* Stops every worker; the sink is not called after it returns. */
void hfx_engine_free(struct hfx_engine *e);
uint32_t hfx_engine_max_scanouts(const struct hfx_engine *e);

void hfx_engine_set_frontend(struct hfx_engine *e, const struct hfx_frontend_ops *ops, void *data);

/* ---- front-end side ----
 *
 * Surfaces are rows of 32-bit pixels: row y starts at pixels + y * stride.
 * A bottom-up surface (a GL buffer whose first row in memory is the bottom
 * of the picture) is passed with pixels at its top row (the last in memory)
 * and a negative stride; |stride| is at least width * 4. */

/* The scanout now shows a width x height surface in `format` (a new surface
 * or a size change). The whole surface is converted; subscribers get an IDR
 * with new SPS/PPS. Returns 0, or -1 with err filled on a bad argument. */
int hfx_engine_scanout_set(struct hfx_engine *e, uint32_t scanout, uint32_t width,
                           uint32_t height, uint32_t format, const uint8_t *pixels,
                           int32_t stride, char *err, size_t errlen);
/* hfx_engine_scanout_set for a caller that must return at once whatever
 * the size (QEMU's main loop: converting a 5120x2880 surface takes tens of
 * milliseconds). The arguments are checked here (-1 with err filled); the
 * scanout's worker allocates, converts and fingerprints the surface, then
 * calls release(release_data) on its own thread, with the contract of
 * hfx_engine_scanout_update_deferred. Updates handed in after this call
 * belong to the new surface; a synchronous update before the worker has
 * installed it is dropped, as the whole surface is converted anyway. If the
 * worker runs out of memory for it, the scanout is disabled (logged). */
int hfx_engine_scanout_set_deferred(struct hfx_engine *e, uint32_t scanout, uint32_t width,
                                    uint32_t height, uint32_t format, const uint8_t *pixels,
                                    int32_t stride, void (*release)(void *data),
                                    void *release_data, char *err, size_t errlen);
/* The rectangles of the surface changed. pixels/stride describe the whole
 * surface (same size and format as the last scanout_set). Only the damaged
 * region is converted, but for rows of a large damaged rectangle that are
 * rows of the picture before moved up or down (a scroll): the engine keeps
 * a fingerprint of each row of every 64-pixel stripe (src/engine/rows.h),
 * moves those rows of its picture instead of converting them, and tells
 * the encoder. Rectangles are clipped to the surface. */
int hfx_engine_scanout_update(struct hfx_engine *e, uint32_t scanout, const uint8_t *pixels,
                              int32_t stride, const struct hfx_rect *rects, int nrects);
/* A copy of the picture the engine holds for the scanout (I420, what its
 * next frame encodes, updates handed over to its worker aside) into pic,
 * which has the scanout's size: 0, or -1 when it is off or of another
 * size. For tests that check the engine's picture bit for bit. */
int hfx_engine_scanout_picture(struct hfx_engine *e, uint32_t scanout, struct hfx_picture *pic);
/* Like hfx_engine_scanout_update, but the caller's thread only records the
 * damage: the scanout's worker converts it, then calls release(release_data)
 * on its own thread (once per call, also when the update is dropped because
 * the surface was replaced meanwhile). pixels must stay valid until then; a
 * front end whose surfaces change only on its own thread (QEMU's 2D
 * displays) should not change them meanwhile, or a frame may show the newer
 * content. For a caller that must return at once, whatever the damage. */
int hfx_engine_scanout_update_deferred(struct hfx_engine *e, uint32_t scanout,
                                       const uint8_t *pixels, int32_t stride,
                                       const struct hfx_rect *rects, int nrects,
                                       void (*release)(void *data), void *release_data);
/* Like hfx_engine_scanout_update, for rectangles that only MAY have changed
 * (rects NULL or nrects 0: the whole surface). The typical caller is a page
 * flip: the surface now shows another buffer of the same size and format,
 * and whatever the guest flushed, the damage is what differs from the
 * picture shown before. The engine keeps a 64-bit fingerprint (XXH3) of
 * every 64x16 tile of what it converted; it hashes the tiles the rectangles
 * touch and converts only those whose fingerprint changed. Costs one read
 * of those tiles (docs/benchmarks.md: per flip at 1080p and 5K). */
int hfx_engine_scanout_compare(struct hfx_engine *e, uint32_t scanout, const uint8_t *pixels,
                               int32_t stride, const struct hfx_rect *rects, int nrects);
/* hfx_engine_scanout_compare on the scanout's worker, with the contract of
 * hfx_engine_scanout_update_deferred (pixels valid until release). */
int hfx_engine_scanout_compare_deferred(struct hfx_engine *e, uint32_t scanout,
                                        const uint8_t *pixels, int32_t stride,
                                        const struct hfx_rect *rects, int nrects,
                                        void (*release)(void *data), void *release_data);
/* The head is gone (guest disabled it): the stream ends. Returns at once:
 * the worker frees the pictures; updates after this call are dropped. */
void hfx_engine_scanout_disable(struct hfx_engine *e, uint32_t scanout);
/* The head's pointer moved or changed shape (for the extended protocol).
 * Returns -1 for a bad scanout or a shape over HFX_CURSOR_MAX_SIDE. */
int hfx_engine_scanout_cursor(struct hfx_engine *e, uint32_t scanout, const struct hfx_cursor *c);

/* ---- network side (any thread) ---- */

/* Adds (+1) or removes (-1) a subscriber. The first one creates the encoder;
 * every addition asks for an IDR (joins close together share it); the last
 * removal closes the encoder. */
void hfx_engine_subscribe(struct hfx_engine *e, uint32_t scanout, int delta);
void hfx_engine_request_keyframe(struct hfx_engine *e, uint32_t scanout);
/* 0 = back to the default. */
void hfx_engine_set_bitrate(struct hfx_engine *e, uint32_t scanout, uint32_t bitrate);
void hfx_engine_set_head(struct hfx_engine *e, uint32_t scanout, bool enable, uint32_t w,
                         uint32_t h, uint32_t refresh, hfx_head_done_fn done, void *done_data);
/* Input for the VM (docs/protocol.md, "INPUT"): 0, or -1 with err saying
 * why it was not taken (no such scanout, a front end without input, its
 * queue full). Never blocks. */
int hfx_engine_input(struct hfx_engine *e, const struct hfx_input *ev, char *err, size_t errlen);

struct hfx_scanout_stats {
    bool enabled;
    uint32_t width, height, format;
    int subscribers;
    bool encoder_open;
    const char *encoder;
    uint32_t bitrate;
    uint64_t updates, frames, keyframes, bytes;
    uint64_t coalesced;         /* updates folded into a later frame */
    /* Updates searched for a scroll (encoders that take moves only), and
     * those found moved: their rows were moved, not converted; of those,
     * the moves of the whole picture that shared the rows of the picture
     * they came from instead of copying them. */
    uint64_t move_searches, moves, moves_shared;
    /* The encoder backends' own counters (hfx_encoder_ops.counter_names),
     * summed over the encoders opened for the scanout; those of the
     * configured backend from the start. */
    uint32_t ncounters;
    struct hfx_encoder_counter counters[HFX_ENCODER_MAX_COUNTERS];
    uint64_t input_events;      /* INPUT events queued for its front end */
    int64_t last_encode_ns;
};
/* A consistent-enough snapshot for display (counters are read atomically). */
void hfx_engine_stats(struct hfx_engine *e, uint32_t scanout, struct hfx_scanout_stats *out);

#endif
