#include "engine/convert.h"

#include <libyuv.h>
#include <pixman.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#if defined(__x86_64__)
#include <libyuv/row.h>
#endif

#include "engine/engine.h"
#include "engine/prefetch.h"

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

#if defined(__x86_64__)
/* libyuv's row kernels (libyuv/row.h), driven a piece at a time so that
 * the source is read ahead (read_ahead_to_i420). Debian's libyuv exports
 * them; there are AVX2 ones for the two orders QEMU's surfaces come in. */
struct row_kernels {
    void (*y)(const uint8_t *, uint8_t *, int);
    void (*uv)(const uint8_t *, int, uint8_t *, uint8_t *, int);
    /* The same for any width: the AVX2 ones take multiples of 32. */
    void (*y_any)(const uint8_t *, uint8_t *, int);
    void (*uv_any)(const uint8_t *, int, uint8_t *, uint8_t *, int);
};

static const struct row_kernels argb_kernels = {ARGBToYRow_AVX2, ARGBToUVRow_AVX2,
                                                ARGBToYRow_Any_AVX2, ARGBToUVRow_Any_AVX2};
static const struct row_kernels abgr_kernels = {ABGRToYRow_AVX2, ABGRToUVRow_AVX2,
                                                ABGRToYRow_Any_AVX2, ABGRToUVRow_Any_AVX2};

static const struct row_kernels *row_kernels(uint32_t fourcc)
{
    if (!TestCpuFlag(kCpuHasAVX2))
        return NULL;
    switch (fourcc) {
    case HFX_FMT_XRGB8888:
    case HFX_FMT_ARGB8888:
        return &argb_kernels;
    case HFX_FMT_XBGR8888:
    case HFX_FMT_ABGR8888:
        return &abgr_kernels;
    default:
        return NULL;
    }
}

/* Pixels converted between two requests to read ahead (a multiple of 32,
 * the kernels' step), and how far ahead those reach: 8 KB of each of the
 * pair of rows, continuing into the next pair where a row ends. */
#define PIECE 256
#define READ_AHEAD_BYTES 8192

/* Asks to write columns [x, x + n) of the pair of rows from row r of an
 * h-row rectangle: both luma rows and the chroma row. */
static void prefetch_pair_out(uint8_t *Y, int ys, uint8_t *U, int us, uint8_t *V, int vs,
                              uint32_t h, uint32_t r, uint32_t x, uint32_t n)
{
    if (r >= h)
        return;
    hfx_prefetch_write(Y + (size_t)r * ys + x, n);
    if (r + 1 < h)
        hfx_prefetch_write(Y + (size_t)(r + 1) * ys + x, n);
    hfx_prefetch_write(U + (size_t)(r / 2) * us + x / 2, (n + 1) / 2);
    hfx_prefetch_write(V + (size_t)(r / 2) * vs + x / 2, (n + 1) / 2);
}

/* What libyuv's XxxToI420 does (each pair of rows: its chroma row, then
 * its two luma rows; an odd last row alone), in pieces of PIECE pixels,
 * each after asking for the source READ_AHEAD_BYTES ahead of it. The
 * surface a front end hands over was just written and is mostly not in
 * our caches, and the hardware's prefetch alone leaves the kernels
 * waiting on it: a 1080p frame after 16 ms away converts in about 0.55 ms
 * instead of 0.70 (docs/benchmarks.md). Its output rows are asked for
 * too, for writing, a few pairs ahead (at least READ_AHEAD_BYTES of
 * source): staging was last read by the worker on another core and each
 * store would otherwise wait for its line: the bench's 200x150 window
 * update took 54-75 us p50 with the source read ahead alone, 28-39 us
 * with this (docs/benchmarks.md). Each output sample depends on its own
 * 2x2 source samples only, and pieces start at even columns, so the
 * output is libyuv's whole call's (test_engine). */
static void read_ahead_to_i420(const struct row_kernels *k, const uint8_t *src, int32_t stride,
                               uint8_t *Y, int ys, uint8_t *U, int us, uint8_t *V, int vs,
                               uint32_t w, uint32_t h)
{
    size_t row_bytes = (size_t)w * 4;
    uint32_t dst_ahead = 2 * (uint32_t)(READ_AHEAD_BYTES / (2 * row_bytes) + 1);
    for (uint32_t r = 0; r < dst_ahead; r += 2)
        prefetch_pair_out(Y, ys, U, us, V, vs, h, r, 0, w);
    for (uint32_t r = 0; r < h; r += 2) {
        const uint8_t *a = src + (ptrdiff_t)r * stride;
        bool pair = r + 1 < h;
        /* An odd last row's chroma is of that row alone (stride 0). */
        int32_t pair_stride = pair ? stride : 0;
        /* The next pair (NULL: none), read ahead as this one ends. */
        const uint8_t *next = r + 2 < h ? a + 2 * (ptrdiff_t)stride : NULL;
        int32_t next_stride = r + 3 < h ? stride : 0;
        for (uint32_t x = 0; x < w; x += PIECE) {
            uint32_t n = w - x < PIECE ? w - x : PIECE;
            size_t ahead = (size_t)x * 4 + READ_AHEAD_BYTES;
            hfx_prefetch_ahead(a, next, row_bytes, ahead, PIECE * 4);
            hfx_prefetch_ahead(a + pair_stride, next ? next + next_stride : NULL, row_bytes, ahead,
                               PIECE * 4);
            prefetch_pair_out(Y, ys, U, us, V, vs, h, r + dst_ahead, x, n);
            const uint8_t *p = a + (size_t)x * 4;
            uint8_t *y0 = Y + (size_t)r * ys + x;
            bool whole = n % 32 == 0;
            (whole ? k->uv : k->uv_any)(p, (int)pair_stride, U + (size_t)(r / 2) * us + x / 2,
                                        V + (size_t)(r / 2) * vs + x / 2, (int)n);
            (whole ? k->y : k->y_any)(p, y0, (int)n);
            if (pair)
                (whole ? k->y : k->y_any)(p + stride, y0 + ys, (int)n);
        }
    }
}
#endif

void hfx_convert_rect(struct hfx_picture *dst, const uint8_t *src, int32_t stride,
                      uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    const uint8_t *from = src + (ptrdiff_t)y * stride + (size_t)x * 4;
    uint8_t *Y = dst->plane[0] + (size_t)y * dst->stride[0] + x;
    uint8_t *U = dst->plane[1] + (size_t)(y / 2) * dst->stride[1] + x / 2;
    uint8_t *V = dst->plane[2] + (size_t)(y / 2) * dst->stride[2] + x / 2;
#if defined(__x86_64__)
    const struct row_kernels *k = row_kernels(fourcc);
    if (k) {
        read_ahead_to_i420(k, from, stride, Y, (int)dst->stride[0], U, (int)dst->stride[1], V,
                           (int)dst->stride[2], w, h);
        pad_odd_edges(dst, x, y, w, h);
        return;
    }
#endif
    converter(fourcc)(from, (int)stride, Y, (int)dst->stride[0], U, (int)dst->stride[1], V,
                      (int)dst->stride[2], (int)w, (int)h);
    pad_odd_edges(dst, x, y, w, h);
}
