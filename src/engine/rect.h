#ifndef HFX_ENGINE_RECT_H
#define HFX_ENGINE_RECT_H

#include <stdint.h>

/* A damaged rectangle in pixels, as front ends report it. */
struct hfx_rect {
    int32_t x, y, w, h;
};

#endif
