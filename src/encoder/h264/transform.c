#include "encoder/h264/transform.h"

#include <stdlib.h>

const uint8_t h264_zigzag[16] = {0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15};

const int32_t h264_quant_mf[6][3] = {
    {13107, 5243, 8066}, {11916, 4660, 7490}, {10082, 4194, 6554},
    {9362, 3647, 5825},  {8192, 3355, 5243},  {7282, 2893, 4559},
};
const int32_t h264_dequant_v[6][3] = {
    {10, 16, 13}, {11, 18, 14}, {13, 20, 16}, {14, 23, 18}, {16, 25, 20}, {18, 29, 23},
};

static int cls(int raster)
{
    int x = raster & 3, y = raster >> 2;
    return (x & 1) == 0 && (y & 1) == 0 ? 0 : (x & 1) && (y & 1) ? 1 : 2;
}

void h264_fdct4x4(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                  int32_t coef[16])
{
    int32_t t[16];
    for (int y = 0; y < 4; y++) {
        const uint8_t *s = src + y * src_stride, *p = pred + y * pred_stride;
        int32_t d0 = s[0] - p[0], d1 = s[1] - p[1], d2 = s[2] - p[2], d3 = s[3] - p[3];
        int32_t s03 = d0 + d3, s12 = d1 + d2, d03 = d0 - d3, d12 = d1 - d2;
        t[y * 4 + 0] = s03 + s12;
        t[y * 4 + 1] = 2 * d03 + d12;
        t[y * 4 + 2] = s03 - s12;
        t[y * 4 + 3] = d03 - 2 * d12;
    }
    for (int x = 0; x < 4; x++) {
        int32_t s03 = t[x] + t[12 + x], s12 = t[4 + x] + t[8 + x];
        int32_t d03 = t[x] - t[12 + x], d12 = t[4 + x] - t[8 + x];
        coef[x] = s03 + s12;
        coef[4 + x] = 2 * d03 + d12;
        coef[8 + x] = s03 - s12;
        coef[12 + x] = d03 - 2 * d12;
    }
}

static int16_t quant(int32_t c, int32_t m, int32_t f, int shift)
{
    int32_t q = (int32_t)(((int64_t)abs(c) * m + f) >> shift);
    if (q > H264_MAX_LEVEL)
        q = H264_MAX_LEVEL;
    return (int16_t)(c < 0 ? -q : q);
}

int h264_quant4x4(const int32_t coef[16], int qp, bool intra, int start, int16_t levels[16])
{
    int shift = 15 + qp / 6, nz = 0;
    int32_t f = h264_quant_round(shift, intra);
    for (int i = 0; i < 16; i++) {
        if (i < start) {
            levels[i] = 0;
            continue;
        }
        int r = h264_zigzag[i];
        levels[i] = quant(coef[r], h264_quant_mf[qp % 6][cls(r)], f, shift);
        nz += levels[i] != 0;
    }
    return nz;
}

/* The specification's << on negative values is a multiplication (C leaves
 * it undefined); its >> is arithmetic, as in every compiler we build with. */
static uint8_t clip(int32_t x)
{
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

void h264_recon4x4(uint8_t *dst, int stride, const int16_t levels[16], int qp, bool dc_scaled,
                   int32_t dc)
{
    int32_t d[16];
    for (int i = 0; i < 16; i++) {
        int r = h264_zigzag[i];
        d[r] = levels[i] * h264_dequant_v[qp % 6][cls(r)] * (1 << (qp / 6));
    }
    if (dc_scaled)
        d[0] = dc;
    int32_t f[16];
    for (int y = 0; y < 4; y++) {
        const int32_t *r = d + y * 4;
        int32_t e0 = r[0] + r[2], e1 = r[0] - r[2];
        int32_t e2 = (r[1] >> 1) - r[3], e3 = r[1] + (r[3] >> 1);
        f[y * 4 + 0] = e0 + e3;
        f[y * 4 + 1] = e1 + e2;
        f[y * 4 + 2] = e1 - e2;
        f[y * 4 + 3] = e0 - e3;
    }
    for (int x = 0; x < 4; x++) {
        int32_t g0 = f[x] + f[8 + x], g1 = f[x] - f[8 + x];
        int32_t g2 = (f[4 + x] >> 1) - f[12 + x], g3 = f[4 + x] + (f[12 + x] >> 1);
        int32_t h[4] = {g0 + g3, g1 + g2, g1 - g2, g0 - g3};
        for (int y = 0; y < 4; y++)
            dst[y * stride + x] = clip(dst[y * stride + x] + ((h[y] + 32) >> 6));
    }
}

void h264_recon_dc4x4(uint8_t *dst, int stride, int32_t dc)
{
    int32_t r = (dc + 32) >> 6;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            dst[y * stride + x] = clip(dst[y * stride + x] + r);
}

/* The 4x4 Hadamard transform (its own inverse up to scale), row-major. */
static void hadamard4x4(const int32_t in[16], int32_t out[16])
{
    int32_t t[16];
    for (int y = 0; y < 4; y++) {
        const int32_t *r = in + y * 4;
        int32_t a = r[0] + r[1], b = r[2] + r[3], c = r[0] - r[1], e = r[2] - r[3];
        t[y * 4 + 0] = a + b;
        t[y * 4 + 1] = a - b;
        t[y * 4 + 2] = c - e;
        t[y * 4 + 3] = c + e;
    }
    for (int x = 0; x < 4; x++) {
        int32_t a = t[x] + t[4 + x], b = t[8 + x] + t[12 + x];
        int32_t c = t[x] - t[4 + x], e = t[8 + x] - t[12 + x];
        out[x] = a + b;
        out[4 + x] = a - b;
        out[8 + x] = c - e;
        out[12 + x] = c + e;
    }
}

int h264_quant_luma_dc(const int32_t dc[16], int qp, int16_t levels[16])
{
    int32_t h[16];
    hadamard4x4(dc, h);
    int shift = 16 + qp / 6, nz = 0;
    int32_t f = h264_quant_round(shift, true);
    for (int i = 0; i < 16; i++) {
        int r = h264_zigzag[i];
        /* The forward transform's gain on the DC path is halved here, as
         * the decoder's scaling expects. */
        int32_t c = h[r] >= 0 ? (h[r] + 1) >> 1 : -((-h[r] + 1) >> 1);
        levels[i] = quant(c, h264_quant_mf[qp % 6][0], f, shift);
        nz += levels[i] != 0;
    }
    return nz;
}

void h264_dequant_luma_dc(const int16_t levels[16], int qp, int32_t dc[16])
{
    int32_t c[16], f[16];
    for (int i = 0; i < 16; i++)
        c[h264_zigzag[i]] = levels[i];
    hadamard4x4(c, f);
    int32_t scale = 16 * h264_dequant_v[qp % 6][0];
    for (int i = 0; i < 16; i++) {
        if (qp >= 36)
            dc[i] = f[i] * scale * (1 << (qp / 6 - 6));
        else
            dc[i] = (f[i] * scale + (1 << (5 - qp / 6))) >> (6 - qp / 6);
    }
}

int h264_quant_chroma_dc(const int32_t dc[4], int qp, bool intra, int16_t levels[4])
{
    int32_t h[4] = {dc[0] + dc[1] + dc[2] + dc[3], dc[0] - dc[1] + dc[2] - dc[3],
                    dc[0] + dc[1] - dc[2] - dc[3], dc[0] - dc[1] - dc[2] + dc[3]};
    int shift = 16 + qp / 6, nz = 0;
    int32_t f = h264_quant_round(shift, intra);
    for (int i = 0; i < 4; i++) {
        levels[i] = quant(h[i], h264_quant_mf[qp % 6][0], f, shift);
        nz += levels[i] != 0;
    }
    return nz;
}

void h264_dequant_chroma_dc(const int16_t levels[4], int qp, int32_t dc[4])
{
    const int16_t *c = levels;
    int32_t f[4] = {c[0] + c[1] + c[2] + c[3], c[0] - c[1] + c[2] - c[3],
                    c[0] + c[1] - c[2] - c[3], c[0] - c[1] - c[2] + c[3]};
    int32_t scale = 16 * h264_dequant_v[qp % 6][0];
    for (int i = 0; i < 4; i++)
        dc[i] = (f[i] * scale * (1 << (qp / 6))) >> 5;
}

int h264_chroma_qp(int qp, int offset)
{
    static const uint8_t high[22] = {29, 30, 31, 32, 32, 33, 34, 34, 35, 35, 36,
                                     36, 37, 37, 37, 38, 38, 38, 39, 39, 39, 39};
    int q = qp + offset;
    q = q < 0 ? 0 : q > 51 ? 51 : q;
    return q < 30 ? q : high[q - 30];
}
