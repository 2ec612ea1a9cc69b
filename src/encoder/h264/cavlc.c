#include "encoder/h264/cavlc.h"

#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "encoder/h264/cavlc_tables.h"

static void put_vlc(struct h264_bits *b, struct h264_vlc c)
{
    h264_put(b, c.code, c.len);
}

/* A level's code (9.2.2.1) other than a trailing one's, given its
 * level_code and the suffix length in force: the prefix (its zeros and the
 * 1) and the suffix as one code. */
static void level_vlc(int level_code, int suffix_len, uint32_t *code, int *len)
{
    if (suffix_len == 0 && level_code < 14) {
        *code = 1;
        *len = level_code + 1;
    } else if (suffix_len == 0 && level_code < 30) {
        *code = 16 | (uint32_t)(level_code - 14);
        *len = 19;
    } else if (suffix_len == 0) {
        *code = 1u << 12 | (uint32_t)(level_code - 30);
        *len = 28;
    } else if (level_code < (15 << suffix_len)) {
        *code = 1u << suffix_len | ((uint32_t)level_code & ((1u << suffix_len) - 1));
        *len = (level_code >> suffix_len) + 1 + suffix_len;
    } else {
        *code = 1u << 12 | (uint32_t)(level_code - (15 << suffix_len));
        *len = 28;
    }
}

/* The suffix length after a level. */
static int next_suffix_len(int level, int suffix_len)
{
    if (suffix_len == 0)
        suffix_len = 1;
    if (abs(level) > (3 << (suffix_len - 1)) && suffix_len < 6)
        suffix_len++;
    return suffix_len;
}

static int level_code_of(int level)
{
    return level > 0 ? 2 * level - 2 : -2 * level - 1;
}

/* Levels within +-LEVELS/2 by suffix length: their codes and the suffix
 * length after them, looked up instead of worked out (the branches of
 * level_vlc on every level cost more than the rest of the block). */
#define LEVELS 128
struct level_entry {
    uint32_t code;
    uint8_t len, next;
};
static struct level_entry level_table[7][LEVELS];

/* Filled when the program loads, so that no call (a thousand a frame)
 * asks whether it has been. */
__attribute__((constructor)) static void level_table_init(void)
{
    for (int sl = 0; sl <= 6; sl++)
        for (int i = 0; i < LEVELS; i++) {
            int level = i - LEVELS / 2, len = 0;
            struct level_entry *e = &level_table[sl][i];
            if (level)
                level_vlc(level_code_of(level), sl, &e->code, &len);
            e->len = (uint8_t)len;
            e->next = (uint8_t)next_suffix_len(level, sl);
        }
}

/* Level i of a block: `coded` is the level its code is worked out from,
 * one closer to zero than `level` for the first level after fewer than
 * three trailing ones (which cannot be +-1). Returns the next suffix
 * length. */
static int put_level(struct h264_bits *b, int level, int coded, int suffix_len)
{
    if ((unsigned)(level + LEVELS / 2) < LEVELS && (unsigned)(coded + LEVELS / 2) < LEVELS) {
        const struct level_entry *e = &level_table[suffix_len][coded + LEVELS / 2];
        h264_put(b, e->code, e->len);
        return level_table[suffix_len][level + LEVELS / 2].next;
    }
    uint32_t code;
    int len;
    level_vlc(level_code_of(coded), suffix_len, &code, &len);
    h264_put(b, code, len);
    return next_suffix_len(level, suffix_len);
}

#if defined(__SSE2__)
/* Bit k of the result: p[k] != 0, for k < 8 (of 8 levels loaded, or 4
 * and four zeros): a compare, a pack and a movemask (SSE2 is part of
 * x86-64). */
static inline uint32_t nonzero8(__m128i v)
{
    __m128i zero = _mm_cmpeq_epi16(v, _mm_setzero_si128());
    return ~(uint32_t)_mm_movemask_epi8(_mm_packs_epi16(zero, zero)) & 0xffu;
}

/* Bit k: levels[k] != 0, for k < n (4, 15 or 16). Two loads of eight for
 * 15 and 16 (overlapping for 15), stay inside the n levels. */
static inline uint32_t nonzero_mask(const int16_t *levels, int n)
{
    if (n == 4)
        return nonzero8(_mm_loadl_epi64((const __m128i *)levels));
    return nonzero8(_mm_loadu_si128((const __m128i *)levels)) |
           nonzero8(_mm_loadu_si128((const __m128i *)(levels + n - 8))) << (n - 8);
}
#else
/* Bit k of the result: levels[k] != 0, for k < 4: four levels at once in
 * one 64-bit word, branch-free. The high bit of each 16-bit lane of t says
 * whether the lane is nonzero; the multiplication gathers those bits
 * without carries into one another. */
static inline uint32_t nonzero4(const int16_t *p)
{
    uint64_t x = (uint64_t)(uint16_t)p[0] | (uint64_t)(uint16_t)p[1] << 16 |
                 (uint64_t)(uint16_t)p[2] << 32 | (uint64_t)(uint16_t)p[3] << 48;
    const uint64_t low15 = 0x7fff7fff7fff7fffu;
    uint64_t t = ((((x & low15) + low15) | x) >> 15) & 0x0001000100010001u;
    return (uint32_t)((t * 0x0001000200040008u) >> 48);
}

/* Bit k: levels[k] != 0, for k < n (4, 15 or 16): the last group of four
 * overlaps the one before when n is 15. */
static inline uint32_t nonzero_mask(const int16_t *levels, int n)
{
    uint32_t nz = 0;
    for (int i = 0; i + 4 <= n; i += 4)
        nz |= nonzero4(levels + i) << i;
    if (n % 4)
        nz |= nonzero4(levels + n - 4) >> (4 - n % 4) << (n - n % 4);
    return nz;
}
#endif

int h264_write_residual(struct h264_bits *out, const int16_t *levels, int n, int nc)
{
    /* The nonzero levels from the highest frequency down, and the zeros
     * that run below each: from a mask of the nonzero ones (CAVLC is the
     * largest part of the writer's time, and a third of its blocks are
     * empty). */
    uint32_t nz = nonzero_mask(levels, n);
    const struct h264_vlc(*token)[17] =
        h264_coeff_token[nc < 2 ? 0 : nc < 4 ? 1 : nc < 8 ? 2 : 3];
    if (nz == 0) {
        put_vlc(out, nc < 0 ? h264_coeff_token_chroma_dc[0][0] : token[0][0]);
        return 0;
    }
    /* A local copy of the writer: stores into its buffer could alias *out,
     * which would then go through memory at every bit written. */
    struct h264_bits w = *out, *b = &w;
    /* The nonzero levels' positions, lowest first after a -1 below them
     * (pos[k] - pos[k - 1] - 1 is the run of zeros under level k): taking
     * the lowest set bit off is one step, so the positions do not wait on
     * one another the way a walk down from the highest does. */
    int pos[17], total = 0;
    pos[0] = -1;
    for (uint32_t m = nz; m; m &= m - 1)
        pos[++total] = __builtin_ctz(m);
    int last = pos[total];
    /* Levels are coded from the highest frequency down: level k of that
     * order is levels[pos[total - k]]. */
#define LEVEL(k) levels[pos[total - (k)]]

    /* coeff_token, then the signs of the trailing ones, as one code. */
    int t1 = 0;
    uint32_t signs = 0;
    while (t1 < total && t1 < 3 && (LEVEL(t1) == 1 || LEVEL(t1) == -1)) {
        signs = signs << 1 | (LEVEL(t1) < 0);
        t1++;
    }
    struct h264_vlc ct = nc < 0 ? h264_coeff_token_chroma_dc[t1][total] : token[t1][total];
    h264_put(b, (uint32_t)ct.code << t1 | signs, ct.len + t1);

    int suffix_len = total > 10 && t1 < 3 ? 1 : 0;
    for (int i = t1; i < total; i++) {
        int lv = LEVEL(i);
        int coded = i == t1 && t1 < 3 ? lv - (lv > 0 ? 1 : -1) : lv;
        suffix_len = put_level(b, lv, coded, suffix_len);
    }
#undef LEVEL

    int total_zeros = last + 1 - total;
    if (total < n) {
        if (nc < 0)
            put_vlc(b, h264_total_zeros_chroma_dc[total - 1][total_zeros]);
        else
            put_vlc(b, h264_total_zeros[total - 1][total_zeros]);
    }
    int zeros_left = total_zeros;
    for (int k = total; k > 1 && zeros_left > 0; k--) {
        int run = pos[k] - pos[k - 1] - 1;
        put_vlc(b, h264_run_before[(zeros_left < 7 ? zeros_left : 7) - 1][run]);
        zeros_left -= run;
    }
    *out = w;
    return total;
}
