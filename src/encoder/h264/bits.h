/* Bit-level writing and reading of H.264 RBSPs (ITU-T H.264 7.2: u(n),
 * ue(v), se(v)), and the emulation prevention that turns an RBSP into a NAL
 * unit's payload and back (7.4.1). */
#ifndef HFX_H264_BITS_H
#define HFX_H264_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A growable RBSP. Writers call h264_bits_reserve before a bounded burst
 * of writes (a macroblock at most H264_MB_MAX_BYTES) so that the writes
 * themselves never check or fail. */
struct h264_bits {
    uint8_t *buf;
    size_t cap, len;    /* bytes complete in buf */
    uint64_t acc;       /* its low nacc bits are not yet in buf */
    int nacc;
    bool failed;        /* a reservation failed: the RBSP is unusable */
};

/* More than any one macroblock can take in CAVLC (384 levels with 28-bit
 * escapes and their run codes, plus its header). */
#define H264_MB_MAX_BYTES 3072

void h264_bits_reset(struct h264_bits *b);
void h264_bits_free(struct h264_bits *b);
/* Makes room for `bytes` more; false (and b->failed) when out of memory. */
bool h264_bits_reserve(struct h264_bits *b, size_t bytes);

static inline void h264_put(struct h264_bits *b, uint32_t v, int n)
{
    /* n <= 32, and the accumulator keeps fewer than 32 bits between calls:
     * they go to buf 32 at a time (a branch per call, not a loop per
     * byte: CAVLC writes many short codes). Bits above nacc are stale. */
    b->acc = (b->acc << n) | (v & ((UINT64_C(1) << n) - 1));
    b->nacc += n;
    if (b->nacc >= 32) {
        b->nacc -= 32;
        uint32_t word = __builtin_bswap32((uint32_t)(b->acc >> b->nacc));
        memcpy(b->buf + b->len, &word, 4);
        b->len += 4;
    }
}

static inline void h264_put_ue(struct h264_bits *b, uint32_t v)
{
    uint32_t x = v + 1;
    int n = 32 - __builtin_clz(x);
    if (n > 16) {
        h264_put(b, 0, n - 1);
        h264_put(b, x, n);
    } else {
        h264_put(b, x, 2 * n - 1);
    }
}

static inline void h264_put_se(struct h264_bits *b, int32_t v)
{
    h264_put_ue(b, v > 0 ? 2 * (uint32_t)v - 1 : 2 * (uint32_t)(-(int64_t)v));
}

/* Bits written so far. */
static inline size_t h264_bits_count(const struct h264_bits *b)
{
    return b->len * 8 + (size_t)b->nacc;
}

/* Appends another RBSP's bits (a macroblock written aside). */
void h264_bits_append(struct h264_bits *b, const struct h264_bits *other);
/* rbsp_trailing_bits: the stop bit, then zeros to a byte boundary; all
 * of the RBSP is in buf afterwards. */
void h264_bits_trailing(struct h264_bits *b);

/* Reads an RBSP (emulation prevention already removed). Reading past the
 * end yields zeros and sets `overrun`. */
struct h264_reader {
    const uint8_t *p;
    size_t len, pos;    /* pos in bits */
    bool overrun;
};

void h264_reader_init(struct h264_reader *r, const uint8_t *rbsp, size_t len);
uint32_t h264_get(struct h264_reader *r, int n);
uint32_t h264_get_ue(struct h264_reader *r);
int32_t h264_get_se(struct h264_reader *r);
/* more_rbsp_data(): is anything but the trailing bits left? */
bool h264_more_rbsp_data(const struct h264_reader *r);

/* Copies a NAL payload into rbsp (at least len bytes) without its
 * emulation prevention bytes; returns the RBSP's length. */
size_t h264_unescape(uint8_t *rbsp, const uint8_t *nal, size_t len);
/* Writes to out (room for len + len / 2 + 1 bytes) the escaped
 * form of rbsp; returns the bytes written. */
size_t h264_escape(uint8_t *out, const uint8_t *rbsp, size_t len);

#endif
