/* Finds what changed between two copies of a surface. QEMU 7.2's D-Bus
 * listener sends every update that covers the whole surface (each page flip
 * of a virtio-gpu head) as a full Scanout with no damage; comparing it with
 * the previous copy recovers the damage, so encoding still follows what
 * changed. */
#ifndef HFX_FRONTEND_SURFACE_DIFF_H
#define HFX_FRONTEND_SURFACE_DIFF_H

#include <stdint.h>

#include "engine/rect.h"

/* Compares src with dst (both w x h, 32-bit pixels) in tiles, copies the
 * tiles that differ into dst and describes them in rects (horizontally
 * merged per band of tile rows). Returns the number of rects, at most max;
 * when more would be needed, whole bands are reported instead. */
int hfx_surface_diff(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, uint32_t src_stride,
                     uint32_t w, uint32_t h, struct hfx_rect *rects, int max);

#endif
