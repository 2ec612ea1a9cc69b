#include "writer_sequence.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/decode.h"
#include "common/picture.h"
#include "encoder/encoder.h"
#include "engine/convert.h"
#include "mb_damage.h"

struct wseq {
    uint32_t width, height, fourcc;
    uint8_t *surface;           /* packed 32-bit pixels */
    uint32_t stride;
    struct hfx_picture *pic;
    struct hfx_encoder *enc;
    struct hfx_decoder *dec;
    struct test_damage dmg;
    /* The move hint of the step (as the engine finds scrolls): the
     * macroblocks inside a moved rectangle; none when nboxes 0. */
    struct hfx_mb_box hint_box[4];
    struct hfx_mb_moves hint;
    struct wseq_stats st;
};

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Content that stresses different parts of the coder: noise (large
 * levels, escapes), text-like edges, flat areas (skips inside damage),
 * gradients (intra prediction). */
static void paint(struct wseq *q, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint8_t kind,
                  uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    /* Full-range noise only in small rectangles: over a large area it is
     * what no screen shows, and x264 under its rate cap blurs it to
     * nothing; photo-like texture there instead. */
    bool full_noise = w <= 64 && h <= 64;
    for (uint32_t r = y; r < y + h; r++) {
        uint8_t *row = q->surface + (size_t)r * q->stride;
        for (uint32_t c = x; c < x + w; c++) {
            uint32_t v;
            if (kind < 6) {
                s ^= s << 13, s ^= s >> 17, s ^= s << 5;
                v = full_noise ? s : (0x606060u + (s & 0x1f1f1fu)) ^ (seed & 0x3f3f3fu);
            } else if (kind < 10) {
                v = ((c / 3 + r / 5 + seed) % 7) < 2 ? 0x101010u : 0xf0f0f0u;
            } else if (kind < 14) {
                v = seed * 0x9e3779b9u;
            } else {
                v = (c * 255 / (q->width + 1)) | (r * 255 / (q->height + 1)) << 8 |
                    ((seed & 0xff) << 16);
            }
            memcpy(row + (size_t)c * 4, &v, 4);
        }
    }
}

void wseq_convert(struct test_damage *d, struct hfx_picture *pic, const uint8_t *pixels,
                  uint32_t stride, uint32_t fourcc, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    /* Conversion starts on even coordinates (4:2:0). */
    uint32_t cx = x & ~1u, cy = y & ~1u;
    hfx_convert_rect(pic, pixels, stride, fourcc, cx, cy, x + w - cx, y + h - cy);
    test_damage_add(d, cx, cy, x + w - cx, y + h - cy);
}

struct wseq *wseq_new(uint32_t width, uint32_t height, uint32_t fourcc, int quality, char *err,
                      size_t errlen)
{
    struct wseq *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->width = width;
    q->height = height;
    q->fourcc = fourcc;
    q->stride = width * 4;
    q->surface = calloc((size_t)q->stride, height);
    q->pic = hfx_picture_new(width, height);
    q->dec = hfx_decoder_new_strict();
    struct hfx_encoder_params p = {
        .width = width, .height = height, .fps = 60,
        /* High enough that the cap never raises the QP: the sequences
         * check the writer at the quality asked for (test_writer checks
         * the cap). */
        .bitrate = 100000000, .threads = 1,
        .quality = quality,
    };
    q->enc = hfx_encoder_hybrid.open(&p, err, errlen);
    if (!q->surface || !q->pic || !q->dec || !q->enc ||
        test_damage_init(&q->dmg, width, height) < 0) {
        if (q->enc)
            snprintf(err, errlen, "out of memory");
        wseq_free(q);
        return NULL;
    }
    q->st.min_psnr = 99.0;
    /* Frame 0: a picture with some of everything, as x264's IDR. */
    paint(q, 0, 0, width, height, 14, 7);
    paint(q, width / 4, height / 4, width / 2, height / 2, 6, 3);
    hfx_convert_rect(q->pic, q->surface, q->stride, fourcc, 0, 0, width, height);
    uint8_t idr[WSEQ_STEP_BYTES] = {240, 0, 0, 0, 0, 0, 0xa0, 0};
    if (wseq_step(q, idr, 0, err, errlen) < 0) {
        wseq_free(q);
        return NULL;
    }
    return q;
}

void wseq_free(struct wseq *q)
{
    if (!q)
        return;
    if (q->enc)
        hfx_encoder_hybrid.close(q->enc);
    hfx_decoder_free(q->dec);
    hfx_picture_free(q->pic);
    test_damage_free(&q->dmg);
    free(q->surface);
    free(q);
}

int wseq_check_recon(struct hfx_encoder *enc, const struct hfx_decoded *d, uint32_t mw,
                     uint32_t mh, uint64_t frame, char *err, size_t errlen)
{
    const uint8_t *plane[3];
    uint32_t stride[3];
    if (!hfx_encoder_hybrid_writer_picture(enc, plane, stride))
        return 0;
    if (d->width < mw * 16 || d->height < mh * 16) {
        snprintf(err, errlen, "decoded %ux%u, not the whole %ux%u macroblocks", d->width,
                 d->height, mw * 16, mh * 16);
        return -1;
    }
    for (int p = 0; p < 3; p++) {
        uint32_t size = p ? 8 : 16;
        for (uint32_t y = 0; y < mh * size; y++) {
            const uint8_t *a = plane[p] + (size_t)y * stride[p];
            const uint8_t *b = d->plane[p] + (size_t)y * d->stride[p];
            if (memcmp(a, b, mw * size) == 0)
                continue;
            uint32_t x = 0;
            while (a[x] == b[x])
                x++;
            snprintf(err, errlen,
                     "frame %llu: plane %d (%u,%u) of macroblock (%u,%u): writer %u, decoder %u",
                     (unsigned long long)frame, p, x, y, x / size, y / size, a[x], b[x]);
            return -1;
        }
    }
    return 1;
}

/* A move: the rectangle (x, y, rw, rh) shows what was (dx, dy) away (a
 * scroll of a region, content sliding in from around it), or, as a dragged
 * window, moves by (-dx, -dy) and leaves a flat background behind. Even
 * shifts move the chroma exactly, odd ones do not. With `hint` (not for a
 * drag), the encoder is told the move of the macroblocks inside the
 * rectangle, as the engine tells it a scroll (encoder.h). */
static void move(struct wseq *q, uint32_t x, uint32_t y, uint32_t rw, uint32_t rh, int dx, int dy,
                 bool drag, bool hint)
{
    uint32_t w = q->width, h = q->height;
    /* The source rectangle, kept inside the picture. */
    int64_t sx = (int64_t)x + dx, sy = (int64_t)y + dy;
    sx = sx < 0 ? 0 : sx + rw > w ? w - rw : sx;
    sy = sy < 0 ? 0 : sy + rh > h ? h - rh : sy;
    uint8_t *tmp = malloc((size_t)rw * rh * 4);
    if (!tmp)
        abort();
    for (uint32_t r = 0; r < rh; r++)
        memcpy(tmp + (size_t)r * rw * 4, q->surface + (size_t)(sy + r) * q->stride + sx * 4,
               (size_t)rw * 4);
    if (drag) {
        for (uint32_t r = 0; r < rh; r++)
            memset(q->surface + (size_t)(sy + r) * q->stride + sx * 4, 0x50, (size_t)rw * 4);
        wseq_convert(&q->dmg, q->pic, q->surface, q->stride, q->fourcc, (uint32_t)sx,
                     (uint32_t)sy, rw, rh);
    }
    for (uint32_t r = 0; r < rh; r++)
        memcpy(q->surface + (size_t)(y + r) * q->stride + x * 4, tmp + (size_t)r * rw * 4,
               (size_t)rw * 4);
    free(tmp);
    wseq_convert(&q->dmg, q->pic, q->surface, q->stride, q->fourcc, x, y, rw, rh);
    /* As the engine hints: a last row or column past an even edge by its
     * visible part (encoder.h). */
    uint32_t mx1 = (x + 15) / 16, my1 = (y + 15) / 16;
    uint32_t mx2 = (x + rw) / 16 + (x + rw == w && hfx_mb_hint_lines((x + rw) / 16, w) > 0);
    uint32_t my2 = (y + rh) / 16 + (y + rh == h && hfx_mb_hint_lines((y + rh) / 16, h) > 0);
    if (hint && !drag && mx1 < mx2 && my1 < my2 && (sx != x || sy != y)) {
        q->hint_box[0] = (struct hfx_mb_box){mx1, my1, mx2, my2};
        q->hint = (struct hfx_mb_moves){q->hint_box, 1, (int32_t)(sx - x), (int32_t)(sy - y)};
    }
}

/* The whole picture scrolled by d rows (0 < d < height), up (its content
 * moving up) or down, what came into view painted with `kind`; then, when
 * cx is not UINT32_MAX, a 16x8 rectangle around (cx, cy) painted (a
 * cursor, a clock). With `hint`, the encoder is told the move as the
 * engine finds a scroll: the macroblocks inside the moved rows, the
 * changed ones aside. */
static void scroll_whole(struct wseq *q, uint32_t d, bool down, bool hint, uint32_t cx,
                         uint32_t cy, uint8_t kind)
{
    uint32_t w = q->width, h = q->height, in = down ? 0 : h - d;
    move(q, 0, down ? d : 0, w, h - d, 0, down ? -(int)d : (int)d, false, hint);
    paint(q, 0, in, w, d, kind, d * 2654435761u);
    wseq_convert(&q->dmg, q->pic, q->surface, q->stride, q->fourcc, 0, in, w, d);
    if (cx == UINT32_MAX)
        return;
    uint32_t cw = w < 16 ? w : 16, ch = h < 8 ? h : 8;
    cx %= w - cw + 1;
    cy %= h - ch + 1;
    paint(q, cx, cy, cw, ch, (uint8_t)(kind ^ 8), cx ^ cy);
    wseq_convert(&q->dmg, q->pic, q->surface, q->stride, q->fourcc, cx, cy, cw, ch);
    /* The hint's box less the changed macroblocks: above, left and right
     * of them, and below. */
    struct hfx_mb_box m = q->hint_box[0];
    uint32_t x1 = cx / 16, y1 = cy / 16, x2 = (cx + cw + 15) / 16, y2 = (cy + ch + 15) / 16;
    if (!q->hint.nboxes || x1 >= m.x2 || m.x1 >= x2 || y1 >= m.y2 || m.y1 >= y2)
        return;
    uint32_t top = y1 > m.y1 ? y1 : m.y1, bottom = y2 < m.y2 ? y2 : m.y2;
    struct hfx_mb_box parts[4] = {
        {m.x1, m.y1, m.x2, top},
        {m.x1, top, x1 > m.x1 ? x1 : m.x1, bottom},
        {x2 < m.x2 ? x2 : m.x2, top, m.x2, bottom},
        {m.x1, bottom, m.x2, m.y2},
    };
    q->hint.nboxes = 0;
    for (int i = 0; i < 4; i++)
        if (parts[i].x1 < parts[i].x2 && parts[i].y1 < parts[i].y2)
            q->hint_box[q->hint.nboxes++] = parts[i];
}

static int encode_step(struct wseq *q, bool all, bool force_idr, double min_psnr, char *err,
                       size_t errlen);

int wseq_step(struct wseq *q, const uint8_t step[WSEQ_STEP_BYTES], double min_psnr, char *err,
              size_t errlen)
{
    /* Small rectangles mostly, then large ones, moves, the whole picture,
     * a keyframe asked for, nothing changed (an idle refresh), and now and
     * then damage not given at all (which sends the stream back to x264). */
    uint8_t op = step[0];
    bool small = op < 200, moved = op >= 215 && op < 224, scrolled = op >= 224 && op < 230;
    bool whole = op >= 230 && op < 240;
    bool force_idr = op >= 240 && op < 248, idle = op >= 248 && op < 254, all = op >= 254;
    uint32_t w = q->width, h = q->height;
    test_damage_clear(&q->dmg);
    q->hint = (struct hfx_mb_moves){0};
    if (moved) {
        /* Byte 6 the distance, byte 7 the direction and the kind. */
        uint32_t rw = 1 + rd16(step + 1) % w, rh = 1 + rd16(step + 3) % h;
        uint32_t x = rd16(step + 5) % (w - rw + 1), y = (uint32_t)step[7] % (h - rh + 1);
        int d = 1 + step[6] % 40, dir = step[7] & 7;
        int dx = dir & 1 ? 0 : (dir & 2 ? -d : d), dy = dir & 4 ? (dir & 2 ? d : -d) : 0;
        if ((dir & 5) == 0) /* diagonal now and then */
            dy = (int)(step[6] % 9) - 4;
        move(q, x, y, rw, rh, dx, dy, step[6] & 0x80, step[6] & 0x40);
    } else if (scrolled) {
        /* Byte 5: a third of the picture or a wheel's step (byte 6), and
         * what comes into view; bytes 1-4 where something changed, byte 7
         * whether it did, and the direction; byte 6 whether the hint is
         * given. */
        uint32_t d = step[5] & 1 ? h / 3 + 1 : 1u + step[6] % 48u;
        bool changed = step[7] & 2;
        scroll_whole(q, d < h ? d : h - 1, step[7] & 1, (step[6] & 0xc0) != 0,
                     changed ? rd16(step + 1) : UINT32_MAX, rd16(step + 3),
                     (uint8_t)(step[5] >> 4));
    } else if (!idle) {
        uint32_t maxw = small ? (w < 64 ? w : 64) : w, maxh = small ? (h < 64 ? h : 64) : h;
        uint32_t rw = whole ? w : 1 + rd16(step + 5) % maxw;
        uint32_t rh = whole ? h : 1 + step[7] % maxh;
        uint32_t x = rd16(step + 1) % (w - rw + 1), y = rd16(step + 3) % (h - rh + 1);
        uint8_t edges = step[6];
        if (edges & 1)
            x = w - rw;
        if (edges & 2)
            y = h - rh;
        if (edges & 4)
            x = 0;
        if (edges & 8)
            y = 0;
        paint(q, x, y, rw, rh, (uint8_t)(edges >> 4), rd16(step + 1) ^ step[0]);
        wseq_convert(&q->dmg, q->pic, q->surface, q->stride, q->fourcc, x, y, rw, rh);
    }
    return encode_step(q, all, force_idr, all || moved || scrolled ? -1.0 : min_psnr, err,
                       errlen);
}

/* Encodes the step's picture (all: without its damage), decodes it and
 * checks the reconstruction; and the writer's macroblocks' PSNR unless
 * min_psnr is negative (moved ones keep the quality they had, x264's
 * included). */
static int encode_step(struct wseq *q, bool all, bool force_idr, double min_psnr, char *err,
                       size_t errlen)
{
    q->dmg.mb.moved = q->hint;
    const struct hfx_mb_damage *dmg = test_damage_boxes(&q->dmg);
    struct hfx_au au;
    if (hfx_encoder_hybrid.encode(q->enc, q->pic, all ? NULL : dmg, force_idr, &au) < 0) {
        snprintf(err, errlen, "frame %llu: encode failed", (unsigned long long)q->st.frames);
        return -1;
    }
    struct hfx_decoded d;
    int got = hfx_decoder_decode(q->dec, au.data, au.size, &d);
    if (got != 1) {
        const uint8_t *pl[3];
        uint32_t st[3];
        snprintf(err, errlen, "frame %llu (%s, %zu bytes): decoder returned %d",
                 (unsigned long long)q->st.frames,
                 hfx_encoder_hybrid_writer_picture(q->enc, pl, st) ? "writer" : "x264", au.size,
                 got);
        return -1;
    }
    q->st.frames++;
    q->st.bytes += au.size;
    int checked = wseq_check_recon(q->enc, &d, q->dmg.mb.mb_width, q->dmg.mb.mb_height,
                                   q->st.frames, err, errlen);
    if (checked < 0)
        return -1;
    q->st.checked += (uint64_t)checked;
    if (!checked || min_psnr < 0)
        return 0;
    /* The writer's own quality: what it coded. x264's frames, and what
     * the writer's skips keep of them, are x264's. */
    double psnr = test_damage_psnr(&q->dmg, q->pic, &d);
    if (psnr < q->st.min_psnr)
        q->st.min_psnr = psnr;
    if (psnr < min_psnr) {
        snprintf(err, errlen, "frame %llu: the writer's macroblocks at %.2f dB",
                 (unsigned long long)q->st.frames, psnr);
        return -1;
    }
    return 0;
}

int wseq_scroll(struct wseq *q, uint32_t d, bool down, bool hint, uint32_t cx, uint32_t cy,
                char *err, size_t errlen)
{
    test_damage_clear(&q->dmg);
    q->hint = (struct hfx_mb_moves){0};
    scroll_whole(q, d, down, hint, cx, cy, (uint8_t)(d & 15));
    return encode_step(q, false, false, -1.0, err, errlen);
}

void wseq_stats(const struct wseq *q, struct wseq_stats *out)
{
    *out = q->st;
    out->writer_frames = hfx_encoder_counter(&hfx_encoder_hybrid, q->enc, "writer_frames");
    out->switch_idrs = hfx_encoder_counter(&hfx_encoder_hybrid, q->enc, "switch_idrs");
    out->refine_mbs = hfx_encoder_counter(&hfx_encoder_hybrid, q->enc, "refine_mbs");
    out->scroll_shifts = hfx_encoder_counter(&hfx_encoder_hybrid, q->enc, "scroll_shifts");
}
