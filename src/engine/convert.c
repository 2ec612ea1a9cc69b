#include "engine/convert.h"

#include <libyuv.h>

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

bool hfx_format_supported(uint32_t fourcc)
{
    return converter(fourcc) != NULL;
}

void hfx_convert_rect(struct hfx_picture *dst, const uint8_t *src, uint32_t stride,
                      uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    to_i420_fn fn = converter(fourcc);
    fn(src + (size_t)y * stride + (size_t)x * 4, (int)stride,
       dst->plane[0] + (size_t)y * dst->stride[0] + x, (int)dst->stride[0],
       dst->plane[1] + (size_t)(y / 2) * dst->stride[1] + x / 2, (int)dst->stride[1],
       dst->plane[2] + (size_t)(y / 2) * dst->stride[2] + x / 2, (int)dst->stride[2],
       (int)w, (int)h);
}
