/* The frame-number strip described in synth.h. */
#include "source/synth.h"

#include <string.h>

#define STAMP_BLOCKS (HFX_STAMP_BITS + 2)
#define STAMP_MASK ((UINT32_C(1) << HFX_STAMP_BITS) - 1)

/* Mean-luma bounds of a readable block, as sums over the 16 sampled pixels:
 * anything between is too damaged to trust either way. */
#define DARK_SUM (64 * 16)
#define LIGHT_SUM (192 * 16)

/* Whether block i (guard, data bits LSB first, parity) is white. */
static bool block_white(uint32_t value, int i)
{
    if (i == 0)
        return true;
    if (i <= HFX_STAMP_BITS)
        return value >> (i - 1) & 1;
    return __builtin_parity(value);
}

void hfx_stamp_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t frame)
{
    /* The stride is the only width we are told; a buffer whose rows cannot
     * hold the strip gets none rather than a strip spilling into the next row. */
    if (pixels == NULL || stride < HFX_STAMP_W * 4)
        return;
    uint32_t value = frame & STAMP_MASK;
    uint8_t row[HFX_STAMP_W * 4];
    for (int i = 0; i < STAMP_BLOCKS; i++) {
        uint8_t level = block_white(value, i) ? 255 : 0;
        for (int x = 0; x < HFX_STAMP_BLOCK; x++) {
            uint8_t *p = row + (i * HFX_STAMP_BLOCK + x) * 4;
            p[0] = p[1] = p[2] = level;
            p[3] = 255;
        }
    }
    for (uint32_t y = 0; y < HFX_STAMP_H; y++)
        memcpy(pixels + (size_t)y * stride, row, sizeof row);
}

/* 1 for a white block, 0 for a black one, -1 for neither. Only the inner 4x4
 * is sampled: the block edges carry ringing and chroma bleed from neighbours. */
static int read_block(const uint8_t *y, uint32_t stride, int i)
{
    const int inner = HFX_STAMP_BLOCK / 2;
    const uint8_t *p = y + (size_t)(HFX_STAMP_BLOCK / 4) * stride +
                       i * HFX_STAMP_BLOCK + HFX_STAMP_BLOCK / 4;
    uint32_t sum = 0;
    for (int dy = 0; dy < inner; dy++)
        for (int dx = 0; dx < inner; dx++)
            sum += p[(size_t)dy * stride + dx];
    if (sum < DARK_SUM)
        return 0;
    if (sum > LIGHT_SUM)
        return 1;
    return -1;
}

int64_t hfx_stamp_read_luma(const uint8_t *y, uint32_t stride, uint32_t width, uint32_t height)
{
    if (y == NULL || width < HFX_STAMP_W || height < HFX_STAMP_H || stride < width)
        return -1;
    if (read_block(y, stride, 0) != 1)
        return -1;
    uint32_t value = 0;
    for (int i = 1; i <= HFX_STAMP_BITS; i++) {
        int bit = read_block(y, stride, i);
        if (bit < 0)
            return -1;
        value |= (uint32_t)bit << (i - 1);
    }
    int parity = read_block(y, stride, STAMP_BLOCKS - 1);
    if (parity < 0 || parity != __builtin_parity(value))
        return -1;
    return value;
}
