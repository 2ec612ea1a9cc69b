#include "engine/tiles.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* libxxhash's run-time dispatch picks AVX2/AVX-512 where the CPU has them:
 * about twice as fast here as its SSE2 default (docs/benchmarks.md). */
#include <xxh_x86dispatch.h>
#define tile_row_hash XXH3_64bits_dispatch
#else
#define tile_row_hash XXH3_64bits
#endif

int hfx_tiles_init(struct hfx_tiles *t, uint32_t width, uint32_t height)
{
    uint32_t cols = (width + HFX_TILE_W - 1) / HFX_TILE_W;
    uint32_t rows = (height + HFX_TILE_H - 1) / HFX_TILE_H;
    uint64_t *hash = calloc((size_t)cols * rows, sizeof *hash);
    if (!hash)
        return -1;
    free(t->hash);
    *t = (struct hfx_tiles){hash, cols, rows, width, height};
    return 0;
}

void hfx_tiles_fini(struct hfx_tiles *t)
{
    free(t->hash);
    memset(t, 0, sizeof *t);
}

/* The tile columns and rows a box touches, clipped; false when none. */
static bool tile_span(const struct hfx_tiles *t, const pixman_box32_t *b, uint32_t *c1,
                      uint32_t *r1, uint32_t *c2, uint32_t *r2)
{
    int32_t x1 = b->x1 < 0 ? 0 : b->x1, y1 = b->y1 < 0 ? 0 : b->y1;
    int32_t x2 = b->x2 > (int32_t)t->width ? (int32_t)t->width : b->x2;
    int32_t y2 = b->y2 > (int32_t)t->height ? (int32_t)t->height : b->y2;
    if (x1 >= x2 || y1 >= y2)
        return false;
    *c1 = (uint32_t)x1 / HFX_TILE_W;
    *r1 = (uint32_t)y1 / HFX_TILE_H;
    *c2 = ((uint32_t)x2 + HFX_TILE_W - 1) / HFX_TILE_W;
    *r2 = ((uint32_t)y2 + HFX_TILE_H - 1) / HFX_TILE_H;
    return true;
}

void hfx_tiles_forget(struct hfx_tiles *t, const pixman_box32_t *box)
{
    uint32_t c1, r1, c2, r2;
    if (!t->hash || !tile_span(t, box, &c1, &r1, &c2, &r2))
        return;
    for (uint32_t r = r1; r < r2; r++)
        memset(&t->hash[(size_t)r * t->cols + c1], 0, (c2 - c1) * sizeof *t->hash);
}

/* One fingerprint per tile: its rows hashed one by one (a row of a tile is
 * contiguous, the tile is not) and chained. Never 0, which means unknown. */
static uint64_t tile_hash(const uint8_t *px, uint32_t stride, uint32_t bytes, uint32_t rows)
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (uint32_t r = 0; r < rows; r++) {
        h ^= tile_row_hash(px + (size_t)r * stride, bytes);
        h = (h << 31 | h >> 33) * 0xc2b2ae3d27d4eb4fu;
    }
    return h ? h : 1;
}

void hfx_tiles_compare(struct hfx_tiles *t, const uint8_t *pixels, uint32_t stride,
                       const pixman_region32_t *where, pixman_region32_t *changed)
{
    if (!t->hash)
        return;
    /* The tiles the region touches, each once: the region's boxes in tile
     * units, merged by pixman. */
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)where, &n);
    pixman_region32_t tiles;
    pixman_region32_init(&tiles);
    for (int i = 0; i < n; i++) {
        uint32_t c1, r1, c2, r2;
        if (tile_span(t, &b[i], &c1, &r1, &c2, &r2))
            pixman_region32_union_rect(&tiles, &tiles, (int)c1, (int)r1, c2 - c1, r2 - r1);
    }
    const pixman_box32_t *tb = pixman_region32_rectangles(&tiles, &n);
    for (int i = 0; i < n; i++) {
        for (int32_t r = tb[i].y1; r < tb[i].y2; r++) {
            uint32_t y = (uint32_t)r * HFX_TILE_H;
            uint32_t rows = t->height - y < HFX_TILE_H ? t->height - y : HFX_TILE_H;
            int32_t run = -1; /* first column of a run of changed tiles */
            for (int32_t c = tb[i].x1; c <= tb[i].x2; c++) {
                bool differs = false;
                if (c < tb[i].x2) {
                    uint32_t x = (uint32_t)c * HFX_TILE_W;
                    uint32_t cols = t->width - x < HFX_TILE_W ? t->width - x : HFX_TILE_W;
                    uint64_t h = tile_hash(pixels + (size_t)y * stride + (size_t)x * 4, stride,
                                           cols * 4, rows);
                    uint64_t *slot = &t->hash[(size_t)r * t->cols + (uint32_t)c];
                    differs = h != *slot;
                    *slot = h;
                }
                if (!changed)
                    continue;
                if (differs && run < 0) {
                    run = c;
                } else if (!differs && run >= 0) {
                    uint32_t x = (uint32_t)run * HFX_TILE_W;
                    uint32_t x2 = (uint32_t)c * HFX_TILE_W;
                    if (x2 > t->width)
                        x2 = t->width;
                    pixman_region32_union_rect(changed, changed, (int)x, (int)y, x2 - x, rows);
                    run = -1;
                }
            }
        }
    }
    pixman_region32_fini(&tiles);
}
