/* Row fingerprints (src/engine/rows.c), the engine's move search: a
 * scrolled region is found with its shift, up and down, by an even and by
 * an odd number of rows, in a box that does not follow the stripes; what
 * it reports moved is, pixel for pixel, the old picture moved, including
 * on content whose rows repeat (which only looks like a scroll) and after
 * rows were forgotten; a resized surface starts over. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/rows.h"
#include "splitmix.h"

#define W 520   /* eight whole stripes and an 8-pixel one */
#define H 300

struct surface {
    uint32_t *px;
    uint32_t w, h;
};

static uint32_t *at(struct surface *s, uint32_t x, uint32_t y)
{
    return &s->px[(size_t)y * s->w + x];
}

/* Rows that differ from each other, as text does. */
static void fill_random(struct surface *s, uint64_t *seed, uint32_t y1, uint32_t y2)
{
    for (uint32_t y = y1; y < y2; y++)
        for (uint32_t x = 0; x < s->w; x++)
            *at(s, x, y) = (uint32_t)splitmix64(seed);
}

/* The box's pixels of s moved up by dy (from rows dy below; down when
 * negative) within it; rows coming into view get new content. */
static void scroll_box(struct surface *s, const pixman_box32_t *b, int32_t dy, uint64_t *seed)
{
    uint32_t w = (uint32_t)(b->x2 - b->x1);
    uint32_t *tmp = malloc((size_t)w * (size_t)(b->y2 - b->y1) * 4);
    for (int32_t y = b->y1; y < b->y2; y++)
        memcpy(tmp + (size_t)(y - b->y1) * w, at(s, (uint32_t)b->x1, (uint32_t)y), (size_t)w * 4);
    for (int32_t y = b->y1; y < b->y2; y++) {
        int32_t from = y + dy;
        uint32_t *row = at(s, (uint32_t)b->x1, (uint32_t)y);
        if (from >= b->y1 && from < b->y2)
            memcpy(row, tmp + (size_t)(from - b->y1) * w, (size_t)w * 4);
        else
            for (uint32_t x = 0; x < w; x++)
                row[x] = (uint32_t)splitmix64(seed);
    }
    free(tmp);
}

/* Checks that every pixel of mv->moved is old's pixel dy below, that the
 * moved parts lie in the box and (even dy) cover whole pairs of rows;
 * returns how many pixels moved. */
static uint64_t check_moved(struct surface *now, struct surface *old, const pixman_box32_t *box,
                            const struct hfx_row_move *mv)
{
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)&mv->moved, &n);
    uint64_t pixels = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        CHECK(b[i].x1 >= box->x1 && b[i].x2 <= box->x2 && b[i].y1 >= box->y1 &&
                  b[i].y2 <= box->y2,
              "moved part %d,%d-%d,%d outside the box", b[i].x1, b[i].y1, b[i].x2, b[i].y2);
        if (!(mv->dy & 1))
            CHECK(!(b[i].y1 & 1) && !(b[i].y2 & 1), "moved rows %d-%d split a chroma row",
                  b[i].y1, b[i].y2);
        for (int32_t y = b[i].y1; y < b[i].y2; y++)
            for (int32_t x = b[i].x1; x < b[i].x2; x++) {
                pixels++;
                wrong += *at(now, (uint32_t)x, (uint32_t)y) !=
                         *at(old, (uint32_t)x, (uint32_t)(y + mv->dy));
            }
    }
    CHECK(wrong == 0, "%llu of %llu pixels reported moved are not the old ones moved by %d",
          (unsigned long long)wrong, (unsigned long long)pixels, mv->dy);
    return pixels;
}

/* One update of the box: fingerprints and searches it; old is the surface
 * before. Returns the move, checked. */
static struct hfx_row_move update(struct hfx_rows *r, struct surface *now, struct surface *old,
                                  const pixman_box32_t *box, uint64_t *moved)
{
    struct hfx_row_move mv;
    pixman_region32_init(&mv.moved);
    hfx_rows_find_move(r, (const uint8_t *)now->px, (int32_t)now->w * 4, box, &mv);
    *moved = check_moved(now, old, box, &mv);
    memcpy(old->px, now->px, (size_t)now->w * now->h * 4);
    return mv;
}

/* old a copy of now, and r sized for it with now's rows recorded by a
 * first update, which finds nothing against unknown rows. */
static void start(struct hfx_rows *r, struct surface *now, struct surface *old)
{
    memcpy(old->px, now->px, (size_t)now->w * now->h * 4);
    CHECK(hfx_rows_init(r, now->w, now->h) == 0, "out of memory");
    pixman_box32_t all = {0, 0, (int32_t)now->w, (int32_t)now->h};
    uint64_t moved;
    struct hfx_row_move mv = update(r, now, old, &all, &moved);
    CHECK(mv.dy == 0 && moved == 0, "a move found against unknown rows (dy %d)", mv.dy);
    pixman_region32_fini(&mv.moved);
}

static void scrolls(void)
{
    uint64_t seed = 11;
    struct surface now = {malloc((size_t)W * H * 4), W, H};
    struct surface old = {malloc((size_t)W * H * 4), W, H};
    fill_random(&now, &seed, 0, H);
    struct hfx_rows r = {0};
    start(&r, &now, &old);
    pixman_box32_t all = {0, 0, W, H};
    uint64_t moved;
    struct hfx_row_move mv;

    /* The whole surface and a region whose edges are not the stripes'
     * (the stripes it cuts also hold pixels outside it, which differ from
     * row to row, so those stripes are converted), by even and odd
     * shifts, both ways. */
    const pixman_box32_t boxes[] = {{0, 0, W, H}, {70, 40, 450, 260}, {128, 20, 384, 280}};
    const int32_t shifts[] = {4, 4, 7, -6, -3, 20};
    for (size_t b = 0; b < sizeof boxes / sizeof *boxes; b++)
        for (size_t k = 0; k < sizeof shifts / sizeof *shifts; k++) {
            const pixman_box32_t *box = &boxes[b];
            scroll_box(&now, box, shifts[k], &seed);
            mv = update(&r, &now, &old, box, &moved);
            uint64_t stripes_inside = (uint64_t)(box->x2 / 64 - (box->x1 + 63) / 64) * 64;
            uint64_t rows = (uint64_t)(box->y2 - box->y1 - abs(shifts[k]) - 1);
            CHECK(mv.dy == shifts[k], "box %zu scrolled by %d: found %d", b, shifts[k], mv.dy);
            CHECK(moved >= stripes_inside * rows,
                  "box %zu scrolled by %d: %llu pixels found moved, at least %llu expected", b,
                  shifts[k], (unsigned long long)moved,
                  (unsigned long long)(stripes_inside * rows));
            pixman_region32_fini(&mv.moved);
        }

    /* New content all over: nothing moved. */
    fill_random(&now, &seed, 0, H);
    mv = update(&r, &now, &old, &all, &moved);
    CHECK(mv.dy == 0 || moved == 0, "new content found moved by %d (%llu pixels)", mv.dy,
          (unsigned long long)moved);
    pixman_region32_fini(&mv.moved);

    /* Forgotten rows (converted without fingerprints) match nothing. */
    pixman_box32_t top = {0, 0, W, H / 2};
    hfx_rows_forget(&r, &top);
    scroll_box(&now, &all, 8, &seed);
    mv = update(&r, &now, &old, &all, &moved);
    CHECK(mv.dy == 8, "scroll after forgetting: found %d", mv.dy);
    int n;
    const pixman_box32_t *mb = pixman_region32_rectangles(&mv.moved, &n);
    for (int i = 0; i < n; i++)
        CHECK(mb[i].y1 + 8 >= H / 2, "rows %d-%d moved from forgotten rows", mb[i].y1, mb[i].y2);
    pixman_region32_fini(&mv.moved);

    /* Resized: every row unknown again, then found as before. */
    struct surface small = {malloc((size_t)W / 2 * H * 4), W / 2, H};
    struct surface small_old = {malloc((size_t)W / 2 * H * 4), W / 2, H};
    fill_random(&small, &seed, 0, H);
    start(&r, &small, &small_old);
    pixman_box32_t half = {0, 0, W / 2, H};
    scroll_box(&small, &half, 10, &seed);
    mv = update(&r, &small, &small_old, &half, &moved);
    CHECK(mv.dy == 10 && moved >= (uint64_t)(W / 2 - 4) * (H - 12),
          "resized: scroll by 10 found as %d (%llu pixels)", mv.dy, (unsigned long long)moved);
    pixman_region32_fini(&mv.moved);

    hfx_rows_fini(&r);
    free(now.px);
    free(old.px);
    free(small.px);
    free(small_old.px);
}

/* Rows that repeat (a pattern of period 6, blank lines): many shifts fit
 * some rows, no row votes; whatever is reported moved must still be the
 * old pixels. Then the pattern changes phase, which looks like a scroll by
 * 2 but for the rows whose pattern changed too. */
static void repeating_rows(void)
{
    uint64_t seed = 5;
    struct surface now = {malloc((size_t)W * H * 4), W, H};
    struct surface old = {malloc((size_t)W * H * 4), W, H};
    uint32_t pattern[6][W];
    for (int p = 0; p < 6; p++)
        for (uint32_t x = 0; x < W; x++)
            pattern[p][x] = (uint32_t)splitmix64(&seed);
    for (uint32_t y = 0; y < H; y++)
        memcpy(at(&now, 0, y), pattern[y % 6], sizeof pattern[0]);
    struct hfx_rows r = {0};
    start(&r, &now, &old);
    pixman_box32_t all = {0, 0, W, H};
    uint64_t moved;
    struct hfx_row_move mv;
    for (int phase = 1; phase < 8; phase++) {
        for (uint32_t y = 0; y < H; y++)
            memcpy(at(&now, 0, y), pattern[(y + (uint32_t)phase * 2) % 6], sizeof pattern[0]);
        /* A few rows of something else. */
        fill_random(&now, &seed, (uint32_t)phase * 30, (uint32_t)phase * 30 + 3);
        mv = update(&r, &now, &old, &all, &moved);
        pixman_region32_fini(&mv.moved);
    }
    /* Every row the same. */
    for (uint32_t y = 0; y < H; y++)
        memcpy(at(&now, 0, y), pattern[0], sizeof pattern[0]);
    mv = update(&r, &now, &old, &all, &moved);
    pixman_region32_fini(&mv.moved);
    mv = update(&r, &now, &old, &all, &moved);
    pixman_region32_fini(&mv.moved);
    hfx_rows_fini(&r);
    free(now.px);
    free(old.px);
}

int main(void)
{
    scrolls();
    repeating_rows();
    return check_summary("test_rows");
}
