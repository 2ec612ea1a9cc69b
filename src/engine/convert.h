#ifndef HFX_ENGINE_CONVERT_H
#define HFX_ENGINE_CONVERT_H

#include <stdint.h>

#include "common/picture.h"

/* Converts the rectangle [x, x+w) x [y, y+h) of a packed 32-bit surface (row
 * y at src + y * stride: a negative stride for a bottom-up surface) into the
 * same place of dst (I420, BT.601 limited range, as libyuv does). x and y
 * must be even; w and h are whatever is left up to the surface edge. */
void hfx_convert_rect(struct hfx_picture *dst, const uint8_t *src, int32_t stride,
                      uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h);

#endif
