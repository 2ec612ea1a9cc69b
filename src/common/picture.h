/* A planar I420 picture as the engine keeps it and the encoders read it.
 * Planes are allocated to whole macroblocks (width and height rounded up to
 * 16) so encoders may read the padding; the visible size is width x height. */
#ifndef HFX_COMMON_PICTURE_H
#define HFX_COMMON_PICTURE_H

#include <stdint.h>

struct hfx_picture {
    uint32_t width, height;       /* visible */
    uint32_t alloc_w, alloc_h;    /* rounded up to 16 */
    uint8_t *plane[3];            /* Y, U, V */
    uint32_t stride[3];
};

/* Allocates a black picture; NULL on failure. */
struct hfx_picture *hfx_picture_new(uint32_t width, uint32_t height);
void hfx_picture_free(struct hfx_picture *p);
/* Copies the region [x, x+w) x [y, y+h) (even-aligned by the caller) of every
 * plane from src to dst; both must have the same size. */
void hfx_picture_copy_rect(struct hfx_picture *dst, const struct hfx_picture *src,
                           uint32_t x, uint32_t y, uint32_t w, uint32_t h);
/* The same with the rows of src dy below (dy < 0: above; even): a move of
 * the content up by dy. dst may be src. */
void hfx_picture_move_rect(struct hfx_picture *dst, const struct hfx_picture *src, uint32_t x,
                           uint32_t y, uint32_t w, uint32_t h, int32_t dy);

#endif
