/* Intra prediction for Intra16x16 luma and 4:2:0 chroma (ITU-T H.264
 * 8.3.3, 8.3.4): the vertical, horizontal and DC modes. top and left are
 * the reconstructed neighbours (NULL when not available). */
#ifndef HFX_H264_INTRA_H
#define HFX_H264_INTRA_H

#include <stdint.h>

enum { H264_I16_V = 0, H264_I16_H = 1, H264_I16_DC = 2 };
enum { H264_CHROMA_DC = 0, H264_CHROMA_H = 1, H264_CHROMA_V = 2 };

/* pred: 16x16, stride 16. */
void h264_pred16(uint8_t *pred, int mode, const uint8_t *top, const uint8_t *left);
/* pred: 8x8, stride 8. */
void h264_pred_chroma(uint8_t *pred, int mode, const uint8_t *top, const uint8_t *left);

#endif
