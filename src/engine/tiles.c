#include "engine/tiles.h"
#include "engine/prefetch.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* libxxhash's run-time dispatch picks AVX2/AVX-512 where the CPU has them:
 * about twice as fast here as its SSE2 default (docs/benchmarks.md). */
#include <xxh_x86dispatch.h>
#define tile_row_hash XXH3_64bits_dispatch
#else
#define tile_row_hash XXH3_64bits
#endif

int hfx_tiles_init(struct hfx_tiles *t, uint32_t width, uint32_t height)
{
    uint32_t cols = (width + HFX_TILE_W - 1) / HFX_TILE_W;
    uint32_t rows = (height + HFX_TILE_H - 1) / HFX_TILE_H;
    uint64_t *hash = calloc((size_t)cols * rows, sizeof *hash);
    if (!hash)
        return -1;
    free(t->hash);
    *t = (struct hfx_tiles){hash, cols, rows, width, height};
    return 0;
}

void hfx_tiles_fini(struct hfx_tiles *t)
{
    free(t->hash);
    memset(t, 0, sizeof *t);
}

bool hfx_grid_span(const pixman_box32_t *b, uint32_t width, uint32_t height, uint32_t cell_w,
                   uint32_t cell_h, uint32_t *c1, uint32_t *r1, uint32_t *c2, uint32_t *r2)
{
    int32_t x1 = b->x1 < 0 ? 0 : b->x1, y1 = b->y1 < 0 ? 0 : b->y1;
    int32_t x2 = b->x2 > (int32_t)width ? (int32_t)width : b->x2;
    int32_t y2 = b->y2 > (int32_t)height ? (int32_t)height : b->y2;
    if (x1 >= x2 || y1 >= y2)
        return false;
    *c1 = (uint32_t)x1 / cell_w;
    *r1 = (uint32_t)y1 / cell_h;
    *c2 = ((uint32_t)x2 + cell_w - 1) / cell_w;
    *r2 = ((uint32_t)y2 + cell_h - 1) / cell_h;
    return true;
}

/* The tile columns and rows a box touches, clipped; false when none. */
static bool tile_span(const struct hfx_tiles *t, const pixman_box32_t *b, uint32_t *c1,
                      uint32_t *r1, uint32_t *c2, uint32_t *r2)
{
    return hfx_grid_span(b, t->width, t->height, HFX_TILE_W, HFX_TILE_H, c1, r1, c2, r2);
}

void hfx_grid_forget(uint64_t *hash, uint32_t cols, uint32_t width, uint32_t height,
                     uint32_t cell_w, uint32_t cell_h, const pixman_box32_t *box)
{
    uint32_t c1, r1, c2, r2;
    if (!hash || !hfx_grid_span(box, width, height, cell_w, cell_h, &c1, &r1, &c2, &r2))
        return;
    for (uint32_t r = r1; r < r2; r++)
        memset(&hash[(size_t)r * cols + c1], 0, (c2 - c1) * sizeof *hash);
}

void hfx_tiles_forget(struct hfx_tiles *t, const pixman_box32_t *box)
{
    hfx_grid_forget(t->hash, t->cols, t->width, t->height, HFX_TILE_W, HFX_TILE_H, box);
}

/* One fingerprint per tile: its rows hashed one by one (a row of a tile is
 * contiguous, the tile is not) and chained. Never 0, which means unknown. */
static uint64_t tile_hash_rows(const uint8_t *px, int32_t stride, uint32_t bytes, uint32_t rows)
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (uint32_t r = 0; r < rows; r++) {
        h ^= tile_row_hash(px + (ptrdiff_t)r * stride, bytes);
        h = (h << 31 | h >> 33) * 0xc2b2ae3d27d4eb4fu;
    }
    return h ? h : 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* A whole tile (64 pixels a row) in one pass with AVX2: XXH3's accumulate
 * step (acc += swap(d) + lo32(d ^ key) * hi32(d ^ key), 64-bit lanes) over
 * every 32-byte piece, one accumulator per piece of the row and a key per
 * piece and row (so moved or swapped rows fingerprint differently), then
 * the 32 lanes merged and avalanched once. One XXH3 call per 256-byte row
 * costs its setup and finish 16 times a tile: measured on a 1280x800
 * surface in cache, 142 us instead of 252 (29 instead of 16 GB/s); from
 * memory both run at memory speed. The swap term alone makes every change
 * to one piece change its accumulator (test_tiles). */
static const uint64_t tile_keys[8][4] = {
    {0xbe4ba423396cfeb8u, 0x1cad21f72c81017cu, 0xdb979083e96dd4deu, 0x1f67b3b7a4a44072u},
    {0x78e5c0cc4ee679cbu, 0x2172ffcc7dd05a82u, 0x8e2443f7744608b8u, 0x4c263a81e69035e0u},
    {0xcb00c391bb52283cu, 0xa32e531b8b65d088u, 0x4ef90da297486471u, 0xd8acdea946ef1938u},
    {0x3f349ce33f76faa8u, 0x1d4f0bc7c7bbdcf9u, 0x3159b4cd4be0518au, 0x647378d9c97e9fc8u},
    {0xc3ebd33483acc5eau, 0xeb6313faffa081c5u, 0x49daf0b751dd0d17u, 0x9e68d429265516d3u},
    {0xfca1477d58be162bu, 0xce31d07ad1b8f88fu, 0x280416958f3acb45u, 0x7e404bbbcafbd7afu},
    {0x2e97cca1d1e1c7fbu, 0x5d57ca1e7c1a5c4bu, 0xb6cbc1a7ee5b7a0fu, 0x41d1c2bd2e7e5a13u},
    {0x9cb3aea5d4e30c71u, 0xe1c0f6b5a58e1d27u, 0x6a2de57c9bd14b39u, 0x37e4a9c1f2d8b60du},
};

/* Up to this many whole tiles of a band at a time: their state (256 bytes
 * each) stays in L1. */
#define BAND_CHUNK 32

/* The fingerprints of n whole tiles side by side from px (their top left),
 * rows high. The band is read row by row across the tiles, in address
 * order: the buffer QEMU just wrote is not in our caches, and one
 * sequential stream reads it about 40 % faster than 16 rows a tile at a
 * time. Each tile's piece of the next row is asked for as this one is
 * read, up to 8 KB ahead: the hardware's prefetch alone left a 1080p
 * page flip's compare at 0.83-0.86 ms a frame after 16 ms away, 0.73-0.74
 * with it (5K: 6.4-6.9 ms, 5.0-5.2). */
__attribute__((target("avx2"))) static void band_hash_avx2(const uint8_t *px, int32_t stride,
                                                            uint32_t rows, uint32_t n,
                                                            uint64_t *out)
{
    __m256i key[8];
    for (int j = 0; j < 8; j++)
        key[j] = _mm256_loadu_si256((const __m256i *)tile_keys[j]);
    const __m256i row_step = _mm256_set1_epi64x((long long)0x165667919e3779f9u);
    for (uint32_t c0 = 0; c0 < n; c0 += BAND_CHUNK) {
        uint32_t m = n - c0 < BAND_CHUNK ? n - c0 : BAND_CHUNK;
        __m256i acc[BAND_CHUNK][8];
        for (uint32_t k = 0; k < m; k++)
            for (int j = 0; j < 8; j++)
                acc[k][j] = _mm256_set1_epi64x((long long)(0x9e3779b97f4a7c15u * (uint64_t)(j + 1)));
        __m256i row_key = _mm256_setzero_si256();
        for (uint32_t r = 0; r < rows; r++) {
            const __m256i *p =
                (const __m256i *)(px + (ptrdiff_t)r * stride + (size_t)c0 * HFX_TILE_W * 4);
            __m256i rk[8];
            for (int j = 0; j < 8; j++)
                rk[j] = _mm256_xor_si256(key[j], row_key);
            for (uint32_t k = 0; k < m; k++, p += 8) {
                if (r + 1 < rows)
                    hfx_prefetch((const uint8_t *)p + stride, HFX_TILE_W * 4);
                for (int j = 0; j < 8; j++) {
                    __m256i d = _mm256_loadu_si256(p + j);
                    __m256i dk = _mm256_xor_si256(d, rk[j]);
                    __m256i prod = _mm256_mul_epu32(dk, _mm256_srli_epi64(dk, 32));
                    __m256i swap = _mm256_shuffle_epi32(d, _MM_SHUFFLE(1, 0, 3, 2));
                    acc[k][j] = _mm256_add_epi64(acc[k][j], _mm256_add_epi64(swap, prod));
                }
            }
            row_key = _mm256_add_epi64(row_key, row_step);
        }
        for (uint32_t k = 0; k < m; k++) {
            uint64_t lanes[32];
            for (int j = 0; j < 8; j++)
                _mm256_storeu_si256((__m256i *)&lanes[j * 4], acc[k][j]);
            uint64_t h = 0x27d4eb2f165667c5u ^ rows;
            for (int i = 0; i < 32; i += 2) {
                unsigned __int128 x = (unsigned __int128)(lanes[i] ^ tile_keys[i / 4][i % 4]) *
                                      (lanes[i + 1] ^ tile_keys[(i + 1) / 4][(i + 1) % 4]);
                h += (uint64_t)x ^ (uint64_t)(x >> 64);
            }
            h ^= h >> 37;
            h *= 0x165667919e3779f9u;
            h ^= h >> 32;
            out[c0 + k] = h ? h : 1;
        }
    }
}

static bool have_avx2(void)
{
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2") ? 1 : 0;
    return have;
}
#endif

#define HASH_CHUNK 128

/* The fingerprints of tile columns c1..c2-1 of the band of tile row r (never
 * 0, which means unknown). A tile's fingerprint always comes from the same
 * function: a tile column's width never changes. */
static void band_hash(const struct hfx_tiles *t, const uint8_t *pixels, int32_t stride,
                      uint32_t r, uint32_t c1, uint32_t c2, uint64_t *out)
{
    uint32_t y = r * HFX_TILE_H;
    uint32_t rows = t->height - y < HFX_TILE_H ? t->height - y : HFX_TILE_H;
    const uint8_t *band = pixels + (ptrdiff_t)y * stride;
    uint32_t c = c1;
#if defined(__x86_64__) && defined(__GNUC__)
    /* Whole tiles: all columns but a narrower last one. */
    uint32_t whole = t->width / HFX_TILE_W;
    if (have_avx2() && c < whole) {
        uint32_t end = c2 < whole ? c2 : whole;
        band_hash_avx2(band + (size_t)c * HFX_TILE_W * 4, stride, rows, end - c, out);
        c = end;
    }
#endif
    for (; c < c2; c++) {
        uint32_t x = c * HFX_TILE_W;
        uint32_t cols = t->width - x < HFX_TILE_W ? t->width - x : HFX_TILE_W;
        out[c - c1] = tile_hash_rows(band + (size_t)x * 4, stride, cols * 4, rows);
    }
}

void hfx_tiles_compare(struct hfx_tiles *t, const uint8_t *pixels, int32_t stride,
                       const pixman_region32_t *where, pixman_region32_t *changed)
{
    if (!t->hash)
        return;
    /* The tiles the region touches, each once: the region's boxes in tile
     * units, merged by pixman. */
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)where, &n);
    pixman_region32_t tiles;
    pixman_region32_init(&tiles);
    for (int i = 0; i < n; i++) {
        uint32_t c1, r1, c2, r2;
        if (tile_span(t, &b[i], &c1, &r1, &c2, &r2))
            pixman_region32_union_rect(&tiles, &tiles, (int)c1, (int)r1, c2 - c1, r2 - r1);
    }
    const pixman_box32_t *tb = pixman_region32_rectangles(&tiles, &n);
    for (int i = 0; i < n; i++) {
        for (int32_t r = tb[i].y1; r < tb[i].y2; r++) {
            uint32_t y = (uint32_t)r * HFX_TILE_H;
            uint32_t rows = t->height - y < HFX_TILE_H ? t->height - y : HFX_TILE_H;
            /* Fingerprints of the band, HASH_CHUNK tiles at a time. */
            uint64_t hs[HASH_CHUNK];
            int32_t hs_from = tb[i].x1, hs_to = tb[i].x1;
            int32_t run = -1; /* first column of a run of changed tiles */
            for (int32_t c = tb[i].x1; c <= tb[i].x2; c++) {
                bool differs = false;
                if (c < tb[i].x2) {
                    if (c == hs_to) {
                        hs_from = c;
                        hs_to = tb[i].x2 - c < HASH_CHUNK ? tb[i].x2 : c + HASH_CHUNK;
                        band_hash(t, pixels, stride, (uint32_t)r, (uint32_t)hs_from,
                                  (uint32_t)hs_to, hs);
                    }
                    uint64_t h = hs[c - hs_from];
                    uint64_t *slot = &t->hash[(size_t)r * t->cols + (uint32_t)c];
                    differs = h != *slot;
                    *slot = h;
                }
                if (!changed)
                    continue;
                if (differs && run < 0) {
                    run = c;
                } else if (!differs && run >= 0) {
                    uint32_t x = (uint32_t)run * HFX_TILE_W;
                    uint32_t x2 = (uint32_t)c * HFX_TILE_W;
                    if (x2 > t->width)
                        x2 = t->width;
                    pixman_region32_union_rect(changed, changed, (int)x, (int)y, x2 - x, rows);
                    run = -1;
                }
            }
        }
    }
    pixman_region32_fini(&tiles);
}
