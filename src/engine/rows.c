#include "engine/rows.h"
#include "engine/prefetch.h"
#include "engine/tiles.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h>
#define stripe_row_hash XXH3_64bits_dispatch
#else
#define stripe_row_hash XXH3_64bits
#endif

/* A box is searched when it is at least this tall and this large: a scroll
 * moves many rows, and below that the fingerprints cost about what
 * converting the box costs. */
#define MIN_ROWS 32
#define MIN_PIXELS (128 * 128)
/* Stripe columns whose old rows vote for a shift (spread over the box), and
 * the shifts tried: the one found last, then the two with most votes. */
#define VOTE_COLUMNS 3
#define MAX_TRIES 3
/* A shift is taken when it explains at least 1/MIN_SHARE of the box's
 * stripe rows: less is rows that happen to repeat, not a move. */
#define MIN_SHARE 8
/* The shift found last is kept without a vote when it explains all but
 * 1/KEEP_SHARE of the box's stripe rows. */
#define KEEP_SHARE 8
/* Set in the table slot of a fingerprint seen at two rows or more: it says
 * nothing about where a row went. */
#define AMBIGUOUS 0x80000000u
/* How far ahead the fingerprints ask for the box's pixels: 6 KB, where
 * 4-16 KB all cut the 1080p box's time by a third and 32 KB by less. */
#define PREFETCH_STRIPES 24

int hfx_rows_init(struct hfx_rows *r, uint32_t width, uint32_t height)
{
    uint32_t cols = (width + HFX_ROW_STRIPE - 1) / HFX_ROW_STRIPE;
    uint32_t size = 64;
    while (size < 2 * height)
        size *= 2;
    uint64_t *hash = calloc((size_t)cols * height, sizeof *hash);
    uint64_t *fresh = malloc((size_t)cols * height * sizeof *fresh);
    uint32_t *table = malloc(size * sizeof *table);
    if (!hash || !fresh || !table) {
        free(hash);
        free(fresh);
        free(table);
        return -1;
    }
    hfx_rows_fini(r);
    *r = (struct hfx_rows){hash, fresh, table, size - 1, cols, width, height, 0};
    return 0;
}

void hfx_rows_fini(struct hfx_rows *r)
{
    free(r->hash);
    free(r->fresh);
    free(r->table);
    memset(r, 0, sizeof *r);
}

/* The stripe columns and rows a box touches, clipped; false when none. */
static bool stripe_span(const struct hfx_rows *r, const pixman_box32_t *b, uint32_t *c1,
                        uint32_t *y1, uint32_t *c2, uint32_t *y2)
{
    return hfx_grid_span(b, r->width, r->height, HFX_ROW_STRIPE, 1, c1, y1, c2, y2);
}

void hfx_rows_forget(struct hfx_rows *r, const pixman_box32_t *box)
{
    hfx_grid_forget(r->hash, r->cols, r->width, r->height, HFX_ROW_STRIPE, 1, box);
}

bool hfx_rows_worth_searching(const pixman_box32_t *box)
{
    int64_t w = box->x2 - box->x1, h = box->y2 - box->y1;
    return h >= MIN_ROWS && w * h >= MIN_PIXELS;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* n whole stripes of one row, 256 bytes each, in one pass with AVX2: each
 * 32-byte piece j adds swap(d) + lo32(d ^ k_j) * hi32(d ^ k_j) (XXH3's
 * accumulate step, as the tiles' fingerprints use) to one accumulator per
 * stripe, with a key per piece so that moved pieces fingerprint
 * differently; the four lanes are then folded with 128-bit products and
 * avalanched. About three times the speed of one XXH3 call per stripe,
 * whose setup and finish dominate 256-byte inputs.
 *
 * The box is read once, 8 MB at 1080p, from memory the front end has just
 * written: the hardware's prefetch alone leaves the hash waiting on it (a
 * 1080p box 0.94-1.10 ms after 16 ms away, against 0.26 ms of arithmetic),
 * so the stripes PREFETCH_STRIPES ahead are asked for, continuing into the
 * box's next row (`next`, NULL at its last) where this one ends. */
__attribute__((target("avx2"))) static void stripes_avx2(const uint8_t *px, uint32_t n,
                                                         const uint8_t *next, uint64_t *out)
{
    static const uint64_t fold[4] = {0x1cad21f72c81017cu, 0xdb979083e96dd4deu,
                                     0x1f67b3b7a4a44072u, 0x78e5c0cc4ee679cbu};
    __m256i key[8];
    for (int j = 0; j < 8; j++)
        key[j] = _mm256_set_epi64x((long long)(0xbe4ba423396cfeb8u * (uint64_t)(4 * j + 1)),
                                   (long long)(0x2172ffcc7dd05a82u * (uint64_t)(4 * j + 2)),
                                   (long long)(0x8e2443f7744608b8u * (uint64_t)(4 * j + 3)),
                                   (long long)(0x4c263a81e69035e0u * (uint64_t)(4 * j + 4)));
    for (uint32_t k = 0; k < n; k++) {
        const __m256i *p = (const __m256i *)(px + (size_t)k * HFX_ROW_STRIPE * 4);
        hfx_prefetch_ahead(px, next, (size_t)n * HFX_ROW_STRIPE * 4,
                           (size_t)(k + PREFETCH_STRIPES) * HFX_ROW_STRIPE * 4,
                           HFX_ROW_STRIPE * 4);
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i d = _mm256_loadu_si256(p + j);
            __m256i dk = _mm256_xor_si256(d, key[j]);
            __m256i prod = _mm256_mul_epu32(dk, _mm256_srli_epi64(dk, 32));
            __m256i swap = _mm256_shuffle_epi32(d, _MM_SHUFFLE(1, 0, 3, 2));
            acc = _mm256_add_epi64(acc, _mm256_add_epi64(swap, prod));
        }
        uint64_t l[4];
        _mm256_storeu_si256((__m256i *)l, acc);
        unsigned __int128 a = (unsigned __int128)(l[0] ^ fold[0]) * (l[1] ^ fold[1]);
        unsigned __int128 b = (unsigned __int128)(l[2] ^ fold[2]) * (l[3] ^ fold[3]);
        uint64_t h = (uint64_t)a ^ (uint64_t)(a >> 64) ^ ((uint64_t)b + (uint64_t)(b >> 64));
        h ^= h >> 37;
        h *= 0x165667919e3779f9u;
        h ^= h >> 32;
        out[k] = h ? h : 1;
    }
}
#endif

/* The fingerprints of stripes c1..c2-1 of row y (never 0); `next` is the
 * box's next row (NULL: none), read ahead. A stripe's fingerprint always
 * comes from the same function: a stripe column's width never changes. */
static void row_hash(const struct hfx_rows *r, const uint8_t *row, const uint8_t *next,
                     uint32_t c1, uint32_t c2, uint64_t *out)
{
    uint32_t c = c1;
#if defined(__x86_64__) && defined(__GNUC__)
    uint32_t whole = r->width / HFX_ROW_STRIPE;
    /* libgcc's CPU model, read once at start-up. */
    if (__builtin_cpu_supports("avx2") && c < whole) {
        uint32_t end = c2 < whole ? c2 : whole;
        stripes_avx2(row + (size_t)c * HFX_ROW_STRIPE * 4, end - c,
                     next ? next + (size_t)c * HFX_ROW_STRIPE * 4 : NULL, out);
        c = end;
    }
#endif
    for (; c < c2; c++) {
        uint32_t x = c * HFX_ROW_STRIPE;
        uint32_t w = r->width - x < HFX_ROW_STRIPE ? r->width - x : HFX_ROW_STRIPE;
        uint64_t h = stripe_row_hash(row + (size_t)x * 4, (size_t)w * 4);
        out[c - c1] = h ? h : 1;
    }
}

/* Shifts voted for by stripe column c of rows y1..y2: each new row whose
 * fingerprint is that of exactly one old row of the span votes for their
 * distance. Adds to votes[dy + span]. */
static void vote_column(struct hfx_rows *r, uint32_t c, uint32_t y1, uint32_t y2, uint32_t *votes)
{
    uint32_t mask = r->table_mask;
    memset(r->table, 0, (mask + 1) * sizeof *r->table);
    /* Slots hold the first row with a fingerprint, plus 1 (0: free), and
     * AMBIGUOUS when another row has it too. */
#define SLOT_HASH(slot) r->hash[(size_t)(((slot) & ~AMBIGUOUS) - 1) * r->cols + c]
    for (uint32_t y = y1; y < y2; y++) {
        uint64_t h = r->hash[(size_t)y * r->cols + c];
        if (!h)
            continue;
        uint32_t i = (uint32_t)h & mask;
        while (r->table[i] && SLOT_HASH(r->table[i]) != h)
            i = (i + 1) & mask;
        r->table[i] = r->table[i] ? r->table[i] | AMBIGUOUS : y + 1;
    }
    for (uint32_t y = y1; y < y2; y++) {
        uint64_t h = r->fresh[(size_t)y * r->cols + c];
        uint32_t i = (uint32_t)h & mask;
        while (r->table[i] && SLOT_HASH(r->table[i]) != h)
            i = (i + 1) & mask;
        if (!r->table[i] || r->table[i] & AMBIGUOUS)
            continue;
        int32_t dy = (int32_t)(r->table[i] - 1) - (int32_t)y;
        if (dy)
            votes[dy + (int32_t)(y2 - y1)]++;
    }
#undef SLOT_HASH
}

/* Whether stripe c of new row y is old row y + dy, from the same span. */
static bool row_matches(const struct hfx_rows *r, uint32_t c, uint32_t y, int32_t dy, uint32_t y1,
                        uint32_t y2)
{
    int64_t from = (int64_t)y + dy;
    if (from < y1 || from >= y2)
        return false;
    uint64_t old = r->hash[(size_t)from * r->cols + c];
    return old && old == r->fresh[(size_t)y * r->cols + c];
}

/* The stripe rows of the span that shift dy explains. */
static uint64_t count_matches(const struct hfx_rows *r, int32_t dy, uint32_t c1, uint32_t c2,
                              uint32_t y1, uint32_t y2)
{
    uint64_t n = 0;
    for (uint32_t y = y1; y < y2; y++)
        for (uint32_t c = c1; c < c2; c++)
            n += row_matches(r, c, y, dy, y1, y2);
    return n;
}

/* The parts of the box that shift dy explains, into mv->moved: runs of
 * matching stripes, a row (odd dy) or a pair of rows (even dy) high,
 * clipped to the box. */
static void moved_region(const struct hfx_rows *r, const pixman_box32_t *box, int32_t dy,
                         uint32_t c1, uint32_t c2, uint32_t y1, uint32_t y2,
                         struct hfx_row_move *mv)
{
    uint32_t step = dy & 1 ? 1 : 2;
    size_t n = 0, cap = 0;
    pixman_box32_t *boxes = NULL;
    for (uint32_t y = y1; y + step <= y2; y += step) {
        uint32_t run = c2; /* first column of a run of matches */
        for (uint32_t c = c1; c <= c2; c++) {
            bool m = c < c2 && row_matches(r, c, y, dy, y1, y2) &&
                     (step == 1 || row_matches(r, c, y + 1, dy, y1, y2));
            if (m && run == c2) {
                run = c;
            } else if (!m && run != c2) {
                int32_t x1 = (int32_t)(run * HFX_ROW_STRIPE), x2 = (int32_t)(c * HFX_ROW_STRIPE);
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 256;
                    pixman_box32_t *nb = realloc(boxes, nc * sizeof *nb);
                    if (!nb) {
                        /* Out of memory: what was found so far. */
                        goto done;
                    }
                    boxes = nb;
                    cap = nc;
                }
                boxes[n++] = (pixman_box32_t){x1 < box->x1 ? box->x1 : x1, (int32_t)y,
                                              x2 > box->x2 ? box->x2 : x2, (int32_t)(y + step)};
                run = c2;
            }
        }
    }
done:
    pixman_region32_fini(&mv->moved);
    pixman_region32_init_rects(&mv->moved, boxes, (int)n);
    free(boxes);
}

void hfx_rows_find_move(struct hfx_rows *r, const uint8_t *pixels, int32_t stride,
                        const pixman_box32_t *box, struct hfx_row_move *mv)
{
    mv->dy = 0;
    pixman_region32_clear(&mv->moved);
    uint32_t c1, y1, c2, y2;
    if (!r->hash || !stripe_span(r, box, &c1, &y1, &c2, &y2))
        return;
    for (uint32_t y = y1; y < y2; y++)
        row_hash(r, pixels + (ptrdiff_t)y * stride,
                 y + 1 < y2 ? pixels + (ptrdiff_t)(y + 1) * stride : NULL, c1, c2,
                 &r->fresh[(size_t)y * r->cols + c1]);

    uint32_t span = y2 - y1;
    uint64_t stripes = (uint64_t)span * (c2 - c1);
    int32_t tries[MAX_TRIES];
    int ntries = 0;
    if (r->last_dy)
        tries[ntries++] = r->last_dy;
    /* A scroll going on at its speed needs no vote: no other shift could
     * explain much more of the box. */
    uint64_t last_n = r->last_dy ? count_matches(r, r->last_dy, c1, c2, y1, y2) : 0;
    /* Votes by shift, -span < dy < span. */
    uint32_t *votes = last_n * KEEP_SHARE >= stripes * (KEEP_SHARE - 1)
                          ? NULL
                          : calloc(2 * (size_t)span + 1, sizeof *votes);
    if (votes) {
        for (uint32_t k = 0; k < VOTE_COLUMNS && k < c2 - c1; k++)
            vote_column(r, c1 + (c2 - c1) * (2 * k + 1) / (2 * VOTE_COLUMNS), y1, y2, votes);
        for (int k = 0; k < 2; k++) {
            uint32_t best = 0;
            for (uint32_t i = 1; i <= 2 * span; i++)
                if (votes[i] > votes[best])
                    best = i;
            if (!votes[best])
                break;
            int32_t dy = (int32_t)best - (int32_t)span;
            if (dy != r->last_dy)
                tries[ntries++] = dy;
            votes[best] = 0;
        }
        free(votes);
    }
    int32_t best_dy = 0;
    uint64_t best_n = 0;
    for (int t = 0; t < ntries; t++) {
        uint64_t n = tries[t] == r->last_dy ? last_n : count_matches(r, tries[t], c1, c2, y1, y2);
        if (n > best_n) {
            best_n = n;
            best_dy = tries[t];
        }
    }
    if (best_n * MIN_SHARE >= stripes && best_n) {
        mv->dy = best_dy;
        moved_region(r, box, best_dy, c1, c2, y1, y2, mv);
        if (!pixman_region32_not_empty(&mv->moved))
            mv->dy = 0;
    }
    r->last_dy = mv->dy ? mv->dy : r->last_dy;
    for (uint32_t y = y1; y < y2; y++)
        memcpy(&r->hash[(size_t)y * r->cols + c1], &r->fresh[(size_t)y * r->cols + c1],
               (c2 - c1) * sizeof *r->hash);
}
