/* Still pictures that sharpen: which macroblocks the P-slice writer
 * re-codes, in the background, at a better QP than they were last coded
 * at. A damaged macroblock is coded at the picture's QP (the quality
 * setting, raised by the bitrate cap); once it has stayed unchanged for a
 * while the writer codes it again at the refinement QP, a bounded number
 * per picture, so that a still screen of any size reaches that quality in
 * about a second and never costs more than that per picture.
 *
 * Per macroblock it keeps the QP its current reconstruction was coded at
 * and the picture it last changed in. Its cost per picture follows the
 * damage plus the budget; only a picture x264 coded costs a pass over the
 * picture (as x264 does). */
#ifndef HFX_H264_REFINE_H
#define HFX_H264_REFINE_H

#include <stdbool.h>
#include <stdint.h>

#include "encoder/encoder.h"

struct h264_refine;

/* For a picture of mb_width x mb_height macroblocks shown at fps, coded at
 * quality (the QP of damage at an uncapped rate). NULL when out of
 * memory. */
struct h264_refine *h264_refine_new(uint32_t mb_width, uint32_t mb_height, uint32_t fps,
                                    int quality);
void h264_refine_free(struct h264_refine *r);

/* x264 coded the picture (its whole reconstruction is now the reference)
 * with slice QPs up to qp since its last IDR: every macroblock is assumed
 * coded at qp (x264 may skip a macroblock, which then keeps an older
 * picture's quality, of this run of x264 pictures) and changed now. */
void h264_refine_x264_picture(struct h264_refine *r, int qp);

/* Plans the writer's next picture: damage at qp, and up to a budget (less
 * the damage) of still macroblocks not yet at the refinement QP, as many as
 * room_bits is expected to pay for at what refined macroblocks have cost so
 * far. Returns the macroblocks to code: damage itself when none are added
 * (or when out of memory for the union), otherwise boxes valid until the
 * next call. */
const struct hfx_mb_damage *h264_refine_plan(struct h264_refine *r,
                                             const struct hfx_mb_damage *damage, int qp,
                                             double room_bits);

/* The QP of macroblock addr in the planned picture, and whether it is
 * coded there only to refine it. Only for a macroblock of the plan. */
int h264_refine_mb_qp(const struct h264_refine *r, uint32_t addr, bool *refining);

/* Books bits spent on refinement in the planned picture. */
void h264_refine_spent(struct h264_refine *r, uint64_t bits);

/* Nothing changed since x264's picture for at least h264_refine_again_ms
 * (r, false): its macroblocks count as still from the next plan on. */
void h264_refine_settled(struct h264_refine *r);

/* While macroblocks remain worse than the refinement QP, when the writer
 * wants its next picture (an empty one if nothing changes) to refine them
 * in: a frame period after the last one when that was such a picture of
 * its own (still_screen), or else (a picture with changes, or x264's) once
 * it has stayed still long enough to refine: while the screen keeps
 * changing, refinement rides on the frames its changes bring and adds none.
 * 0 when there is nothing to refine. */
uint32_t h264_refine_again_ms(const struct h264_refine *r, bool still_screen);

/* Bits spent on refinement and macroblocks refined since the start. */
uint64_t h264_refine_bits(const struct h264_refine *r);
uint64_t h264_refine_mbs(const struct h264_refine *r);

#endif
