/* Damage for encoder tests: macroblocks marked in a map, handed to the
 * encoder as the banded boxes of struct hfx_mb_damage (one band per
 * macroblock row, one box per run of changed macroblocks in it). */
#ifndef HFX_TESTS_MB_DAMAGE_H
#define HFX_TESTS_MB_DAMAGE_H

#include <stdint.h>

#include "client/decode.h"
#include "common/picture.h"
#include "encoder/encoder.h"

struct test_damage {
    struct hfx_mb_damage mb;
    uint8_t *changed;
    struct hfx_mb_box *boxes;
};

/* 0, or -1 out of memory. */
int test_damage_init(struct test_damage *d, uint32_t width, uint32_t height);
void test_damage_free(struct test_damage *d);
void test_damage_clear(struct test_damage *d);
/* Marks the macroblocks the pixel rectangle touches (clipped to the picture). */
void test_damage_add(struct test_damage *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
/* Rebuilds d->mb's boxes and count from the map; returns &d->mb. */
const struct hfx_mb_damage *test_damage_boxes(struct test_damage *d);

/* Luma PSNR of the decoded picture against src over the visible part of
 * the macroblocks d->mb marks (99 when equal or none). */
double test_damage_psnr(const struct test_damage *d, const struct hfx_picture *src,
                        const struct hfx_decoded *dec);

#endif
