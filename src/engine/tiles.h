/* Fingerprints of a surface's tiles, to find what a page flip changed.
 *
 * A flip hands the engine another buffer whose damage nobody reports (the
 * guest flushes the whole plane when its framebuffer changes). Comparing it
 * with a copy of the picture shown would cost a second frame of memory per
 * head (59 MB at 5120x2880) and reading both; a 64-bit fingerprint per tile
 * costs 8 bytes per 1024 pixels and reads the new buffer once. A tile whose
 * fingerprint is unknown (0: after damage converted without hashing) counts
 * as changed. */
#ifndef HFX_ENGINE_TILES_H
#define HFX_ENGINE_TILES_H

#include <pixman.h>
#include <stdbool.h>
#include <stdint.h>

/* 64 pixels by 16 rows: four macroblocks wide, one high, so a typed
 * character damages few macroblocks; each row is one 256-byte hash input. */
#define HFX_TILE_W 64
#define HFX_TILE_H 16

struct hfx_tiles {
    uint64_t *hash;         /* cols x rows, row-major; 0 = unknown */
    uint32_t cols, rows;
    uint32_t width, height; /* the surface, in pixels */
};

/* The cells of cell_w x cell_h pixels that a box (pixels, clipped to a
 * width x height surface) touches: columns [c1, c2), rows [r1, r2); false
 * when none. For the tiles and the row fingerprints (rows.h). */
bool hfx_grid_span(const pixman_box32_t *b, uint32_t width, uint32_t height, uint32_t cell_w,
                   uint32_t cell_h, uint32_t *c1, uint32_t *r1, uint32_t *c2, uint32_t *r2);
/* The fingerprints (hash: cols per row of cells, NULL: none) of the cells
 * a box touches become unknown (0). */
void hfx_grid_forget(uint64_t *hash, uint32_t cols, uint32_t width, uint32_t height,
                     uint32_t cell_w, uint32_t cell_h, const pixman_box32_t *box);

/* Sized for a width x height surface, every tile unknown. -1 out of memory. */
int hfx_tiles_init(struct hfx_tiles *t, uint32_t width, uint32_t height);
void hfx_tiles_fini(struct hfx_tiles *t);
/* The tiles a box (pixels, clipped to the surface) touches become unknown. */
void hfx_tiles_forget(struct hfx_tiles *t, const pixman_box32_t *box);
/* Fingerprints the tiles that `where` touches from the 32-bit pixels (row
 * y at pixels + y * stride: a negative stride for a bottom-up surface) and
 * adds those that differ from the recorded ones to `changed` (whole tiles,
 * clipped to the surface; NULL: only record); records the new fingerprints. */
void hfx_tiles_compare(struct hfx_tiles *t, const uint8_t *pixels, int32_t stride,
                       const pixman_region32_t *where, pixman_region32_t *changed);

#endif
