/* Motion compensation of one 16x16 partition (ITU-T H.264 8.4.2.2) with an
 * integer luma vector: luma is copied; 4:2:0 chroma moves by half the
 * vector, a half sample when it is odd, interpolated bilinearly
 * (8.4.2.2.2). Reference samples outside the picture repeat its edge
 * (8-228, 8-229 and the chroma equivalents), as a decoder reads them. */
#ifndef HFX_H264_MC_H
#define HFX_H264_MC_H

#include <stdint.h>
#include <string.h>

#include "encoder/h264/mb.h"

/* Sample index v of a row or column whose last sample is `last`, the edge
 * repeated beyond it (8-228, 8-229): how a decoder reads past the picture,
 * and so how the move search must compare. */
static inline int h264_edge_index(int v, int last)
{
    return v < 0 ? 0 : v > last ? last : v;
}

/* Eight samples from anywhere, as one word: for comparing and averaging
 * eight at a time. */
static inline uint64_t h264_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The prediction of macroblock (mbx, mby) moved by (dx, dy) luma samples,
 * read from s's picture, into pred. */
void h264_mc16(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int dx, int dy,
               struct h264_mb_src *pred);

/* The same for an even vector that reads only the reference (nothing this
 * picture wrote before the macroblock) and points down (dy > 0), or right
 * within its own rows (dy 0, dx >= 0), written straight into s's picture:
 * each row is read before it is written. */
void h264_mc16_in_place(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int dx, int dy);

/* The prediction of the run of n macroblocks from (mbx, mby) along their
 * row, all moved by (0, dy), 0 < dy, reading inside the picture, written
 * straight into s's picture: a row of the run at a time, which streams
 * where a macroblock at a time reads 16-byte pieces of rows far apart
 * (most of a scroll's cost in the writer). Rows are read from below, not
 * yet written, before they are written. An odd dy (a terminal's line
 * height) leaves the chroma at a half sample: each chroma row is the
 * rounded mean of the two it lies between (8-266 at fy 4). */
void h264_mc16_run_down(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, uint32_t n, int dy);

#endif
