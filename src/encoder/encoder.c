#include "encoder/encoder.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Every backend, by name; adding one is a file and a line here. The first
 * is the default: the hybrid's cost follows the damage. */
static const struct hfx_encoder_ops *const backends[] = {
    &hfx_encoder_hybrid,
    &hfx_encoder_x264,
    &hfx_encoder_openh264,
};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/* What the engine opens when the chosen backend cannot: x264 codes every
 * size and rate H.264 allows (OpenH264 refuses sizes beyond its levels). */
#define FALLBACK (&hfx_encoder_x264)

const struct hfx_encoder_ops *hfx_encoder_find(const char *name)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const struct hfx_encoder_ops *hfx_encoder_at(size_t i)
{
    return i < NBACKENDS ? backends[i] : NULL;
}

const struct hfx_encoder_ops *hfx_encoder_default(void)
{
    return backends[0];
}

const struct hfx_encoder_ops *hfx_encoder_fallback(const struct hfx_encoder_ops *failed)
{
    return failed == FALLBACK ? NULL : FALLBACK;
}

/* Backend names are short; a name list longer than this is a bug the
 * encoder test catches (the list would come out cut). */
static char names[128];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void join_names(void)
{
    size_t len = 0;
    for (size_t i = 0; i < NBACKENDS && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? "," : "",
                                backends[i]->name);
}

const char *hfx_encoder_names(void)
{
    pthread_once(&names_once, join_names);
    return names;
}

uint64_t hfx_encoder_counter(const struct hfx_encoder_ops *ops, struct hfx_encoder *enc,
                             const char *name)
{
    if (!ops->counters)
        return 0;
    uint64_t values[HFX_ENCODER_MAX_COUNTERS];
    ops->counters(enc, values);
    for (size_t i = 0; i < HFX_ENCODER_MAX_COUNTERS && ops->counter_names[i]; i++)
        if (strcmp(ops->counter_names[i], name) == 0)
            return values[i];
    return 0;
}

int hfx_encoder_quality(const struct hfx_encoder_params *p)
{
    return p->quality ? p->quality : HFX_DEFAULT_QUALITY;
}

void hfx_encoder_coded_size(const struct hfx_encoder_params *p, uint32_t *width,
                            uint32_t *height)
{
    *width = (p->width + 1) & ~1u;
    *height = (p->height + 1) & ~1u;
}

bool hfx_mb_damage_fits(const struct hfx_mb_damage *damage, uint32_t mb_width,
                        uint32_t mb_height)
{
    if (damage->mb_width != mb_width || damage->mb_height != mb_height)
        return false;
    for (uint32_t i = 0; i < damage->nboxes + damage->moved.nboxes; i++) {
        const struct hfx_mb_box *b = i < damage->nboxes ? &damage->boxes[i]
                                                        : &damage->moved.boxes[i - damage->nboxes];
        if (b->x1 >= b->x2 || b->y1 >= b->y2 || b->x2 > mb_width || b->y2 > mb_height)
            return false;
    }
    return true;
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
