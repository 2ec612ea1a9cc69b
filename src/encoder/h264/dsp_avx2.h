/* AVX2 entries of the dsp table (dsp_avx2.c, built with -mavx2); called only
 * when the CPU has AVX2. */
#ifndef HFX_H264_DSP_AVX2_H
#define HFX_H264_DSP_AVX2_H

#include "encoder/h264/dsp.h"

void h264_dsp_init_avx2(struct h264_dsp *d);

#endif
