/* Encoder backends end to end: desktop-like pictures in, access units out,
 * checked for their shape (start codes, NAL order, SPS/PPS fields the
 * hand-written P slices of later code depend on) and decoded with
 * libavcodec against the source. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/decode.h"
#include "common/clock.h"
#include "common/picture.h"
#include "encoder/encoder.h"
#include "mb_damage.h"
#include "splitmix.h"

static int failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            failures++;                                                         \
        }                                                                       \
    } while (0)

#define FPS 60
#define THREADS 2
#define P_FRAMES 10
#define MIN_PSNR 30.0

/* ---- Desktop-like content drawn straight into I420 ---------------------- */

static void fill_rect(struct hfx_picture *p, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                      uint8_t Y, uint8_t U, uint8_t V)
{
    if (x >= p->width || y >= p->height)
        return;
    if (x + w > p->width)
        w = p->width - x;
    if (y + h > p->height)
        h = p->height - y;
    for (uint32_t r = y; r < y + h; r++)
        memset(p->plane[0] + (size_t)r * p->stride[0] + x, Y, w);
    for (uint32_t r = y / 2; r < (y + h + 1) / 2; r++) {
        memset(p->plane[1] + (size_t)r * p->stride[1] + x / 2, U, (w + 1) / 2);
        memset(p->plane[2] + (size_t)r * p->stride[2] + x / 2, V, (w + 1) / 2);
    }
}

/* 5x7 glyphs, one row per byte (low 5 bits), enough to look like text. */
static const uint8_t glyphs[8][7] = {
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, {0x1e, 0x11, 0x1e, 0x11, 0x11, 0x11, 0x1e},
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, {0x1f, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x1f},
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},
    {0x11, 0x1b, 0x15, 0x11, 0x11, 0x11, 0x11}, {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},
};

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Paragraphs of dark "words" on the (light) area [x, x+w) x [y, y+h):
 * ragged lines 16 pixels apart, a blank line between paragraphs. */
static void draw_text(struct hfx_picture *p, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                      uint32_t seed)
{
    for (uint32_t ty = y + 4; ty + 7 <= y + h && ty + 7 <= p->height; ty += 16) {
        uint32_t r = lcg(&seed);
        if (r % 5 == 0)
            continue; /* paragraph break */
        uint32_t line_end = x + w / 2 + r % (w / 2);
        for (uint32_t tx = x + 4; tx + 5 <= line_end && tx + 5 <= p->width; tx += 6) {
            r = lcg(&seed);
            if (r % 6 == 0)
                continue; /* a space between words */
            const uint8_t *g = glyphs[r % 8];
            for (int gy = 0; gy < 7; gy++) {
                uint8_t *row = p->plane[0] + (size_t)(ty + gy) * p->stride[0] + tx;
                for (int gx = 0; gx < 5; gx++)
                    if (g[gy] & (0x10 >> gx))
                        row[gx] = 40;
            }
        }
    }
}

static void draw_window(struct hfx_picture *p, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                        uint32_t seed)
{
    fill_rect(p, x, y, w, h, 70, 128, 128);                 /* border */
    fill_rect(p, x + 2, y + 2, w - 4, 24, 90, 170, 110);    /* title bar */
    fill_rect(p, x + 2, y + 26, w - 4, 28, 200, 128, 128);  /* tool bar */
    for (uint32_t i = 0; i < 8 && 8 + i * 28 + 20 < w; i++)
        fill_rect(p, x + 8 + i * 28, y + 30, 20, 20, (uint8_t)(80 + i * 20),
                  (uint8_t)(90 + i * 10), (uint8_t)(170 - i * 10));
    fill_rect(p, x + 2, y + 54, w - 4, h - 56, 235, 128, 128);
    draw_text(p, x + 2, y + 54, w - 4, h - 56, seed);
}

static void draw_desktop(struct hfx_picture *p)
{
    uint32_t w = p->width, h = p->height;
    /* A vertical gradient wallpaper. */
    for (uint32_t y = 0; y < h; y += 2)
        fill_rect(p, 0, y, w, 2, (uint8_t)(50 + 60 * y / h), 150, (uint8_t)(100 + 20 * y / h));
    for (uint32_t i = 0; i < 6; i++) /* desktop icons */
        fill_rect(p, 24, 24 + i * 80, 48, 48, (uint8_t)(100 + i * 25), (uint8_t)(80 + i * 15),
                  (uint8_t)(180 - i * 12));
    fill_rect(p, 0, h - 40, w, 40, 35, 128, 128);           /* task bar */
    draw_window(p, w / 16, h / 12, w / 2, h / 2, 1);
    draw_window(p, w / 3, h / 3, w / 2, h / 2, 2);
    draw_window(p, w - w / 5, h / 10, w / 6, h / 3, 3);
}

/* ---- Damage -------------------------------------------------------------- */

/* ---- Bitstream parsing ------------------------------------------------------ */

struct nal {
    const uint8_t *data; /* after the start code */
    size_t size;
    int type;
};

#define MAX_NALS 64

/* Splits an access unit, failing on anything but 4-byte start codes (and on
 * more NALs than any test stream has). */
static int split_au(const uint8_t *au, size_t size, struct nal *nals)
{
    if (size < 5 || memcmp(au, "\0\0\0\1", 4) != 0)
        return -1;
    int n = 0;
    size_t start = 4;
    for (size_t i = 4; i + 3 <= size; i++) {
        if (au[i] != 0 || au[i + 1] != 0 || au[i + 2] != 1)
            continue;
        if (au[i - 1] != 0 || n + 1 >= MAX_NALS)
            return -1; /* a 3-byte start code */
        nals[n].data = au + start;
        nals[n].size = i - 1 - start;
        n++;
        start = i + 3;
        i += 2;
    }
    nals[n].data = au + start;
    nals[n].size = size - start;
    n++;
    for (int i = 0; i < n; i++)
        nals[i].type = nals[i].size ? nals[i].data[0] & 0x1f : -1;
    return n;
}

struct bits {
    uint8_t buf[256];
    size_t size, pos; /* pos in bits */
};

/* Loads a NAL's RBSP (header byte dropped, emulation prevention removed). */
static void bits_load(struct bits *b, const struct nal *nal)
{
    b->size = b->pos = 0;
    int zeros = 0;
    for (size_t i = 1; i < nal->size && b->size < sizeof(b->buf); i++) {
        if (zeros >= 2 && nal->data[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal->data[i] == 0 ? zeros + 1 : 0;
        b->buf[b->size++] = nal->data[i];
    }
}

static uint32_t u(struct bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++, b->pos++) {
        uint32_t bit = b->pos / 8 < b->size ? (b->buf[b->pos / 8] >> (7 - b->pos % 8)) & 1 : 0;
        v = v << 1 | bit;
    }
    return v;
}

static uint32_t ue(struct bits *b)
{
    int lz = 0;
    while (lz < 32 && u(b, 1) == 0)
        lz++;
    return (1u << lz) - 1 + u(b, lz);
}

static int32_t se(struct bits *b)
{
    uint32_t k = ue(b);
    return k & 1 ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

struct sps {
    uint32_t profile_idc, level_idc, num_ref_frames, mb_width, mb_height;
};

static void parse_sps(const struct nal *nal, struct sps *s)
{
    struct bits b;
    bits_load(&b, nal);
    s->profile_idc = u(&b, 8);
    u(&b, 8); /* constraint flags */
    s->level_idc = u(&b, 8);
    ue(&b); /* seq_parameter_set_id */
    if (s->profile_idc == 100) {
        ue(&b); /* chroma_format_idc (4:2:0 here) */
        ue(&b); /* bit_depth_luma_minus8 */
        ue(&b); /* bit_depth_chroma_minus8 */
        u(&b, 1); /* qpprime_y_zero_transform_bypass_flag */
        CHECK(u(&b, 1) == 0, "SPS has scaling matrices");
    }
    ue(&b); /* log2_max_frame_num_minus4 */
    uint32_t poc_type = ue(&b);
    if (poc_type == 0) {
        ue(&b);
    } else if (poc_type == 1) {
        u(&b, 1);
        se(&b);
        se(&b);
        for (uint32_t i = ue(&b); i > 0; i--)
            se(&b);
    }
    s->num_ref_frames = ue(&b);
    u(&b, 1); /* gaps_in_frame_num_value_allowed_flag */
    s->mb_width = ue(&b) + 1;
    s->mb_height = ue(&b) + 1;
}

struct pps {
    uint32_t entropy_coding_mode, weighted_pred, weighted_bipred, deblocking_control;
};

static void parse_pps(const struct nal *nal, struct pps *p)
{
    struct bits b;
    bits_load(&b, nal);
    ue(&b); /* pic_parameter_set_id */
    ue(&b); /* seq_parameter_set_id */
    p->entropy_coding_mode = u(&b, 1);
    u(&b, 1); /* bottom_field_pic_order_in_frame_present_flag */
    CHECK(ue(&b) == 0, "PPS uses slice groups");
    ue(&b); /* num_ref_idx_l0_default_active_minus1 */
    ue(&b); /* num_ref_idx_l1_default_active_minus1 */
    p->weighted_pred = u(&b, 1);
    p->weighted_bipred = u(&b, 2);
    se(&b); /* pic_init_qp_minus26 */
    se(&b); /* pic_init_qs_minus26 */
    se(&b); /* chroma_qp_index_offset */
    p->deblocking_control = u(&b, 1);
}

/* Table A-1: the lowest level (as level_idc) that allows this frame size at
 * this rate. */
static uint32_t required_level(uint32_t width, uint32_t height, uint32_t fps)
{
    static const struct { uint32_t idc, max_mbps, max_fs; } t[] = {
        {30, 40500, 1620},     {31, 108000, 3600},    {32, 216000, 5120},
        {40, 245760, 8192},    {42, 522240, 8704},    {50, 589824, 22080},
        {51, 983040, 36864},   {52, 2073600, 36864},  {60, 4177920, 139264},
        {61, 8355840, 139264}, {62, 16711680, 139264},
    };
    uint64_t fs = (uint64_t)((width + 15) / 16) * ((height + 15) / 16);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (fs <= t[i].max_fs && fs * fps <= t[i].max_mbps)
            return t[i].idc;
    return 999;
}

/* ---- One backend at one size -------------------------------------------- */

struct run {
    const struct hfx_encoder_ops *ops;
    struct hfx_encoder *enc;
    struct hfx_decoder *dec;
    struct hfx_picture *pic;
    uint32_t width, height, level;
    double min_psnr;
    int64_t idr_ns, p_ns;
    size_t idr_bytes, p_bytes;
    int p_count, idr_count;
};

static void check_keyframe(struct run *r, const struct nal *nals, int n)
{
    CHECK(n >= 3 && nals[0].type == 7 && nals[1].type == 8 && nals[2].type == 5,
          "%s %ux%u: keyframe is not SPS, PPS, IDR", r->ops->name, r->width, r->height);
    if (n < 3)
        return;
    for (int i = 3; i < n; i++)
        CHECK(nals[i].type == 5, "%s: keyframe NAL %d has type %d", r->ops->name, i,
              nals[i].type);

    struct sps s;
    parse_sps(&nals[0], &s);
    struct pps p;
    parse_pps(&nals[1], &p);
    uint32_t need = required_level(r->width, r->height, FPS);
    r->level = s.level_idc;
    CHECK(s.profile_idc == 66, "%s: profile_idc %u, not baseline", r->ops->name, s.profile_idc);
    CHECK(s.level_idc >= need, "%s %ux%u: level_idc %u below the %u Table A-1 requires",
          r->ops->name, r->width, r->height, s.level_idc, need);
    CHECK(s.num_ref_frames == 1, "%s: num_ref_frames %u", r->ops->name, s.num_ref_frames);
    CHECK(s.mb_width == (r->width + 15) / 16 && s.mb_height == (r->height + 15) / 16,
          "%s: SPS is %ux%u macroblocks", r->ops->name, s.mb_width, s.mb_height);
    CHECK(p.entropy_coding_mode == 0, "%s: PPS uses CABAC", r->ops->name);
    CHECK(p.weighted_pred == 0 && p.weighted_bipred == 0, "%s: PPS has weighted prediction",
          r->ops->name);
    CHECK(p.deblocking_control == 1, "%s: PPS lacks deblocking_filter_control_present_flag",
          r->ops->name);
}

static void check_delta(struct run *r, const struct nal *nals, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(nals[i].type == 1, "%s %ux%u: P frame NAL %d has type %d", r->ops->name,
              r->width, r->height, i, nals[i].type);
}

/* Encodes r->pic, checks the access unit and its decoded picture. */
static void encode_one(struct run *r, const struct hfx_mb_damage *damage, bool idr)
{
    struct hfx_au au;
    int64_t t0 = hfx_now_ns();
    int ret = r->ops->encode(r->enc, r->pic, damage, idr, &au);
    int64_t dt = hfx_now_ns() - t0;
    CHECK(ret == 0 && au.size > 0, "%s %ux%u: encode failed", r->ops->name, r->width,
          r->height);
    if (ret != 0 || au.size == 0)
        return;
    CHECK(au.keyframe == idr, "%s %ux%u: keyframe flag %d", r->ops->name, r->width, r->height,
          au.keyframe);
    if (idr) {
        r->idr_ns += dt;
        r->idr_bytes += au.size;
        r->idr_count++;
    } else {
        r->p_ns += dt;
        r->p_bytes += au.size;
        r->p_count++;
    }

    struct nal nals[MAX_NALS];
    int n = split_au(au.data, au.size, nals);
    CHECK(n > 0, "%s %ux%u: access unit is not split by 4-byte start codes", r->ops->name,
          r->width, r->height);
    if (n > 0 && idr)
        check_keyframe(r, nals, n);
    else if (n > 0)
        check_delta(r, nals, n);

    struct hfx_decoded d;
    int got = hfx_decoder_decode(r->dec, au.data, au.size, &d);
    CHECK(got == 1, "%s %ux%u: decoder gave %d for an access unit", r->ops->name, r->width,
          r->height, got);
    if (got != 1)
        return;
    /* 4:2:0 crops in pairs of pixels: an odd size decodes one larger. */
    CHECK(d.width == ((r->width + 1) & ~1u) && d.height == ((r->height + 1) & ~1u),
          "%s: decoded %ux%u for %ux%u", r->ops->name, d.width, d.height, r->width, r->height);
    if (d.width < r->width || d.height < r->height)
        return;
    double psnr = hfx_psnr_y(d.plane[0], d.stride[0], r->pic->plane[0], r->pic->stride[0],
                             r->width, r->height);
    CHECK(psnr >= MIN_PSNR, "%s %ux%u: luma PSNR %.2f dB", r->ops->name, r->width, r->height,
          psnr);
    r->min_psnr = fmin(r->min_psnr, psnr);
    if (getenv("ENC_DEBUG")) fprintf(stderr, "%s %ux%u idr %d kf %d size %zu psnr %.2f\n", r->ops->name, r->width, r->height, idr, au.keyframe, au.size, psnr);
}

/* A typing-like change: one line of text in the first window, plus a
 * moving 16x16 "cursor". */
static void change_frame(struct run *r, struct test_damage *dmg, int i)
{
    uint32_t tx = r->width / 16 + 40, ty = r->height / 12 + 60;
    fill_rect(r->pic, tx, ty, 96, 16, 230, 128, 128);
    draw_text(r->pic, tx, ty, 96, 16, 100 + (uint32_t)i);
    uint32_t cx = r->width / 2 + (uint32_t)i * 20, cy = r->height / 4;
    fill_rect(r->pic, cx, cy, 16, 16, 250, 100, 160);
    test_damage_clear(dmg);
    test_damage_add(dmg, tx, ty, 96, 16);
    test_damage_add(dmg, cx, cy, 16, 16);
    test_damage_boxes(dmg);
}

static void run_size(const struct hfx_encoder_ops *ops, uint32_t width, uint32_t height)
{
    struct hfx_encoder_params params = {
        .width = width, .height = height, .fps = FPS,
        .bitrate = hfx_encoder_default_bitrate(width, height, FPS), .threads = THREADS,
    };
    char err[256] = "";
    int64_t t0 = hfx_now_ns();
    struct run r = {.ops = ops, .width = width, .height = height, .min_psnr = 99.0};
    r.enc = ops->open(&params, err, sizeof(err));
    double open_ms = (double)(hfx_now_ns() - t0) / 1e6;
    CHECK(r.enc, "%s %ux%u: open failed: %s", ops->name, width, height, err);
    if (!r.enc)
        return;
    r.dec = hfx_decoder_new();
    r.pic = hfx_picture_new(width, height);
    CHECK(r.dec && r.pic, "setup failed");
    if (!r.dec || !r.pic)
        goto out;
    draw_desktop(r.pic);

    struct test_damage dmg;
    CHECK(test_damage_init(&dmg, width, height) == 0, "out of memory");
    encode_one(&r, NULL, true);
    for (int i = 0; i < P_FRAMES; i++) {
        change_frame(&r, &dmg, i);
        encode_one(&r, &dmg.mb, false);
    }
    CHECK(ops->set_bitrate(r.enc, params.bitrate / 2) == 0, "%s: set_bitrate failed",
          ops->name);
    change_frame(&r, &dmg, P_FRAMES);
    if (ops == &hfx_encoder_hybrid) {
        /* Everything changed: the writer codes the whole picture (a NULL
         * damage would send the stream back to x264 with an IDR). */
        test_damage_add(&dmg, 0, 0, width, height);
        encode_one(&r, test_damage_boxes(&dmg), false);
    } else {
        encode_one(&r, NULL, false); /* no damage: everything may have changed */
    }
    change_frame(&r, &dmg, P_FRAMES + 1);
    encode_one(&r, &dmg.mb, true); /* forced: the damage must not matter */
    change_frame(&r, &dmg, P_FRAMES + 2);
    encode_one(&r, &dmg.mb, false);
    if (strcmp(ops->name, "openh264") != 0) {
        /* Damage for another size is a caller's bug, refused before encoding. */
        struct hfx_mb_damage wrong = dmg.mb;
        wrong.mb_width--;
        struct hfx_au au;
        CHECK(ops->encode(r.enc, r.pic, &wrong, false, &au) == -1,
              "%s accepted damage of the wrong size", ops->name);
    }
    test_damage_free(&dmg);

    printf("%-8s %4ux%-4u level %u  open %6.1f ms  IDR %6.1f ms %7zu B  "
           "P %5.2f ms %6zu B  min PSNR %.1f dB\n",
           ops->name, width, height, r.level, open_ms, (double)r.idr_ns / 1e6 / r.idr_count,
           r.idr_bytes / (size_t)r.idr_count, (double)r.p_ns / 1e6 / r.p_count, r.p_bytes / (size_t)r.p_count,
           r.min_psnr);
out:
    hfx_picture_free(r.pic);
    hfx_decoder_free(r.dec);
    ops->close(r.enc);
}

/* ---- Smaller pieces -------------------------------------------------------- */

static void test_picture(void)
{
    struct hfx_picture *a = hfx_picture_new(1366, 767);
    struct hfx_picture *b = hfx_picture_new(1366, 767);
    CHECK(a && b, "hfx_picture_new failed");
    if (!a || !b)
        goto out;
    CHECK(a->alloc_w == 1376 && a->alloc_h == 768, "alloc %ux%u", a->alloc_w, a->alloc_h);
    for (int i = 0; i < 3; i++)
        CHECK(a->stride[i] % 64 == 0 && (uintptr_t)a->plane[i] % 64 == 0,
              "plane %d not 64-byte aligned", i);
    CHECK(a->plane[0][767 * a->stride[0] + 1375] == 16 && a->plane[1][0] == 128 &&
              a->plane[2][383 * a->stride[2] + 687] == 128,
          "new picture is not black");

    fill_rect(a, 0, 0, 1366, 767, 200, 50, 60);
    hfx_picture_copy_rect(b, a, 100, 50, 40, 20);
    CHECK(b->plane[0][50 * b->stride[0] + 100] == 200 && b->plane[0][69 * b->stride[0] + 139] == 200,
          "copy_rect missed luma");
    CHECK(b->plane[0][49 * b->stride[0] + 100] == 16 && b->plane[0][50 * b->stride[0] + 140] == 16 &&
              b->plane[0][70 * b->stride[0] + 100] == 16,
          "copy_rect wrote outside the rectangle");
    CHECK(b->plane[1][25 * b->stride[1] + 50] == 50 && b->plane[2][34 * b->stride[2] + 69] == 60,
          "copy_rect missed chroma");
    CHECK(b->plane[1][35 * b->stride[1] + 50] == 128 && b->plane[2][25 * b->stride[2] + 70] == 128,
          "copy_rect wrote chroma outside the rectangle");
out:
    hfx_picture_free(a);
    hfx_picture_free(b);
}

/* Large moves (which write around the caches) and small ones give what
 * a row-by-row copy gives, in place both ways and between pictures, with
 * rows that start off any alignment. */
static void test_picture_moves(void)
{
    struct hfx_picture *a = hfx_picture_new(1920, 1080), *b = hfx_picture_new(1920, 1080);
    struct hfx_picture *want = hfx_picture_new(1920, 1080);
    CHECK(a && b && want, "hfx_picture_new failed");
    if (!a || !b || !want)
        goto out;
    static const struct {
        uint32_t x, y, w, h;
        int32_t dy;
        bool in_place;
    } moves[] = {
        {2, 0, 1916, 1076, 4, true},     /* a scroll up, odd-sized rows */
        {0, 6, 1920, 1074, -6, true},    /* down */
        {34, 100, 1800, 900, 20, false}, /* between pictures */
        {10, 10, 30, 8, -2, true},       /* small: memmove */
    };
    uint64_t seed = 14;
    for (size_t k = 0; k < sizeof moves / sizeof moves[0]; k++) {
        for (int p = 0; p < 3; p++) {
            size_t n = (size_t)a->stride[p] * (p ? a->alloc_h / 2 : a->alloc_h);
            for (size_t i = 0; i < n; i++)
                a->plane[p][i] = b->plane[p][i] = (uint8_t)splitmix64(&seed);
        }
        struct hfx_picture *dst = moves[k].in_place ? a : b;
        for (int p = 0; p < 3; p++) {
            uint32_t sh = p ? 1 : 0, rows = p ? a->alloc_h / 2 : a->alloc_h;
            memcpy(want->plane[p], dst->plane[p], (size_t)a->stride[p] * rows);
            for (uint32_t y = 0; y < moves[k].h >> sh; y++)
                for (uint32_t x = 0; x < moves[k].w >> sh; x++) {
                    size_t at = (size_t)((moves[k].y >> sh) + y) * a->stride[p] +
                                (moves[k].x >> sh) + x;
                    int64_t from = (int64_t)at + (int64_t)(moves[k].dy >> sh) * a->stride[p];
                    want->plane[p][at] = a->plane[p][from];
                }
        }
        hfx_picture_move_rect(dst, a, moves[k].x, moves[k].y, moves[k].w, moves[k].h,
                              moves[k].dy);
        for (int p = 0; p < 3; p++) {
            size_t n = (size_t)a->stride[p] * (p ? a->alloc_h / 2 : a->alloc_h);
            CHECK(memcmp(dst->plane[p], want->plane[p], n) == 0,
                  "move %zu (%ux%u by %d): plane %d differs from a row-by-row copy", k,
                  moves[k].w, moves[k].h, moves[k].dy, p);
        }
    }
out:
    hfx_picture_free(a);
    hfx_picture_free(b);
    hfx_picture_free(want);
}

static void test_registry(void)
{
    CHECK(hfx_encoder_find("hybrid") == &hfx_encoder_hybrid, "hybrid not found");
    CHECK(hfx_encoder_find("x264") == &hfx_encoder_x264, "x264 not found");
    CHECK(hfx_encoder_find("openh264") == &hfx_encoder_openh264, "openh264 not found");
    CHECK(hfx_encoder_find("vp8") == NULL, "unknown name found");
    CHECK(strcmp(hfx_encoder_names(), "hybrid,x264,openh264") == 0, "names %s", hfx_encoder_names());
    CHECK(hfx_encoder_default() == &hfx_encoder_hybrid, "default %s", hfx_encoder_default()->name);
    /* Whatever cannot open falls back to x264, and x264 to nothing. */
    CHECK(hfx_encoder_fallback(&hfx_encoder_hybrid) == &hfx_encoder_x264, "hybrid's fallback");
    CHECK(hfx_encoder_fallback(&hfx_encoder_openh264) == &hfx_encoder_x264, "openh264's fallback");
    CHECK(hfx_encoder_fallback(&hfx_encoder_x264) == NULL, "x264 falls back to something");
    CHECK(hfx_encoder_x264.core && !hfx_encoder_hybrid.core && !hfx_encoder_openh264.core,
          "only x264 is an H.264 core");
    uint32_t b1080 = hfx_encoder_default_bitrate(1920, 1080, 60);
    uint32_t b4k = hfx_encoder_default_bitrate(3840, 2160, 60);
    uint32_t b5k = hfx_encoder_default_bitrate(5120, 2880, 60);
    printf("default bitrates: 1080p60 %.1f, 4K60 %.1f, 5K60 %.1f Mbit/s\n", b1080 / 1e6,
           b4k / 1e6, b5k / 1e6);
    CHECK(b1080 > 6000000 && b1080 < 10000000, "1080p60 default %u", b1080);
    CHECK(b4k > 20000000 && b4k < 28000000, "4K60 default %u", b4k);
    CHECK(b5k > 34000000 && b5k < 46000000, "5K60 default %u", b5k);
    CHECK(hfx_encoder_default_bitrate(64, 64, 1) == 500000, "floor");
    CHECK(hfx_encoder_default_bitrate(16384, 16384, 240) == 100000000, "ceiling");
}

static void test_openh264_5k(void)
{
    struct hfx_encoder_params params = {
        .width = 5120, .height = 2880, .fps = FPS, .bitrate = 40000000, .threads = THREADS,
    };
    char err[256] = "";
    struct hfx_encoder *enc = hfx_encoder_openh264.open(&params, err, sizeof(err));
    CHECK(enc == NULL, "OpenH264 opened at 5120x2880");
    if (enc)
        hfx_encoder_openh264.close(enc);
    CHECK(err[0] != '\0' && strstr(err, "x264"), "5K error does not point to x264: \"%s\"",
          err);
    printf("openh264 5120x2880: %s\n", err);
}

int main(void)
{
    static const uint32_t sizes[][2] = {{1920, 1080}, {1366, 767}, {3840, 2160}, {5120, 2880}};
    int64_t t0 = hfx_now_ns();
    test_picture();
    test_picture_moves();
    test_registry();
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        run_size(&hfx_encoder_x264, sizes[i][0], sizes[i][1]);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        run_size(&hfx_encoder_hybrid, sizes[i][0], sizes[i][1]);
    for (size_t i = 0; i < 3; i++)
        run_size(&hfx_encoder_openh264, sizes[i][0], sizes[i][1]);
    test_openh264_5k();
    printf("total %.1f s, %d failure(s)\n", (double)(hfx_now_ns() - t0) / 1e9, failures);
    return failures ? 1 : 0;
}
