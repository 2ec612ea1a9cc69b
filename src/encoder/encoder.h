/* The encoder interface: one struct of function pointers per backend, in the
 * manner of neatvnc's encoders. The engine only ever talks to this, so a
 * hardware backend (VA-API, NVENC, VideoToolbox) is one more file and one
 * more line in encoder.c's table. */
#ifndef HFX_ENCODER_H
#define HFX_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/picture.h"

struct hfx_encoder_params {
    uint32_t width, height;     /* visible size; may be odd */
    uint32_t fps;               /* nominal rate for rate control */
    uint32_t bitrate;           /* bits/s; never 0 here (the engine picks a default) */
    int threads;                /* worker threads the backend may use; >= 1 */
};

/* Which macroblocks changed since the previous frame: one byte per 16x16
 * macroblock, row-major, mb_width * mb_height, nonzero = changed. */
struct hfx_mb_damage {
    const uint8_t *changed;
    uint32_t mb_width, mb_height;
};

/* One access unit in Annex B with 4-byte start codes. The data belongs to the
 * encoder and stays valid until the next call on it. */
struct hfx_au {
    const uint8_t *data;
    size_t size;
    bool keyframe; /* an IDR, preceded by SPS and PPS */
};

struct hfx_encoder;

struct hfx_encoder_ops {
    const char *name;
    /* Returns NULL and fills err (a sentence a user can act on) when the
     * backend cannot encode at these parameters. */
    struct hfx_encoder *(*open)(const struct hfx_encoder_params *p, char *err, size_t errlen);
    /* Encodes pic. damage NULL means everything changed. force_idr asks for an
     * IDR with SPS/PPS. Returns 0 and an access unit (never empty) or -1. */
    int (*encode)(struct hfx_encoder *enc, const struct hfx_picture *pic,
                  const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out);
    int (*set_bitrate)(struct hfx_encoder *enc, uint32_t bitrate);
    void (*close)(struct hfx_encoder *enc);
};

extern const struct hfx_encoder_ops hfx_encoder_x264;
extern const struct hfx_encoder_ops hfx_encoder_openh264;

/* Looks a backend up by name ("x264", "openh264"); NULL if unknown. */
const struct hfx_encoder_ops *hfx_encoder_find(const char *name);
/* Comma-separated names, for --help and errors. */
const char *hfx_encoder_names(void);

/* The bitrate used when no client asked for one: scaled to the pixel rate so
 * a 5K head does not get a 1080p budget. */
uint32_t hfx_encoder_default_bitrate(uint32_t width, uint32_t height, uint32_t fps);

#endif
