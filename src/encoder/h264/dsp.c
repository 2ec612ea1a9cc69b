#include "encoder/h264/dsp.h"

#include <pthread.h>
#include <stdlib.h>

#include "encoder/h264/transform.h"
#if HFX_H264_DSP_X86
#include "encoder/h264/dsp_avx2.h"
#endif

static int sad16x16_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    int d = 0;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            d += abs(a[y * a_stride + x] - b[y * b_stride + x]);
    return d;
}

static int satd4x4_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    int t[16], sum = 0;
    for (int y = 0; y < 4; y++) {
        const uint8_t *p = a + y * a_stride, *q = b + y * b_stride;
        int d0 = p[0] - q[0], d1 = p[1] - q[1], d2 = p[2] - q[2], d3 = p[3] - q[3];
        int s01 = d0 + d1, s23 = d2 + d3, d01 = d0 - d1, d23 = d2 - d3;
        t[y * 4 + 0] = s01 + s23;
        t[y * 4 + 1] = s01 - s23;
        t[y * 4 + 2] = d01 + d23;
        t[y * 4 + 3] = d01 - d23;
    }
    for (int x = 0; x < 4; x++) {
        int s01 = t[x] + t[4 + x], s23 = t[8 + x] + t[12 + x];
        int d01 = t[x] - t[4 + x], d23 = t[8 + x] - t[12 + x];
        sum += abs(s01 + s23) + abs(s01 - s23) + abs(d01 + d23) + abs(d01 - d23);
    }
    return sum;
}

static int satd_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int size)
{
    int sum = 0;
    for (int y = 0; y < size; y += 4)
        for (int x = 0; x < size; x += 4)
            sum += satd4x4_c(a + y * a_stride + x, a_stride, b + y * b_stride + x, b_stride);
    return sum;
}

static int satd16x16_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    return satd_c(a, a_stride, b, b_stride, 16);
}

static int satd8x8_c(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    return satd_c(a, a_stride, b, b_stride, 8);
}

/* Blocks 0..n-1 of a residual `cols` blocks wide, in raster order: the
 * transform and quantiser of each, from coefficient 1 when dc is given
 * (which gets the DCs). Returns the blocks with a nonzero level. */
static unsigned quant_blocks_c(const uint8_t *src, int src_stride, const uint8_t *pred,
                               int pred_stride, int qp, bool intra, int cols, int n, int32_t *dc,
                               int16_t levels[][16])
{
    unsigned nonzero = 0;
    for (int r = 0; r < n; r++) {
        int x = (r % cols) * 4, y = (r / cols) * 4;
        int32_t coef[16];
        h264_fdct4x4(src + y * src_stride + x, src_stride, pred + y * pred_stride + x,
                     pred_stride, coef);
        if (dc)
            dc[r] = coef[0];
        if (h264_quant4x4(coef, qp, intra, dc ? 1 : 0, levels[r]))
            nonzero |= 1u << r;
    }
    return nonzero;
}

static unsigned quant16x16_c(const uint8_t *src, int src_stride, const uint8_t *pred,
                             int pred_stride, int qp, bool intra, int32_t dc[16],
                             int16_t levels[16][16])
{
    return quant_blocks_c(src, src_stride, pred, pred_stride, qp, intra, 4, 16, dc, levels);
}

static unsigned quant8x8_ac_c(const uint8_t *src, int src_stride, const uint8_t *pred,
                              int pred_stride, int qp, bool intra, int32_t dc[4],
                              int16_t levels[4][16])
{
    return quant_blocks_c(src, src_stride, pred, pred_stride, qp, intra, 2, 4, dc, levels);
}

static bool zero16x16_c(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                        int qp)
{
    int16_t levels[16][16];
    return quant16x16_c(src, src_stride, pred, pred_stride, qp, false, NULL, levels) == 0;
}

static bool zero8x8_c(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                      int qpc)
{
    int32_t dc[4];
    int16_t ac[4][16], levels[4];
    return quant8x8_ac_c(src, src_stride, pred, pred_stride, qpc, false, dc, ac) == 0 &&
           h264_quant_chroma_dc(dc, qpc, false, levels) == 0;
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
        .recon4x4 = h264_recon4x4,
        .recon_dc4x4 = h264_recon_dc4x4,
        .quant16x16 = quant16x16_c,
        .quant8x8_ac = quant8x8_ac_c,
        .sad16x16 = sad16x16_c,
        .satd16x16 = satd16x16_c,
        .satd8x8 = satd8x8_c,
        .zero16x16 = zero16x16_c,
        .zero8x8 = zero8x8_c,
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
