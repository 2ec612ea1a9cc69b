#include "encoder/encoder.h"

#include <math.h>
#include <string.h>

static const struct hfx_encoder_ops *const backends[] = {
    &hfx_encoder_hybrid,
    &hfx_encoder_x264,
    &hfx_encoder_openh264,
};

const struct hfx_encoder_ops *hfx_encoder_find(const char *name)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const char *hfx_encoder_names(void)
{
    return "hybrid,x264,openh264";
}

/* Anchored at 8 Mbit/s for 1080p60 desktop content. Bits needed grow more
 * slowly than pixels (larger screens show the same widgets at a finer
 * scale), so the rate follows the pixel rate to the power 0.8: about
 * 24 Mbit/s at 4K60 and 38 Mbit/s at 5K60. */
#define ANCHOR_BITRATE 8e6
#define ANCHOR_PIXEL_RATE (1920.0 * 1080.0 * 60.0)
#define MIN_BITRATE 500000.0
#define MAX_BITRATE 100000000.0

uint32_t hfx_encoder_default_bitrate(uint32_t width, uint32_t height, uint32_t fps)
{
    double pixel_rate = (double)width * height * fps;
    double bitrate = ANCHOR_BITRATE * pow(pixel_rate / ANCHOR_PIXEL_RATE, 0.8);
    return (uint32_t)fmin(fmax(bitrate, MIN_BITRATE), MAX_BITRATE);
}
