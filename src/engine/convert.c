#include "engine/convert.h"

#include <libyuv.h>
#include <pixman.h>
#include <stddef.h>
#include <string.h>

#include "engine/engine.h"

typedef int (*to_i420_fn)(const uint8_t *, int, uint8_t *, int, uint8_t *, int, uint8_t *, int,
                          int, int);

/* libyuv names formats by their little-endian word, DRM by theirs too, but
 * the letters differ: DRM XRGB8888 is libyuv ARGB (bytes B,G,R,X). */
static to_i420_fn converter(uint32_t fourcc)
{
    switch (fourcc) {
    case HFX_FMT_XRGB8888:
    case HFX_FMT_ARGB8888:
        return ARGBToI420;
    case HFX_FMT_XBGR8888:
    case HFX_FMT_ABGR8888:
        return ABGRToI420;
    case HFX_FMT_BGRX8888:
    case HFX_FMT_BGRA8888:
        return BGRAToI420;
    default:
        return NULL;
    }
}

uint32_t hfx_format_from_pixman(uint32_t pixman_format)
{
    switch (pixman_format) {
    case PIXMAN_x8r8g8b8: return HFX_FMT_XRGB8888;
    case PIXMAN_a8r8g8b8: return HFX_FMT_ARGB8888;
    case PIXMAN_x8b8g8r8: return HFX_FMT_XBGR8888;
    case PIXMAN_a8b8g8r8: return HFX_FMT_ABGR8888;
    case PIXMAN_b8g8r8x8: return HFX_FMT_BGRX8888;
    case PIXMAN_b8g8r8a8: return HFX_FMT_BGRA8888;
    default: return 0;
    }
}

bool hfx_format_supported(uint32_t fourcc)
{
    return converter(fourcc) != NULL;
}

/* 4:2:0 H.264 crops in steps of two pixels, so an odd-sized picture is coded
 * one column or row larger. Repeating the edge there keeps that extra line
 * (which a decoder may show) a copy of its neighbour instead of black. */
static void pad_odd_edges(struct hfx_picture *dst, uint32_t x, uint32_t y, uint32_t w,
                          uint32_t h)
{
    uint8_t *Y = dst->plane[0];
    size_t ys = dst->stride[0];
    bool right = (dst->width & 1) && x + w == dst->width;
    bool bottom = (dst->height & 1) && y + h == dst->height;
    if (right)
        for (uint32_t r = y; r < y + h; r++)
            Y[r * ys + dst->width] = Y[r * ys + dst->width - 1];
    if (bottom)
        memcpy(Y + (size_t)dst->height * ys + x, Y + (size_t)(dst->height - 1) * ys + x,
               w + right);
}

void hfx_convert_rect(struct hfx_picture *dst, const uint8_t *src, int32_t stride,
                      uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    to_i420_fn fn = converter(fourcc);
    fn(src + (ptrdiff_t)y * stride + (size_t)x * 4, (int)stride,
       dst->plane[0] + (size_t)y * dst->stride[0] + x, (int)dst->stride[0],
       dst->plane[1] + (size_t)(y / 2) * dst->stride[1] + x / 2, (int)dst->stride[1],
       dst->plane[2] + (size_t)(y / 2) * dst->stride[2] + x / 2, (int)dst->stride[2],
       (int)w, (int)h);
    pad_odd_edges(dst, x, y, w, h);
}
