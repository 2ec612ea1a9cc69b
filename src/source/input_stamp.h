/* The input panel: what a guest's input devices told the demo on a head
 * (guest/demo/input.c), drawn into the picture so that a host reading the
 * decoded stream can see it. It sits below the frame-number strip
 * (synth.h): HFX_INPUT_ROWS strips of the same 8x8 black/white blocks, one
 * 24-bit value each (a magic value first, then the fields of struct
 * hfx_input_stamp in order), a colour band that changes with every key
 * press, and the key and button counts as digits a person can read. The
 * pointer is a crosshair at its position, within HFX_INPUT_POINTER_R pixels
 * of it. Nothing is drawn before a head's first input event. */
#ifndef HFX_SOURCE_INPUT_STAMP_H
#define HFX_SOURCE_INPUT_STAMP_H

#include <stdint.h>

#include "engine/rect.h"
#include "source/synth.h"

#define HFX_INPUT_MAGIC 0x6b3d59u
#define HFX_INPUT_ROWS 8                          /* the magic and 7 fields */
#define HFX_INPUT_BAND_W 64                       /* the colour band, right of the strips */
#define HFX_INPUT_TEXT_W 100                      /* the digits, right of the band */
#define HFX_INPUT_X 0
#define HFX_INPUT_Y HFX_STAMP_H                   /* just below the frame number */
#define HFX_INPUT_W (HFX_STAMP_W + HFX_INPUT_BAND_W + HFX_INPUT_TEXT_W)
#define HFX_INPUT_H (HFX_INPUT_ROWS * HFX_STAMP_H)
#define HFX_INPUT_POINTER_R 12

struct hfx_input_stamp {
    uint32_t keys;        /* key presses so far */
    uint32_t last_key;    /* evdev code of the last key pressed, 0 before one */
    uint32_t buttons;     /* button presses so far */
    uint32_t last_button; /* evdev code of the last button pressed (BTN_LEFT 272), 0 before one */
    int32_t x, y;         /* the pointer in head pixels; -1 before it moved */
    int32_t wheel;        /* the wheel's steps summed (up positive) */
};

/* The panel's rectangle (clipped to a width x height picture) and the
 * pointer's (empty while x or y is negative). */
struct hfx_rect hfx_input_panel_rect(uint32_t width, uint32_t height);
struct hfx_rect hfx_input_pointer_rect(const struct hfx_input_stamp *st, uint32_t width,
                                       uint32_t height);

/* Draws the panel, or the pointer's crosshair, into XRGB8888 pixels. */
void hfx_input_panel_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t width, uint32_t height,
                                const struct hfx_input_stamp *st);
void hfx_input_pointer_write_xrgb(uint8_t *pixels, uint32_t stride, uint32_t width,
                                  uint32_t height, const struct hfx_input_stamp *st);

/* Reads the panel back from a decoded luma plane: 0, or -1 when there is
 * none (no input yet) or it is not readable. */
int hfx_input_stamp_read_luma(const uint8_t *y, uint32_t stride, uint32_t width, uint32_t height,
                              struct hfx_input_stamp *out);

#endif
