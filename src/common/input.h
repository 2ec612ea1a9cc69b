/* One keyboard or pointer event for one head: what the HXFR INPUT message
 * carries (docs/protocol.md, "INPUT"), what the engine hands its front end,
 * and what the web gateway builds from a browser's events. Defined once
 * here, for all of them. */
#ifndef HFX_COMMON_INPUT_H
#define HFX_COMMON_INPUT_H

#include <stdbool.h>
#include <stdint.h>

enum hfx_input_kind {
    HFX_INPUT_KEY = 1,      /* code: evdev key code; down */
    HFX_INPUT_POINTER = 2,  /* x, y: absolute, in the head's pixels */
    HFX_INPUT_BUTTON = 3,   /* code: enum hfx_button; down */
    HFX_INPUT_WHEEL = 4,    /* x, y: steps, + right and + down */
};

enum hfx_button {
    HFX_BUTTON_LEFT = 1, HFX_BUTTON_MIDDLE = 2, HFX_BUTTON_RIGHT = 3,
    HFX_BUTTON_SIDE = 4, HFX_BUTTON_EXTRA = 5,
};

#define HFX_INPUT_MAX_KEY 0x2ffu    /* KEY_MAX of linux/input-event-codes.h */
#define HFX_INPUT_MAX_COORD 8191    /* a head is at most 8192 pixels a side */
#define HFX_INPUT_MAX_STEPS 32      /* wheel steps in one event */

struct hfx_input {
    uint32_t scanout;
    uint8_t kind;           /* enum hfx_input_kind */
    bool down;
    uint32_t code;          /* KEY, BUTTON */
    int32_t x, y;           /* POINTER, WHEEL */
};

#endif
