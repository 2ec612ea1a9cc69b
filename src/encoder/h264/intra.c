#include "encoder/h264/intra.h"

#include <stdbool.h>
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

/* The DC of one 4x4 chroma block (8.3.4.1-3) from the sums of the four
 * neighbours above (t, when there) and left (l): the corner blocks average
 * both, the others prefer the one that touches them (prefer_top). */
static int chroma_dc(int t, int l, bool have_t, bool have_l, bool corner, bool prefer_top)
{
    if (corner && have_t && have_l)
        return (t + l + 4) >> 3;
    if (prefer_top ? have_t : have_t && !have_l)
        return (t + 2) >> 2;
    return have_l ? (l + 2) >> 2 : 128;
}

void h264_pred_chroma(uint8_t *pred, int mode, const uint8_t *top, const uint8_t *left)
{
    if (mode == H264_CHROMA_V) {
        fill_v(pred, 8, top);
    } else if (mode == H264_CHROMA_H) {
        fill_h(pred, 8, left);
    } else {
        /* Each neighbour's sums once, each row as one 8-byte write. */
        int t0 = top ? sum(top, 4) : 0, t1 = top ? sum(top + 4, 4) : 0;
        int l0 = left ? sum(left, 4) : 0, l1 = left ? sum(left + 4, 4) : 0;
        bool ht = top != NULL, hl = left != NULL;
        int dc[2][2] = {{chroma_dc(t0, l0, ht, hl, true, false),
                         chroma_dc(t1, l0, ht, hl, false, true)},
                        {chroma_dc(t0, l1, ht, hl, false, false),
                         chroma_dc(t1, l1, ht, hl, true, false)}};
        for (int by = 0; by < 2; by++) {
            uint8_t row[8];
            memset(row, dc[by][0], 4);
            memset(row + 4, dc[by][1], 4);
            for (int y = 0; y < 4; y++)
                memcpy(pred + (by * 4 + y) * 8, row, 8);
        }
    }
}
