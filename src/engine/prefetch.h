/* Reading ahead of a scan over a surface the front end has just written
 * (the scroll search, the page-flip compare, the conversion). Such a
 * surface is mostly not in our caches, and the hardware's prefetch alone
 * leaves each of those scans waiting on memory; asking for the lines a
 * few KB ahead, interleaved with the work, takes a sixth to a third off
 * their time after 16 ms away (docs/benchmarks.md, "Issue 14, 2026-12-04
 * night"). x86 only: elsewhere these do nothing. */
#ifndef HFX_ENGINE_PREFETCH_H
#define HFX_ENGINE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Asks for the cache lines of [p, p + bytes). */
static inline void hfx_prefetch(const uint8_t *p, size_t bytes)
{
#if defined(__x86_64__)
    for (size_t i = 0; i < bytes; i += 64)
        _mm_prefetch((const char *)p + i, _MM_HINT_T0);
#else
    (void)p;
    (void)bytes;
#endif
}

/* Asks for `bytes` at offset `at` of a scan along a row `row_bytes` long,
 * continuing into the next row (`next`, NULL: none) where this one ends;
 * nothing past that row's end. */
static inline void hfx_prefetch_ahead(const uint8_t *row, const uint8_t *next, size_t row_bytes,
                                      size_t at, size_t bytes)
{
    if (at >= row_bytes) {
        if (!next)
            return;
        row = next;
        at -= row_bytes;
    }
    if (at < row_bytes)
        hfx_prefetch(row + at, row_bytes - at < bytes ? row_bytes - at : bytes);
}

#endif
