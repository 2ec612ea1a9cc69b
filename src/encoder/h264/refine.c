#include "encoder/h264/refine.h"

#include <stdlib.h>
#include <string.h>

#include <pixman.h>

/* The refinement QP: this much below the quality setting. x264 at the
 * same quality sharpens a still screen over its P frames (from its IDR's
 * 45.0 dB to 49.7 after a second, 1080p idle screen); one pass at this QP
 * gets the writer to 50.1 dB for 123 kB (6 below: 49.3 dB for 94 kB, but
 * 1.5 dB short of x264 at 1366x767; test_writer's still pictures). */
#define REFINE_QP_GAIN 8
/* A macroblock is still after this long unchanged: what changes every few
 * frames (a typing line, a spinner) is not refined only to be overwritten. */
#define STILL_SECONDS 0.1
/* A whole still picture is refined within this time, whatever its size:
 * the budget per picture is its macroblocks over this many pictures. With
 * the stillness delay and a slow IDR before it (a 5120x2880 one took 0.3 s
 * on a loaded machine), 0.75 s left a 5K screen short of sharp after 1 s;
 * a 5K refinement frame costs a few milliseconds at this budget. */
#define REFINE_SECONDS 0.5
/* What a refined macroblock is expected to cost before any was: about a
 * text macroblock's at the refinement QP. */
#define FIRST_MB_BITS 400

struct h264_refine {
    uint32_t mb_width, total;
    int target;             /* the refinement QP */
    uint32_t budget;        /* macroblocks coded per picture, damage included */
    uint32_t still_pictures;
    uint8_t *qp;            /* the QP each reconstruction was coded at */
    /* The picture each macroblock last changed in. Pictures are counted
     * modulo 2^32: one unchanged that long reads as recently changed,
     * which only delays its refinement. */
    uint32_t *changed;
    uint32_t picture;
    uint32_t fps;
    /* x264's last picture, and whether its macroblocks count as still. */
    uint32_t x264_picture;
    bool settled;
    uint32_t pending;       /* macroblocks with qp above target */
    /* The macroblocks that may need refining, each at most once, in the
     * order they were queued (when they changed, or again after looking
     * still changing): a ring of `total`, `queued_at` the picture each
     * was queued in. Finding the still ones looks at the oldest first and
     * stops at one queued too recently to be still, so it costs what it
     * picks, not a pass over the picture. */
    uint32_t *ring, head, count;
    uint32_t *queued_at;
    uint8_t *queued;
    int plan_qp;            /* the planned picture's QP for its damage */
    uint32_t *picks;        /* addresses added to refine, budget of them */
    pixman_box32_t *boxes;  /* scratch for the union, boxes_cap of them */
    uint32_t boxes_cap;
    struct hfx_mb_box *plan_boxes;
    uint32_t plan_cap;
    struct hfx_mb_damage plan;
    uint64_t bits, mbs;
};

struct h264_refine *h264_refine_new(uint32_t mb_width, uint32_t mb_height, uint32_t fps,
                                    int quality)
{
    struct h264_refine *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mb_width = mb_width;
    r->total = mb_width * mb_height;
    r->fps = fps ? fps : 60;
    r->target = quality > REFINE_QP_GAIN ? quality - REFINE_QP_GAIN : 0;
    double pictures = r->fps * REFINE_SECONDS;
    r->budget = (uint32_t)((r->total + pictures - 1) / pictures);
    if (r->budget == 0)
        r->budget = 1;
    /* At least one: a macroblock damaged in this picture is coded at its
     * QP, never also picked to refine. */
    r->still_pictures = (uint32_t)(r->fps * STILL_SECONDS + 0.5);
    if (r->still_pictures == 0)
        r->still_pictures = 1;
    r->qp = malloc(r->total);
    r->changed = calloc(r->total, sizeof *r->changed);
    r->picks = malloc(r->budget * sizeof *r->picks);
    r->ring = malloc(r->total * sizeof *r->ring);
    r->queued_at = malloc(r->total * sizeof *r->queued_at);
    r->queued = calloc(r->total, 1);
    if (!r->qp || !r->changed || !r->picks || !r->ring || !r->queued_at || !r->queued) {
        h264_refine_free(r);
        return NULL;
    }
    /* Nothing coded yet: nothing to refine until x264's first picture. */
    memset(r->qp, 0, r->total);
    r->plan.mb_width = mb_width;
    r->plan.mb_height = mb_height;
    return r;
}

void h264_refine_free(struct h264_refine *r)
{
    if (!r)
        return;
    free(r->qp);
    free(r->changed);
    free(r->picks);
    free(r->ring);
    free(r->queued_at);
    free(r->queued);
    free(r->boxes);
    free(r->plan_boxes);
    free(r);
}

static void set_qp(struct h264_refine *r, uint32_t addr, int qp)
{
    bool was = r->qp[addr] > r->target, now = qp > r->target;
    r->qp[addr] = (uint8_t)qp;
    r->pending = r->pending + now - was;
}

/* Queues macroblock a, unless it is queued already. */
static void enqueue(struct h264_refine *r, uint32_t a)
{
    if (r->queued[a])
        return;
    uint32_t at = r->head + r->count;
    r->ring[at >= r->total ? at - r->total : at] = a;
    r->count++;
    r->queued[a] = 1;
    r->queued_at[a] = r->picture;
}

/* The oldest queued macroblock, taken off the queue. */
static uint32_t dequeue(struct h264_refine *r)
{
    uint32_t a = r->ring[r->head];
    r->head = r->head + 1 == r->total ? 0 : r->head + 1;
    r->count--;
    r->queued[a] = 0;
    return a;
}

void h264_refine_x264_picture(struct h264_refine *r, int qp)
{
    qp = qp < 0 ? 0 : qp > 51 ? 51 : qp;
    r->picture++;
    memset(r->qp, qp, r->total);
    for (uint32_t i = 0; i < r->total; i++)
        r->changed[i] = r->picture;
    r->x264_picture = r->picture;
    r->settled = false;
    r->pending = qp > r->target ? r->total : 0;
    /* Every macroblock changed now: queued in raster order, or none. */
    memset(r->queued, 0, r->total);
    r->head = r->count = 0;
    for (uint32_t i = 0; r->pending && i < r->total; i++)
        enqueue(r, i);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Up to `want` still macroblocks above the target into r->picks, in
 * raster order, oldest first. A queued macroblock that has been refined
 * (or coded at a good QP) since leaves the queue; one that changed since
 * it was queued goes to its end; the first queued too recently to be
 * still ends the search, and so does the first one queued again in this
 * search. Returns how many. */
static uint32_t pick(struct h264_refine *r, uint32_t want)
{
    uint32_t n = 0;
    bool sorted = true;
    while (n < want && r->count) {
        uint32_t a = r->ring[r->head];
        bool still = r->picture - r->changed[a] >= r->still_pictures ||
                     (r->settled && r->changed[a] == r->x264_picture);
        if (r->qp[a] <= r->target) {
            dequeue(r);
        } else if (still) {
            dequeue(r);
            sorted &= !n || r->picks[n - 1] < a;
            r->picks[n++] = a;
        } else if (r->picture - r->queued_at[a] >= r->still_pictures) {
            enqueue(r, dequeue(r));
        } else {
            break;
        }
    }
    if (!sorted)
        qsort(r->picks, n, sizeof *r->picks, cmp_u32);
    return n;
}

static bool grow(void **p, uint32_t *cap, uint32_t n, size_t size)
{
    if (n <= *cap)
        return true;
    void *q = realloc(*p, (size_t)n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* The union of damage and the picks as banded boxes, in r->plan. */
static bool unite(struct h264_refine *r, const struct hfx_mb_damage *damage, uint32_t npicks)
{
    uint32_t n = damage->nboxes + npicks;
    if (!grow((void **)&r->boxes, &r->boxes_cap, n, sizeof *r->boxes))
        return false;
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        r->boxes[i] = (pixman_box32_t){(int32_t)b->x1, (int32_t)b->y1, (int32_t)b->x2,
                                       (int32_t)b->y2};
    }
    /* Runs of neighbouring picks in a row are one box. */
    uint32_t nb = damage->nboxes;
    for (uint32_t i = 0; i < npicks; i++) {
        int32_t x = (int32_t)(r->picks[i] % r->mb_width), y = (int32_t)(r->picks[i] / r->mb_width);
        pixman_box32_t *last = nb > damage->nboxes ? &r->boxes[nb - 1] : NULL;
        if (last && last->y1 == y && last->x2 == x)
            last->x2++;
        else
            r->boxes[nb++] = (pixman_box32_t){x, y, x + 1, y + 1};
    }
    pixman_region32_t region;
    if (!pixman_region32_init_rects(&region, r->boxes, (int)nb))
        return false;
    int count;
    const pixman_box32_t *rb = pixman_region32_rectangles(&region, &count);
    bool ok = grow((void **)&r->plan_boxes, &r->plan_cap, (uint32_t)count, sizeof *r->plan_boxes);
    if (ok) {
        r->plan.count = 0;
        for (int i = 0; i < count; i++) {
            r->plan_boxes[i] = (struct hfx_mb_box){(uint32_t)rb[i].x1, (uint32_t)rb[i].y1,
                                                   (uint32_t)rb[i].x2, (uint32_t)rb[i].y2};
            r->plan.count += (uint32_t)((rb[i].x2 - rb[i].x1) * (rb[i].y2 - rb[i].y1));
        }
        r->plan.boxes = r->plan_boxes;
        r->plan.nboxes = (uint32_t)count;
    }
    pixman_region32_fini(&region);
    return ok;
}

const struct hfx_mb_damage *h264_refine_plan(struct h264_refine *r,
                                             const struct hfx_mb_damage *damage, int qp,
                                             double room_bits)
{
    r->picture++;
    r->plan_qp = qp;
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        for (uint32_t y = b->y1; y < b->y2; y++)
            for (uint32_t x = b->x1; x < b->x2; x++) {
                uint32_t a = y * r->mb_width + x;
                r->changed[a] = r->picture;
                set_qp(r, a, qp);
                if (qp > r->target)
                    enqueue(r, a);
            }
    }
    /* Real changes come first: refinement takes what the budget leaves. */
    uint32_t want = damage->count < r->budget ? r->budget - damage->count : 0;
    /* Under a bitrate cap, no more than the room pays for: one frame of a
     * budget of text at the refinement QP can be a large part of a low
     * cap's bucket. */
    double per_mb = (double)(r->bits + FIRST_MB_BITS) / (double)(r->mbs + 1);
    if (room_bits / per_mb < want)
        want = (uint32_t)(room_bits / per_mb);
    if (!r->pending || !want)
        return damage;
    uint32_t n = pick(r, want);
    if (!n)
        return damage;
    /* Out of memory for the union: this picture codes the damage only,
     * and the picks wait in the queue again. */
    if (!unite(r, damage, n)) {
        for (uint32_t i = 0; i < n; i++)
            enqueue(r, r->picks[i]);
        return damage;
    }
    for (uint32_t i = 0; i < n; i++)
        set_qp(r, r->picks[i], r->target);
    r->mbs += n;
    return &r->plan;
}

int h264_refine_mb_qp(const struct h264_refine *r, uint32_t addr, bool *refining)
{
    *refining = r->changed[addr] != r->picture;
    return *refining ? r->target : r->plan_qp;
}

void h264_refine_spent(struct h264_refine *r, uint64_t bits)
{
    r->bits += bits;
}

void h264_refine_settled(struct h264_refine *r)
{
    r->settled = true;
}

uint32_t h264_refine_again_ms(const struct h264_refine *r, bool still_screen)
{
    if (!r->pending)
        return 0;
    uint32_t pictures = still_screen ? 1 : r->still_pictures;
    return (pictures * 1000 + r->fps - 1) / r->fps;
}

uint64_t h264_refine_bits(const struct h264_refine *r)
{
    return r->bits;
}

uint64_t h264_refine_mbs(const struct h264_refine *r)
{
    return r->mbs;
}
