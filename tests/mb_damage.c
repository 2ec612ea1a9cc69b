#include "mb_damage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_damage_init(struct test_damage *d, uint32_t width, uint32_t height)
{
    memset(d, 0, sizeof *d);
    d->mb.mb_width = (width + 15) / 16;
    d->mb.mb_height = (height + 15) / 16;
    size_t n = (size_t)d->mb.mb_width * d->mb.mb_height;
    d->changed = calloc(n, 1);
    d->boxes = calloc(n, sizeof *d->boxes);
    d->mb.boxes = d->boxes;
    return d->changed && d->boxes ? 0 : -1;
}

void test_damage_free(struct test_damage *d)
{
    free(d->changed);
    free(d->boxes);
    memset(d, 0, sizeof *d);
}

void test_damage_clear(struct test_damage *d)
{
    memset(d->changed, 0, (size_t)d->mb.mb_width * d->mb.mb_height);
}

void test_damage_add(struct test_damage *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    if (w == 0 || h == 0)
        return;
    for (uint32_t my = y / 16; my <= (y + h - 1) / 16 && my < d->mb.mb_height; my++)
        for (uint32_t mx = x / 16; mx <= (x + w - 1) / 16 && mx < d->mb.mb_width; mx++)
            d->changed[my * d->mb.mb_width + mx] = 1;
}

const struct hfx_mb_damage *test_damage_boxes(struct test_damage *d)
{
    uint32_t n = 0, count = 0, mw = d->mb.mb_width;
    for (uint32_t y = 0; y < d->mb.mb_height; y++)
        for (uint32_t x = 0; x < mw; x++) {
            if (!d->changed[y * mw + x])
                continue;
            uint32_t x2 = x;
            while (x2 < mw && d->changed[y * mw + x2])
                x2++;
            d->boxes[n++] = (struct hfx_mb_box){x, y, x2, y + 1};
            count += x2 - x;
            x = x2;
        }
    d->mb.nboxes = n;
    d->mb.count = count;
    return &d->mb;
}

double test_damage_psnr(const struct test_damage *d, const struct hfx_picture *src,
                        const struct hfx_decoded *dec)
{
    uint64_t sse = 0, n = 0;
    const struct hfx_mb_damage *m = &d->mb;
    for (uint32_t i = 0; i < m->nboxes; i++)
        for (uint32_t y = m->boxes[i].y1 * 16; y < m->boxes[i].y2 * 16 && y < src->height; y++)
            for (uint32_t x = m->boxes[i].x1 * 16; x < m->boxes[i].x2 * 16 && x < src->width;
                 x++) {
                int e = dec->plane[0][(size_t)y * dec->stride[0] + x] -
                        src->plane[0][(size_t)y * src->stride[0] + x];
                sse += (uint64_t)(e * e);
                n++;
            }
    return sse ? 10.0 * log10(255.0 * 255.0 * (double)n / (double)sse) : 99.0;
}
