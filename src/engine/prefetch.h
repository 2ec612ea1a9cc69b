/* Reading ahead of a scan over a surface the front end has just written
 * (the scroll search, the page-flip compare, the conversion). Such a
 * surface is mostly not in our caches, and the hardware's prefetch alone
 * leaves each of those scans waiting on memory; asking for the lines a
 * few KB ahead, interleaved with the work, takes a sixth to a third off
 * their time after 16 ms away (docs/benchmarks.md, "Issue 14, 2026-12-04
 * night"), and asking for the conversion's output lines for writing
 * halves a small rectangle's conversion. x86 only: elsewhere these do
 * nothing. */
#ifndef HFX_ENGINE_PREFETCH_H
#define HFX_ENGINE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Both ask line by line, from the line p is in to the one its last byte
 * is in. */
#define HFX_LINE_OF(p) ((uintptr_t)(p) & ~(uintptr_t)63)

/* Asks for the cache lines of [p, p + bytes). */
static inline void hfx_prefetch(const uint8_t *p, size_t bytes)
{
#if defined(__x86_64__)
    for (uintptr_t a = HFX_LINE_OF(p); a < (uintptr_t)p + bytes; a += 64)
        _mm_prefetch((const char *)a, _MM_HINT_T0);
#else
    (void)p;
    (void)bytes;
#endif
}

/* Asks for the cache lines of [p, p + bytes) to be written: owned by
 * this core when the stores come. PREFETCHW (written out: the compiler
 * drops it from code not built for it) is in every x86-64 CPU since
 * Broadwell and a no-op in older ones. */
static inline void hfx_prefetch_write(uint8_t *p, size_t bytes)
{
#if defined(__x86_64__)
    for (uintptr_t a = HFX_LINE_OF(p); a < (uintptr_t)p + bytes; a += 64)
        __asm__ volatile("prefetchw %0" : : "m"(*(const uint8_t *)a));
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
