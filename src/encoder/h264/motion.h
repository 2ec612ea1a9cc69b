/* Finding moves: which damaged macroblocks of a picture are exactly the
 * previous picture's content shifted by some (dx, dy), as in a scroll of
 * a region or a dragged window. The finder keeps a copy of the previous
 * SOURCE picture (exact pixels, not the lossy reconstruction), updated
 * only where damaged, so that its cost follows the damage:
 * - vertical shifts come from votes of sampled row hashes of each damaged
 *   box against the old rows around it (rows whose hash is not unique,
 *   such as blank ones, do not vote);
 * - two-dimensional shifts (drags) from a few distinctive 16-sample luma
 *   segments of the new picture, searched in the old one nearby, when the
 *   rows gave nothing;
 * - the vectors that worked last time are tried again;
 * - moves the caller found (damage->moved: a scroll the engine found on
 *   the surface) are taken as they are, and their vector tried on the
 *   rest. While they explain most of the damage the copy is not kept up
 *   (it would cost a copy of the damage); the first frame without them
 *   takes all of its picture again and finds only what it is told.
 * Each damaged macroblock then takes the first candidate (most votes
 * first, which keeps flat areas on one vector) under which its luma
 * equals the old source moved. Chroma equal too, with an even vector,
 * makes the move exact: nothing is left to code. A damaged macroblock
 * that did not change is not a move: the writer codes it as before, which
 * refines it. */
#ifndef HFX_H264_MOTION_H
#define HFX_H264_MOTION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/picture.h"
#include "encoder/encoder.h"

struct h264_motion;

/* A finder for pictures of width x height; NULL when out of memory. */
struct h264_motion *h264_motion_new(uint32_t width, uint32_t height);
void h264_motion_free(struct h264_motion *m);

/* Finds the moves among damage's macroblocks in src against the previous
 * picture given, then keeps src's damaged part as the previous picture.
 * damage NULL (unknown) finds nothing and keeps all of src. Returns how
 * many damaged macroblocks were found moved (or unchanged): exactly, which
 * leaves nothing to code, or in luma, which leaves only the chroma's
 * residual (an odd vector: a terminal's line height is often odd). */
uint32_t h264_motion_find(struct h264_motion *m, const struct hfx_picture *src,
                          const struct hfx_mb_damage *damage);

enum h264_move_kind {
    H264_MOVE_NONE,
    H264_MOVE_EXACT,    /* luma and chroma are the old picture's moved */
    H264_MOVE_LUMA,     /* the luma is; the chroma moved by half a sample, or differs */
    H264_MOVE_NEARBY,   /* not moved, next to what did: its vector is worth a try */
};

/* What the last find gave macroblock addr, and the vector in luma samples
 * (unless NONE). */
enum h264_move_kind h264_motion_get(const struct h264_motion *m, uint32_t addr, int *dx, int *dy);

#endif
