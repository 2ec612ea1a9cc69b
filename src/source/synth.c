/* Deterministic synthetic workloads. Everything costly (pictures, pages,
 * scenes) is drawn once at creation; a frame is then a blit of rows plus a
 * little drawing, so generating it stays far cheaper than encoding it. */
#include "source/synth.h"
#include "source/input_stamp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SIDE 64
#define MAX_SIDE 8192
#define ROW_ALIGN 64

#define CELL_W 8
#define CELL_H 16
#define LINE_PITCH 20
#define FONT_SIZE 96
#define PANEL_H 24
#define TITLE_H 20
#define TERM_PAD 4

#define SCROLL_STEP 4
/* pane: an odd step, as a terminal's or an editor's line height often is,
 * which moves 4:2:0 chroma by half a sample. */
#define PANE_STEP 3
#define BALLS 4
#define RIPPLE_X 2
#define RIPPLE_Y 2
#define RIPPLE_LEN 96.0
#define TAU 6.283185307179586

/* window: the window's outer size, and the chart's bar pitch (a 4-pixel
 * bar and a gap). */
#define WIN_W 200
#define WIN_H 150
#define BAR_PITCH 5

/* drag: the window's size (at most half the frame's), and its path: a
 * bounce across and down the desktop, 11 or 12 pixels a frame across and
 * 7 or 8 down, so that steps are odd and even (the chroma of an odd one
 * moves by half a sample). */
#define DRAG_W 480
#define DRAG_H 360

/* pane: where the editor window is, in thousandths of the frame. */
static const int16_t pane_spot[4] = { 150, 100, 600, 800 };

#define MAX_DAMAGE 3

enum {
    SEED_FONT = 0x5eed0001,
    SEED_DESKTOP = 0x5eed0002,
    SEED_PAGE = 0x5eed0003,
    SEED_SCENE = 0x5eed0004,
    SEED_TYPING = 0x5eed0005,
    SEED_WINDOW = 0x5eed0006,
    SEED_DRAG = 0x5eed0007,
};

struct surface {
    uint8_t *data;
    int32_t w, h;
    uint32_t stride;
};

struct rng {
    uint64_t state;
};

/* Bit x of a row is column x of the cell. */
struct font {
    uint8_t rows[FONT_SIZE][CELL_H];
};

struct terminal {
    struct hfx_rect area; /* whole cells only, so a clear damages exactly them */
    int32_t cols, rows;
    uint32_t cursor;
    uint32_t bg, fg;
};

struct window_style {
    uint32_t title_top, title_bottom, body, text; /* 0xRRGGBB */
};

struct hfx_synth {
    enum hfx_workload wl;
    struct surface fb;
    uint32_t frame;
    /* Input shown (hfx_synth_input): the panel's values, and the
     * workload's pixels under the crosshair. */
    bool input_on;
    struct hfx_input_stamp input;
    struct hfx_rect under_rect;
    uint32_t under[(2 * HFX_INPUT_POINTER_R + 1) * (2 * HFX_INPUT_POINTER_R + 1)];
    bool started;
    struct font font;
    struct terminal term;    /* typing */
    struct hfx_rect win;     /* window, drag: where the window is */
    struct hfx_rect pane;    /* scroll, pane: where the page scrolls */
    int32_t video_w;         /* video, half: the moving picture's width, from x = 0 */
    struct surface tex;      /* scroll, pane: the page; video, half: the scene; drag: the desktop */
    struct surface sprites;  /* video: BALLS shaded discs side by side; drag: the window */
    int32_t *disc_half;      /* video: half-width of a disc on each sprite row */
};

static int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
/* Not fmaxf: that stays a library call (for its NaN rules) in hot loops. */
static float max_f(float a, float b) { return a > b ? a : b; }

/* splitmix64: tiny, fast and fully determined by its seed. */
static uint32_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((uint64_t)rng_next(r) * n) >> 32);
}

static float rng_unit(struct rng *r)
{
    return (float)(rng_next(r) >> 8) * (1.0f / 16777216.0f);
}

/* ---- pixels and surfaces ---- */

/* An 0xRRGGBB colour as a native word whose memory order is B,G,R,X. */
static uint32_t pixel(uint32_t rgb)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(rgb | 0xff000000u);
#else
    return rgb | 0xff000000u;
#endif
}

static uint32_t mix_rgb(uint32_t a, uint32_t b, int32_t num, int32_t den)
{
    uint32_t out = 0;
    for (int shift = 0; shift < 24; shift += 8) {
        int32_t ca = (int32_t)(a >> shift & 0xff), cb = (int32_t)(b >> shift & 0xff);
        out |= (uint32_t)(ca + (cb - ca) * num / den) << shift;
    }
    return out;
}

static bool surface_init(struct surface *sf, int32_t w, int32_t h)
{
    sf->w = w;
    sf->h = h;
    sf->stride = ((uint32_t)w * 4 + ROW_ALIGN - 1) & ~(uint32_t)(ROW_ALIGN - 1);
    size_t size = (size_t)sf->stride * (size_t)h;
    sf->data = aligned_alloc(ROW_ALIGN, size);
    /* Row padding is never drawn: zero it so frames compare byte for byte. */
    if (sf->data != NULL)
        memset(sf->data, 0, size);
    return sf->data != NULL;
}

static uint32_t *surface_row(const struct surface *sf, int32_t y)
{
    return (uint32_t *)(void *)(sf->data + (size_t)y * sf->stride);
}

static struct hfx_rect rect_clip(struct hfx_rect r, const struct surface *sf)
{
    int32_t x0 = max_i32(r.x, 0), y0 = max_i32(r.y, 0);
    int32_t x1 = max_i32(min_i32(r.x + r.w, sf->w), x0);
    int32_t y1 = max_i32(min_i32(r.y + r.h, sf->h), y0);
    return (struct hfx_rect){ x0, y0, x1 - x0, y1 - y0 };
}

static struct hfx_rect rect_inset(struct hfx_rect r, int32_t d)
{
    return (struct hfx_rect){ r.x + d, r.y + d, r.w - 2 * d, r.h - 2 * d };
}

static void fill_rect(struct surface *sf, struct hfx_rect r, uint32_t rgb)
{
    r = rect_clip(r, sf);
    uint32_t px = pixel(rgb);
    for (int32_t y = r.y; y < r.y + r.h; y++) {
        uint32_t *row = surface_row(sf, y);
        for (int32_t x = r.x; x < r.x + r.w; x++)
            row[x] = px;
    }
}

/* Vertical gradient from top to bottom colour over the unclipped rect. */
static void fill_gradient(struct surface *sf, struct hfx_rect r, uint32_t top, uint32_t bottom)
{
    struct hfx_rect c = rect_clip(r, sf);
    for (int32_t y = c.y; y < c.y + c.h; y++) {
        uint32_t px = pixel(mix_rgb(top, bottom, y - r.y, max_i32(r.h - 1, 1)));
        uint32_t *row = surface_row(sf, y);
        for (int32_t x = c.x; x < c.x + c.w; x++)
            row[x] = px;
    }
}

/* ---- text ---- */

/* Letter-like glyphs: one or two stems, a bar or two and a few stray pixels,
 * shaped as x-height, ascender or descender letters, so that rows of them
 * read (and compress) like text rather than noise. */
static void font_init(struct font *f)
{
    struct rng r = { SEED_FONT };
    for (int g = 0; g < FONT_SIZE; g++) {
        uint8_t *rows = f->rows[g];
        memset(rows, 0, CELL_H);
        int top = rng_below(&r, 3) == 0 ? 2 : 5;
        int bottom = rng_below(&r, 5) == 0 ? 14 : 12;
        uint32_t stems = 1u << (1 + rng_below(&r, 6));
        if (rng_below(&r, 2))
            stems |= 1u << (1 + rng_below(&r, 6));
        for (int y = top; y <= bottom; y++)
            rows[y] = (uint8_t)((stems | (rng_next(&r) & rng_next(&r))) & 0x7e);
        for (int bar = 0; bar < 2; bar++) {
            int y = top + (int)rng_below(&r, (uint32_t)(bottom - top + 1));
            uint32_t from = 1 + rng_below(&r, 3), to = 4 + rng_below(&r, 3);
            rows[y] |= (uint8_t)(((1u << (to + 1)) - (1u << from)) & 0x7e);
        }
    }
}

static void draw_glyph(struct surface *sf, int32_t x, int32_t y, const uint8_t *rows, uint32_t rgb)
{
    uint32_t px = pixel(rgb);
    for (int32_t gy = 0; gy < CELL_H; gy++) {
        if (y + gy < 0 || y + gy >= sf->h)
            continue;
        uint32_t *row = surface_row(sf, y + gy);
        for (int32_t gx = 0; gx < CELL_W; gx++)
            if ((rows[gy] >> gx & 1) && x + gx >= 0 && x + gx < sf->w)
                row[x + gx] = px;
    }
}

/* Words of random glyphs from x0 up to x1.
 * bold draws every glyph twice, one pixel apart, as headings do. */
static void draw_words(struct surface *sf, const struct font *f, struct rng *r,
                       int32_t x0, int32_t x1, int32_t y, uint32_t rgb, bool bold)
{
    for (int32_t x = x0;; x += CELL_W) {
        /* A word running past x1 is cut short, so even a narrow column
         * gets text. */
        int32_t len = min_i32(1 + (int32_t)rng_below(r, 9), (x1 - x) / CELL_W);
        if (len <= 0)
            return;
        for (; len > 0; len--, x += CELL_W) {
            const uint8_t *glyph = f->rows[rng_below(r, FONT_SIZE)];
            draw_glyph(sf, x, y, glyph, rgb);
            if (bold)
                draw_glyph(sf, x + 1, y, glyph, rgb);
        }
    }
}

/* One paragraph of ragged lines from y down to at most the bottom of col;
 * returns where the next block starts, after a blank line. */
static int32_t draw_paragraph(struct surface *sf, const struct font *f, struct rng *r,
                              struct hfx_rect col, int32_t y, uint32_t rgb)
{
    int32_t lines = 2 + (int32_t)rng_below(r, 7);
    for (int32_t i = 1; i <= lines && y + CELL_H <= col.y + col.h; i++, y += LINE_PITCH) {
        int32_t pct = i == lines ? 20 + (int32_t)rng_below(r, 50) : 75 + (int32_t)rng_below(r, 26);
        draw_words(sf, f, r, col.x, col.x + col.w * pct / 100, y, rgb, false);
    }
    return y + LINE_PITCH;
}

/* ---- desktop (idle, typing) ---- */

/* Draws a bordered window with a title bar; returns its client area. */
static struct hfx_rect draw_window(struct surface *sf, const struct font *f, struct rng *r,
                                   struct hfx_rect w, const struct window_style *st)
{
    fill_rect(sf, w, 0x101418);
    struct hfx_rect title = { w.x + 1, w.y + 1, w.w - 2, TITLE_H };
    fill_gradient(sf, title, st->title_top, st->title_bottom);
    draw_words(sf, f, r, title.x + 6, title.x + title.w / 2, title.y + (TITLE_H - CELL_H) / 2,
               0xf8f8f8, false);
    if (title.w >= 120)
        for (int32_t i = 1; i <= 3; i++)
            fill_rect(sf, (struct hfx_rect){ title.x + title.w - 18 * i, title.y + 4, 12, 12 },
                      0xd8d8d8);
    struct hfx_rect client = { w.x + 1, w.y + 1 + TITLE_H, w.w - 2, w.h - 2 - TITLE_H };
    fill_rect(sf, client, st->body);
    return client;
}

/* A rect given in thousandths of the frame, grown to min_w x min_h and then
 * moved back inside the frame. */
static struct hfx_rect place(const struct surface *sf, const int16_t spec[4], int32_t min_w,
                             int32_t min_h)
{
    int32_t w = min_i32(max_i32(sf->w * spec[2] / 1000, min_w), sf->w);
    int32_t h = min_i32(max_i32(sf->h * spec[3] / 1000, min_h), sf->h);
    int32_t x = min_i32(sf->w * spec[0] / 1000, sf->w - w);
    int32_t y = min_i32(sf->h * spec[1] / 1000, sf->h - h);
    return (struct hfx_rect){ x, y, w, h };
}

static void draw_panel(struct surface *sf, const struct font *f, struct rng *r)
{
    fill_rect(sf, (struct hfx_rect){ 0, 0, sf->w, PANEL_H }, 0x1f2430);
    int32_t y = (PANEL_H - CELL_H) / 2;
    draw_words(sf, f, r, HFX_STAMP_W + 16, sf->w / 3, y, 0xc8ccd4, false);
    draw_words(sf, f, r, sf->w - 160, sf->w - 8, y, 0xc8ccd4, false);
}

static void draw_desktop(struct surface *sf, const struct font *f, struct rng *r)
{
    static const int16_t spots[][4] = {
        { 40, 90, 460, 500 }, { 420, 140, 520, 480 }, { 110, 520, 400, 420 }, { 560, 600, 380, 340 },
    };
    static const struct window_style styles[] = {
        { 0x3a6ea5, 0x2b5283, 0xf6f6f2, 0x202020 },
        { 0x6a8a3a, 0x4f6a2a, 0xffffff, 0x303030 },
        { 0x8a4a6a, 0x6a3050, 0xf2f4f8, 0x18202a },
        { 0x505860, 0x383e44, 0xfbf7ee, 0x2a2418 },
    };
    fill_gradient(sf, (struct hfx_rect){ 0, 0, sf->w, sf->h }, 0x2b5876, 0x4e4376);
    draw_panel(sf, f, r);
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        struct hfx_rect w = place(sf, spots[i], 2 * TITLE_H, 2 * TITLE_H);
        struct hfx_rect client = draw_window(sf, f, r, w, &styles[i]);
        struct hfx_rect col = rect_inset(client, 8);
        for (int32_t y = col.y; y + CELL_H <= col.y + col.h;)
            y = draw_paragraph(sf, f, r, col, y, styles[i].text);
    }
}

/* The terminal window sits on top of the desktop and always holds at least
 * one cell, whatever the frame size. */
static void terminal_init(struct terminal *t, struct surface *sf, const struct font *f, struct rng *r)
{
    static const int16_t spot[4] = { 300, 200, 620, 700 };
    static const struct window_style style = { 0x4a4a4a, 0x333333, 0x1c1c1c, 0x9fe870 };
    struct hfx_rect w = place(sf, spot, CELL_W + 2 + 2 * TERM_PAD, CELL_H + TITLE_H + 2 + 2 * TERM_PAD);
    struct hfx_rect client = draw_window(sf, f, r, w, &style);
    t->cols = (client.w - 2 * TERM_PAD) / CELL_W;
    t->rows = (client.h - 2 * TERM_PAD) / CELL_H;
    t->area = (struct hfx_rect){ client.x + TERM_PAD, client.y + TERM_PAD, t->cols * CELL_W,
                                 t->rows * CELL_H };
    t->cursor = 0;
    t->bg = style.body;
    t->fg = style.text;
}

/* ---- scroll page ---- */

static int32_t page_heading(struct surface *pg, const struct font *f, struct rng *r,
                            struct hfx_rect col, int32_t y)
{
    draw_words(pg, f, r, col.x, col.x + col.w / 2, y, 0x1a4d8f, true);
    return y + 2 * LINE_PITCH;
}

static int32_t page_code(struct surface *pg, const struct font *f, struct rng *r,
                         struct hfx_rect col, int32_t y)
{
    int32_t lines = 3 + (int32_t)rng_below(r, 6);
    struct hfx_rect box = { col.x, y - 4, col.w, min_i32(lines * LINE_PITCH + 4, pg->h - (y - 4)) };
    fill_rect(pg, box, 0xeceef2);
    for (int32_t i = 0; i < lines && y + CELL_H <= pg->h; i++, y += LINE_PITCH) {
        int32_t indent = CELL_W * (2 + 4 * (int32_t)rng_below(r, 3));
        draw_words(pg, f, r, col.x + indent, col.x + col.w * (30 + (int32_t)rng_below(r, 50)) / 100,
                   y, 0x30306a, false);
    }
    return y + LINE_PITCH;
}

static int32_t page_figure(struct surface *pg, struct rng *r, struct hfx_rect col, int32_t y)
{
    int32_t h = (5 + (int32_t)rng_below(r, 8)) * LINE_PITCH;
    struct hfx_rect fig = { col.x + col.w / 8, y, col.w * 3 / 4, min_i32(h, pg->h - y) };
    fill_rect(pg, fig, 0x606060);
    fill_gradient(pg, rect_inset(fig, 1), rng_next(r) & 0xffffff, rng_next(r) & 0xffffff);
    return y + h + LINE_PITCH;
}

/* A long document (headings, prose, code, figures) on a light page. Blocks
 * stop at the page end, so the wrap from bottom to top reads as a page break. */
static void draw_page(struct surface *pg, const struct font *f)
{
    struct rng r = { SEED_PAGE };
    fill_rect(pg, (struct hfx_rect){ 0, 0, pg->w, pg->h }, 0xfbfbf8);
    int32_t margin = max_i32(8, pg->w / 16);
    struct hfx_rect col = { margin, 0, pg->w - 2 * margin, pg->h };
    for (int32_t y = LINE_PITCH; y + CELL_H <= pg->h;) {
        uint32_t kind = rng_below(&r, 10);
        if (kind < 6)
            y = draw_paragraph(pg, f, &r, col, y, 0x222222);
        else if (kind < 8)
            y = page_heading(pg, f, &r, col, y);
        else if (kind < 9)
            y = page_code(pg, f, &r, col, y);
        else
            y = page_figure(pg, &r, col, y);
    }
}

/* ---- video scene ---- */

/* One octave of value noise: random lattice values, smoothly interpolated.
 * Rows are produced in order, so the vertical blend is done once per row. */
struct noise {
    int32_t cell, cols;
    float *lattice;  /* cols x rows values in [-1, 1] */
    float *row;      /* the lattice blended to the current row */
    float *weight;   /* smoothstep weight of each offset within a cell */
};

static bool noise_init(struct noise *n, struct rng *r, int32_t cell, int32_t w, int32_t h)
{
    int32_t rows = h / cell + 2;
    n->cell = cell;
    n->cols = w / cell + 2;
    size_t count = (size_t)n->cols * (size_t)rows;
    n->lattice = malloc((count + (size_t)n->cols + (size_t)cell) * sizeof(float));
    if (n->lattice == NULL)
        return false;
    n->row = n->lattice + count;
    n->weight = n->row + n->cols;
    for (size_t i = 0; i < count; i++)
        n->lattice[i] = rng_unit(r) * 2.0f - 1.0f;
    for (int32_t i = 0; i < cell; i++) {
        float t = ((float)i + 0.5f) / (float)cell;
        n->weight[i] = t * t * (3.0f - 2.0f * t);
    }
    return true;
}

static void noise_row(struct noise *n, int32_t y)
{
    const float *a = n->lattice + (size_t)(y / n->cell) * (size_t)n->cols;
    const float *b = a + n->cols;
    float t = n->weight[y % n->cell];
    for (int32_t i = 0; i < n->cols; i++)
        n->row[i] = a[i] + (b[i] - a[i]) * t;
}

/* Value at column (i, k): lattice cell i, offset k within it. */
static float noise_at(const struct noise *n, int32_t i, int32_t k)
{
    return n->row[i] + (n->row[i + 1] - n->row[i]) * n->weight[k];
}

/* Walks i, k along a row without a division per pixel. */
static void noise_step(const struct noise *n, int32_t *i, int32_t *k)
{
    if (++*k == n->cell) {
        *k = 0;
        ++*i;
    }
}

/* Terrain colours by height: water, sand, grass, forest, rock, snow. */
static void terrain_palette(uint8_t pal[256][3])
{
    static const struct { int pos; uint32_t rgb; } keys[] = {
        { 0, 0x143064 }, { 90, 0x3a78b8 }, { 105, 0xd8c89a }, { 120, 0x6a9a3a },
        { 170, 0x2f5a23 }, { 215, 0x7a6a5a }, { 255, 0xf0f0f0 },
    };
    for (size_t k = 0; k + 1 < sizeof keys / sizeof keys[0]; k++)
        for (int i = keys[k].pos; i <= keys[k + 1].pos; i++) {
            uint32_t c = mix_rgb(keys[k].rgb, keys[k + 1].rgb, i - keys[k].pos,
                                 keys[k + 1].pos - keys[k].pos);
            pal[i][0] = (uint8_t)c;
            pal[i][1] = (uint8_t)(c >> 8);
            pal[i][2] = (uint8_t)(c >> 16);
        }
}

static uint8_t clamp_u8(float v)
{
    v = max_f(v, 0.0f);
    return (uint8_t)(v < 255.0f ? v : 255.0f);
}

enum { OCT_HEIGHT, OCT_HILLS, OCT_SHADE, OCT_TEXTURE, OCTAVES };

/* Fills one scene row: palette by large-scale height, shaded by finer
 * octaves, plus per-pixel grain, like aerial footage. */
static void scene_row(struct surface *sc, struct noise *oct, const uint8_t pal[256][3],
                      struct rng *r, int32_t y)
{
    int32_t i[OCTAVES] = { 0 }, k[OCTAVES] = { 0 };
    for (int o = 0; o < OCTAVES; o++)
        noise_row(&oct[o], y);
    uint8_t *p = (uint8_t *)surface_row(sc, y);
    for (int32_t x = 0; x < sc->w; x++, p += 4) {
        float height = 0.5f + 0.38f * noise_at(&oct[OCT_HEIGHT], i[OCT_HEIGHT], k[OCT_HEIGHT]) +
                       0.17f * noise_at(&oct[OCT_HILLS], i[OCT_HILLS], k[OCT_HILLS]);
        float shade = 1.0f + 0.16f * noise_at(&oct[OCT_SHADE], i[OCT_SHADE], k[OCT_SHADE]) +
                      0.12f * noise_at(&oct[OCT_TEXTURE], i[OCT_TEXTURE], k[OCT_TEXTURE]);
        const uint8_t *c = pal[clamp_u8(height * 255.0f)];
        float grain = (float)(rng_next(r) & 15) - 7.5f;
        for (int ch = 0; ch < 3; ch++)
            p[ch] = clamp_u8((float)c[ch] * shade + grain);
        p[3] = 255;
        for (int o = 0; o < OCTAVES; o++)
            noise_step(&oct[o], &i[o], &k[o]);
    }
}

/* A soft white blob blended over the scene: a cloud. */
static void scene_cloud(struct surface *sc, struct rng *r, int32_t max_radius)
{
    int32_t rad = 8 + (int32_t)rng_below(r, (uint32_t)max_radius);
    int32_t cx = (int32_t)rng_below(r, (uint32_t)sc->w), cy = (int32_t)rng_below(r, (uint32_t)sc->h);
    float opacity = 0.4f + 0.5f * rng_unit(r);
    struct hfx_rect box = rect_clip((struct hfx_rect){ cx - rad, cy - rad, 2 * rad, 2 * rad }, sc);
    float inv_r2 = 1.0f / (float)(rad * rad);
    for (int32_t y = box.y; y < box.y + box.h; y++) {
        float dy2 = (float)((y - cy) * (y - cy));
        int32_t half = (int32_t)sqrtf(max_f((float)(rad * rad) - dy2, 0.0f));
        int32_t x0 = max_i32(cx - half, box.x), x1 = min_i32(cx + half, box.x + box.w);
        uint8_t *p = (uint8_t *)surface_row(sc, y) + (size_t)x0 * 4;
        for (int32_t x = x0; x < x1; x++, p += 4) {
            float dx = (float)(x - cx);
            float d = max_f(1.0f - (dx * dx + dy2) * inv_r2, 0.0f);
            float a = opacity * d * d;
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (uint8_t)((float)p[ch] + (248.0f - (float)p[ch]) * a);
        }
    }
}

static bool draw_scene(struct surface *sc, int32_t frame_side)
{
    struct rng r = { SEED_SCENE };
    const int32_t cells[OCTAVES] = { max_i32(frame_side / 2, 16), max_i32(frame_side / 8, 8), 48, 6 };
    struct noise oct[OCTAVES] = { 0 };
    bool ok = true;
    for (int o = 0; o < OCTAVES && ok; o++)
        ok = noise_init(&oct[o], &r, cells[o], sc->w, sc->h);
    if (ok) {
        uint8_t pal[256][3];
        terrain_palette(pal);
        for (int32_t y = 0; y < sc->h; y++)
            scene_row(sc, oct, pal, &r, y);
        int32_t clouds = (int32_t)((int64_t)sc->w * sc->h / (640 * 640)) + 4;
        for (int32_t c = 0; c < clouds; c++)
            scene_cloud(sc, &r, max_i32(frame_side / 10, 8));
    }
    for (int o = 0; o < OCTAVES; o++)
        free(oct[o].lattice);
    return ok;
}

/* Shaded spheres that move across the scene on their own paths, so the
 * motion in a frame is not one global vector. */
static bool balls_init(struct hfx_synth *s)
{
    static const uint32_t colours[BALLS] = { 0xd03030, 0xe0c020, 0x3050d0, 0xe8e8e8 };
    int32_t d = max_i32(min_i32(s->video_w, s->fb.h) / 6, 8);
    float rad = (float)d / 2.0f;
    s->disc_half = malloc((size_t)d * sizeof *s->disc_half);
    if (s->disc_half == NULL || !surface_init(&s->sprites, d * BALLS, d))
        return false;
    for (int32_t y = 0; y < d; y++) {
        float dy = ((float)y + 0.5f - rad) / rad;
        s->disc_half[y] = (int32_t)(rad * sqrtf(max_f(0.0f, 1.0f - dy * dy)));
        uint8_t *p = (uint8_t *)surface_row(&s->sprites, y);
        for (int32_t x = 0; x < d * BALLS; x++, p += 4) {
            float dx = ((float)(x % d) + 0.5f - rad) / rad;
            float dz = sqrtf(max_f(0.0f, 1.0f - dx * dx - dy * dy));
            float lit = max_f(0.0f, -0.45f * dx - 0.55f * dy + 0.70f * dz);
            float light = 0.2f + 0.8f * lit, glint = 255.0f * powf(lit, 24.0f);
            uint32_t c = colours[x / d];
            for (int ch = 0; ch < 3; ch++)
                p[ch] = clamp_u8((float)(c >> (8 * ch) & 0xff) * light + glint);
            p[3] = 255;
        }
    }
    return true;
}

static void draw_balls(struct hfx_synth *s, double t)
{
    int32_t d = s->sprites.h, rad = d / 2;
    for (int b = 0; b < BALLS; b++) {
        double u = 0.5 + 0.5 * sin(t * (0.011 + 0.004 * b) + 1.3 * b);
        double v = 0.5 + 0.5 * sin(t * (0.017 - 0.003 * b) + 0.7 * b + 2.0);
        int32_t x0 = (int32_t)(u * (s->video_w - d)), y0 = (int32_t)(v * (s->fb.h - d));
        for (int32_t y = 0; y < d; y++) {
            int32_t left = rad - s->disc_half[y], len = 2 * s->disc_half[y];
            memcpy(surface_row(&s->fb, y0 + y) + x0 + left,
                   surface_row(&s->sprites, y) + b * d + left, (size_t)len * 4);
        }
    }
}

/* Position in [0, 1] along a pan: two incommensurate swings, so the camera
 * speeds up, slows down and turns without ever repeating exactly. */
static double pan(double t, double a, double b, double phase)
{
    return 0.5 - 0.35 * cos(t * a + phase) - 0.15 * cos(t * b + 2.0 * phase + 1.0);
}

/* Each row is one memcpy from the scene. A ripple that travels down the
 * frame shifts rows against each other by a pixel or two, like heat haze or
 * a hand-held camera, so no single motion vector explains a block. */
static void video_render(struct hfx_synth *s)
{
    const struct surface *sc = &s->tex;
    double t = s->frame;
    int32_t left = RIPPLE_X + (int32_t)(pan(t, 0.011, 0.029, 0.0) * (sc->w - s->video_w - 2 * RIPPLE_X));
    int32_t top = RIPPLE_Y + (int32_t)(pan(t, 0.013, 0.023, 0.5) * (sc->h - s->fb.h - 2 * RIPPLE_Y));
    for (int32_t y = 0; y < s->fb.h; y++) {
        double phase = y * (TAU / RIPPLE_LEN) + t * 0.2;
        int32_t sx = left + (int32_t)lround(RIPPLE_X * sin(phase));
        int32_t sy = top + y + (int32_t)lround(RIPPLE_Y * cos(0.7 * phase));
        memcpy(surface_row(&s->fb, y), surface_row(sc, sy) + sx, (size_t)s->video_w * 4);
    }
    draw_balls(s, t);
}

static void scroll_render(struct hfx_synth *s)
{
    struct hfx_rect a = s->pane;
    uint64_t step = s->wl == HFX_WL_PANE ? PANE_STEP : SCROLL_STEP;
    int32_t sy = (int32_t)((uint64_t)s->frame * step % (uint64_t)s->tex.h);
    if (s->wl == HFX_WL_SCROLL_BACK && sy)
        sy = s->tex.h - sy;
    for (int32_t y = 0; y < a.h; y++, sy = sy + 1 == s->tex.h ? 0 : sy + 1)
        memcpy(surface_row(&s->fb, a.y + y) + a.x, surface_row(&s->tex, sy), (size_t)a.w * 4);
}

/* ---- drag ---- */

/* p bounced between 0 and range. */
static int32_t bounce(uint64_t p, int32_t range)
{
    int32_t v = (int32_t)(p % (uint64_t)(2 * range));
    return v < range ? v : 2 * range - v;
}

/* Where the dragged window is in a frame. */
static struct hfx_rect drag_rect(const struct hfx_synth *s, uint32_t frame)
{
    int32_t w = s->sprites.w, h = s->sprites.h;
    return (struct hfx_rect){ bounce((uint64_t)frame * 11 + frame / 2, s->fb.w - w),
                              bounce((uint64_t)frame * 7 + frame / 3, s->fb.h - h), w, h };
}

/* Copies rect r of src to (x, y) of dst. */
static void blit(struct surface *dst, int32_t x, int32_t y, const struct surface *src,
                 struct hfx_rect r)
{
    for (int32_t i = 0; i < r.h; i++)
        memcpy(surface_row(dst, y + i) + x, surface_row(src, r.y + i) + r.x, (size_t)r.w * 4);
}

static bool drag_init(struct hfx_synth *s)
{
    static const struct window_style style = { 0x3a6ea5, 0x2b5283, 0xf6f6f2, 0x202020 };
    int32_t w = min_i32(DRAG_W, s->fb.w / 2), h = min_i32(DRAG_H, s->fb.h / 2);
    if (!surface_init(&s->tex, s->fb.w, s->fb.h) || !surface_init(&s->sprites, w, h))
        return false;
    struct rng r = { SEED_DESKTOP };
    draw_desktop(&s->tex, &s->font, &r);
    struct rng wr = { SEED_DRAG };
    struct hfx_rect client = draw_window(&s->sprites, &s->font, &wr, (struct hfx_rect){ 0, 0, w, h },
                                         &style);
    struct hfx_rect col = rect_inset(client, 8);
    for (int32_t y = col.y; y + CELL_H <= col.y + col.h;)
        y = draw_paragraph(&s->sprites, &s->font, &wr, col, y, style.text);
    blit(&s->fb, 0, 0, &s->tex, (struct hfx_rect){ 0, 0, s->fb.w, s->fb.h });
    s->win = drag_rect(s, 0);
    blit(&s->fb, s->win.x, s->win.y, &s->sprites, (struct hfx_rect){ 0, 0, w, h });
    return true;
}

/* The desktop back where the window was, the window where it is now. */
static int drag_step(struct hfx_synth *s, struct hfx_rect *damage)
{
    s->frame++;
    struct hfx_rect old = s->win;
    blit(&s->fb, old.x, old.y, &s->tex, old);
    s->win = drag_rect(s, s->frame);
    blit(&s->fb, s->win.x, s->win.y, &s->sprites, (struct hfx_rect){ 0, 0, s->win.w, s->win.h });
    damage[0] = old;
    damage[1] = s->win;
    return 2;
}

/* A small monitor-style window: a readout line of text over a bar chart
 * that moves one bar to the left every frame. The whole window is
 * repainted, as a toolkit repaints its window; the title bar comes out the
 * same every time, the text and the chart are new. Everything depends on
 * the frame number alone. */
static const struct window_style monitor_style = { 0x2d6a8a, 0x1f4c66, 0x10161c, 0x8fd0ff };

/* Bar n of the chart's endless series: a slow swing plus noise. */
static int32_t bar_height(uint32_t n, int32_t max)
{
    struct rng r = { SEED_WINDOW + (uint64_t)n * 0x100 };
    double swing = 0.5 + 0.3 * sin(n * 0.13) + 0.1 * sin(n * 0.41);
    int32_t h = (int32_t)(swing * max) + (int32_t)rng_below(&r, (uint32_t)max / 4 + 1) - max / 8;
    return max_i32(min_i32(h, max), 1);
}

static void window_render(struct hfx_synth *s)
{
    struct rng title = { SEED_WINDOW };
    struct hfx_rect client = draw_window(&s->fb, &s->font, &title, s->win, &monitor_style);
    struct rng text = { SEED_WINDOW ^ (uint64_t)s->frame << 8 };
    draw_words(&s->fb, &s->font, &text, client.x + 4, client.x + client.w - 4, client.y + 2,
               monitor_style.text, false);
    struct hfx_rect chart = { client.x + 4, client.y + CELL_H + 6, client.w - 8,
                              client.h - CELL_H - 10 };
    if (chart.w <= 0 || chart.h <= 0)
        return;
    for (int32_t y = chart.y + chart.h - 1; y >= chart.y; y -= 16)
        fill_rect(&s->fb, (struct hfx_rect){ chart.x, y, chart.w, 1 }, 0x283440);
    for (int32_t i = 0; i * BAR_PITCH < chart.w; i++) {
        int32_t h = bar_height(s->frame + (uint32_t)i, chart.h);
        int32_t w = min_i32(BAR_PITCH - 1, chart.w - i * BAR_PITCH);
        fill_gradient(&s->fb, (struct hfx_rect){ chart.x + i * BAR_PITCH, chart.y + chart.h - h, w, h },
                      0x9fe870, 0x3a7a2a);
    }
}

/* half: the left half of the screen is a moving picture drawn as video
 * draws the whole screen (a player or a game beside a still desktop), so
 * every one of its macroblocks changes every frame; the right half keeps
 * the desktop drawn at creation. */
static struct hfx_rect half_rect(const struct hfx_synth *s)
{
    return (struct hfx_rect){ 0, 0, s->fb.w / 2, s->fb.h };
}

/* ---- frames and damage ---- */

static const struct hfx_rect stamp_rect = { 0, 0, HFX_STAMP_W, HFX_STAMP_H };

/* Rewrites the frame number; false when the frame is too small to hold it. */
static bool stamp(struct hfx_synth *s)
{
    if (s->fb.w < HFX_STAMP_W || s->fb.h < HFX_STAMP_H)
        return false;
    hfx_stamp_write_xrgb(s->fb.data, s->fb.stride, s->frame);
    return true;
}

static int typing_step(struct hfx_synth *s, struct hfx_rect *damage)
{
    struct terminal *t = &s->term;
    bool clear = t->cursor == (uint32_t)(t->cols * t->rows);
    if (clear) {
        fill_rect(&s->fb, t->area, t->bg);
        t->cursor = 0;
    }
    struct hfx_rect cell = { t->area.x + (int32_t)(t->cursor % (uint32_t)t->cols) * CELL_W,
                             t->area.y + (int32_t)(t->cursor / (uint32_t)t->cols) * CELL_H,
                             CELL_W, CELL_H };
    s->frame++;
    struct rng r = { SEED_TYPING ^ (uint64_t)s->frame << 8 };
    draw_glyph(&s->fb, cell.x, cell.y, s->font.rows[rng_below(&r, FONT_SIZE)], t->fg);
    t->cursor++;
    int n = 0;
    damage[n++] = clear ? t->area : cell;
    if (stamp(s))
        damage[n++] = stamp_rect;
    return n;
}

static bool rect_contains(struct hfx_rect outer, struct hfx_rect inner)
{
    return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
           inner.y + inner.h <= outer.y + outer.h;
}

/* A part of the screen repainted: that part, and the strip unless it lies
 * inside. */
static int part_step(struct hfx_synth *s, struct hfx_rect *damage)
{
    s->frame++;
    if (s->wl == HFX_WL_WINDOW) {
        window_render(s);
        damage[0] = s->win;
    } else {
        video_render(s);
        damage[0] = half_rect(s);
    }
    int n = 1;
    if (stamp(s) && !rect_contains(damage[0], stamp_rect))
        damage[n++] = stamp_rect;
    return n;
}

/* pane: the page moves up inside the editor's pane. */
static int pane_step(struct hfx_synth *s, struct hfx_rect *damage)
{
    s->frame++;
    scroll_render(s);
    damage[0] = s->pane;
    int n = 1;
    if (stamp(s))
        damage[n++] = stamp_rect;
    return n;
}

/* Produces the next frame; returns its damage count. */
static int step(struct hfx_synth *s, struct hfx_rect *damage)
{
    switch (s->wl) {
    case HFX_WL_TYPING:
        return typing_step(s, damage);
    case HFX_WL_WINDOW:
    case HFX_WL_HALF:
        return part_step(s, damage);
    case HFX_WL_PANE:
        return pane_step(s, damage);
    case HFX_WL_DRAG: {
        int n = drag_step(s, damage);
        if (stamp(s))
            damage[n++] = stamp_rect;
        return n;
    }
    case HFX_WL_SCROLL:
    case HFX_WL_SCROLL_BACK:
        s->frame++;
        scroll_render(s);
        break;
    case HFX_WL_VIDEO:
        s->frame++;
        video_render(s);
        break;
    default:
        return 0;
    }
    stamp(s);
    damage[0] = (struct hfx_rect){ 0, 0, s->fb.w, s->fb.h };
    return 1;
}

/* ---- input ---- */

#define UNDER_SIDE (2 * HFX_INPUT_POINTER_R + 1)

/* The workload's pixels under the crosshair go back before the workload
 * draws again or the pointer moves, so its frames stay what it drew. */
static void under_restore(struct hfx_synth *s)
{
    struct hfx_rect r = s->under_rect;
    for (int32_t y = 0; y < r.h; y++)
        memcpy(surface_row(&s->fb, r.y + y) + r.x, s->under + y * UNDER_SIDE,
               (size_t)r.w * 4);
    s->under_rect.w = 0;
}

/* The panel and the crosshair over the frame; their rectangles (the
 * crosshair's may be empty) into damage. */
static void input_draw(struct hfx_synth *s, struct hfx_rect *panel, struct hfx_rect *pointer)
{
    uint32_t w = (uint32_t)s->fb.w, h = (uint32_t)s->fb.h;
    struct hfx_rect r = hfx_input_pointer_rect(&s->input, w, h);
    for (int32_t y = 0; y < r.h; y++)
        memcpy(s->under + y * UNDER_SIDE, surface_row(&s->fb, r.y + y) + r.x, (size_t)r.w * 4);
    s->under_rect = r;
    hfx_input_panel_write_xrgb(s->fb.data, s->fb.stride, w, h, &s->input);
    hfx_input_pointer_write_xrgb(s->fb.data, s->fb.stride, w, h, &s->input);
    *panel = hfx_input_panel_rect(w, h);
    *pointer = r;
}

/* Drops the empty rectangles; returns how many are left. */
static int compact(struct hfx_rect *damage, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (damage[i].w > 0 && damage[i].h > 0)
            damage[k++] = damage[i];
    return k;
}

/* A caller with room for fewer rects gets their bounding box. */
static int report(const struct hfx_rect *damage, int n, struct hfx_rect *out, int max)
{
    if (n <= max) {
        memcpy(out, damage, (size_t)n * sizeof *damage);
        return n;
    }
    int32_t x0 = damage[0].x, y0 = damage[0].y;
    int32_t x1 = x0 + damage[0].w, y1 = y0 + damage[0].h;
    for (int i = 1; i < n; i++) {
        x0 = min_i32(x0, damage[i].x);
        y0 = min_i32(y0, damage[i].y);
        x1 = max_i32(x1, damage[i].x + damage[i].w);
        y1 = max_i32(y1, damage[i].y + damage[i].h);
    }
    out[0] = (struct hfx_rect){ x0, y0, x1 - x0, y1 - y0 };
    return 1;
}

int hfx_synth_next(struct hfx_synth *s, struct hfx_rect *rects, int max)
{
    if (s == NULL || rects == NULL || max < 1)
        return -1;
    struct hfx_rect damage[MAX_DAMAGE + 3];
    int n = 1;
    struct hfx_rect under = s->under_rect;
    under_restore(s);
    if (s->started) {
        n = step(s, damage);
    } else {
        s->started = true;
        damage[0] = (struct hfx_rect){ 0, 0, s->fb.w, s->fb.h };
    }
    if (s->input_on) {
        /* Drawn over what the workload drew, as the test guest does (over a
         * frame with nothing new it puts back what was there). */
        struct hfx_rect panel, pointer;
        input_draw(s, &panel, &pointer);
        if (n > 0) {
            damage[n++] = under;
            damage[n++] = panel;
            damage[n++] = pointer;
        }
    }
    return report(damage, compact(damage, n), rects, max);
}

int hfx_synth_input(struct hfx_synth *s, const struct hfx_input_stamp *st,
                    struct hfx_rect damage[3])
{
    int n = 0;
    if (s->under_rect.w)
        damage[n++] = s->under_rect;
    under_restore(s);
    s->input = *st;
    s->input.x = min_i32(s->input.x, s->fb.w - 1);
    s->input.y = min_i32(s->input.y, s->fb.h - 1);
    s->input_on = true;
    input_draw(s, &damage[n], &damage[n + 1]);
    return compact(damage, n + 2);
}

/* ---- creation ---- */

/* Builds the workload's textures and draws frame 0 into the frame buffer. */
static bool prepare(struct hfx_synth *s)
{
    switch (s->wl) {
    case HFX_WL_IDLE:
    case HFX_WL_TYPING: {
        struct rng r = { SEED_DESKTOP };
        draw_desktop(&s->fb, &s->font, &r);
        if (s->wl == HFX_WL_TYPING)
            terminal_init(&s->term, &s->fb, &s->font, &r);
        break;
    }
    case HFX_WL_SCROLL:
    case HFX_WL_SCROLL_BACK:
        s->pane = (struct hfx_rect){ 0, 0, s->fb.w, s->fb.h };
        if (!surface_init(&s->tex, s->fb.w, 2 * s->fb.h))
            return false;
        draw_page(&s->tex, &s->font);
        scroll_render(s);
        break;
    case HFX_WL_PANE: {
        static const struct window_style style = { 0x505860, 0x383e44, 0xfbf7ee, 0x2a2418 };
        struct rng r = { SEED_DESKTOP };
        draw_desktop(&s->fb, &s->font, &r);
        struct hfx_rect w = place(&s->fb, pane_spot, 2 * TITLE_H, 2 * TITLE_H + 2);
        s->pane = draw_window(&s->fb, &s->font, &r, w, &style);
        if (!surface_init(&s->tex, s->pane.w, 2 * s->pane.h))
            return false;
        draw_page(&s->tex, &s->font);
        scroll_render(s);
        break;
    }
    case HFX_WL_DRAG:
        if (!drag_init(s))
            return false;
        break;
    case HFX_WL_VIDEO:
        s->video_w = s->fb.w;
        if (!surface_init(&s->tex, 2 * s->fb.w, 2 * s->fb.h) ||
            !draw_scene(&s->tex, max_i32(s->fb.w, s->fb.h)) || !balls_init(s))
            return false;
        video_render(s);
        break;
    case HFX_WL_WINDOW: {
        struct rng r = { SEED_DESKTOP };
        draw_desktop(&s->fb, &s->font, &r);
        int32_t w = min_i32(WIN_W, s->fb.w), h = min_i32(WIN_H, s->fb.h);
        s->win = (struct hfx_rect){ (s->fb.w - w) / 2, (s->fb.h - h) / 2, w, h };
        window_render(s);
        break;
    }
    case HFX_WL_HALF: {
        struct rng r = { SEED_DESKTOP };
        draw_desktop(&s->fb, &s->font, &r);
        s->video_w = half_rect(s).w;
        if (!surface_init(&s->tex, 2 * s->video_w, 2 * s->fb.h) ||
            !draw_scene(&s->tex, max_i32(s->video_w, s->fb.h)) || !balls_init(s))
            return false;
        video_render(s);
        break;
    }
    }
    stamp(s);
    return true;
}

struct hfx_synth *hfx_synth_new(enum hfx_workload wl, uint32_t width, uint32_t height)
{
    if ((unsigned)wl >= HFX_WORKLOADS || width < MIN_SIDE || width > MAX_SIDE ||
        height < MIN_SIDE || height > MAX_SIDE)
        return NULL;
    struct hfx_synth *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->wl = wl;
    font_init(&s->font);
    if (!surface_init(&s->fb, (int32_t)width, (int32_t)height) || !prepare(s)) {
        hfx_synth_free(s);
        return NULL;
    }
    return s;
}

void hfx_synth_free(struct hfx_synth *s)
{
    if (s == NULL)
        return;
    free(s->fb.data);
    free(s->tex.data);
    free(s->sprites.data);
    free(s->disc_half);
    free(s);
}

uint32_t hfx_synth_frame(const struct hfx_synth *s)
{
    return s->frame;
}

int hfx_flip_buffers_init(struct hfx_flip_buffers *f, size_t bytes)
{
    f->bytes = bytes;
    f->buf[0] = malloc(bytes);
    f->buf[1] = malloc(bytes);
    if (f->buf[0] && f->buf[1])
        return 0;
    hfx_flip_buffers_fini(f);
    return -1;
}

void hfx_flip_buffers_fini(struct hfx_flip_buffers *f)
{
    free(f->buf[0]);
    free(f->buf[1]);
    memset(f, 0, sizeof *f);
}

const uint8_t *hfx_flip_buffers_draw(struct hfx_flip_buffers *f, const uint8_t *pixels,
                                     uint32_t frame)
{
    uint8_t *back = f->buf[frame % 2];
    memcpy(back, pixels, f->bytes);
    return back;
}

const uint8_t *hfx_synth_pixels(const struct hfx_synth *s)
{
    return s->fb.data;
}

uint32_t hfx_synth_stride(const struct hfx_synth *s)
{
    return s->fb.stride;
}

static const char *const workload_names[] = {
    [HFX_WL_IDLE] = "idle",
    [HFX_WL_TYPING] = "typing",
    [HFX_WL_SCROLL] = "scroll",
    [HFX_WL_VIDEO] = "video",
    [HFX_WL_WINDOW] = "window",
    [HFX_WL_HALF] = "half",
    [HFX_WL_PANE] = "pane",
    [HFX_WL_DRAG] = "drag",
    [HFX_WL_SCROLL_BACK] = "scroll-back",
};

int hfx_workload_parse(const char *name)
{
    for (int i = 0; name != NULL && i < HFX_WORKLOADS; i++)
        if (strcmp(name, workload_names[i]) == 0)
            return i;
    return -1;
}

const char *hfx_workload_name(enum hfx_workload wl)
{
    return (unsigned)wl < HFX_WORKLOADS ? workload_names[wl] : "unknown";
}
