#include "frontend/surface_diff.h"

#include <stdbool.h>
#include <string.h>

/* 128 pixels by 16 rows: wide enough that a row compare is one fast memcmp,
 * short enough that a blinking cursor damages little. */
#define TILE_W 128
#define TILE_H 16

static bool tile_differs(const uint8_t *dst, uint32_t dst_stride, const uint8_t *src,
                         uint32_t src_stride, uint32_t bytes, uint32_t rows)
{
    for (uint32_t r = 0; r < rows; r++)
        if (memcmp(dst + (size_t)r * dst_stride, src + (size_t)r * src_stride, bytes))
            return true;
    return false;
}

static void copy_tile(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, uint32_t src_stride,
                      uint32_t bytes, uint32_t rows)
{
    for (uint32_t r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * dst_stride, src + (size_t)r * src_stride, bytes);
}

struct bounds {
    int32_t x1, y1, x2, y2;
};

static void add(struct hfx_rect *rects, int max, int *n, struct bounds *b, struct hfx_rect r)
{
    if (*n < max)
        rects[*n] = r;
    (*n)++;
    b->x1 = r.x < b->x1 ? r.x : b->x1;
    b->y1 = r.y < b->y1 ? r.y : b->y1;
    b->x2 = r.x + r.w > b->x2 ? r.x + r.w : b->x2;
    b->y2 = r.y + r.h > b->y2 ? r.y + r.h : b->y2;
}

int hfx_surface_diff(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, uint32_t src_stride,
                     uint32_t w, uint32_t h, struct hfx_rect *rects, int max)
{
    int n = 0;
    struct bounds b = {INT32_MAX, INT32_MAX, 0, 0};
    for (uint32_t y = 0; y < h; y += TILE_H) {
        uint32_t rows = h - y < TILE_H ? h - y : TILE_H;
        int32_t run = -1; /* x where the current run of changed tiles began */
        for (uint32_t x = 0; x < w; x += TILE_W) {
            uint32_t cols = w - x < TILE_W ? w - x : TILE_W;
            size_t dofs = (size_t)y * dst_stride + (size_t)x * 4;
            size_t sofs = (size_t)y * src_stride + (size_t)x * 4;
            bool changed = tile_differs(dst + dofs, dst_stride, src + sofs, src_stride, cols * 4,
                                        rows);
            if (changed) {
                copy_tile(dst + dofs, dst_stride, src + sofs, src_stride, cols * 4, rows);
                if (run < 0)
                    run = (int32_t)x;
            } else if (run >= 0) {
                add(rects, max, &n, &b, (struct hfx_rect){run, (int32_t)y, (int32_t)x - run,
                                                          (int32_t)rows});
                run = -1;
            }
        }
        if (run >= 0)
            add(rects, max, &n, &b, (struct hfx_rect){run, (int32_t)y, (int32_t)w - run,
                                                      (int32_t)rows});
    }
    if (n > max && max > 0) {
        /* Too many pieces: their bounding box, a superset of the change. */
        rects[0] = (struct hfx_rect){b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1};
        n = 1;
    }
    return n;
}
