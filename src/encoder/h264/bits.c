#include "encoder/h264/bits.h"

#include <stdlib.h>
#include <string.h>

void h264_bits_reset(struct h264_bits *b)
{
    b->len = 0;
    b->acc = 0;
    b->nacc = 0;
    b->failed = false;
}

void h264_bits_free(struct h264_bits *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

/* Room kept beyond every reservation: the bits still in the accumulator
 * (up to 4 bytes) and what writers add unreserved after a burst (a last
 * skip run and the trailing bits), with margin. */
#define RESERVE_SLACK 32

bool h264_bits_reserve(struct h264_bits *b, size_t bytes)
{
    if (b->len + bytes + RESERVE_SLACK <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + bytes + RESERVE_SLACK)
        cap *= 2;
    uint8_t *buf = realloc(b->buf, cap);
    if (!buf) {
        b->failed = true;
        return false;
    }
    b->buf = buf;
    b->cap = cap;
    return true;
}

void h264_bits_append(struct h264_bits *b, const struct h264_bits *other)
{
    size_t i = 0;
    for (; i + 4 <= other->len; i += 4) {
        uint32_t word;
        memcpy(&word, other->buf + i, 4);
        h264_put(b, __builtin_bswap32(word), 32);
    }
    for (; i < other->len; i++)
        h264_put(b, other->buf[i], 8);
    if (other->nacc)
        h264_put(b, (uint32_t)other->acc, other->nacc);
}

void h264_bits_trailing(struct h264_bits *b)
{
    h264_put(b, 1, 1);
    if (b->nacc % 8)
        h264_put(b, 0, 8 - b->nacc % 8);
    while (b->nacc >= 8) {
        b->nacc -= 8;
        b->buf[b->len++] = (uint8_t)(b->acc >> b->nacc);
    }
}

void h264_reader_init(struct h264_reader *r, const uint8_t *rbsp, size_t len)
{
    r->p = rbsp;
    r->len = len;
    r->pos = 0;
    r->overrun = false;
}

uint32_t h264_get(struct h264_reader *r, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++, r->pos++) {
        uint32_t bit = 0;
        if (r->pos < r->len * 8)
            bit = (r->p[r->pos / 8] >> (7 - r->pos % 8)) & 1;
        else
            r->overrun = true;
        v = (v << 1) | bit;
    }
    return v;
}

uint32_t h264_get_ue(struct h264_reader *r)
{
    int zeros = 0;
    while (h264_get(r, 1) == 0) {
        if (r->overrun || ++zeros > 31) {
            r->overrun = true;
            return 0;
        }
    }
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + h264_get(r, zeros));
}

int32_t h264_get_se(struct h264_reader *r)
{
    uint32_t k = h264_get_ue(r);
    return k & 1 ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

bool h264_more_rbsp_data(const struct h264_reader *r)
{
    /* The last 1 bit in the RBSP is the stop bit. */
    size_t end = r->len;
    while (end > 0 && r->p[end - 1] == 0)
        end--;
    if (end == 0)
        return false;
    size_t stop = end * 8 - 1 - (size_t)__builtin_ctz(r->p[end - 1]);
    return r->pos < stop;
}

size_t h264_unescape(uint8_t *rbsp, const uint8_t *nal, size_t len)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 0; i < len; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        rbsp[n++] = nal[i];
    }
    return n;
}

size_t h264_escape(uint8_t *out, const uint8_t *rbsp, size_t len)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 0; i < len;) {
        /* Eight bytes without a zero, after a nonzero one, need nothing:
         * copied as a word (coded macroblocks are mostly such). The test
         * is exact: a byte's borrow reaches its top bit only if it is 0
         * or a lower byte borrowed, which only a 0 byte starts. */
        uint64_t v;
        if (zeros == 0 && i + 8 <= len) {
            memcpy(&v, rbsp + i, 8);
            if (!((v - 0x0101010101010101u) & ~v & 0x8080808080808080u)) {
                memcpy(out + n, &v, 8);
                n += 8;
                i += 8;
                continue;
            }
        }
        if (zeros >= 2 && rbsp[i] <= 3) {
            out[n++] = 3;
            zeros = 0;
        }
        zeros = rbsp[i] == 0 ? zeros + 1 : 0;
        out[n++] = rbsp[i++];
    }
    return n;
}
