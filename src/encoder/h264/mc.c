#include "encoder/h264/mc.h"

#include <string.h>

static void luma(const struct h264_mb_state *s, int x0, int y0, uint8_t *dst)
{
    int w = (int)s->mb_width * 16, h = (int)s->mb_height * 16;
    const uint8_t *ref = s->plane[0];
    size_t stride = s->stride[0];
    if (x0 >= 0 && y0 >= 0 && x0 + 16 <= w && y0 + 16 <= h) {
        /* Inside the picture (nearly always): sixteen plain row copies. */
        const uint8_t *at = ref + (size_t)y0 * stride + x0;
        for (int y = 0; y < 16; y++)
            memcpy(dst + y * 16, at + (size_t)y * stride, 16);
        return;
    }
    for (int y = 0; y < 16; y++) {
        const uint8_t *row = ref + (size_t)h264_edge_index(y0 + y, h - 1) * stride;
        for (int x = 0; x < 16; x++)
            dst[y * 16 + x] = row[h264_edge_index(x0 + x, w - 1)];
    }
}

/* Eight byte lanes' rounded means, (a + b + 1) >> 1, without carries
 * between lanes. */
static uint64_t mean2(uint64_t a, uint64_t b)
{
    return (a | b) - (((a ^ b) >> 1) & 0x7f7f7f7f7f7f7f7fu);
}

/* Eight byte lanes' (a + b + c + d + 2) >> 2: the even and odd bytes
 * summed in 16-bit lanes, where the sum (at most 1022) fits. */
static uint64_t mean4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    const uint64_t lo = 0x00ff00ff00ff00ffu, two = 0x0002000200020002u;
    uint64_t even = (a & lo) + (b & lo) + (c & lo) + (d & lo) + two;
    uint64_t odd = ((a >> 8) & lo) + ((b >> 8) & lo) + ((c >> 8) & lo) + ((d >> 8) & lo) + two;
    return ((even >> 2) & lo) | (((odd >> 2) & lo) << 8);
}

/* One chroma plane at (x0 + fx/8, y0 + fy/8), fx and fy 0 or 4 (8-266). */
static void chroma(const uint8_t *ref, size_t stride, int w, int h, int x0, int y0, int fx,
                   int fy, uint8_t *dst)
{
    int ex = fx != 0, ey = fy != 0;
    if (x0 >= 0 && y0 >= 0 && x0 + 8 + ex <= w && y0 + 8 + ey <= h) {
        /* Inside the picture, 8-266 at a half sample is the rounded mean
         * of two samples, or of four: ((8 - 4) * 8 * (a + b) + 32) >> 6
         * and (4 * 4 * (a + b + c + d) + 32) >> 6. */
        for (int y = 0; y < 8; y++) {
            const uint8_t *r0 = ref + (size_t)(y0 + y) * stride + x0, *r1 = r0 + stride;
            uint64_t v = h264_load64(r0);
            if (ex && ey)
                v = mean4(v, h264_load64(r0 + 1), h264_load64(r1), h264_load64(r1 + 1));
            else if (ex)
                v = mean2(v, h264_load64(r0 + 1));
            else if (ey)
                v = mean2(v, h264_load64(r1));
            memcpy(dst + y * 8, &v, 8);
        }
        return;
    }
    for (int y = 0; y < 8; y++) {
        const uint8_t *r0 = ref + (size_t)h264_edge_index(y0 + y, h - 1) * stride;
        const uint8_t *r1 = ref + (size_t)h264_edge_index(y0 + y + 1, h - 1) * stride;
        for (int x = 0; x < 8; x++) {
            int xa = h264_edge_index(x0 + x, w - 1), xb = h264_edge_index(x0 + x + 1, w - 1);
            int v = (8 - fx) * (8 - fy) * r0[xa] + fx * (8 - fy) * r0[xb] +
                    (8 - fx) * fy * r1[xa] + fx * fy * r1[xb];
            dst[y * 8 + x] = (uint8_t)((v + 32) >> 6);
        }
    }
}

void h264_mc16(const struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int dx, int dy,
               struct h264_mb_src *pred)
{
    luma(s, (int)mbx * 16 + dx, (int)mby * 16 + dy, pred->y);
    /* The chroma vector is the luma one in eighths of a chroma sample
     * (8.4.1.4): 4 * d quarter samples, d / 2 chroma samples. An arithmetic
     * shift floors, as the decoder's >> 3 does. */
    int cw = (int)s->mb_width * 8, ch = (int)s->mb_height * 8;
    int cx = (int)mbx * 8 + (dx >> 1), cy = (int)mby * 8 + (dy >> 1);
    int fx = (dx & 1) * 4, fy = (dy & 1) * 4;
    chroma(s->plane[1], s->stride[1], cw, ch, cx, cy, fx, fy, pred->u);
    chroma(s->plane[2], s->stride[2], cw, ch, cx, cy, fx, fy, pred->v);
}

/* One plane's block moved by a whole (dx, dy) onto itself: every row reads
 * its own row or one below, and within a row samples at or right of the
 * one written (memmove copies overlapping rows as if through a buffer). */
static void move_in_place(uint8_t *plane, size_t stride, int w, int h, int x0, int y0, int size,
                          int dx, int dy)
{
    bool inside = x0 + dx >= 0 && x0 + dx + size <= w && y0 + dy + size <= h;
    for (int y = 0; y < size; y++) {
        uint8_t *dst = plane + (size_t)(y0 + y) * stride + x0;
        const uint8_t *row = plane + (size_t)h264_edge_index(y0 + y + dy, h - 1) * stride;
        if (inside && dy > 0) {
            /* Another row: no overlap, and constant sizes copy inline. */
            if (size == 16)
                memcpy(dst, row + x0 + dx, 16);
            else
                memcpy(dst, row + x0 + dx, 8);
            continue;
        }
        if (inside) {
            memmove(dst, row + x0 + dx, (size_t)size);
            continue;
        }
        for (int x = 0; x < size; x++)
            dst[x] = row[h264_edge_index(x0 + x + dx, w - 1)];
    }
}

void h264_mc16_in_place(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, int dx, int dy)
{
    move_in_place(s->plane[0], s->stride[0], (int)s->mb_width * 16, (int)s->mb_height * 16,
                  (int)mbx * 16, (int)mby * 16, 16, dx, dy);
    for (int p = 1; p < 3; p++)
        move_in_place(s->plane[p], s->stride[p], (int)s->mb_width * 8, (int)s->mb_height * 8,
                      (int)mbx * 8, (int)mby * 8, 8, dx / 2, dy / 2);
}

void h264_mc16_run_down(struct h264_mb_state *s, uint32_t mbx, uint32_t mby, uint32_t n, int dy)
{
    for (int p = 0; p < 3; p++) {
        int size = p ? 8 : 16, d = p ? dy >> 1 : dy;
        size_t stride = s->stride[p], x0 = (size_t)mbx * (size_t)size, len = n * (size_t)size;
        uint8_t *top = s->plane[p] + (size_t)mby * (size_t)size * stride + x0;
        for (int y = 0; y < size; y++) {
            uint8_t *row = top + (size_t)y * stride;
            const uint8_t *a = top + (size_t)(y + d) * stride;
            if (!p || !(dy & 1)) {
                memcpy(row, a, len);
                continue;
            }
            /* The rows read are this one or below: each eight samples are
             * read before they are written. */
            for (size_t i = 0; i < len; i += 8) {
                uint64_t v = mean2(h264_load64(a + i), h264_load64(a + stride + i));
                memcpy(row + i, &v, 8);
            }
        }
    }
}
