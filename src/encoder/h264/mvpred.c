#include "encoder/h264/mvpred.h"

#include <stdbool.h>

/* A neighbouring 16x16 partition as 8.4.1.3.2 gives it: not available
 * (outside the picture) or intra have refIdx -1 and the zero vector. */
struct nb {
    bool avail;
    int ref;
    int16_t mv[2];
};

static struct nb neighbour(const struct h264_mb_state *s, int64_t x, int64_t y)
{
    struct nb n = {false, -1, {0, 0}};
    if (x < 0 || y < 0 || x >= (int64_t)s->mb_width || y >= (int64_t)s->mb_height)
        return n;
    n.avail = true;
    n.ref = 0;
    uint32_t addr = (uint32_t)y * s->mb_width + (uint32_t)x;
    if (s->stamp[addr] != s->picture)
        return n;
    if (s->intra_mb[addr]) {
        n.ref = -1;
        return n;
    }
    n.mv[0] = s->mv[addr][0];
    n.mv[1] = s->mv[addr][1];
    return n;
}

static int16_t median3(int16_t a, int16_t b, int16_t c)
{
    int16_t lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : c > hi ? hi : c;
}

static void median(struct nb a, struct nb b, struct nb c, int16_t mv[2])
{
    /* 8.4.1.3: B and C missing (the top row) take A's place. */
    if (!b.avail && !c.avail && a.avail)
        b = c = a;
    /* 8.4.1.3.1: one neighbour alone with the same reference (index 0)
     * gives its vector; otherwise the median. */
    int same = (a.ref == 0) + (b.ref == 0) + (c.ref == 0);
    if (same == 1) {
        const struct nb *o = a.ref == 0 ? &a : b.ref == 0 ? &b : &c;
        mv[0] = o->mv[0];
        mv[1] = o->mv[1];
        return;
    }
    mv[0] = median3(a.mv[0], b.mv[0], c.mv[0]);
    mv[1] = median3(a.mv[1], b.mv[1], c.mv[1]);
}

/* A (left), B (above) and C (above right, or D above left when C is
 * outside the picture) of the 16x16 partition at (x, y). */
static void neighbours(const struct h264_mb_state *s, uint32_t x, uint32_t y, struct nb *a,
                       struct nb *b, struct nb *c)
{
    *a = neighbour(s, (int64_t)x - 1, y);
    *b = neighbour(s, x, (int64_t)y - 1);
    *c = neighbour(s, (int64_t)x + 1, (int64_t)y - 1);
    if (!c->avail)
        *c = neighbour(s, (int64_t)x - 1, (int64_t)y - 1);
}

void h264_mvpred_median(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int16_t mv[2])
{
    struct nb a, b, c;
    neighbours(s, mbx, mby, &a, &b, &c);
    median(a, b, c, mv);
}

/* The vector a P_Skip at (mbx, mby) takes (8.4.1.1). */
static void skip_vector(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int16_t mv[2])
{
    struct nb a, b, c;
    neighbours(s, mbx, mby, &a, &b, &c);
    bool a_zero = a.ref == 0 && a.mv[0] == 0 && a.mv[1] == 0;
    bool b_zero = b.ref == 0 && b.mv[0] == 0 && b.mv[1] == 0;
    if (!a.avail || !b.avail || a_zero || b_zero) {
        mv[0] = mv[1] = 0;
        return;
    }
    median(a, b, c, mv);
}

bool h264_mvpred_skip_is(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby,
                         const int16_t mv[2])
{
    /* The common case inside a scroll or a moved window: A, B and C all
     * inter with mv, whose median (or, mv zero, the zero rule) is mv. */
    if (mbx > 0 && mby > 0 && mbx + 1 < s->mb_width) {
        uint32_t addr = mby * s->mb_width + mbx, up = addr - s->mb_width;
        if (h264_mvpred_inter_with(s, addr - 1, mv) && h264_mvpred_inter_with(s, up, mv) &&
            h264_mvpred_inter_with(s, up + 1, mv))
            return true;
    }
    int16_t skip[2];
    skip_vector(s, mbx, mby, skip);
    return skip[0] == mv[0] && skip[1] == mv[1];
}
