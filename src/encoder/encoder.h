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
    int quality;                /* QP the picture is coded at (x264: its CRF); 0 = default */
};

#define HFX_DEFAULT_QUALITY 23

/* What a backend did beyond encoding, for the exporter's statistics. */
struct hfx_encoder_stats {
    uint64_t writer_frames;     /* hybrid: frames the P-slice writer coded */
    uint64_t x264_frames;       /* hybrid: frames x264 coded */
    uint64_t switch_idrs;       /* hybrid: IDRs spent giving the stream back to x264 */
    uint64_t refine_mbs;        /* hybrid: still macroblocks re-coded at a better QP */
    uint64_t refine_bytes;      /* hybrid: what coding them took */
};

/* Macroblocks [x1, x2) x [y1, y2). */
struct hfx_mb_box {
    uint32_t x1, y1, x2, y2;
};

/* Which macroblocks changed since the previous frame, as boxes banded the
 * way pixman keeps a region: sorted by y1; boxes with the same y1 share y2,
 * form one band, are sorted by x1 and do not touch; bands do not overlap.
 * Walking them band by band, row by row, box by box visits the changed
 * macroblocks in raster order without looking at the unchanged ones. */
struct hfx_mb_damage {
    const struct hfx_mb_box *boxes;
    uint32_t nboxes;
    uint32_t count;             /* macroblocks covered */
    uint32_t mb_width, mb_height;
};

/* One access unit in Annex B with 4-byte start codes. The data belongs to the
 * encoder and stays valid until the next call on it. */
struct hfx_au {
    const uint8_t *data;
    size_t size;
    bool keyframe; /* an IDR, preceded by SPS and PPS */
    /* The encoder has work left on this picture (the hybrid: still
     * macroblocks to sharpen) and wants another frame this many
     * milliseconds after this one started, even if nothing changes; 0: it
     * does not. The caller zeroes it; a backend that never has such work
     * leaves it alone. */
    uint32_t again_ms;
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
    /* Optional. */
    void (*stats)(struct hfx_encoder *enc, struct hfx_encoder_stats *out);
};

extern const struct hfx_encoder_ops hfx_encoder_x264;
/* x264 for IDRs and large changes, the P-slice writer (src/encoder/h264)
 * for small ones, in one stream. */
extern const struct hfx_encoder_ops hfx_encoder_hybrid;
/* The hybrid's reconstruction of its last frame when the writer coded it
 * (I420, whole macroblocks; what a decoder must output): true and the
 * planes, or false. For tests that check the writer bit for bit. */
bool hfx_encoder_hybrid_writer_picture(struct hfx_encoder *enc, const uint8_t *plane[3],
                                       uint32_t stride[3]);
extern const struct hfx_encoder_ops hfx_encoder_openh264;

/* Looks a backend up by name ("hybrid", "x264", "openh264"); NULL if unknown. */
const struct hfx_encoder_ops *hfx_encoder_find(const char *name);
/* Comma-separated names, for --help and errors. */
const char *hfx_encoder_names(void);

/* The bitrate used when no client asked for one: scaled to the pixel rate so
 * a 5K head does not get a 1080p budget. */
uint32_t hfx_encoder_default_bitrate(uint32_t width, uint32_t height, uint32_t fps);

#endif
