#include "encoder/h264/intra.h"

#include <string.h>

static int sum(const uint8_t *p, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += p[i];
    return s;
}

static void fill_v(uint8_t *pred, int size, const uint8_t *top)
{
    for (int y = 0; y < size; y++)
        memcpy(pred + y * size, top, (size_t)size);
}

static void fill_h(uint8_t *pred, int size, const uint8_t *left)
{
    for (int y = 0; y < size; y++)
        memset(pred + y * size, left[y], (size_t)size);
}

void h264_pred16(uint8_t *pred, int mode, const uint8_t *top, const uint8_t *left)
{
    if (mode == H264_I16_V) {
        fill_v(pred, 16, top);
    } else if (mode == H264_I16_H) {
        fill_h(pred, 16, left);
    } else {
        int dc = top && left ? (sum(top, 16) + sum(left, 16) + 16) >> 5
                 : left      ? (sum(left, 16) + 8) >> 4
                 : top       ? (sum(top, 16) + 8) >> 4
                             : 128;
        memset(pred, dc, 256);
    }
}

/* The DC of one 4x4 chroma block (8.3.4.1-3): the corner blocks average
 * both neighbours, the others prefer the one that touches them. */
static int chroma_dc(int bx, int by, const uint8_t *top, const uint8_t *left)
{
    const uint8_t *t = top ? top + bx * 4 : NULL, *l = left ? left + by * 4 : NULL;
    if (bx == by) {
        if (t && l)
            return (sum(t, 4) + sum(l, 4) + 4) >> 3;
    } else if (bx == 1) {
        if (t)
            return (sum(t, 4) + 2) >> 2;
    } else if (l) {
        return (sum(l, 4) + 2) >> 2;
    }
    return l ? (sum(l, 4) + 2) >> 2 : t ? (sum(t, 4) + 2) >> 2 : 128;
}

void h264_pred_chroma(uint8_t *pred, int mode, const uint8_t *top, const uint8_t *left)
{
    if (mode == H264_CHROMA_V) {
        fill_v(pred, 8, top);
    } else if (mode == H264_CHROMA_H) {
        fill_h(pred, 8, left);
    } else {
        for (int by = 0; by < 2; by++)
            for (int bx = 0; bx < 2; bx++) {
                int dc = chroma_dc(bx, by, top, left);
                for (int y = 0; y < 4; y++)
                    memset(pred + (by * 4 + y) * 8 + bx * 4, dc, 4);
            }
    }
}
