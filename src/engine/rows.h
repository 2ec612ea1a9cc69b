/* Fingerprints of a surface's rows, a 64-pixel stripe at a time, to find
 * where damaged pixels are the picture shown before moved up or down (a
 * scroll of the screen or of a region).
 *
 * A scroll damages the whole scrolled area although most of it is the old
 * picture shifted. Comparing the new pixels with a copy of the old ones
 * would cost a second copy of the picture and a read of both; a 64-bit
 * fingerprint per row of each stripe costs 8 bytes per 64 pixels (1/32 of
 * the surface) and one read of the damaged pixels. A row whose fingerprint
 * equals that of the old row dy below it holds the same pixels, so the
 * engine moves the picture it keeps instead of converting that row again,
 * and tells the encoder the move. A stripe row whose fingerprint is
 * unknown (0: converted without hashing) matches nothing. */
#ifndef HFX_ENGINE_ROWS_H
#define HFX_ENGINE_ROWS_H

#include <pixman.h>
#include <stdbool.h>
#include <stdint.h>

/* The stripe width: the tiles' (tiles.h), so that a stripe is whole
 * macroblocks and a row of it is one 256-byte hash input. */
#define HFX_ROW_STRIPE 64

struct hfx_rows {
    uint64_t *hash;         /* height x cols, row-major; 0 = unknown */
    uint64_t *fresh;        /* the box being searched: its rows' new fingerprints */
    uint32_t *table;        /* the vote's hash table of old rows (see rows.c) */
    uint32_t table_mask;
    uint32_t cols;
    uint32_t width, height; /* the surface, in pixels */
    int32_t last_dy;        /* the move found last: scrolls keep their speed */
};

/* A found move: the box's pixels in `moved` are those of the rows dy below
 * (dy < 0: above) before the update, as the fingerprints recorded them. */
struct hfx_row_move {
    int32_t dy;             /* 0: none found */
    pixman_region32_t moved;
};

/* Sized for a width x height surface, every row unknown. -1 out of memory. */
int hfx_rows_init(struct hfx_rows *r, uint32_t width, uint32_t height);
void hfx_rows_fini(struct hfx_rows *r);
/* The stripe rows a box (pixels, clipped to the surface) touches become
 * unknown: their pixels changed without being fingerprinted. */
void hfx_rows_forget(struct hfx_rows *r, const pixman_box32_t *box);
/* Whether a damaged box is worth a search: large enough that a move would
 * save more than the fingerprints cost (a typed character is not). */
bool hfx_rows_worth_searching(const pixman_box32_t *box);
/* Fingerprints the stripe rows the box (even-aligned, inside the surface;
 * row y at pixels + y * stride) touches, finds the vertical move that
 * explains most of them from rows of the same box, and records the new
 * fingerprints. mv->moved (initialised by the caller) receives the parts
 * of the box that are the old rows moved: whole pairs of rows (a 4:2:0
 * chroma row) when dy is even, single rows when odd. */
void hfx_rows_find_move(struct hfx_rows *r, const uint8_t *pixels, int32_t stride,
                        const pixman_box32_t *box, struct hfx_row_move *mv);

#endif
