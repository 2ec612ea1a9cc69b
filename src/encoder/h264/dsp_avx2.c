/* AVX2 versions of the dsp table's entries (dsp.h), bit for bit the C
 * path's: the same integer arithmetic on 16 or 32-bit lanes, whose ranges
 * transform.h bounds. Built with -mavx2 and called only where the CPU has
 * it (it also uses the SSSE3 and SSE4.1 instructions AVX2 implies). */
#include "encoder/h264/dsp_avx2.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "encoder/h264/transform.h"

static inline __m128i load4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtsi32_si128(v);
}

static inline void store4(uint8_t *p, __m128i x)
{
    int32_t v = _mm_cvtsi128_si32(x);
    memcpy(p, &v, 4);
}

static inline void transpose4x4_32(__m128i *a, __m128i *b, __m128i *c, __m128i *d)
{
    __m128i t0 = _mm_unpacklo_epi32(*a, *b), t1 = _mm_unpacklo_epi32(*c, *d);
    __m128i t2 = _mm_unpackhi_epi32(*a, *b), t3 = _mm_unpackhi_epi32(*c, *d);
    *a = _mm_unpacklo_epi64(t0, t1);
    *b = _mm_unpackhi_epi64(t0, t1);
    *c = _mm_unpacklo_epi64(t2, t3);
    *d = _mm_unpackhi_epi64(t2, t3);
}

/* One pass of the inverse transform across a..d (32-bit lanes, 8.5.12.2). */
static inline void inv4(__m128i *a, __m128i *b, __m128i *c, __m128i *d)
{
    __m128i e0 = _mm_add_epi32(*a, *c), e1 = _mm_sub_epi32(*a, *c);
    __m128i e2 = _mm_sub_epi32(_mm_srai_epi32(*b, 1), *d);
    __m128i e3 = _mm_add_epi32(*b, _mm_srai_epi32(*d, 1));
    *a = _mm_add_epi32(e0, e3);
    *b = _mm_add_epi32(e1, e2);
    *c = _mm_sub_epi32(e1, e2);
    *d = _mm_sub_epi32(e0, e3);
}

/* Byte shuffle indices moving 16-bit element e of a 128-bit lane (-1:
 * zero). */
#define W(e) (char)((e) < 0 ? -128 : 2 * (e)), (char)((e) < 0 ? -128 : 2 * (e) + 1)

/* The zig-zag scan's inverse: scan order to raster. Each output lane
 * takes values from its own lane and the other. */
static inline __m256i unzigzag(__m256i scan)
{
    const __m256i own = _mm256_setr_epi8(W(0), W(1), W(5), W(6), W(2), W(4), W(7), W(-1),
                                         W(-1), W(0), W(3), W(5), W(1), W(2), W(6), W(7));
    const __m256i other = _mm256_setr_epi8(W(-1), W(-1), W(-1), W(-1), W(-1), W(-1), W(-1), W(4),
                                           W(3), W(-1), W(-1), W(-1), W(-1), W(-1), W(-1), W(-1));
    __m256i swapped = _mm256_permute4x64_epi64(scan, _MM_SHUFFLE(1, 0, 3, 2));
    return _mm256_or_si256(_mm256_shuffle_epi8(scan, own), _mm256_shuffle_epi8(swapped, other));
}

/* Zig-zag scan of a block held by columns (lane x * 4 + y), as
 * quant_blocks' transform leaves it. */
static inline __m256i zigzag_columns(__m256i cols)
{
    const __m256i own = _mm256_setr_epi8(W(0), W(4), W(1), W(2), W(5), W(-1), W(-1), W(-1),
                                         W(-1), W(-1), W(-1), W(2), W(5), W(6), W(3), W(7));
    const __m256i other = _mm256_setr_epi8(W(-1), W(-1), W(-1), W(-1), W(-1), W(0), W(4), W(1),
                                           W(6), W(3), W(7), W(-1), W(-1), W(-1), W(-1), W(-1));
    __m256i swapped = _mm256_permute4x64_epi64(cols, _MM_SHUFFLE(1, 0, 3, 2));
    return _mm256_or_si256(_mm256_shuffle_epi8(cols, own), _mm256_shuffle_epi8(swapped, other));
}

/* A per-class table as two raster rows (classes 0 2 0 2, then 2 1 2 1),
 * which rows 2 and 3 repeat. Vector loads: built from scalars, it would be
 * stored and reloaded whole, which stalls. */
static inline __m256i rows_by_class(const int32_t t[3])
{
    __m128i three = _mm_maskload_epi32(t, _mm_setr_epi32(-1, -1, -1, 0));
    return _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(three),
                                       _mm256_setr_epi32(0, 2, 0, 2, 2, 1, 2, 1));
}

/* Four pixels plus their residual's rounding (8.5.12.2), unclipped. */
static inline __m128i add_residual(const uint8_t *pixels, __m128i residual)
{
    return _mm_add_epi32(_mm_cvtepu8_epi32(load4(pixels)),
                         _mm_srai_epi32(_mm_add_epi32(residual, _mm_set1_epi32(32)), 6));
}

static void recon4x4_avx2(uint8_t *dst, int stride, const int16_t levels[16], int qp,
                          bool dc_scaled, int32_t dc)
{
    __m256i raster = unzigzag(_mm256_loadu_si256((const __m256i *)levels));
    __m256i scale = _mm256_sll_epi32(rows_by_class(h264_dequant_v[qp % 6]),
                                     _mm_cvtsi32_si128(qp / 6));
    __m256i lo = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(raster)), scale);
    __m256i hi = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(raster, 1)),
                                    scale);
    if (dc_scaled)
        lo = _mm256_blend_epi32(lo, _mm256_set1_epi32(dc), 0x01);
    __m128i r0 = _mm256_castsi256_si128(lo), r1 = _mm256_extracti128_si256(lo, 1);
    __m128i r2 = _mm256_castsi256_si128(hi), r3 = _mm256_extracti128_si256(hi, 1);
    /* Rows first, then columns, as 8.5.12.2: the >> 1 rounds, so the
     * order matters here. */
    transpose4x4_32(&r0, &r1, &r2, &r3);
    inv4(&r0, &r1, &r2, &r3);
    transpose4x4_32(&r0, &r1, &r2, &r3);
    inv4(&r0, &r1, &r2, &r3);
    r0 = add_residual(dst, r0);
    r1 = add_residual(dst + stride, r1);
    r2 = add_residual(dst + 2 * stride, r2);
    r3 = add_residual(dst + 3 * stride, r3);
    /* The saturating packs clip to 0..255 as clip() does. */
    __m128i px = _mm_packus_epi16(_mm_packs_epi32(r0, r1), _mm_packs_epi32(r2, r3));
    store4(dst, px);
    store4(dst + stride, _mm_srli_si128(px, 4));
    store4(dst + 2 * stride, _mm_srli_si128(px, 8));
    store4(dst + 3 * stride, _mm_srli_si128(px, 12));
}

/* Saturating byte arithmetic clips as clip() does once the step is
 * capped at 255 either way. */
static void recon_dc4x4_avx2(uint8_t *dst, int stride, int32_t dc)
{
    int32_t r = (dc + 32) >> 6;
    __m128i up = _mm_set1_epi8((char)(r > 255 ? 255 : r > 0 ? r : 0));
    __m128i down = _mm_set1_epi8((char)(r < -255 ? 255 : r < 0 ? -r : 0));
    for (int y = 0; y < 4; y++)
        store4(dst + y * stride,
               _mm_subs_epu8(_mm_adds_epu8(load4(dst + y * stride), up), down));
}

static inline int sum_sad(__m256i acc)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return _mm_cvtsi128_si32(_mm_add_epi64(s, _mm_unpackhi_epi64(s, s)));
}

static inline __m256i load2x16(const uint8_t *p, int stride)
{
    return _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
        _mm_loadu_si128((const __m128i *)(p + stride)), 1);
}

static int sad16x16_avx2(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    __m256i acc = _mm256_setzero_si256();
    for (int y = 0; y < 16; y += 2)
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(load2x16(a + y * a_stride, a_stride),
                                                    load2x16(b + y * b_stride, b_stride)));
    return sum_sad(acc);
}

/* |Hadamard| of four rows of differences (16-bit lanes, at most 4080 in
 * magnitude after both passes), as 32-bit partial sums. Each group of four
 * lanes is one 4x4 block. The columns first, over the rows; then each
 * row's four lanes by pairwise sums and differences (hadd, hsub), whose
 * order of outputs does not matter to a sum of magnitudes. */
static inline __m256i satd_rows(__m256i r0, __m256i r1, __m256i r2, __m256i r3)
{
    __m256i s01 = _mm256_add_epi16(r0, r1), d01 = _mm256_sub_epi16(r0, r1);
    __m256i s23 = _mm256_add_epi16(r2, r3), d23 = _mm256_sub_epi16(r2, r3);
    __m256i c0 = _mm256_add_epi16(s01, s23), c1 = _mm256_sub_epi16(s01, s23);
    __m256i c2 = _mm256_add_epi16(d01, d23), c3 = _mm256_sub_epi16(d01, d23);
    __m256i h0 = _mm256_hadd_epi16(c0, c1), g0 = _mm256_hsub_epi16(c0, c1);
    __m256i h1 = _mm256_hadd_epi16(c2, c3), g1 = _mm256_hsub_epi16(c2, c3);
    __m256i o0 = _mm256_abs_epi16(_mm256_hadd_epi16(h0, g0));
    __m256i o1 = _mm256_abs_epi16(_mm256_hsub_epi16(h0, g0));
    __m256i o2 = _mm256_abs_epi16(_mm256_hadd_epi16(h1, g1));
    __m256i o3 = _mm256_abs_epi16(_mm256_hsub_epi16(h1, g1));
    const __m256i one = _mm256_set1_epi16(1);
    return _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(o0, one), _mm256_madd_epi16(o1, one)),
                            _mm256_add_epi32(_mm256_madd_epi16(o2, one), _mm256_madd_epi16(o3, one)));
}

static inline int sum32(__m256i acc)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_srli_epi64(s, 32)));
}

/* Differences of one row of 16 pixels as 16-bit lanes. */
static inline __m256i diff16(const uint8_t *a, const uint8_t *b)
{
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)a)),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)b)));
}

static int satd16x16_avx2(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    __m256i acc = _mm256_setzero_si256();
    for (int y = 0; y < 16; y += 4) {
        const uint8_t *p = a + y * a_stride, *q = b + y * b_stride;
        acc = _mm256_add_epi32(acc, satd_rows(diff16(p, q), diff16(p + a_stride, q + b_stride),
                                              diff16(p + 2 * a_stride, q + 2 * b_stride),
                                              diff16(p + 3 * a_stride, q + 3 * b_stride)));
    }
    return sum32(acc);
}

/* Differences of two rows of 8 pixels, y and y + 4, as 16-bit lanes: the
 * 8x8 block as two 16-wide rows of 4x4 blocks. */
static inline __m256i diff8x2(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    __m128i pa = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)a),
                                    _mm_loadl_epi64((const __m128i *)(a + 4 * a_stride)));
    __m128i pb = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)b),
                                    _mm_loadl_epi64((const __m128i *)(b + 4 * b_stride)));
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(pa), _mm256_cvtepu8_epi16(pb));
}

static int satd8x8_avx2(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride)
{
    return sum32(satd_rows(diff8x2(a, a_stride, b, b_stride),
                           diff8x2(a + a_stride, a_stride, b + b_stride, b_stride),
                           diff8x2(a + 2 * a_stride, a_stride, b + 2 * b_stride, b_stride),
                           diff8x2(a + 3 * a_stride, a_stride, b + 3 * b_stride, b_stride)));
}

/* The zero tests: a level is nonzero exactly when |c| * mf + f >= 2^shift,
 * that is when |c| reaches ceil((2^shift - f) / mf), a threshold per
 * coefficient class that fits 16 bits as the coefficients do. */
static inline int16_t nonzero_from(int32_t mf, int shift)
{
    int32_t room = (1 << shift) - h264_quant_round(shift, false);
    return (int16_t)((room + mf - 1) / mf);
}

/* One pass of the forward core transform across a..d (16-bit lanes). */
static inline void fwd16(__m256i *a, __m256i *b, __m256i *c, __m256i *d)
{
    __m256i s03 = _mm256_add_epi16(*a, *d), s12 = _mm256_add_epi16(*b, *c);
    __m256i d03 = _mm256_sub_epi16(*a, *d), d12 = _mm256_sub_epi16(*b, *c);
    *a = _mm256_add_epi16(s03, s12);
    *b = _mm256_add_epi16(_mm256_add_epi16(d03, d03), d12);
    *c = _mm256_sub_epi16(s03, s12);
    *d = _mm256_sub_epi16(_mm256_sub_epi16(d03, d12), d12);
}

/* The forward transform of four rows of differences (16-bit lanes, each
 * group of four lanes one 4x4 block), and whether any coefficient reaches
 * its threshold: thr[0] for both frequencies even, thr[1] both odd, thr[2]
 * mixed. Without the DCs when skip_dc (chroma AC). No transposes: the
 * columns go over the rows, and each row's four outputs come from the lane
 * reversed (sums and differences) and pairs swapped; a lane holding no
 * coefficient is zeroed, one holding a coefficient twice or negated tests
 * it again, and *dc gets the DCs (lanes 0, 4, 8, 12). */
static inline __m256i fdct_reaches(__m256i r0, __m256i r1, __m256i r2, __m256i r3,
                                   const __m256i thr[3], bool skip_dc, __m256i *dc)
{
    fwd16(&r0, &r1, &r2, &r3);
    __m256i c[4] = {r0, r1, r2, r3};
    const __m256i ends = _mm256_setr_epi16(-1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1);
    __m256i any = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i x = c[k];
        __m256i rev = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(x, 0x1b), 0x1b);
        __m256i sum = _mm256_add_epi16(x, rev), dif = _mm256_sub_epi16(x, rev);
        __m256i sum_sw = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(sum, 0xb1), 0xb1);
        __m256i dif_sw = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(dif, 0xb1), 0xb1);
        __m256i out0 = _mm256_add_epi16(sum, sum_sw);     /* every lane: x = 0 */
        __m256i out2 = _mm256_sub_epi16(sum, sum_sw);     /* every lane: x = 2 */
        __m256i out1 = _mm256_and_si256(_mm256_add_epi16(_mm256_add_epi16(dif, dif), dif_sw),
                                        ends);            /* lanes 0, 3: x = 1 */
        __m256i out3 = _mm256_and_si256(_mm256_sub_epi16(dif, _mm256_add_epi16(dif_sw, dif_sw)),
                                        ends);            /* lanes 0, 3: x = 3 */
        const __m256i even = k & 1 ? thr[2] : thr[0], odd = k & 1 ? thr[1] : thr[2];
        if (k == 0)
            *dc = out0;
        __m256i e = _mm256_abs_epi16(out2);
        if (!(k == 0 && skip_dc))
            e = _mm256_max_epi16(e, _mm256_abs_epi16(out0));
        __m256i o = _mm256_max_epi16(_mm256_abs_epi16(out1), _mm256_abs_epi16(out3));
        any = _mm256_or_si256(any, _mm256_or_si256(_mm256_cmpgt_epi16(e, even),
                                                   _mm256_cmpgt_epi16(o, odd)));
    }
    return any;
}

/* The thresholds minus one (cmpgt tests reaching) by QP and class,
 * worked out when the program loads: three divisions in each of the four
 * zero tests a macroblock can take cost more than the rest of a test that
 * fails early. */
static int16_t zero_thr[52][3];

__attribute__((constructor)) static void zero_thr_init(void)
{
    for (int qp = 0; qp < 52; qp++)
        for (int k = 0; k < 3; k++)
            zero_thr[qp][k] = (int16_t)(nonzero_from(h264_quant_mf[qp % 6][k], 15 + qp / 6) - 1);
}

static inline void thresholds(int qp, __m256i thr[3])
{
    for (int k = 0; k < 3; k++)
        thr[k] = _mm256_set1_epi16(zero_thr[qp][k]);
}

static bool zero16x16_avx2(const uint8_t *src, int src_stride, const uint8_t *pred,
                           int pred_stride, int qp)
{
    __m256i thr[3], dc = _mm256_setzero_si256();
    thresholds(qp, thr);
    for (int y = 0; y < 16; y += 4) {
        const uint8_t *a = src + y * src_stride, *b = pred + y * pred_stride;
        __m256i any = fdct_reaches(diff16(a, b), diff16(a + src_stride, b + pred_stride),
                                   diff16(a + 2 * src_stride, b + 2 * pred_stride),
                                   diff16(a + 3 * src_stride, b + 3 * pred_stride), thr, false, &dc);
        if (!_mm256_testz_si256(any, any))
            return false;
    }
    return true;
}

static bool zero8x8_avx2(const uint8_t *src, int src_stride, const uint8_t *pred, int pred_stride,
                         int qpc)
{
    __m256i thr[3], dc = _mm256_setzero_si256();
    thresholds(qpc, thr);
    /* Rows y and y + 4 side by side: blocks 0 and 1, then 2 and 3. */
    __m256i any = fdct_reaches(diff8x2(src, src_stride, pred, pred_stride),
                               diff8x2(src + src_stride, src_stride, pred + pred_stride, pred_stride),
                               diff8x2(src + 2 * src_stride, src_stride, pred + 2 * pred_stride,
                                       pred_stride),
                               diff8x2(src + 3 * src_stride, src_stride, pred + 3 * pred_stride,
                                       pred_stride),
                               thr, true, &dc);
    if (!_mm256_testz_si256(any, any))
        return false;
    /* The 2x2 DC transform and its quantiser (h264_quant_chroma_dc). */
    int16_t d[16];
    _mm256_storeu_si256((__m256i *)d, dc);
    int32_t h[4] = {d[0] + d[4] + d[8] + d[12], d[0] - d[4] + d[8] - d[12],
                    d[0] + d[4] - d[8] - d[12], d[0] - d[4] - d[8] + d[12]};
    int shift = 16 + qpc / 6;
    int32_t limit = (1 << shift) - h264_quant_round(shift, false);
    int64_t mf = h264_quant_mf[qpc % 6][0];
    for (int i = 0; i < 4; i++)
        if ((int64_t)abs(h[i]) * mf >= limit)
            return false;
    return true;
}

/* h264_quant4x4's (|c| * mf + f) >> (15 + s), exactly, on 16-bit lanes:
 * |c| <= 9180 and mf < 2^14 make a product below 2^27, whose halves come
 * from mullo and mulhi; f (below 2^21) is added to them by halves with the
 * low half's carry. The result, below 2^12, is the high half and the low
 * half's top bit shifted by s more. */
static inline __m256i quant16(__m256i c, __m256i mf, __m256i f_lo, __m256i f_hi, __m128i s)
{
    const __m256i bias = _mm256_set1_epi16(INT16_MIN);
    __m256i a = _mm256_abs_epi16(c);
    __m256i lo = _mm256_add_epi16(_mm256_mullo_epi16(a, mf), f_lo);
    __m256i hi = _mm256_add_epi16(_mm256_mulhi_epu16(a, mf), f_hi);
    /* The low half wrapped when it came out below f_lo (unsigned). */
    __m256i carry = _mm256_cmpgt_epi16(_mm256_xor_si256(f_lo, bias), _mm256_xor_si256(lo, bias));
    hi = _mm256_sub_epi16(hi, carry);
    __m256i q = _mm256_srl_epi16(_mm256_or_si256(_mm256_add_epi16(hi, hi), _mm256_srli_epi16(lo, 15)),
                                 s);
    return _mm256_sign_epi16(_mm256_min_epi16(q, _mm256_set1_epi16(H264_MAX_LEVEL)), c);
}

/* What quantising takes at one QP and rounding: mf for the lanes of an
 * even and of an odd horizontal frequency (lanes by vertical frequency 0 1
 * 2 3: classes 0 2 0 2, then 2 1 2 1), the rounding's halves, the shift
 * beyond 15. */
struct quant_consts {
    __m256i mf_even, mf_odd, f_lo, f_hi;
    __m128i s;
};

static inline struct quant_consts quant_consts(int qp, bool intra)
{
    const int32_t *mf = h264_quant_mf[qp % 6];
    int32_t f = h264_quant_round(15 + qp / 6, intra);
    return (struct quant_consts){
        .mf_even = _mm256_set1_epi32(mf[0] | mf[2] << 16),
        .mf_odd = _mm256_set1_epi32(mf[2] | mf[1] << 16),
        .f_lo = _mm256_set1_epi16((int16_t)(f & 0xffff)),
        .f_hi = _mm256_set1_epi16((int16_t)(f >> 16)),
        .s = _mm_cvtsi32_si128(qp / 6),
    };
}

/* Four 4x4 blocks side by side, rows of differences c0..c3 (16-bit
 * lanes; each 128-bit lane two blocks, the first in its low four lanes):
 * the columns' pass over the rows, a transpose of each block within its
 * four lanes, the rows' pass, which leaves each register one horizontal
 * frequency of the four blocks (lanes by vertical frequency), quantised
 * with that frequency's classes; then each block's levels gathered by
 * columns and scanned into levels[0..3] (from coefficient 1 when dc is
 * given, which gets the four DCs). Returns the blocks with a nonzero
 * level, bit j for levels[j]. */
static inline unsigned quant_blocks(__m256i c0, __m256i c1, __m256i c2, __m256i c3,
                                    const struct quant_consts *k, int16_t levels[4][16],
                                    int32_t dc[4])
{
    fwd16(&c0, &c1, &c2, &c3);
    __m256i p0 = _mm256_unpacklo_epi16(c0, c1), p1 = _mm256_unpacklo_epi16(c2, c3);
    __m256i p2 = _mm256_unpackhi_epi16(c0, c1), p3 = _mm256_unpackhi_epi16(c2, c3);
    __m256i q0 = _mm256_unpacklo_epi32(p0, p1), q1 = _mm256_unpackhi_epi32(p0, p1);
    __m256i q2 = _mm256_unpacklo_epi32(p2, p3), q3 = _mm256_unpackhi_epi32(p2, p3);
    __m256i x0 = _mm256_unpacklo_epi64(q0, q2), x1 = _mm256_unpackhi_epi64(q0, q2);
    __m256i x2 = _mm256_unpacklo_epi64(q1, q3), x3 = _mm256_unpackhi_epi64(q1, q3);
    fwd16(&x0, &x1, &x2, &x3);
    if (dc) {
        dc[0] = (int16_t)_mm256_extract_epi16(x0, 0);
        dc[1] = (int16_t)_mm256_extract_epi16(x0, 4);
        dc[2] = (int16_t)_mm256_extract_epi16(x0, 8);
        dc[3] = (int16_t)_mm256_extract_epi16(x0, 12);
    }
    x0 = quant16(x0, k->mf_even, k->f_lo, k->f_hi, k->s);
    x1 = quant16(x1, k->mf_odd, k->f_lo, k->f_hi, k->s);
    x2 = quant16(x2, k->mf_even, k->f_lo, k->f_hi, k->s);
    x3 = quant16(x3, k->mf_odd, k->f_lo, k->f_hi, k->s);
    __m256i m01 = _mm256_unpacklo_epi64(x0, x1), m23 = _mm256_unpacklo_epi64(x2, x3);
    __m256i n01 = _mm256_unpackhi_epi64(x0, x1), n23 = _mm256_unpackhi_epi64(x2, x3);
    __m256i blk[4] = {_mm256_permute2x128_si256(m01, m23, 0x20),
                      _mm256_permute2x128_si256(n01, n23, 0x20),
                      _mm256_permute2x128_si256(m01, m23, 0x31),
                      _mm256_permute2x128_si256(n01, n23, 0x31)};
    const __m256i ac = _mm256_setr_epi16(0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1);
    unsigned nonzero = 0;
    for (int j = 0; j < 4; j++) {
        __m256i lv = zigzag_columns(blk[j]);
        if (dc)
            lv = _mm256_and_si256(lv, ac);
        _mm256_storeu_si256((__m256i *)levels[j], lv);
        nonzero |= (unsigned)!_mm256_testz_si256(lv, lv) << j;
    }
    return nonzero;
}

/* A row of four blocks at a time (16-wide rows). */
static unsigned quant16x16_avx2(const uint8_t *src, int src_stride, const uint8_t *pred,
                                int pred_stride, int qp, bool intra, int32_t dc[16],
                                int16_t levels[16][16])
{
    const struct quant_consts k = quant_consts(qp, intra);
    unsigned nonzero = 0;
    for (int y = 0; y < 4; y++) {
        const uint8_t *a = src + 4 * y * src_stride, *b = pred + 4 * y * pred_stride;
        nonzero |= quant_blocks(diff16(a, b), diff16(a + src_stride, b + pred_stride),
                                diff16(a + 2 * src_stride, b + 2 * pred_stride),
                                diff16(a + 3 * src_stride, b + 3 * pred_stride), &k,
                                levels + 4 * y, dc ? dc + 4 * y : NULL)
                   << 4 * y;
    }
    return nonzero;
}

/* Rows y and y + 4 side by side (diff8x2): blocks 0 and 1, then 2 and 3. */
static unsigned quant8x8_ac_avx2(const uint8_t *src, int src_stride, const uint8_t *pred,
                                 int pred_stride, int qp, bool intra, int32_t dc[4],
                                 int16_t levels[4][16])
{
    const struct quant_consts k = quant_consts(qp, intra);
    return quant_blocks(diff8x2(src, src_stride, pred, pred_stride),
                        diff8x2(src + src_stride, src_stride, pred + pred_stride, pred_stride),
                        diff8x2(src + 2 * src_stride, src_stride, pred + 2 * pred_stride,
                                pred_stride),
                        diff8x2(src + 3 * src_stride, src_stride, pred + 3 * pred_stride,
                                pred_stride),
                        &k, levels, dc);
}

void h264_dsp_init_avx2(struct h264_dsp *d)
{
    d->recon4x4 = recon4x4_avx2;
    d->recon_dc4x4 = recon_dc4x4_avx2;
    d->quant16x16 = quant16x16_avx2;
    d->quant8x8_ac = quant8x8_ac_avx2;
    d->sad16x16 = sad16x16_avx2;
    d->satd16x16 = satd16x16_avx2;
    d->satd8x8 = satd8x8_avx2;
    d->zero16x16 = zero16x16_avx2;
    d->zero8x8 = zero8x8_avx2;
}
