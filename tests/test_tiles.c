/* Tile fingerprints (src/engine/tiles.c), the page-flip damage: any one
 * byte changed in a tile is found, in whole tiles and in the odd-sized ones
 * at the right and bottom edges; rows swapped or moved within a tile are
 * found; the same picture in another buffer (another stride) is not a
 * change; only the tile that changed is reported. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/tiles.h"
#include "splitmix.h"

#define W 200   /* three whole tile columns and an 8-pixel one */
#define H 40    /* two whole tile rows and an 8-row one */

/* The tiles found changed, as a count of changed pixels' tiles. */
static int changed_tiles(struct hfx_tiles *t, const uint8_t *px, uint32_t stride)
{
    pixman_region32_t all, changed;
    pixman_region32_init_rect(&all, 0, 0, W, H);
    pixman_region32_init(&changed);
    hfx_tiles_compare(t, px, stride, &all, &changed);
    int n = 0;
    for (uint32_t ty = 0; ty < t->rows; ty++)
        for (uint32_t tx = 0; tx < t->cols; tx++)
            n += pixman_region32_contains_point(&changed, (int)(tx * HFX_TILE_W),
                                                (int)(ty * HFX_TILE_H), NULL) != 0;
    pixman_region32_fini(&all);
    pixman_region32_fini(&changed);
    return n;
}

int main(void)
{
    uint32_t stride = W * 4;
    uint8_t *px = malloc((size_t)stride * H);
    uint64_t seed = 7;
    for (size_t i = 0; i < (size_t)stride * H; i++)
        px[i] = (uint8_t)splitmix64(&seed);
    struct hfx_tiles t = {0};
    CHECK(hfx_tiles_init(&t, W, H) == 0, "init");
    CHECK(changed_tiles(&t, px, stride) == (int)(t.cols * t.rows), "first compare: all unknown");
    CHECK(changed_tiles(&t, px, stride) == 0, "the same picture again: nothing");

    /* Every byte of a whole tile (1,1), of the right edge's (3,0) and of
     * the bottom-right corner's (3,2), flipped one at a time. */
    static const uint32_t tiles[][2] = {{1, 1}, {3, 0}, {3, 2}};
    for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
        uint32_t x0 = tiles[k][0] * HFX_TILE_W, y0 = tiles[k][1] * HFX_TILE_H;
        uint32_t w = W - x0 < HFX_TILE_W ? W - x0 : HFX_TILE_W;
        uint32_t h = H - y0 < HFX_TILE_H ? H - y0 : HFX_TILE_H;
        int missed = 0, extra = 0;
        for (uint32_t y = y0; y < y0 + h; y++)
            for (uint32_t b = x0 * 4; b < (x0 + w) * 4; b++) {
                uint8_t *p = &px[(size_t)y * stride + b];
                uint8_t old = *p;
                *p ^= (uint8_t)(1u << (b % 8));
                int n = changed_tiles(&t, px, stride);
                *p = old;
                int back = changed_tiles(&t, px, stride);
                missed += n == 0;
                extra += n > 1 || back != n;
            }
        CHECK(!missed && !extra, "tile (%u,%u): %d byte changes missed, %d misreported",
              tiles[k][0], tiles[k][1], missed, extra);
    }

    /* Two rows of a whole tile swapped, then a row moved down by one. */
    uint8_t row[HFX_TILE_W * 4];
    uint8_t *r3 = &px[(size_t)(HFX_TILE_H + 3) * stride + HFX_TILE_W * 4];
    uint8_t *r4 = r3 + stride;
    memcpy(row, r3, sizeof row);
    memcpy(r3, r4, sizeof row);
    memcpy(r4, row, sizeof row);
    CHECK(changed_tiles(&t, px, stride) == 1, "swapped rows");
    memcpy(r4, r3, sizeof row);
    CHECK(changed_tiles(&t, px, stride) == 1, "a row repeated");

    /* The same picture in a buffer with another stride: no change. */
    uint32_t stride2 = stride + 64;
    uint8_t *px2 = malloc((size_t)stride2 * H);
    for (uint32_t y = 0; y < H; y++)
        memcpy(px2 + (size_t)y * stride2, px + (size_t)y * stride, stride);
    CHECK(changed_tiles(&t, px2, stride2) == 0, "another buffer, same picture");
    free(px2);
    free(px);
    hfx_tiles_fini(&t);
    return check_summary("tiles");
}
