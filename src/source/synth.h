/* Synthetic desktop content: deterministic workloads that stand in for a
 * guest's screen. Frame n of a workload is the same on every run, so a test
 * can re-create what a decoded frame should look like from its number. */
#ifndef HFX_SOURCE_SYNTH_H
#define HFX_SOURCE_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/rect.h"

enum hfx_workload {
    HFX_WL_IDLE,    /* one frame, then nothing changes */
    HFX_WL_TYPING,  /* one character cell (and the frame-number strip) per frame */
    HFX_WL_SCROLL,  /* a text page scrolling vertically: whole-frame change */
    HFX_WL_VIDEO,   /* natural-looking content moving in two directions */
    HFX_WL_WINDOW,  /* a small window (200x150) mid-screen, repainted with new content */
    HFX_WL_HALF,    /* the left half of the screen moving as in video, the right half still */
    HFX_WL_PANE,    /* a text page scrolling inside an editor pane on a still desktop */
    HFX_WL_DRAG,    /* a window (480x360) dragged across the desktop, moving every frame */
    HFX_WL_SCROLL_BACK, /* scroll's page scrolled back towards its top: the text moving down */
};
#define HFX_WORKLOADS (HFX_WL_SCROLL_BACK + 1)

/* Parses "idle", "typing", "scroll", "video", "window", "half", "pane",
 * "drag", "scroll-back"; -1 if unknown. */
int hfx_workload_parse(const char *name);
const char *hfx_workload_name(enum hfx_workload wl);

struct hfx_synth;

/* A source of width x height XRGB8888 frames (memory order B,G,R,X). */
struct hfx_synth *hfx_synth_new(enum hfx_workload wl, uint32_t width, uint32_t height);
void hfx_synth_free(struct hfx_synth *s);

/* Advances to the next frame. Returns the number of damage rectangles written
 * to rects (at most max), 0 when nothing changed (idle after frame 0). The
 * first call produces frame 0 with the whole frame damaged. */
int hfx_synth_next(struct hfx_synth *s, struct hfx_rect *rects, int max);
uint32_t hfx_synth_frame(const struct hfx_synth *s);      /* current frame number */
const uint8_t *hfx_synth_pixels(const struct hfx_synth *s);
uint32_t hfx_synth_stride(const struct hfx_synth *s);      /* bytes */

/* Input made visible as the test guest shows it (source/input_stamp.h):
 * from now on every frame carries the input panel for st (and the pointer's
 * crosshair, at st's position clamped to the frame), drawn over the workload; the panel and crosshair are drawn now
 * too, their rectangles written to damage (up to 3: the panel, the crosshair
 * where it was and where it is; returns how many). The frame number does not
 * advance. */
struct hfx_input_stamp;
int hfx_synth_input(struct hfx_synth *s, const struct hfx_input_stamp *st,
                    struct hfx_rect damage[3]);

/* Page flips as a compositor on KMS makes them: every frame drawn whole into
 * the back one of two buffers, which is then shown; nobody says what
 * changed (the engine finds it: hfx_engine_scanout_compare). Used by the
 * synthetic front end's --flip and by hfx bench's flip rows. */
struct hfx_flip_buffers {
    uint8_t *buf[2];
    size_t bytes;               /* of one frame */
};
/* 0, or -1 out of memory (nothing to free then). */
int hfx_flip_buffers_init(struct hfx_flip_buffers *f, size_t bytes);
void hfx_flip_buffers_fini(struct hfx_flip_buffers *f);
/* Copies a whole frame (f->bytes of pixels) into the buffer frame number
 * `frame` is drawn into, and returns that buffer: the one to flip to. */
const uint8_t *hfx_flip_buffers_draw(struct hfx_flip_buffers *f, const uint8_t *pixels,
                                     uint32_t frame);

/* The frame number is written into every frame as a strip of black/white
 * 8x8 blocks at the top-left: a white guard block (so a black screen never
 * reads as frame 0), HFX_STAMP_BITS data bits (LSB first, white = 1), then an
 * even-parity block; HFX_STAMP_W x HFX_STAMP_H pixels. Blocks of 8x8 survive
 * lossy H.264 at any sane QP and 4:2:0 subsampling. */
#define HFX_STAMP_BITS 24
#define HFX_STAMP_BLOCK 8
#define HFX_STAMP_W ((HFX_STAMP_BITS + 2) * HFX_STAMP_BLOCK)
#define HFX_STAMP_H HFX_STAMP_BLOCK

void hfx_stamp_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t frame);
/* Reads the frame number back from a decoded luma plane; -1 if the strip is
 * not readable (parity or a block that is neither black nor white). */
int64_t hfx_stamp_read_luma(const uint8_t *y, uint32_t stride, uint32_t width, uint32_t height);

#endif
