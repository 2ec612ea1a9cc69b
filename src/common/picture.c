#include "common/picture.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/ring.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* 64-byte rows keep every row start on a cache line and satisfy the widest
 * SIMD loads the converters and encoders use. */
#define ROW_ALIGN 64

/* Larger than anything H.264 can code; keeps the size arithmetic far from
 * overflow. */
#define MAX_DIM 65536

static uint32_t align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1) / a * a;
}

/* Black in limited range, the range the encoders signal. Each plane is
 * contiguous, a window of a ring too (ring.h). */
static void fill_black(struct hfx_picture *p)
{
    memset(p->plane[0], 16, (size_t)p->stride[0] * p->alloc_h);
    for (int i = 1; i < 3; i++)
        memset(p->plane[i], 128, (size_t)p->stride[i] * (p->alloc_h / 2));
}

struct hfx_picture *hfx_picture_new(uint32_t width, uint32_t height)
{
    if (width == 0 || height == 0 || width > MAX_DIM || height > MAX_DIM)
        return NULL;
    struct hfx_picture *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->width = width;
    p->height = height;
    p->alloc_w = align_up(width, 16);
    p->alloc_h = align_up(height, 16);
    p->stride[0] = align_up(p->alloc_w, ROW_ALIGN);
    p->stride[1] = p->stride[2] = align_up(p->alloc_w / 2, ROW_ALIGN);

    /* One block for all planes; every plane size is a multiple of ROW_ALIGN
     * so the chroma planes start aligned too. */
    size_t y_size = (size_t)p->stride[0] * p->alloc_h;
    size_t c_size = (size_t)p->stride[1] * (p->alloc_h / 2);
    uint8_t *buf = aligned_alloc(ROW_ALIGN, y_size + 2 * c_size);
    if (!buf) {
        free(p);
        return NULL;
    }
    p->plane[0] = buf;
    p->plane[1] = buf + y_size;
    p->plane[2] = buf + y_size + c_size;
    fill_black(p);
    return p;
}

/* The rings a pair of pictures shares: luma rows twice the chroma rows,
 * so that a window's chroma origin is half its luma one. */
struct hfx_picture_rings {
    struct hfx_ring ring[3];
    atomic_int users;           /* the pictures of the pair not freed yet, on any thread */
};

void hfx_picture_free(struct hfx_picture *p)
{
    if (!p)
        return;
    if (!p->rings) {
        free(p->plane[0]);
    } else if (atomic_fetch_sub(&p->rings->users, 1) == 1) {
        for (int i = 0; i < 3; i++)
            hfx_ring_fini(&p->rings->ring[i]);
        free(p->rings);
    }
    free(p);
}

/* Points p's planes at its windows from luma ring row `origin`. */
static void place(struct hfx_picture *p, uint32_t origin)
{
    p->origin = origin % p->rings->ring[0].rows;
    for (int i = 0; i < 3; i++)
        p->plane[i] =
            hfx_ring_window(&p->rings->ring[i], (int32_t)(i ? p->origin / 2 : p->origin));
}

int hfx_picture_pair_new(uint32_t width, uint32_t height, struct hfx_picture *out[2])
{
    out[0] = out[1] = NULL;
    struct hfx_picture *a = hfx_picture_new(width, height), *b = hfx_picture_new(width, height);
    struct hfx_picture_rings *r = calloc(1, sizeof *r);
    if (!a || !b || !r)
        goto fail;
    /* Room for both pictures apart: twice the rows, in whole pages of
     * each plane, the chroma rings half the luma one's rows. */
    uint32_t unit_y = hfx_ring_unit(a->stride[0]), unit_c = hfx_ring_unit(a->stride[1]);
    uint32_t unit = unit_c > (unit_y + 1) / 2 ? unit_c : (unit_y + 1) / 2;
    uint32_t crows = (a->alloc_h + unit - 1) / unit * unit;
    if (hfx_ring_init(&r->ring[0], a->stride[0], 2 * crows) < 0 ||
        hfx_ring_init(&r->ring[1], a->stride[1], crows) < 0 ||
        hfx_ring_init(&r->ring[2], a->stride[2], crows) < 0 || r->ring[0].rows != 2 * crows ||
        r->ring[1].rows != crows || r->ring[2].rows != crows) {
        /* No such mapping here (a sandbox without memfd_create, say): two
         * pictures of their own, which never share rows. */
        for (int i = 0; i < 3; i++)
            hfx_ring_fini(&r->ring[i]);
        free(r);
        out[0] = a;
        out[1] = b;
        return 0;
    }
    struct hfx_picture *p[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        free(p[k]->plane[0]);
        p[k]->rings = r;
        place(p[k], (uint32_t)k * a->alloc_h);
        fill_black(p[k]);
    }
    atomic_init(&r->users, 2);
    out[0] = a;
    out[1] = b;
    return 0;
fail:
    if (r)
        for (int i = 0; i < 3; i++)
            hfx_ring_fini(&r->ring[i]);
    free(r);
    hfx_picture_free(a);
    hfx_picture_free(b);
    return -1;
}

bool hfx_picture_overlaps(const struct hfx_picture *a, const struct hfx_picture *b)
{
    if (!a->rings || a->rings != b->rings)
        return false;
    uint32_t n = a->rings->ring[0].rows;
    uint32_t d = (b->origin + n - a->origin) % n;
    return d < a->alloc_h || n - d < a->alloc_h;
}

void hfx_picture_alias(struct hfx_picture *dst, const struct hfx_picture *src, int32_t dy)
{
    assert(dst->rings && dst->rings == src->rings && !(dy & 1));
    uint32_t n = src->rings->ring[0].rows;
    place(dst, (uint32_t)(((int64_t)src->origin + dy % (int64_t)n + n) % n));
}

void hfx_picture_apart(struct hfx_picture *dst, const struct hfx_picture *other)
{
    assert(dst->rings && dst->rings == other->rings);
    place(dst, other->origin + other->alloc_h);
}

/* A move this large (of luma; its chroma goes the same way) writes around
 * the caches: the picture is larger than this core's cache, and the
 * encoder that reads it runs on another core, so keeping the written
 * lines here only costs reading each of them in first. The I420 move of a
 * 3840x2160 scroll took 2.58 ms with memmove and 1.86 ms so (median of a
 * bench run each, 2-vCPU Xeon); 0.59 and 0.46 ms at 1920x1080. */
#define STREAM_MIN_BYTES (1u << 20)

/* n bytes from s to d, which do not overlap: with non-temporal stores
 * where the processor has them (SSE2 is part of x86-64). */
static void copy_streaming(uint8_t *d, const uint8_t *s, size_t n)
{
#if defined(__SSE2__)
    size_t i = (16 - ((uintptr_t)d & 15)) & 15;
    if (i > n)
        i = n;
    memcpy(d, s, i);
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
        _mm_stream_si128((__m128i *)(d + i), a);
        _mm_stream_si128((__m128i *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    memcpy(d + i, s + i, n - i);
#else
    memcpy(d, s, n);
#endif
}

/* Rows [y, y + h) of a plane at x from rows y + dy of src. Where dst is
 * src, rows go in the order that reads each before it is written (two
 * rows never overlap, so a row can be copied with streaming stores). */
static void move_plane(uint8_t *dst, uint32_t dst_stride, const uint8_t *src,
                       uint32_t src_stride, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                       int32_t dy, bool stream)
{
    for (uint32_t i = 0; i < h; i++) {
        uint32_t row = dy > 0 ? y + i : y + h - 1 - i;
        uint8_t *d = dst + (size_t)row * dst_stride + x;
        const uint8_t *s = src + (size_t)((int64_t)row + dy) * src_stride + x;
        if (stream && d != s)
            copy_streaming(d, s, w);
        else
            memmove(d, s, w);
    }
}

void hfx_picture_move_rect(struct hfx_picture *dst, const struct hfx_picture *src, uint32_t x,
                           uint32_t y, uint32_t w, uint32_t h, int32_t dy)
{
    assert(dst->alloc_w == src->alloc_w && dst->alloc_h == src->alloc_h);
    assert(((x | y | w | h | (uint32_t)dy) & 1) == 0);
    assert(x + w <= dst->alloc_w && y + h <= dst->alloc_h);
    assert((int64_t)y + dy >= 0 && (int64_t)y + h + dy <= dst->alloc_h);
    bool stream = (size_t)w * h >= STREAM_MIN_BYTES;
    move_plane(dst->plane[0], dst->stride[0], src->plane[0], src->stride[0], x, y, w, h, dy,
               stream);
    for (int i = 1; i < 3; i++)
        move_plane(dst->plane[i], dst->stride[i], src->plane[i], src->stride[i], x / 2, y / 2,
                   w / 2, h / 2, dy / 2, stream);
#if defined(__SSE2__)
    /* Streaming stores are not ordered with later ones: all are in memory
     * before the picture is handed on. */
    if (stream)
        _mm_sfence();
#endif
}

void hfx_picture_copy_rect(struct hfx_picture *dst, const struct hfx_picture *src,
                           uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    hfx_picture_move_rect(dst, src, x, y, w, h, 0);
}
