/*
 * helix-frame-export compiled into QEMU: GL (virgl) heads read back off
 * QEMU's main thread (hfx-gl.c), for the display listener (hfx-display.c).
 */
#ifndef HFX_GL_H
#define HFX_GL_H

#include "ui/console.h"
#include "engine/engine.h"
#include "hfx-timing.h"

/* Takes OpenGL for QEMU as a GL display would (-display egl-headless does
 * the same): an EGL context on the render node (NULL: the first one; with
 * no GPU, /dev/null gives Mesa's software renderer). Call while the object
 * is created, before the devices: virtio-gpu-gl refuses to start without.
 * `listener` is the one GL listener the consoles will accept. */
bool hfx_gl_init(const char *rendernode, const DisplayChangeListenerOps *listener,
                 Error **errp);
/* Makes the exporter the GL display of a console that has none: the
 * device's GL contexts come from here, and no listener but the exporter's
 * and plain 2D ones may attach. */
void hfx_gl_own_console(QemuConsole *con);

/* One head's GL scanouts read back on its own thread: QEMU's main thread
 * only records what changed and puts a fence in the GL command stream; the
 * reader waits for the fence, reads the texture into memory and hands the
 * pixels to the engine. */
typedef struct HfxGlReader HfxGlReader;

HfxGlReader *hfx_gl_reader_new(struct hfx_engine *engine, uint32_t scanout, Error **errp);
/* Joins the thread; call after the listener is gone. */
void hfx_gl_reader_free(HfxGlReader *r);
/* Main thread, from the listener's GL callbacks. */
void hfx_gl_reader_scanout(HfxGlReader *r, uint32_t texture, bool y0_top, uint32_t backing_width,
                           uint32_t backing_height, uint32_t x, uint32_t y, uint32_t width,
                           uint32_t height);
void hfx_gl_reader_update(HfxGlReader *r, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
void hfx_gl_reader_disable(HfxGlReader *r);
/* Readback durations on the reader's thread (for the statistics). */
const HfxTiming *hfx_gl_reader_timing(const HfxGlReader *r);
uint64_t hfx_gl_reader_bytes(const HfxGlReader *r);

#endif
