#include "encoder/h264/dsp.h"

#include <pthread.h>
#include <stdlib.h>

#include "encoder/h264/transform.h"
#if HFX_H264_DSP_X86
#include "encoder/h264/dsp_avx2.h"
#endif

static int sad_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int size)
{
    int d = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            d += abs(a[y * a_stride + x] - b[y * b_stride + x]);
    return d;
}

static int sad16x16_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    return sad_c(a, a_stride, b, b_stride, 16);
}

static int sad8x8_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    return sad_c(a, a_stride, b, b_stride, 8);
}

unsigned h264_dsp_cpu(void)
{
    unsigned flags = 0;
#if HFX_H264_DSP_X86
    if (__builtin_cpu_supports("avx2"))
        flags |= H264_DSP_AVX2;
#endif
    return flags;
}

void h264_dsp_init(struct h264_dsp *d, unsigned flags)
{
    *d = (struct h264_dsp){
        .fdct4x4 = h264_fdct4x4,
        .quant4x4 = h264_quant4x4,
        .recon4x4 = h264_recon4x4,
        .sad16x16 = sad16x16_c,
        .sad8x8 = sad8x8_c,
    };
    flags &= h264_dsp_cpu();
#if HFX_H264_DSP_X86
    if (flags & H264_DSP_AVX2)
        h264_dsp_init_avx2(d);
#endif
}

static struct h264_dsp best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void init_best(void)
{
    h264_dsp_init(&best, h264_dsp_cpu());
}

const struct h264_dsp *h264_dsp(void)
{
    pthread_once(&best_once, init_best);
    return &best;
}
