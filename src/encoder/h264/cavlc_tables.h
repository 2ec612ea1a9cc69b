/* The variable-length codes of CAVLC residual coding, as ITU-T H.264 lists
 * them (tables 9-5, 9-7, 9-8, 9-9 and 9-10). Only 4:2:0 is used here, so the
 * chroma DC tables are those for ChromaArrayType 1 (nC = -1). A code is
 * written as its `len` low bits of `code`, most significant first; len 0
 * marks a combination that cannot occur. */
#ifndef HFX_H264_CAVLC_TABLES_H
#define HFX_H264_CAVLC_TABLES_H

#include <stdint.h>

struct h264_vlc {
    uint16_t code;
    uint8_t len;
};

/* coeff_token for luma and chroma AC blocks: [nC class][TrailingOnes][TotalCoeff].
 * Class 0: 0 <= nC < 2, 1: 2 <= nC < 4, 2: 4 <= nC < 8, 3: 8 <= nC. */
extern const struct h264_vlc h264_coeff_token[4][4][17];
/* coeff_token for chroma DC (nC = -1): [TrailingOnes][TotalCoeff 0..4]. */
extern const struct h264_vlc h264_coeff_token_chroma_dc[4][5];
/* total_zeros for 4x4 blocks: [TotalCoeff - 1][total_zeros], TotalCoeff 1..15. */
extern const struct h264_vlc h264_total_zeros[15][16];
/* total_zeros for chroma DC 2x2: [TotalCoeff - 1][total_zeros], TotalCoeff 1..3. */
extern const struct h264_vlc h264_total_zeros_chroma_dc[3][4];
/* run_before: [min(zerosLeft, 7) - 1][run_before], run_before 0..14. */
extern const struct h264_vlc h264_run_before[7][15];

#endif
