/* A plane whose picture can shift by whole rows in O(1): a ring of rows
 * mapped twice, back to back, so that a window of up to `rows` rows that
 * starts at any ring row is contiguous memory. Moving the window's origin
 * by dy rows makes row y show what row y + dy showed, which a scroll of the
 * whole picture would otherwise copy row by row; the rows that come into
 * view are whatever the ring held there (its spare rows, past the old
 * window's end or before its start), for the caller to write. */
#ifndef HFX_COMMON_RING_H
#define HFX_COMMON_RING_H

#include <stddef.h>
#include <stdint.h>

struct hfx_ring {
    uint8_t *map;           /* the ring, then the same memory again */
    size_t size;            /* bytes of one mapping: rows * stride */
    uint32_t stride;
    uint32_t rows;          /* at least those asked for: pages are whole */
    uint32_t origin;        /* the ring row of the window's row 0 */
};

/* A ring of at least `rows` rows of `stride` bytes, zeroed, origin 0.
 * -1 when the system gives no such mapping (out of memory, or no
 * memfd_create). */
int hfx_ring_init(struct hfx_ring *r, uint32_t stride, uint32_t rows);
void hfx_ring_fini(struct hfx_ring *r);
/* The rows of `stride` bytes that make whole pages (a power of two): a
 * ring's rows are a multiple of it. */
uint32_t hfx_ring_unit(uint32_t stride);

/* Row 0 of the window starting `dy` rows after the origin (before it when
 * negative), |dy| < rows. */
static inline uint8_t *hfx_ring_window(const struct hfx_ring *r, int32_t dy)
{
    int64_t o = ((int64_t)r->origin + dy) % r->rows;
    return r->map + (size_t)(o < 0 ? o + r->rows : o) * r->stride;
}

/* Moves the origin by dy rows (|dy| < rows): row y of the window now is
 * what row y + dy was. */
static inline void hfx_ring_shift(struct hfx_ring *r, int32_t dy)
{
    int64_t o = ((int64_t)r->origin + dy) % r->rows;
    r->origin = (uint32_t)(o < 0 ? o + r->rows : o);
}

#endif
