/* The input panel described in input_stamp.h. */
#include "source/input_stamp.h"

#include <string.h>

#define MASK24 0xffffffu

static struct hfx_rect clip(struct hfx_rect r, uint32_t width, uint32_t height)
{
    int32_t x1 = r.x + r.w, y1 = r.y + r.h;
    r.x = r.x < 0 ? 0 : r.x;
    r.y = r.y < 0 ? 0 : r.y;
    x1 = x1 > (int32_t)width ? (int32_t)width : x1;
    y1 = y1 > (int32_t)height ? (int32_t)height : y1;
    r.w = x1 > r.x ? x1 - r.x : 0;
    r.h = y1 > r.y ? y1 - r.y : 0;
    return r;
}

struct hfx_rect hfx_input_panel_rect(uint32_t width, uint32_t height)
{
    return clip((struct hfx_rect){ HFX_INPUT_X, HFX_INPUT_Y, HFX_INPUT_W, HFX_INPUT_H }, width,
                height);
}

struct hfx_rect hfx_input_pointer_rect(const struct hfx_input_stamp *st, uint32_t width,
                                       uint32_t height)
{
    if (st->x < 0 || st->y < 0)
        return (struct hfx_rect){ 0, 0, 0, 0 };
    const int32_t r = HFX_INPUT_POINTER_R;
    return clip((struct hfx_rect){ st->x - r, st->y - r, 2 * r + 1, 2 * r + 1 }, width, height);
}

static void fill(uint8_t *pixels, uint32_t stride, struct hfx_rect r, uint32_t rgb)
{
    for (int32_t y = r.y; y < r.y + r.h; y++) {
        uint32_t *row = (uint32_t *)(void *)(pixels + (size_t)y * stride);
        for (int32_t x = r.x; x < r.x + r.w; x++)
            row[x] = rgb | 0xff000000u;
    }
}

/* Digits 3 wide, 5 high: bit 14 is the top-left pixel, row by row. */
static const uint16_t digit_bits[10] = { 0x7b6f, 0x2c97, 0x73e7, 0x73cf, 0x5bc9,
                                         0x79cf, 0x79ef, 0x7249, 0x7bef, 0x7bcf };
#define DIGIT_SCALE 3
#define DIGIT_ADVANCE (4 * DIGIT_SCALE)
#define LINE_ADVANCE (7 * DIGIT_SCALE)

static void draw_number(uint8_t *pixels, uint32_t stride, uint32_t width, uint32_t height,
                        int32_t x0, int32_t y0, uint32_t value, uint32_t rgb)
{
    char text[12];
    int n = 0;
    do {
        text[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0 && n < 8);
    for (int i = 0; i < n; i++) {
        uint16_t bits = digit_bits[text[n - 1 - i] - '0'];
        for (int p = 0; p < 15; p++)
            if (bits >> (14 - p) & 1)
                fill(pixels, stride,
                     clip((struct hfx_rect){ x0 + i * DIGIT_ADVANCE + p % 3 * DIGIT_SCALE,
                                             y0 + p / 3 * DIGIT_SCALE, DIGIT_SCALE, DIGIT_SCALE },
                          width, height),
                     rgb);
    }
}

/* The band's colours, one per key press in turn: far apart in luma as well
 * as in hue. */
static const uint32_t band_colours[8] = { 0xff2020, 0x20ff20, 0x2020ff, 0xffff20,
                                          0x20ffff, 0xff20ff, 0xffffff, 0x202020 };

void hfx_input_panel_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t width, uint32_t height,
                                const struct hfx_input_stamp *st)
{
    /* The strips are written whole or not at all (hfx_stamp_write_xrgb's
     * rule), so the panel needs its full size. */
    if (pixels == NULL || width < HFX_INPUT_X + HFX_INPUT_W || height < HFX_INPUT_Y + HFX_INPUT_H)
        return;
    const uint32_t values[HFX_INPUT_ROWS] = {
        HFX_INPUT_MAGIC, st->keys, st->last_key, st->buttons, st->last_button,
        (uint32_t)st->x & MASK24, (uint32_t)st->y & MASK24, (uint32_t)st->wheel & MASK24,
    };
    uint8_t *top = pixels + (size_t)HFX_INPUT_Y * stride + (size_t)HFX_INPUT_X * 4;
    for (int i = 0; i < HFX_INPUT_ROWS; i++)
        hfx_stamp_write_xrgb(top + (size_t)i * HFX_STAMP_H * stride, stride, values[i]);
    fill(pixels, stride,
         (struct hfx_rect){ HFX_INPUT_X + HFX_STAMP_W, HFX_INPUT_Y, HFX_INPUT_BAND_W, HFX_INPUT_H },
         band_colours[st->keys % 8]);
    int32_t tx = HFX_INPUT_X + HFX_STAMP_W + HFX_INPUT_BAND_W;
    fill(pixels, stride, (struct hfx_rect){ tx, HFX_INPUT_Y, HFX_INPUT_TEXT_W, HFX_INPUT_H }, 0);
    /* Key presses, the last key's code, button presses. */
    const uint32_t lines[3] = { st->keys, st->last_key, st->buttons };
    for (int i = 0; i < 3; i++)
        draw_number(pixels, stride, width, height, tx + 4, HFX_INPUT_Y + 2 + i * LINE_ADVANCE,
                    lines[i], 0xffffff);
}

void hfx_input_pointer_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t width,
                                  uint32_t height, const struct hfx_input_stamp *st)
{
    if (pixels == NULL || st->x < 0 || st->y < 0)
        return;
    /* Two white bars, 2 px thick, each with a black edge: seen on any
     * background. */
    const int32_t arm = HFX_INPUT_POINTER_R - 2;
    fill(pixels, stride, clip((struct hfx_rect){ st->x - arm - 1, st->y - 2, 2 * arm + 3, 4 },
                              width, height), 0);
    fill(pixels, stride, clip((struct hfx_rect){ st->x - 2, st->y - arm - 1, 4, 2 * arm + 3 },
                              width, height), 0);
    fill(pixels, stride, clip((struct hfx_rect){ st->x - arm, st->y - 1, 2 * arm + 1, 2 },
                              width, height), 0xffffff);
    fill(pixels, stride, clip((struct hfx_rect){ st->x - 1, st->y - arm, 2, 2 * arm + 1 },
                              width, height), 0xffffff);
}

static int32_t signed24(uint32_t v)
{
    return (int32_t)(v << 8) >> 8;
}

int hfx_input_stamp_read_luma(const uint8_t *y, uint32_t stride, uint32_t width, uint32_t height,
                              struct hfx_input_stamp *out)
{
    if (y == NULL || width < HFX_INPUT_X + HFX_STAMP_W || height < HFX_INPUT_Y + HFX_INPUT_H)
        return -1;
    uint32_t v[HFX_INPUT_ROWS];
    for (int i = 0; i < HFX_INPUT_ROWS; i++) {
        uint32_t top = HFX_INPUT_Y + (uint32_t)i * HFX_STAMP_H;
        int64_t r = hfx_stamp_read_luma(y + (size_t)top * stride + HFX_INPUT_X, stride,
                                        width - HFX_INPUT_X, height - top);
        if (r < 0 || (i == 0 && r != HFX_INPUT_MAGIC))
            return -1;
        v[i] = (uint32_t)r;
    }
    *out = (struct hfx_input_stamp){ .keys = v[1], .last_key = v[2], .buttons = v[3],
                                     .last_button = v[4], .x = signed24(v[5]),
                                     .y = signed24(v[6]), .wheel = signed24(v[7]) };
    return 0;
}
