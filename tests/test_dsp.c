/* The writer's dsp table (src/encoder/h264/dsp.h): every entry of every
 * instruction set this CPU has gives the C path's result bit for bit, on
 * random inputs and on the edges of their ranges (all QPs, intra and inter
 * rounding, the largest levels and DCs transform.h allows, pixels at 0 and
 * 255, which give the largest coefficients); and each table's shortcut for
 * a lone DC against its full reconstruction. test_writer checks the
 * writer's output against libavcodec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encoder/h264/dsp.h"
#include "splitmix.h"

#define ROUNDS 2000

/* A value in [lo, hi], or one of its ends one time in eight. */
static int32_t pick(uint64_t *rnd, int32_t lo, int32_t hi)
{
    uint64_t r = splitmix64(rnd);
    if ((r & 7) == 0)
        return (r >> 3) & 1 ? hi : lo;
    return lo + (int32_t)((r >> 8) % (uint64_t)(hi - lo + 1));
}

/* Pixels: random, flat at either end, or a checkerboard of both. */
static void fill_pixels(uint64_t *rnd, uint8_t *p, size_t n)
{
    int kind = (int)(splitmix64(rnd) % 4);
    for (size_t i = 0; i < n; i++)
        p[i] = kind == 0   ? (uint8_t)splitmix64(rnd)
               : kind == 1 ? 0
               : kind == 2 ? 255
                           : (uint8_t)(((i ^ (i >> 4)) & 1) ? 255 : 0);
}

/* The entries that read two pixel blocks: SAD and SATDs. */
static void check_pixels(const struct h264_dsp *c, const struct h264_dsp *d, const char *set,
                         uint64_t *rnd)
{
    uint8_t src[48 * 16], pred[48 * 16];
    for (int i = 0; i < ROUNDS; i++) {
        fill_pixels(rnd, src, sizeof src);
        fill_pixels(rnd, pred, sizeof pred);
        int ss = pick(rnd, 16, 48), ps = pick(rnd, 16, 48);
        CHECK(c->sad16x16(src, ss, pred, ps) == d->sad16x16(src, ss, pred, ps),
              "%s sad16x16 differs (round %d)", set, i);
        CHECK(c->satd16x16(src, ss, pred, ps) == d->satd16x16(src, ss, pred, ps),
              "%s satd16x16 differs (round %d)", set, i);
        CHECK(c->satd8x8(src, ss, pred, ps) == d->satd8x8(src, ss, pred, ps),
              "%s satd8x8 differs (round %d)", set, i);
    }
}

/* The zero tests on residuals near their thresholds: a small random
 * difference over a random prediction, all QPs. */
static void check_zero(const struct h264_dsp *c, const struct h264_dsp *d, const char *set,
                       uint64_t *rnd)
{
    uint8_t src[24 * 16], pred[24 * 16];
    int zeros = 0, total = 0;
    for (int qp = 0; qp <= 51; qp++)
        for (int i = 0; i < ROUNDS / 20; i++) {
            fill_pixels(rnd, pred, sizeof pred);
            /* Differences up to about the size a level of 1 needs at qp
             * (with a flat offset now and then), or anything. */
            int32_t amp = (i % 8 == 7) ? 255 : (1 << (qp / 6)) / 4 + (int32_t)(i % 2);
            int32_t offset = (i % 5 == 0) ? pick(rnd, -amp, amp) : 0;
            for (size_t k = 0; k < sizeof src; k++) {
                int32_t v = pred[k] + offset + pick(rnd, -amp, amp);
                src[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
            int ss = pick(rnd, 16, 24), ps = pick(rnd, 16, 24);
            bool want = c->zero16x16(src, ss, pred, ps, qp);
            CHECK(want == d->zero16x16(src, ss, pred, ps, qp),
                  "%s zero16x16 differs (qp %d, round %d)", set, qp, i);
            bool want8 = c->zero8x8(src, ss, pred, ps, qp);
            CHECK(want8 == d->zero8x8(src, ss, pred, ps, qp), "%s zero8x8 differs (qp %d, round %d)",
                  set, qp, i);
            zeros += want + want8;
            total += 2;
        }
    /* Both answers must be common, or the test would not tell. */
    CHECK(zeros > total / 5 && zeros < total * 4 / 5, "zero tests: %d of %d residuals zero", zeros,
          total);
}

/* The whole-block transforms and quantisers (a macroblock's luma, from
 * coefficient 0 or with its DCs out; a chroma plane's AC and DCs), intra
 * and inter rounding, all QPs: residuals near a level of 1 (as
 * check_zero's), or any pixels (flat ends and checkerboards give the
 * largest coefficients). */
static void check_quant_blocks(const struct h264_dsp *c, const struct h264_dsp *d,
                               const char *set, uint64_t *rnd)
{
    uint8_t src[24 * 16], pred[24 * 16];
    for (int qp = 0; qp <= 51; qp++)
        for (int i = 0; i < ROUNDS / 20; i++) {
            fill_pixels(rnd, pred, sizeof pred);
            if (i % 4 == 3) {
                fill_pixels(rnd, src, sizeof src);
            } else {
                int32_t amp = (1 << (qp / 6)) / 4 + (int32_t)(i % 2);
                for (size_t k = 0; k < sizeof src; k++) {
                    int32_t v = pred[k] + pick(rnd, -amp, amp);
                    src[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
            int ss = pick(rnd, 16, 24), ps = pick(rnd, 16, 24);
            int16_t want[16][16], got[16][16];
            memset(got, 0x55, sizeof got);
            bool intra = i & 2, dc = i & 4;
            int32_t dw[16], dg[16];
            memset(dw, 0, sizeof dw);
            memset(dg, 0, sizeof dg);
            unsigned mw = c->quant16x16(src, ss, pred, ps, qp, intra, dc ? dw : NULL, want);
            unsigned mg = d->quant16x16(src, ss, pred, ps, qp, intra, dc ? dg : NULL, got);
            CHECK(mw == mg && memcmp(want, got, sizeof want) == 0 && memcmp(dw, dg, sizeof dw) == 0,
                  "%s quant16x16 differs (qp %d, intra %d, dc %d, round %d)", set, qp, intra, dc,
                  i);
            memset(got, 0x55, sizeof got);
            mw = c->quant8x8_ac(src, ss, pred, ps, qp, intra, dw, want);
            mg = d->quant8x8_ac(src, ss, pred, ps, qp, intra, dg, got);
            CHECK(mw == mg && memcmp(want, got, 4 * sizeof want[0]) == 0 &&
                      memcmp(dw, dg, 4 * sizeof dw[0]) == 0,
                  "%s quant8x8_ac differs (qp %d, intra %d, round %d)", set, qp, intra, i);
        }
}

/* Two copies of the same 4x4 block's pixels, rows up to 32 apart. */
struct blocks {
    uint8_t want[4 * 32], got[4 * 32];
};

static int two_blocks(uint64_t *rnd, struct blocks *b)
{
    fill_pixels(rnd, b->want, sizeof b->want);
    memcpy(b->got, b->want, sizeof b->got);
    return pick(rnd, 4, 32);
}

static void check_recon(const struct h264_dsp *c, const struct h264_dsp *d, const char *set,
                        uint64_t *rnd)
{
    for (int qp = 0; qp <= 51; qp++)
        for (int i = 0; i < ROUNDS / 10; i++) {
            int16_t levels[16];
            /* Sparse small levels, as coded, or any CAVLC carries. */
            int32_t range = (i & 1) ? 2063 : 3;
            for (int k = 0; k < 16; k++)
                levels[k] = (int16_t)((splitmix64(rnd) & 3) == 0 || (i & 1)
                                          ? pick(rnd, -range, range) : 0);
            bool dc_scaled = i & 2;
            /* DCs as coded, or the largest allowed (which mostly clip). */
            int32_t dc_range = (i & 4) ? 1 << 24 : 1 << 12;
            int32_t dc = pick(rnd, -dc_range, dc_range);
            struct blocks b;
            int stride = two_blocks(rnd, &b);
            c->recon4x4(b.want, stride, levels, qp, dc_scaled, dc);
            d->recon4x4(b.got, stride, levels, qp, dc_scaled, dc);
            CHECK(memcmp(b.want, b.got, sizeof b.want) == 0,
                  "%s recon4x4 differs (qp %d, dc_scaled %d, round %d)", set, qp, dc_scaled, i);
        }
}

/* A table's recon_dc4x4 is its recon4x4 with every level zero, for any
 * DC transform.h allows (the C path's shortcut, and each SIMD set's). */
static void check_recon_dc(const struct h264_dsp *t, const char *set, uint64_t *rnd)
{
    static const int16_t zero[16];
    for (int i = 0; i < ROUNDS; i++) {
        int32_t range = (i & 1) ? 1 << 24 : 1 << 12;
        int32_t dc = pick(rnd, -range, range);
        struct blocks b;
        int stride = two_blocks(rnd, &b);
        t->recon4x4(b.want, stride, zero, (int)(splitmix64(rnd) % 52), true, dc);
        t->recon_dc4x4(b.got, stride, dc);
        CHECK(memcmp(b.want, b.got, sizeof b.want) == 0, "%s recon_dc4x4 differs (dc %d)", set,
              dc);
    }
}

int main(void)
{
    static const struct {
        unsigned flag;
        const char *name;
    } sets[] = {{H264_DSP_AVX2, "avx2"}};
    struct h264_dsp c;
    h264_dsp_init(&c, 0);
    uint64_t seed = 15;
    check_recon_dc(&c, "c", &seed);
    unsigned cpu = h264_dsp_cpu();
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!(cpu & sets[i].flag)) {
            printf("%s: not on this CPU or build, not checked\n", sets[i].name);
            continue;
        }
        struct h264_dsp d;
        h264_dsp_init(&d, sets[i].flag);
        uint64_t rnd = 14;
        check_pixels(&c, &d, sets[i].name, &rnd);
        check_zero(&c, &d, sets[i].name, &rnd);
        check_quant_blocks(&c, &d, sets[i].name, &rnd);
        check_recon(&c, &d, sets[i].name, &rnd);
        check_recon_dc(&d, sets[i].name, &rnd);
        printf("%s: checked against the C path\n", sets[i].name);
    }
    /* The table the writer uses is the best this CPU has. */
    struct h264_dsp best;
    h264_dsp_init(&best, cpu);
    CHECK(memcmp(&best, h264_dsp(), sizeof best) == 0, "h264_dsp() is not the CPU's best table");
    return check_summary("test_dsp");
}
