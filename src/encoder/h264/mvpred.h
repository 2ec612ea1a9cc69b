/* Motion vector prediction for 16x16 partitions of a P slice (ITU-T H.264
 * 8.4.1.1 for P_Skip, 8.4.1.3 for the median prediction that P_L0_16x16
 * codes its vector against), from the vectors of the macroblocks this
 * picture has visited so far (h264_mb_state: stamped mv and intra_mb; a
 * macroblock not visited is a P_Skip with the zero vector). One slice per
 * picture: every neighbour inside the picture is available. Vectors are in
 * quarter samples. */
#ifndef HFX_H264_MVPRED_H
#define HFX_H264_MVPRED_H

#include <stdbool.h>
#include <stdint.h>

#include "encoder/h264/mb.h"

/* Whether macroblock addr, visited by this picture, is inter with vector
 * mv. */
static inline bool h264_mvpred_inter_with(const struct h264_mb_state *s, uint32_t addr,
                                          const int16_t mv[2])
{
    return s->stamp[addr] == s->picture && !s->intra_mb[addr] && s->mv[addr][0] == mv[0] &&
           s->mv[addr][1] == mv[1];
}

/* Whether a P_Skip at (mbx, mby) takes vector mv (8.4.1.1), with a
 * shortcut for neighbours that all have mv. */
bool h264_mvpred_skip_is(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                         const int16_t mv[2]);
/* The median prediction of a P_L0_16x16 at (mbx, mby). */
void h264_mvpred_median(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                        int16_t mv[2]);

#endif
