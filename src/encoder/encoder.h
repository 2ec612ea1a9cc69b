/* The encoder interface: one struct of function pointers per backend, in the
 * manner of neatvnc's encoders. The engine only ever talks to this, so a
 * hardware backend (VA-API, NVENC, VideoToolbox) is one more file and one
 * more line in encoder.c's table; one that also implements the H.264 core
 * interface (h264_core.h) can carry the hybrid. */
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

/* The QP p asks for, its default filled in. */
int hfx_encoder_quality(const struct hfx_encoder_params *p);
/* The size a backend codes: 4:2:0 H.264 crops in steps of two pixels, so an
 * odd visible size is coded one row or column larger (the planes' padding
 * supplies it). */
void hfx_encoder_coded_size(const struct hfx_encoder_params *p, uint32_t *width,
                            uint32_t *height);

/* What a backend counts of its own work (the hybrid: frames of its writer
 * and of its core), for the exporter's statistics. The engine, STATS and
 * hfx bench pass them on by name without knowing them; the names are JSON
 * keys in STATS (docs/protocol.md), so a backend keeps them stable. */
#define HFX_ENCODER_MAX_COUNTERS 16
struct hfx_encoder_counter {
    const char *name;
    uint64_t value;
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
/* Damaged macroblocks whose pixels are the previous picture's moved, as
 * the engine found them on the surface (a scroll): each macroblock of the
 * boxes (banded like the damage's, among the damaged ones) shows, as far
 * as it lies inside the visible picture, what the picture of the previous
 * encode call showed (dx, dy) luma samples away from it, read inside the
 * visible picture too: its luma exactly, and its chroma when dx and dy
 * are even. A macroblock of the last row or column reaches past the
 * picture only where that edge is even: the rest of it is padding the
 * decoder crops, which the move does not describe. The engine looks for
 * moves only for a backend that takes them (hfx_encoder_ops.takes_moves:
 * the hybrid, which codes them instead of searching); any other gets
 * none. */
struct hfx_mb_moves {
    const struct hfx_mb_box *boxes;
    uint32_t nboxes;
    int32_t dx, dy;
};

/* How many of the 16 lines (rows or columns) of macroblock i, in a picture
 * `size` lines long, a move hint describes: all 16 inside the picture;
 * past an even edge the visible ones; none past an odd edge (its extra
 * line is the converter's copy of the last one, which a move does not
 * keep) or beyond the picture. The engine hints by it and the encoder
 * takes hints by it. */
static inline uint32_t hfx_mb_hint_lines(uint32_t i, uint32_t size)
{
    if ((i + 1) * 16 <= size)
        return 16;
    return size & 1 || i * 16 >= size ? 0 : size - i * 16;
}

struct hfx_mb_damage {
    const struct hfx_mb_box *boxes;
    uint32_t nboxes;
    uint32_t count;             /* macroblocks covered */
    uint32_t mb_width, mb_height;
    struct hfx_mb_moves moved;  /* none: nboxes 0 */
};

/* Whether damage is for a picture of mb_width x mb_height macroblocks and
 * every box (the moved ones too) lies inside it: damage for another size
 * is a caller's bug, refused before encoding. */
bool hfx_mb_damage_fits(const struct hfx_mb_damage *damage, uint32_t mb_width,
                        uint32_t mb_height);

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
struct hfx_h264_core_ops;

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
    /* Optional: the names of the backend's counters, NULL-terminated, at
     * most HFX_ENCODER_MAX_COUNTERS; and their values since open, one for
     * each name, in that order. */
    const char *const *counter_names;
    void (*counters)(struct hfx_encoder *enc, uint64_t *values);
    /* Optional: set when the backend implements the H.264 core interface
     * (h264_core.h), which the hybrid builds on. */
    const struct hfx_h264_core_ops *core;
    /* Set when the backend codes the moves of hfx_mb_damage: only then does
     * the engine look for them, since finding one reads every damaged
     * pixel, which for any other backend costs about what converting the
     * moved rows would. */
    bool takes_moves;
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

/* enc's counter `name` (0 if the backend has none of that name). */
uint64_t hfx_encoder_counter(const struct hfx_encoder_ops *ops, struct hfx_encoder *enc,
                             const char *name);

/* Looks a backend up by name ("hybrid", "x264", "openh264"); NULL if unknown. */
const struct hfx_encoder_ops *hfx_encoder_find(const char *name);
/* Backend i of the registry, in its order; NULL past the last. */
const struct hfx_encoder_ops *hfx_encoder_at(size_t i);
/* Comma-separated names, for --help and errors. */
const char *hfx_encoder_names(void);
/* The backend used when none is asked for. */
const struct hfx_encoder_ops *hfx_encoder_default(void);
/* What to open when `failed` cannot open at some parameters; NULL when
 * nothing is left to try. */
const struct hfx_encoder_ops *hfx_encoder_fallback(const struct hfx_encoder_ops *failed);

/* The bitrate used when no client asked for one: scaled to the pixel rate so
 * a 5K head does not get a 1080p budget. */
uint32_t hfx_encoder_default_bitrate(uint32_t width, uint32_t height, uint32_t fps);

#endif
