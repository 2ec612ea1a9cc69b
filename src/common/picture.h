/* A planar I420 picture as the engine keeps it and the encoders read it.
 * Planes are allocated to whole macroblocks (width and height rounded up to
 * 16) so encoders may read the padding; the visible size is width x height. */
#ifndef HFX_COMMON_PICTURE_H
#define HFX_COMMON_PICTURE_H

#include <stdbool.h>
#include <stdint.h>

struct hfx_picture_rings;

struct hfx_picture {
    uint32_t width, height;       /* visible */
    uint32_t alloc_w, alloc_h;    /* rounded up to 16 */
    uint8_t *plane[3];            /* Y, U, V */
    uint32_t stride[3];
    /* A picture of a pair (hfx_picture_pair_new): its planes are windows
     * of rings it shares with the other, starting at luma ring row
     * `origin` (chroma at origin / 2). NULL for a picture of its own. */
    struct hfx_picture_rings *rings;
    uint32_t origin;
};

/* Allocates a black picture; NULL on failure. */
struct hfx_picture *hfx_picture_new(uint32_t width, uint32_t height);
void hfx_picture_free(struct hfx_picture *p);
/* Two black pictures whose planes are windows of the same rings of rows
 * (ring.h), apart: an engine's two pictures of a scanout, one of which can
 * become the other moved by whole rows without copying them
 * (hfx_picture_alias). Each is freed with hfx_picture_free; the rings go
 * with the second. Where the system maps no rings, two pictures of their
 * own (rings NULL). -1 out of memory. */
int hfx_picture_pair_new(uint32_t width, uint32_t height, struct hfx_picture *out[2]);
/* Whether two pictures share rows: only those of one pair can, once
 * hfx_picture_alias made them. */
bool hfx_picture_overlaps(const struct hfx_picture *a, const struct hfx_picture *b);
/* Makes dst, of src's pair, show src moved up by dy rows (down when
 * negative; even): its row y is src's row y + dy, the same memory, and
 * its rows past src's edge are the ring's, for the caller to write. */
void hfx_picture_alias(struct hfx_picture *dst, const struct hfx_picture *src, int32_t dy);
/* Moves dst's window, of other's pair, where it shares no row with
 * other's; what it shows there is the ring's, for the caller to write. */
void hfx_picture_apart(struct hfx_picture *dst, const struct hfx_picture *other);
/* Copies the region [x, x+w) x [y, y+h) (even-aligned by the caller) of every
 * plane from src to dst; both must have the same size. */
void hfx_picture_copy_rect(struct hfx_picture *dst, const struct hfx_picture *src,
                           uint32_t x, uint32_t y, uint32_t w, uint32_t h);
/* The same with the rows of src dy below (dy < 0: above; even): a move of
 * the content up by dy. dst may be src. */
void hfx_picture_move_rect(struct hfx_picture *dst, const struct hfx_picture *src, uint32_t x,
                           uint32_t y, uint32_t w, uint32_t h, int32_t dy);

#endif
