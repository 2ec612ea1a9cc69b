/* Per-scanout state and the encode workers.
 *
 * Each scanout keeps two I420 pictures. The front end converts damage into
 * `staging`; the worker encodes `current`. When the worker wants new content
 * it swaps the two pointers under the scanout lock (O(1)); the picture it
 * hands back lacks exactly the damage it just took, which the front end copies
 * back (`fixup`) on its next call before converting new damage. So the front
 * end never waits for an encode, the worker always encodes the newest content
 * (coalescing whatever arrived while it was busy), and both costs follow the
 * damaged area. */
#include "engine/engine.h"

#include <errno.h>
#include <pixman.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/picture.h"
#include "encoder/encoder.h"
#include "engine/convert.h"
#include "engine/rows.h"
#include "engine/tiles.h"

/* Beyond this many rectangles the damage is kept as its bounding box: the
 * region stays cheap to walk and is still a superset of what changed. */
#define MAX_DAMAGE_RECTS 64

/* An update (or a new surface) handed over for the worker to convert. */
struct deferred {
    struct deferred *next;
    const uint8_t *pixels;
    int32_t stride;
    void (*release)(void *data);
    void *release_data;
    int64_t t0;
    uint32_t generation;        /* the surface it belongs to */
    bool compare;               /* hfx_engine_scanout_compare_deferred */
    bool set;                   /* hfx_engine_scanout_set_deferred: a new surface */
    bool disable;               /* hfx_engine_scanout_disable: no surface */
    uint32_t width, height, format;     /* of the new surface */
    int nrects;
    struct hfx_rect rects[];
};

/* After this many large updates in a row without a move (video, windows
 * repainted), searches come in pairs, the first to fingerprint and the
 * second to find, one pair a period; the period doubles from SEARCH_PERIOD
 * up to SEARCH_PERIOD_MAX while nothing is found. A search costs more than
 * converting a small box (a 200x150 window: 70-140 us against 10), and a
 * scroll that starts meanwhile is found a period late at most (the
 * encoder's own search covers those frames). */
#define SEARCH_MISSES 4
#define SEARCH_PERIOD 8
#define SEARCH_PERIOD_MAX 64

struct scanout {
    struct hfx_engine *e;
    uint32_t id;
    pthread_t thread;
    int wake_fd;

    /* Shared by front end and worker, under lock. The worker holds it only to
     * swap pointers and move regions. */
    pthread_mutex_t lock;
    bool enabled;
    uint32_t width, height, format;
    uint32_t generation;            /* bumps on every set or disable */
    struct hfx_picture *staging;    /* the front end's picture */
    struct hfx_picture *spare;      /* after a size change: the worker's next staging */
    /* The worker took `current` to read it (to encode it) and has not
     * finished: until then nothing writes rows staging shares with it
     * (see apply_update_locked). */
    bool reading;
    pixman_region32_t damage;       /* changed in staging since the worker's last swap */
    pixman_region32_t fixup;        /* staging lacks this; copy it from fixup_src */
    struct hfx_picture *fixup_src;
    struct hfx_tiles tiles;         /* fingerprints of what staging was converted from */
    struct hfx_rows rows;           /* ... by row, to find moves */
    /* Where staging is the picture of the worker's last swap moved up by
     * moved_dy rows (down when negative): the next frame's move hint. */
    pixman_region32_t moved;
    int32_t moved_dy;
    uint32_t move_misses;           /* searches in a row that found no move */
    uint32_t search_wait;           /* large updates left to pass over unsearched */
    uint32_t search_period;         /* of the searches after misses */
    int64_t first_update_ns, last_update_ns, convert_ns;
    uint64_t pending_updates;

    /* Worker thread only. */
    struct hfx_picture *current;
    uint32_t cur_generation;
    bool cur_enabled;
    const struct hfx_encoder_ops *ops;
    struct hfx_encoder *enc;
    uint32_t enc_bitrate;
    /* The damage of `current` in macroblocks, as the encoder takes it. */
    struct hfx_mb_box *mb_boxes;
    uint32_t mb_nboxes, mb_boxes_cap, mb_count;
    /* Those of them that are the previous frame's moved by (0, mv_dy). */
    struct hfx_mb_box *mv_boxes;
    uint32_t mv_nboxes, mv_boxes_cap;
    int32_t mv_dy;
    uint32_t mb_w, mb_h;
    int64_t last_idr_ns, last_frame_ns;
    /* When the encoder wants its next frame though nothing changed (it
     * still sharpens the picture); 0 = not. */
    int64_t again_ns;
    uint64_t seq;
    int64_t shown_ns;       /* when the content of `current` was produced */
    int64_t last_pts_ns;    /* of the last frame sent */

    /* Deferred updates: the front end appends, the worker takes them all. */
    pthread_mutex_t deferred_lock;
    struct deferred *deferred, **deferred_tail;
    atomic_uint set_generation;     /* generation as the front end last set it */

    /* Any thread. */
    atomic_int subscribers;
    /* When the oldest unanswered keyframe request was made (0 = none). An
     * IDR answers every request made before it is handed to the sink: the
     * requester was registered by then and receives it. */
    atomic_int_fast64_t keyframe_req_ns;
    atomic_uint bitrate_req;        /* 0 = default for the size */
    atomic_bool quit;
    atomic_uint_fast64_t updates, frames, keyframes, bytes, coalesced;
    /* Updates searched, found moved, and moved by sharing rows. */
    atomic_uint_fast64_t move_searches, moves, moves_shared;
    atomic_uint_fast64_t input_events;  /* INPUT events its front end took */
    /* The encoders' own counters by name, summed over every encoder opened
     * for the scanout. Slots are only added: a name is written before
     * ncounters, atomically raised, shows it to readers. */
    const char *counter_names[HFX_ENCODER_MAX_COUNTERS];
    atomic_uint_fast64_t counters[HFX_ENCODER_MAX_COUNTERS];
    atomic_uint ncounters;
    /* Worker: the open encoder's counters, the slot of each (-1: no room)
     * and its values so far. */
    uint32_t enc_ncounters;
    int enc_slot[HFX_ENCODER_MAX_COUNTERS];
    uint64_t enc_seen[HFX_ENCODER_MAX_COUNTERS];
    atomic_int_fast64_t last_encode_ns;
    atomic_bool enc_open;
    atomic_uintptr_t enc_name;      /* const char * of the backend in use */
};

struct hfx_engine {
    struct hfx_engine_config cfg;
    const struct hfx_encoder_ops *ops;
    const struct hfx_frontend_ops *fe_ops;
    void *fe_data;
    struct scanout scanouts[HFX_MAX_SCANOUTS];
};

static void wake(struct scanout *s)
{
    uint64_t one = 1;
    /* An eventfd write only fails when the counter would overflow, which
     * means a wake-up is pending anyway. */
    if (write(s->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        hfx_log(HFX_LOG_WARN, "scanout %u: wake-up failed: %s", s->id, strerror(errno));
}

static void want_keyframe(struct scanout *s)
{
    int_fast64_t none = 0;
    atomic_compare_exchange_strong(&s->keyframe_req_ns, &none, hfx_now_ns());
}

static struct scanout *get_scanout(struct hfx_engine *e, uint32_t id)
{
    return id < e->cfg.max_scanouts ? &e->scanouts[id] : NULL;
}

/* ---- front-end side ---- */

static void copy_region(struct hfx_picture *dst, const struct hfx_picture *src,
                        pixman_region32_t *region)
{
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(region, &n);
    for (int i = 0; i < n; i++) {
        /* Rounded out to even: an odd edge's padding line goes along. */
        uint32_t x = (uint32_t)b[i].x1 & ~1u, y = (uint32_t)b[i].y1 & ~1u;
        uint32_t w = ((uint32_t)b[i].x2 - x + 1) & ~1u, h = ((uint32_t)b[i].y2 - y + 1) & ~1u;
        hfx_picture_copy_rect(dst, src, x, y, w, h);
    }
}

static void bound_region(pixman_region32_t *r)
{
    if (pixman_region32_n_rects(r) > MAX_DAMAGE_RECTS) {
        pixman_box32_t ext = *pixman_region32_extents(r);
        pixman_region32_fini(r);
        pixman_region32_init_rect(r, ext.x1, ext.y1, (unsigned)(ext.x2 - ext.x1),
                                  (unsigned)(ext.y2 - ext.y1));
    }
}

/* Under the lock: what the next frame's timestamps and stats are made of. */
static void note_update(struct scanout *s, int64_t start_ns, int64_t end_ns)
{
    if (!s->pending_updates)
        s->first_update_ns = start_ns;
    /* Updates can be applied out of the order they were handed in (a
     * deferred one after a direct one), and pts must never go backwards. */
    if (start_ns > s->last_update_ns)
        s->last_update_ns = start_ns;
    s->convert_ns += end_ns - start_ns;
    s->pending_updates++;
}

/* Chroma is subsampled 2x2, so work on even-aligned rectangles. */
static void align_box(pixman_box32_t *b, uint32_t width, uint32_t height)
{
    b->x1 &= ~1;
    b->y1 &= ~1;
    b->x2 = (b->x2 + 1) & ~1;
    b->y2 = (b->y2 + 1) & ~1;
    if (b->x2 > (int32_t)width)
        b->x2 = (int32_t)width;
    if (b->y2 > (int32_t)height)
        b->y2 = (int32_t)height;
}

/* Whether rows `stride` bytes apart (negative: bottom-up) hold `width`
 * 32-bit pixels. */
static bool stride_fits(int32_t stride, uint32_t width)
{
    return (stride < 0 ? -(int64_t)stride : (int64_t)stride) >= (int64_t)width * 4;
}

/* Checks what hfx_engine_scanout_set(_deferred) is given. */
static struct scanout *check_set(struct hfx_engine *e, uint32_t id, uint32_t width,
                                 uint32_t height, uint32_t format, const uint8_t *pixels,
                                 int32_t stride, char *err, size_t errlen)
{
    struct scanout *s = get_scanout(e, id);
    if (!s) {
        snprintf(err, errlen, "scanout %u is out of range (this engine has %u)", id,
                 e->cfg.max_scanouts);
        return NULL;
    }
    if (width < 2 || height < 2 || width > HFX_MAX_WIDTH || height > HFX_MAX_HEIGHT) {
        snprintf(err, errlen, "size %ux%u is outside 2x2..%ux%u", width, height, HFX_MAX_WIDTH,
                 HFX_MAX_HEIGHT);
        return NULL;
    }
    if (!hfx_format_supported(format)) {
        snprintf(err, errlen, "pixel format 0x%08x is not supported", format);
        return NULL;
    }
    if (!pixels || !stride_fits(stride, width)) {
        snprintf(err, errlen, "stride %d is too small for width %u", stride, width);
        return NULL;
    }
    return s;
}

/* Fingerprints the tiles of `converted` again: those that changed since
 * they were fingerprinted (the pixels moved under the conversion) become
 * unknown, so the next compare converts them, and so do their rows (rows
 * NULL: none kept yet). */
static void forget_moved_tiles(struct hfx_tiles *t, struct hfx_rows *rows, const uint8_t *pixels,
                               int32_t stride, const pixman_region32_t *converted)
{
    pixman_region32_t moved;
    pixman_region32_init(&moved);
    hfx_tiles_compare(t, pixels, stride, converted, &moved);
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(&moved, &n);
    for (int i = 0; i < n; i++) {
        hfx_tiles_forget(t, &b[i]);
        if (rows)
            hfx_rows_forget(rows, &b[i]);
    }
    pixman_region32_fini(&moved);
}

/* The next generation of the scanout's surface. The front end's counter
 * (set_generation) runs ahead of s->generation while a deferred set waits
 * for the worker; updates handed in meanwhile carry the new number. */
static uint32_t next_generation(struct scanout *s)
{
    return atomic_fetch_add(&s->set_generation, 1) + 1;
}

/* Installs a new surface as generation `gen`: converts it whole into new
 * pictures (before taking the lock: nobody sees them yet) and swaps them in,
 * unless a later set or disable has superseded `gen` meanwhile. Returns 0,
 * 1 when superseded, -1 out of memory. */
static int install_surface(struct scanout *s, uint32_t gen, uint32_t width, uint32_t height,
                           uint32_t format, const uint8_t *pixels, int32_t stride, int64_t t0)
{
    struct hfx_picture *pair[2];
    if (hfx_picture_pair_new(width, height, pair) < 0)
        return -1;
    struct hfx_picture *staging = pair[0], *spare = pair[1];
    /* Fingerprints of the whole surface, so the first flip after a new
     * size finds its damage instead of converting everything again. Taken
     * before converting and checked after (as APPLY_COMPARE_LIVE does): a
     * deferred set reads a surface the VM may draw into meanwhile, and a
     * tile whose fingerprint is not of the pixels converted must count as
     * unknown. */
    struct hfx_tiles tiles = {0};
    /* Rows start unknown: the first move is found on the next update, which
     * fingerprints what it damages. Without them none is found. */
    struct hfx_rows rows = {0};
    if (hfx_rows_init(&rows, width, height) < 0)
        hfx_rows_fini(&rows);
    pixman_region32_t all;
    pixman_region32_init_rect(&all, 0, 0, width, height);
    bool fingerprinted = hfx_tiles_init(&tiles, width, height) == 0;
    if (fingerprinted)
        hfx_tiles_compare(&tiles, pixels, stride, &all, NULL);
    hfx_convert_rect(staging, pixels, stride, format, 0, 0, width, height);
    if (fingerprinted)
        forget_moved_tiles(&tiles, NULL, pixels, stride, &all);
    pixman_region32_fini(&all);
    int64_t t1 = hfx_now_ns();

    pthread_mutex_lock(&s->lock);
    bool current = atomic_load(&s->set_generation) == gen;
    if (current) {
        struct hfx_picture *t = s->staging;
        s->staging = staging;
        staging = t;
        t = s->spare;
        s->spare = spare;
        spare = t;
        struct hfx_tiles old_tiles = s->tiles;
        s->tiles = tiles;
        tiles = old_tiles;
        struct hfx_rows old_rows = s->rows;
        s->rows = rows;
        rows = old_rows;
        /* A new surface is searched from the start again. */
        s->move_misses = s->search_wait = 0;
        s->search_period = SEARCH_PERIOD;
        pixman_region32_clear(&s->moved);
        s->enabled = true;
        s->width = width;
        s->height = height;
        s->format = format;
        s->generation = gen;
        pixman_region32_fini(&s->damage);
        pixman_region32_init_rect(&s->damage, 0, 0, width, height);
        pixman_region32_clear(&s->fixup);
        s->fixup_src = NULL;
        note_update(s, t0, t1);
    }
    pthread_mutex_unlock(&s->lock);

    /* What was replaced, or what lost to a newer surface. */
    hfx_tiles_fini(&tiles);
    hfx_rows_fini(&rows);
    hfx_picture_free(staging);
    hfx_picture_free(spare);
    if (!current)
        return 1;
    atomic_fetch_add(&s->updates, 1);
    wake(s);
    return 0;
}

/* Turns the scanout off as generation `gen`, unless a later set or disable
 * has superseded it. Returns whether it was on. */
static bool retire_surface(struct scanout *s, uint32_t gen)
{
    pthread_mutex_lock(&s->lock);
    if (atomic_load(&s->set_generation) != gen) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    struct hfx_picture *old_staging = s->staging, *old_spare = s->spare;
    bool was_enabled = s->enabled;
    s->staging = s->spare = NULL;
    s->enabled = false;
    s->generation = gen;
    pixman_region32_clear(&s->damage);
    pixman_region32_clear(&s->fixup);
    s->fixup_src = NULL;
    s->pending_updates = 0;
    s->convert_ns = 0;
    struct hfx_tiles old_tiles = s->tiles;
    s->tiles = (struct hfx_tiles){0};
    struct hfx_rows old_rows = s->rows;
    s->rows = (struct hfx_rows){0};
    pixman_region32_clear(&s->moved);
    pthread_mutex_unlock(&s->lock);
    hfx_tiles_fini(&old_tiles);
    hfx_rows_fini(&old_rows);
    hfx_picture_free(old_staging);
    hfx_picture_free(old_spare);
    return was_enabled;
}

int hfx_engine_scanout_set(struct hfx_engine *e, uint32_t id, uint32_t width, uint32_t height,
                           uint32_t format, const uint8_t *pixels, int32_t stride, char *err,
                           size_t errlen)
{
    struct scanout *s = check_set(e, id, width, height, format, pixels, stride, err, errlen);
    if (!s)
        return -1;
    if (install_surface(s, next_generation(s), width, height, format, pixels, stride,
                        hfx_now_ns()) < 0) {
        snprintf(err, errlen, "out of memory for a %ux%u scanout", width, height);
        return -1;
    }
    return 0;
}

/* How apply_update_locked treats its rectangles. */
enum apply_mode {
    APPLY_DAMAGE,       /* they changed */
    APPLY_COMPARE,      /* they may have changed: the tiles whose fingerprints differ did */
    /* The same, on a buffer its owner may be rewriting meanwhile (a deferred
     * compare reads a surface the VM can draw into again once it has
     * flipped away from it): the converted tiles are fingerprinted again,
     * and those that changed while being read become unknown, so the next
     * compare converts them instead of trusting a fingerprint of pixels
     * the picture does not hold. Costs a second read of the changed tiles
     * only. */
    APPLY_COMPARE_LIVE,
};

/* Looks for a vertical move in the largest box of `fresh` worth a search
 * (rows.h), when the encoder takes moves; the rows of the other boxes
 * become unknown. */
static void find_move(struct scanout *s, const uint8_t *pixels, int32_t stride,
                      pixman_region32_t *fresh, struct hfx_row_move *mv)
{
    mv->dy = 0;
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(fresh, &n);
    int search = -1;
    int64_t best = 0;
    for (int i = 0; s->e->ops->takes_moves && i < n; i++) {
        int64_t area = (int64_t)(b[i].x2 - b[i].x1) * (b[i].y2 - b[i].y1);
        if (s->rows.hash && hfx_rows_worth_searching(&b[i]) && area > best) {
            search = i;
            best = area;
        }
    }
    if (search >= 0 && s->search_wait) {
        s->search_wait--;
        search = -1;
    }
    for (int i = 0; i < n; i++) {
        if (i != search) {
            hfx_rows_forget(&s->rows, &b[i]);
            continue;
        }
        hfx_rows_find_move(&s->rows, pixels, stride, &b[i], mv);
        atomic_fetch_add(&s->move_searches, 1);
        atomic_fetch_add(&s->moves, mv->dy != 0);
        uint32_t period = s->search_period;
        if (mv->dy) {
            s->move_misses = 0;
            s->search_period = SEARCH_PERIOD;
        } else if (++s->move_misses > SEARCH_MISSES && (s->move_misses - SEARCH_MISSES) % 2 == 1) {
            s->search_wait = period - 2;
            s->search_period = period < SEARCH_PERIOD_MAX ? 2 * period : SEARCH_PERIOD_MAX;
        }
    }
}

/* Moves the rows of `moved` (even-aligned, a surface's odd edge aside)
 * from the rows dy below in `from` into dst, which may be `from`: then in
 * the order that reads each row before it is written (moved's boxes are
 * sorted top to bottom, and they read only rows of the box they were
 * found in). */
static void move_rows(struct hfx_picture *dst, const struct hfx_picture *from,
                      pixman_region32_t *moved, int32_t dy)
{
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(moved, &n);
    for (int k = 0; k < n; k++) {
        const pixman_box32_t *m = &b[dy > 0 ? k : n - 1 - k];
        /* Rounded out to even: an odd right edge's padding column goes
         * along (it repeats its row's last pixel). */
        uint32_t x = (uint32_t)m->x1, w = ((uint32_t)m->x2 - x + 1) & ~1u;
        hfx_picture_move_rect(dst, from, x, (uint32_t)m->y1, w, (uint32_t)(m->y2 - m->y1), dy);
    }
}

/* Whether an update that changed `fresh` and moved mv may move staging's
 * rows by pointing it at the rows they come from (hfx_picture_alias)
 * instead of copying them: it changed the whole surface (so nothing of
 * what staging showed is kept but the moved rows), by an even move (the
 * chroma moves by whole rows), and the worker is not reading its picture.
 * Then the worker's picture, which staging may share rows with and write
 * over, is no longer needed: the worker takes staging before it reads a
 * picture again, and staging lacks nothing of it. */
static bool aliasable(const struct scanout *s, const pixman_region32_t *fresh,
                      const struct hfx_row_move *mv)
{
    pixman_box32_t all = {0, 0, (int32_t)s->width, (int32_t)s->height};
    /* The rows come from staging, or from fixup_src where staging lacks
     * the worker's last damage: a picture of the same pair. */
    bool pair = !pixman_region32_not_empty(&s->fixup) ||
                (s->fixup_src && s->fixup_src->rings == s->staging->rings);
    return mv->dy && !(mv->dy & 1) && s->staging->rings && pair && !s->reading &&
           pixman_region32_contains_rectangle((pixman_region32_t *)fresh, &all) ==
               PIXMAN_REGION_IN;
}

/* Before an update writes staging: where staging shares rows with the
 * worker's picture (the worker took a picture that had been aliased) and
 * that picture is still needed (the worker reads it, or will, as no
 * damage waits), staging moves apart and takes all of it as its fixup.
 * Where damage waits and the worker does not read, the worker's picture
 * is no longer needed (see aliasable), and staging is written in place. */
static void share_safely(struct scanout *s, bool alias)
{
    if (alias || !s->current || !hfx_picture_overlaps(s->staging, s->current) ||
        (!s->reading && pixman_region32_not_empty(&s->damage)))
        return;
    hfx_picture_apart(s->staging, s->current);
    pixman_region32_fini(&s->fixup);
    pixman_region32_init_rect(&s->fixup, 0, 0, s->width, s->height);
    s->fixup_src = s->current;
}

/* The move hint after an update that changed `fresh` and moved mv. It
 * describes staging against the picture of the worker's last swap: the
 * first update after the swap gives it; a later one takes away what it
 * changes, unless it moved all that is left of it (a scroll going on
 * faster than the worker takes it), which gives the rows it moved from the
 * hint, moved by both. */
static void update_hint(struct scanout *s, pixman_region32_t *fresh, struct hfx_row_move *mv)
{
    if (!pixman_region32_not_empty(&s->damage)) {
        pixman_region32_copy(&s->moved, &mv->moved);
        s->moved_dy = mv->dy;
        return;
    }
    pixman_region32_t rest;
    pixman_region32_init(&rest);
    pixman_region32_subtract(&rest, &s->moved, fresh);
    if (mv->dy && s->moved_dy && !pixman_region32_not_empty(&rest)) {
        /* Row y now holds row y + mv->dy of before, which held row
         * y + mv->dy + moved_dy of the swap's picture where it was in the
         * hint. */
        pixman_region32_translate(&s->moved, 0, -mv->dy);
        pixman_region32_intersect(&s->moved, &s->moved, &mv->moved);
        s->moved_dy += mv->dy;
    } else {
        pixman_region32_copy(&s->moved, &rest);
    }
    pixman_region32_fini(&rest);
}

/* Converts damage from the surface into staging, under the lock. Returns
 * whether anything changed. t0 is when the update was handed in. */
static bool apply_update_locked(struct scanout *s, const uint8_t *pixels, int32_t stride,
                                const struct hfx_rect *rects, int nrects, enum apply_mode mode,
                                int64_t t0)
{
    bool compare = mode != APPLY_DAMAGE;
    pixman_region32_t fresh;
    pixman_region32_init(&fresh);
    for (int i = 0; i < nrects; i++) {
        const struct hfx_rect *r = &rects[i];
        int64_t x1 = r->x < 0 ? 0 : r->x, y1 = r->y < 0 ? 0 : r->y;
        int64_t x2 = (int64_t)r->x + r->w, y2 = (int64_t)r->y + r->h;
        if (x2 > s->width)
            x2 = s->width;
        if (y2 > s->height)
            y2 = s->height;
        if (x1 >= x2 || y1 >= y2)
            continue;
        pixman_box32_t b = {(int32_t)x1, (int32_t)y1, (int32_t)x2, (int32_t)y2};
        align_box(&b, s->width, s->height);
        pixman_region32_union_rect(&fresh, &fresh, b.x1, b.y1, (unsigned)(b.x2 - b.x1),
                                   (unsigned)(b.y2 - b.y1));
    }
    int nb;
    if (compare) {
        pixman_region32_t changed;
        pixman_region32_init(&changed);
        hfx_tiles_compare(&s->tiles, pixels, stride, &fresh, &changed);
        pixman_region32_clear(&fresh);
        /* Tiles are even-aligned but for a surface's odd right or bottom
         * edge, which conversion rounds out as it does any damage. */
        const pixman_box32_t *cb = pixman_region32_rectangles(&changed, &nb);
        for (int i = 0; i < nb; i++) {
            pixman_box32_t b = cb[i];
            align_box(&b, s->width, s->height);
            pixman_region32_union_rect(&fresh, &fresh, b.x1, b.y1, (unsigned)(b.x2 - b.x1),
                                       (unsigned)(b.y2 - b.y1));
        }
        pixman_region32_fini(&changed);
    } else {
        /* Converted without hashing: those tiles' fingerprints are stale. */
        const pixman_box32_t *fb = pixman_region32_rectangles(&fresh, &nb);
        for (int i = 0; i < nb; i++)
            hfx_tiles_forget(&s->tiles, &fb[i]);
    }
    struct hfx_row_move mv;
    pixman_region32_init(&mv.moved);
    find_move(s, pixels, stride, &fresh, &mv);
    bool alias = aliasable(s, &fresh, &mv);
    share_safely(s, alias);
    /* Where the moved rows come from: staging, unless it still lacks the
     * damage the worker took, which fixup_src (the picture of the worker's
     * last swap, the same everywhere else) holds. */
    const struct hfx_picture *from = s->staging;
    /* What is about to be converted or moved anew needs no copying back: a
     * full-screen change after another costs one conversion, not a copy as
     * well. */
    if (pixman_region32_not_empty(&s->fixup)) {
        pixman_region32_subtract(&s->fixup, &s->fixup, &fresh);
        copy_region(s->staging, s->fixup_src, &s->fixup);
        pixman_region32_clear(&s->fixup);
        from = s->fixup_src;
    }
    bool changed = pixman_region32_not_empty(&fresh);
    if (changed) {
        pixman_region32_t convert;
        pixman_region32_init(&convert);
        pixman_region32_copy(&convert, &fresh);
        /* An even move shifts both planes; an odd one leaves chroma rows
         * that mix two of the old ones, so those rows are converted. */
        if (alias) {
            hfx_picture_alias(s->staging, from, mv.dy);
            atomic_fetch_add(&s->moves_shared, 1);
            pixman_region32_subtract(&convert, &convert, &mv.moved);
        } else if (mv.dy && !(mv.dy & 1)) {
            move_rows(s->staging, from, &mv.moved, mv.dy);
            pixman_region32_subtract(&convert, &convert, &mv.moved);
        }
        /* The region's boxes do not overlap, so no pixel converts twice. */
        int n;
        const pixman_box32_t *b = pixman_region32_rectangles(&convert, &n);
        for (int i = 0; i < n; i++)
            hfx_convert_rect(s->staging, pixels, stride, s->format, (uint32_t)b[i].x1,
                             (uint32_t)b[i].y1, (uint32_t)(b[i].x2 - b[i].x1),
                             (uint32_t)(b[i].y2 - b[i].y1));
        pixman_region32_fini(&convert);
        if (mode == APPLY_COMPARE_LIVE)
            forget_moved_tiles(&s->tiles, &s->rows, pixels, stride, &fresh);
        update_hint(s, &fresh, &mv);
        pixman_region32_union(&s->damage, &s->damage, &fresh);
        bound_region(&s->damage);
        note_update(s, t0, hfx_now_ns());
        atomic_fetch_add(&s->updates, 1);
    }
    pixman_region32_fini(&mv.moved);
    pixman_region32_fini(&fresh);
    return changed;
}

/* What rects NULL means to the compare calls: all of the surface (clipped). */
static const struct hfx_rect whole_surface = {0, 0, HFX_MAX_WIDTH, HFX_MAX_HEIGHT};

static int update(struct hfx_engine *e, uint32_t id, const uint8_t *pixels, int32_t stride,
                  const struct hfx_rect *rects, int nrects, bool compare)
{
    struct scanout *s = get_scanout(e, id);
    if (!s || !pixels || nrects < 0 || (nrects > 0 && !rects))
        return -1;
    int64_t t0 = hfx_now_ns();
    pthread_mutex_lock(&s->lock);
    if (!s->enabled || !stride_fits(stride, s->width)) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    /* A surface set with hfx_engine_scanout_set_deferred and not installed
     * yet: the worker converts all of it, this update included. */
    if (atomic_load(&s->set_generation) != s->generation) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    bool changed = apply_update_locked(s, pixels, stride, rects, nrects,
                                       compare ? APPLY_COMPARE : APPLY_DAMAGE, t0);
    pthread_mutex_unlock(&s->lock);
    if (changed && atomic_load(&s->subscribers) > 0)
        wake(s);
    return 0;
}

int hfx_engine_scanout_update(struct hfx_engine *e, uint32_t id, const uint8_t *pixels,
                              int32_t stride, const struct hfx_rect *rects, int nrects)
{
    return update(e, id, pixels, stride, rects, nrects, false);
}

int hfx_engine_scanout_compare(struct hfx_engine *e, uint32_t id, const uint8_t *pixels,
                               int32_t stride, const struct hfx_rect *rects, int nrects)
{
    if (!rects || nrects <= 0)
        return update(e, id, pixels, stride, &whole_surface, 1, true);
    return update(e, id, pixels, stride, rects, nrects, true);
}

int hfx_engine_scanout_picture(struct hfx_engine *e, uint32_t id, struct hfx_picture *pic)
{
    struct scanout *s = get_scanout(e, id);
    if (!s)
        return -1;
    pthread_mutex_lock(&s->lock);
    bool ok = s->enabled && s->staging && pic->width == s->width && pic->height == s->height;
    if (ok) {
        hfx_picture_copy_rect(pic, s->staging, 0, 0, pic->alloc_w, pic->alloc_h);
        copy_region(pic, s->fixup_src, &s->fixup);
    }
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : -1;
}

/* Appends d to the worker's list and wakes it. */
static void hand_over(struct scanout *s, struct deferred *d)
{
    pthread_mutex_lock(&s->deferred_lock);
    *s->deferred_tail = d;
    s->deferred_tail = &d->next;
    pthread_mutex_unlock(&s->deferred_lock);
    wake(s);
}

static int update_deferred(struct hfx_engine *e, uint32_t id, const uint8_t *pixels,
                           int32_t stride, const struct hfx_rect *rects, int nrects,
                           bool compare, void (*release)(void *data), void *release_data)
{
    struct scanout *s = get_scanout(e, id);
    if (!s || !pixels || nrects < 0 || (nrects > 0 && !rects) || !release)
        return -1;
    struct deferred *d = malloc(sizeof *d + (size_t)nrects * sizeof *rects);
    if (!d)
        return -1;
    *d = (struct deferred){.pixels = pixels, .stride = stride, .nrects = nrects,
                           .release = release, .release_data = release_data,
                           .t0 = hfx_now_ns(), .generation = atomic_load(&s->set_generation),
                           .compare = compare};
    memcpy(d->rects, rects, (size_t)nrects * sizeof *rects);
    hand_over(s, d);
    return 0;
}

int hfx_engine_scanout_set_deferred(struct hfx_engine *e, uint32_t id, uint32_t width,
                                    uint32_t height, uint32_t format, const uint8_t *pixels,
                                    int32_t stride, void (*release)(void *data),
                                    void *release_data, char *err, size_t errlen)
{
    struct scanout *s = check_set(e, id, width, height, format, pixels, stride, err, errlen);
    if (!s)
        return -1;
    struct deferred *d = release ? malloc(sizeof *d) : NULL;
    if (!d) {
        snprintf(err, errlen, release ? "out of memory" : "no release function");
        return -1;
    }
    *d = (struct deferred){.pixels = pixels, .stride = stride, .release = release,
                           .release_data = release_data, .t0 = hfx_now_ns(),
                           .generation = next_generation(s), .set = true, .width = width,
                           .height = height, .format = format};
    hand_over(s, d);
    return 0;
}

int hfx_engine_scanout_update_deferred(struct hfx_engine *e, uint32_t id, const uint8_t *pixels,
                                       int32_t stride, const struct hfx_rect *rects,
                                       int nrects, void (*release)(void *data),
                                       void *release_data)
{
    return update_deferred(e, id, pixels, stride, rects, nrects, false, release, release_data);
}

int hfx_engine_scanout_compare_deferred(struct hfx_engine *e, uint32_t id,
                                        const uint8_t *pixels, int32_t stride,
                                        const struct hfx_rect *rects, int nrects,
                                        void (*release)(void *data), void *release_data)
{
    if (!rects || nrects <= 0)
        return update_deferred(e, id, pixels, stride, &whole_surface, 1, true, release,
                               release_data);
    return update_deferred(e, id, pixels, stride, rects, nrects, true, release, release_data);
}

/* The rectangles of a pixman region, for apply_update_locked. */
static int region_rects(pixman_region32_t *r, struct hfx_rect **out)
{
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(r, &n);
    *out = n ? malloc((size_t)n * sizeof **out) : NULL;
    if (n && !*out)
        return -1;
    for (int i = 0; i < n; i++)
        (*out)[i] = (struct hfx_rect){b[i].x1, b[i].y1, b[i].x2 - b[i].x1, b[i].y2 - b[i].y1};
    return n;
}

/* On the worker: installs the newest surface and converts the updates that
 * front ends handed over without converting (the *_deferred calls), then
 * lets the sources go. Where a newer update covers an older one's
 * rectangles, only the newer is converted: a burst of page flips costs one
 * conversion, not one each. What a newer surface replaces (older updates,
 * older surfaces) is dropped unconverted. Without `convert` (the engine
 * stopping), everything is only released. */
static void apply_deferred(struct scanout *s, bool convert)
{
    pthread_mutex_lock(&s->deferred_lock);
    struct deferred *list = s->deferred;
    s->deferred = NULL;
    s->deferred_tail = &s->deferred;
    pthread_mutex_unlock(&s->deferred_lock);
    if (!list)
        return;
    /* The newest surface (or its end), or the oldest update. */
    struct deferred *first = list;
    int n = 0;
    for (struct deferred *d = list; d; d = d->next) {
        if (d->set || d->disable) {
            first = d;
            n = 0;
        }
        n++;
    }
    if (!convert)
        n = 0;
    else if (first->disable)
        retire_surface(s, first->generation);
    else if (first->set) {
        int rc = install_surface(s, first->generation, first->width, first->height,
                                 first->format, first->pixels, first->stride, first->t0);
        if (rc < 0) {
            /* Nothing else would show: the stream ends, as for a guest that
             * turned the head off. */
            hfx_log(HFX_LOG_ERROR, "scanout %u: out of memory for a %ux%u surface: head off",
                    s->id, first->width, first->height);
            retire_surface(s, first->generation);
        }
    }
    struct deferred **order = n ? malloc((size_t)n * sizeof *order) : NULL;
    pixman_region32_t *left = n ? malloc((size_t)n * sizeof *left) : NULL;
    if (order && left) {
        int i = 0;
        for (struct deferred *d = first; d; d = d->next)
            order[i++] = d;
        /* Newest first: what each update leaves to the older ones. */
        pixman_region32_t newer;
        pixman_region32_init(&newer);
        for (i = n - 1; i >= 0; i--) {
            pixman_region32_init_rects(&left[i], NULL, 0);
            for (int r = 0; r < order[i]->nrects; r++) {
                const struct hfx_rect *rc = &order[i]->rects[r];
                if (rc->w > 0 && rc->h > 0)
                    pixman_region32_union_rect(&left[i], &left[i], rc->x, rc->y,
                                               (unsigned)rc->w, (unsigned)rc->h);
            }
            pixman_region32_t mine;
            pixman_region32_init(&mine);
            pixman_region32_copy(&mine, &left[i]);
            pixman_region32_subtract(&left[i], &left[i], &newer);
            pixman_region32_union(&newer, &newer, &mine);
            pixman_region32_fini(&mine);
        }
        pixman_region32_fini(&newer);
        pthread_mutex_lock(&s->lock);
        for (i = 0; i < n; i++) {
            struct deferred *d = order[i];
            struct hfx_rect *rects = NULL;
            int nr = region_rects(&left[i], &rects);
            if (nr > 0 && s->enabled && d->generation == s->generation &&
                stride_fits(d->stride, s->width))
                apply_update_locked(s, d->pixels, d->stride, rects, nr,
                                    d->compare ? APPLY_COMPARE_LIVE : APPLY_DAMAGE, d->t0);
            free(rects);
            pixman_region32_fini(&left[i]);
        }
        pthread_mutex_unlock(&s->lock);
    }
    free(order);
    free(left);
    while (list) {
        struct deferred *next = list->next;
        if (list->release)
            list->release(list->release_data);
        free(list);
        list = next;
    }
}

/* Handed to the worker like a deferred set, so the caller never waits for
 * the scanout lock (which the worker holds while converting) nor frees
 * pictures on its thread: the in-QEMU front end calls this from a display
 * callback. */
void hfx_engine_scanout_disable(struct hfx_engine *e, uint32_t id)
{
    struct scanout *s = get_scanout(e, id);
    if (!s)
        return;
    uint32_t gen = next_generation(s);
    struct deferred *d = malloc(sizeof *d);
    if (!d) {
        if (retire_surface(s, gen))
            wake(s);
        return;
    }
    *d = (struct deferred){.generation = gen, .disable = true, .t0 = hfx_now_ns()};
    hand_over(s, d);
}

int hfx_engine_scanout_cursor(struct hfx_engine *e, uint32_t id, const struct hfx_cursor *c)
{
    if (!get_scanout(e, id) || c->width > HFX_CURSOR_MAX_SIDE || c->height > HFX_CURSOR_MAX_SIDE ||
        ((c->width && c->height) && !c->argb))
        return -1;
    if (e->cfg.sink->cursor)
        e->cfg.sink->cursor(e->cfg.sink_data, id, c);
    return 0;
}

/* ---- worker ---- */

struct work {
    bool have_content;  /* took new damage (or a new surface) */
    bool new_surface;
    bool ended;
    int64_t first_ns, last_ns, convert_ns;
    uint64_t updates;
    struct hfx_picture *retired;  /* free after unlocking */
};

/* The macroblocks a region touches, as banded boxes: O(its rectangles),
 * never a pass over the picture. Out of memory, the boxes are left empty
 * with the whole picture counted: the encoder is then told everything may
 * have changed. */
static void mark_mbs(struct scanout *s, pixman_region32_t *region)
{
    int n;
    const pixman_box32_t *b = pixman_region32_rectangles(region, &n);
    s->mb_nboxes = 0;
    s->mb_count = s->mb_w * s->mb_h;
    pixman_box32_t stack[64], *mb = n <= 64 ? stack : malloc((size_t)n * sizeof *mb);
    if (!mb)
        return;
    for (int i = 0; i < n; i++)
        mb[i] = (pixman_box32_t){b[i].x1 / 16, b[i].y1 / 16, (b[i].x2 + 15) / 16,
                                 (b[i].y2 + 15) / 16};
    pixman_region32_t r;
    pixman_region32_init_rects(&r, mb, n);
    if (mb != stack)
        free(mb);
    const pixman_box32_t *rb = pixman_region32_rectangles(&r, &n);
    if ((uint32_t)n > s->mb_boxes_cap) {
        struct hfx_mb_box *nb = realloc(s->mb_boxes, (size_t)n * sizeof *nb);
        if (!nb) {
            pixman_region32_fini(&r);
            return;
        }
        s->mb_boxes = nb;
        s->mb_boxes_cap = (uint32_t)n;
    }
    s->mb_count = 0;
    for (int i = 0; i < n; i++) {
        s->mb_boxes[i] = (struct hfx_mb_box){(uint32_t)rb[i].x1, (uint32_t)rb[i].y1,
                                             (uint32_t)rb[i].x2, (uint32_t)rb[i].y2};
        s->mb_count += (uint32_t)((rb[i].x2 - rb[i].x1) * (rb[i].y2 - rb[i].y1));
    }
    s->mb_nboxes = (uint32_t)n;
    pixman_region32_fini(&r);
}

/* The macroblocks, counted along a line of the surface `size` long, that
 * a hint ending at `end` covers: those wholly before it, and at the
 * surface's edge the last one where its visible part may be hinted
 * (hfx_mb_hint_lines). */
static uint32_t hint_mbs(uint32_t end, uint32_t size)
{
    return end / 16 + (end == size && hfx_mb_hint_lines(end / 16, size) > 0);
}

/* The columns of macroblock row my that the move hint covers on all of
 * its rows inside the surface, added to mbs (in macroblocks): the row's
 * strip less the hint leaves gaps, and a macroblock is covered when no
 * gap's columns meet it. False when out of memory. */
static bool mark_move_row(struct scanout *s, const pixman_box32_t *ext, uint32_t my,
                          pixman_region32_t *mbs)
{
    uint32_t rows = hfx_mb_hint_lines(my, s->height);
    pixman_region32_t strip;
    pixman_region32_init_rect(&strip, ext->x1, (int)my * 16, (unsigned)(ext->x2 - ext->x1),
                              rows);
    pixman_region32_subtract(&strip, &strip, &s->moved);
    int n;
    const pixman_box32_t *g = pixman_region32_rectangles(&strip, &n);
    pixman_box32_t stack[64], *cols = n <= 64 ? stack : malloc((size_t)n * sizeof *cols);
    if (!cols) {
        pixman_region32_fini(&strip);
        return false;
    }
    for (int i = 0; i < n; i++)
        cols[i] = (pixman_box32_t){g[i].x1, 0, g[i].x2, 1};
    pixman_region32_t gaps, covered;
    pixman_region32_init_rects(&gaps, cols, n);
    pixman_region32_init_rect(&covered, ext->x1, 0, (unsigned)(ext->x2 - ext->x1), 1);
    pixman_region32_subtract(&covered, &covered, &gaps);
    const pixman_box32_t *c = pixman_region32_rectangles(&covered, &n);
    for (int i = 0; i < n; i++) {
        int32_t mx1 = (c[i].x1 + 15) / 16, mx2 = (int32_t)hint_mbs((uint32_t)c[i].x2, s->width);
        if (mx1 < mx2)
            pixman_region32_union_rect(mbs, mbs, mx1, (int)my, (unsigned)(mx2 - mx1), 1);
    }
    pixman_region32_fini(&covered);
    pixman_region32_fini(&gaps);
    pixman_region32_fini(&strip);
    if (cols != stack)
        free(cols);
    return true;
}

/* The macroblocks inside the move hint (s->moved), as far as they are
 * inside the surface, as banded boxes with its vector: O(its rectangles)
 * per macroblock row it spans. None when out of memory. */
static void mark_moves(struct scanout *s)
{
    s->mv_nboxes = 0;
    s->mv_dy = s->moved_dy;
    pixman_region32_t mbs;
    pixman_region32_init(&mbs);
    const pixman_box32_t *ext = pixman_region32_extents(&s->moved);
    bool ok = s->moved_dy != 0;
    int32_t end = (int32_t)hint_mbs((uint32_t)ext->y2, s->height);
    for (int32_t my = (ext->y1 + 15) / 16; ok && my < end; my++)
        ok = mark_move_row(s, ext, (uint32_t)my, &mbs);
    int n;
    const pixman_box32_t *rb = pixman_region32_rectangles(&mbs, &n);
    if (ok && (uint32_t)n > s->mv_boxes_cap) {
        struct hfx_mb_box *nb = realloc(s->mv_boxes, (size_t)n * sizeof *nb);
        ok = nb != NULL;
        if (ok) {
            s->mv_boxes = nb;
            s->mv_boxes_cap = (uint32_t)n;
        }
    }
    for (int i = 0; ok && i < n; i++)
        s->mv_boxes[i] = (struct hfx_mb_box){(uint32_t)rb[i].x1, (uint32_t)rb[i].y1,
                                             (uint32_t)rb[i].x2, (uint32_t)rb[i].y2};
    s->mv_nboxes = ok ? (uint32_t)n : 0;
    pixman_region32_fini(&mbs);
    pixman_region32_clear(&s->moved);
}

/* Takes whatever the front end produced since the last call: O(1) in the
 * picture size, under the lock. */
static void take_work(struct scanout *s, struct work *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&s->lock);
    if (s->generation != s->cur_generation) {
        s->cur_generation = s->generation;
        w->retired = s->current;
        s->current = NULL;
        if (s->enabled) {
            s->current = s->staging;
            s->staging = s->spare;
            s->spare = NULL;
            pixman_region32_fini(&s->fixup);
            pixman_region32_init_rect(&s->fixup, 0, 0, s->width, s->height);
            s->fixup_src = s->current;
            pixman_region32_clear(&s->moved);
            s->mv_nboxes = 0;
            w->new_surface = true;
            w->have_content = true;
        } else {
            w->ended = s->cur_enabled;
        }
        s->cur_enabled = s->enabled;
    } else if (s->enabled && pixman_region32_not_empty(&s->damage)) {
        struct hfx_picture *t = s->current;
        s->current = s->staging;
        s->staging = t;
        mark_mbs(s, &s->damage);
        mark_moves(s);
        pixman_region32_copy(&s->fixup, &s->damage);
        s->fixup_src = s->current;
        w->have_content = true;
    }
    if (w->have_content) {
        pixman_region32_clear(&s->damage);
        w->first_ns = s->first_update_ns;
        w->last_ns = s->last_update_ns;
        w->convert_ns = s->convert_ns;
        w->updates = s->pending_updates;
        s->pending_updates = 0;
        s->convert_ns = 0;
        s->shown_ns = w->last_ns;
    }
    s->reading = true;
    pthread_mutex_unlock(&s->lock);
}

/* The worker is done with `current` until its next take_work. */
static void done_reading(struct scanout *s)
{
    pthread_mutex_lock(&s->lock);
    s->reading = false;
    pthread_mutex_unlock(&s->lock);
}

static void close_encoder(struct scanout *s)
{
    if (!s->enc)
        return;
    s->ops->close(s->enc);
    s->enc = NULL;
    s->again_ns = 0;
    atomic_store(&s->enc_open, false);
}

static uint32_t wanted_bitrate(struct scanout *s)
{
    uint32_t b = atomic_load(&s->bitrate_req);
    if (!b)
        b = s->e->cfg.bitrate;
    if (!b)
        b = hfx_encoder_default_bitrate(s->current->width, s->current->height, s->e->cfg.fps);
    return b;
}

/* The slot counting `name` for the scanout, added if new; -1 when the
 * slots are full. Only the worker (or scanout_start, before it) adds. */
static int counter_slot(struct scanout *s, const char *name)
{
    uint32_t n = atomic_load(&s->ncounters);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(s->counter_names[i], name) == 0)
            return (int)i;
    if (n == HFX_ENCODER_MAX_COUNTERS) {
        hfx_log(HFX_LOG_WARN, "scanout %u: no room to count %s (more than %d encoder counters)",
                s->id, name, HFX_ENCODER_MAX_COUNTERS);
        return -1;
    }
    s->counter_names[n] = name;
    atomic_store(&s->ncounters, n + 1);
    return (int)n;
}

static void map_counters(struct scanout *s, const struct hfx_encoder_ops *ops)
{
    uint32_t n = 0;
    while (ops->counters && n < HFX_ENCODER_MAX_COUNTERS && ops->counter_names[n]) {
        s->enc_slot[n] = counter_slot(s, ops->counter_names[n]);
        s->enc_seen[n] = 0;
        n++;
    }
    s->enc_ncounters = n;
}

static bool open_encoder(struct scanout *s)
{
    struct hfx_encoder_params p = {
        .width = s->current->width,
        .height = s->current->height,
        .fps = s->e->cfg.fps,
        .bitrate = wanted_bitrate(s),
        .threads = s->e->cfg.threads,
        .quality = s->e->cfg.quality,
    };
    char err[256] = "";
    s->ops = s->e->ops;
    s->enc = s->ops->open(&p, err, sizeof err);
    const struct hfx_encoder_ops *fallback = hfx_encoder_fallback(s->ops);
    if (!s->enc && fallback) {
        hfx_log(HFX_LOG_WARN, "scanout %u: %s; falling back to %s", s->id, err, fallback->name);
        s->ops = fallback;
        s->enc = s->ops->open(&p, err, sizeof err);
    }
    if (!s->enc) {
        hfx_log(HFX_LOG_ERROR, "scanout %u: cannot open an encoder at %ux%u: %s", s->id, p.width,
                p.height, err);
        return false;
    }
    s->enc_bitrate = p.bitrate;
    map_counters(s, s->ops);
    atomic_store(&s->enc_name, (uintptr_t)s->ops->name);
    atomic_store(&s->enc_open, true);
    hfx_log(HFX_LOG_INFO, "scanout %u: %s encoder open at %ux%u, %u bit/s", s->id, s->ops->name,
            p.width, p.height, p.bitrate);
    return true;
}

static void set_mb_size(struct scanout *s)
{
    s->mb_w = (s->current->width + 15) / 16;
    s->mb_h = (s->current->height + 15) / 16;
}

static void emit(struct scanout *s, const struct hfx_au *au, const struct work *w,
                 int64_t enc_start, int64_t enc_end, uint32_t damaged_mbs)
{
    struct hfx_packet *p = malloc(sizeof *p + HFX_PACKET_HEADROOM + au->size);
    if (!p) {
        hfx_log(HFX_LOG_ERROR, "scanout %u: out of memory for a %zu-byte frame", s->id, au->size);
        want_keyframe(s);
        return;
    }
    atomic_init(&p->refs, 1);
    p->scanout = s->id;
    p->keyframe = au->keyframe;
    p->generation = s->cur_generation;
    p->seq = s->seq++;
    /* A frame without new content (an IDR on request, an idle refresh)
     * carries the time its content was produced, not the time of encoding:
     * an update converting meanwhile is older than this encode, and its
     * frame must not go back in time. */
    p->pts_ns = s->shown_ns;
    /* Several frames of one content (its frame, then the encoder's frames
     * that sharpen it, an idle refresh) must still have increasing pts, as
     * a decoder that orders by them (WebCodecs, a muxer) requires: each is
     * a microsecond (the coarsest unit a client uses) after the last. */
    if (p->pts_ns < s->last_pts_ns + 1000)
        p->pts_ns = s->last_pts_ns + 1000;
    s->last_pts_ns = p->pts_ns;
    p->first_damage_ns = w->have_content ? w->first_ns : enc_start;
    p->convert_ns = w->convert_ns;
    p->encode_ns = enc_end - enc_start;
    p->encoded_at_ns = enc_end;
    p->width = s->current->width;
    p->height = s->current->height;
    p->damaged_mbs = damaged_mbs;
    p->total_mbs = s->mb_w * s->mb_h;
    p->au_size = au->size;
    p->au = p->buf + HFX_PACKET_HEADROOM;
    memcpy(p->au, au->data, au->size);

    atomic_fetch_add(&s->frames, 1);
    atomic_fetch_add(&s->bytes, au->size);
    if (au->keyframe) {
        atomic_fetch_add(&s->keyframes, 1);
        int_fast64_t req = atomic_load(&s->keyframe_req_ns);
        int64_t now = hfx_now_ns();
        while (req && req <= now && !atomic_compare_exchange_weak(&s->keyframe_req_ns, &req, 0))
            ;
    }
    if (w->updates > 1)
        atomic_fetch_add(&s->coalesced, w->updates - 1);
    atomic_store(&s->last_encode_ns, p->encode_ns);
    s->e->cfg.sink->packet(s->e->cfg.sink_data, p);
}

static void encode_one(struct scanout *s, const struct work *w, bool idr)
{
    uint32_t bitrate = wanted_bitrate(s);
    if (bitrate != s->enc_bitrate && s->ops->set_bitrate(s->enc, bitrate) == 0)
        s->enc_bitrate = bitrate;
    /* A frame with no new content is an idle refresh: every macroblock is
     * unchanged, which x264 turns into skips. */
    if (!w->have_content)
        s->mb_nboxes = s->mb_count = s->mv_nboxes = 0;
    /* Out of memory for the boxes: everything may have changed. */
    bool lost = s->mb_count && !s->mb_nboxes;
    bool hints = !idr && !w->new_surface && !s->e->cfg.no_damage_hints && !lost;
    struct hfx_mb_damage dmg = {s->mb_boxes, s->mb_nboxes, s->mb_count, s->mb_w, s->mb_h,
                                {s->mv_boxes, s->mv_nboxes, 0, s->mv_dy}};
    uint32_t damaged = hints ? s->mb_count : s->mb_w * s->mb_h;
    struct hfx_au au = {0};
    int64_t t0 = hfx_now_ns();
    int rc = s->ops->encode(s->enc, s->current, hints ? &dmg : NULL, idr, &au);
    int64_t t1 = hfx_now_ns();
    if (rc != 0) {
        hfx_log(HFX_LOG_ERROR, "scanout %u: %s failed to encode a frame; reopening", s->id,
                s->ops->name);
        close_encoder(s);
        want_keyframe(s);
        return;
    }
    if (s->enc_ncounters) {
        uint64_t v[HFX_ENCODER_MAX_COUNTERS];
        s->ops->counters(s->enc, v);
        for (uint32_t i = 0; i < s->enc_ncounters; i++) {
            if (s->enc_slot[i] >= 0)
                atomic_fetch_add(&s->counters[s->enc_slot[i]], v[i] - s->enc_seen[i]);
            s->enc_seen[i] = v[i];
        }
    }
    if (au.keyframe)
        s->last_idr_ns = t1;
    s->last_frame_ns = t1;
    s->again_ns = au.again_ms ? t0 + (int64_t)au.again_ms * 1000000 : 0;
    emit(s, &au, w, t0, t1, damaged);
}

/* How long the worker may sleep before a timer (periodic IDR, idle refresh,
 * a frame the encoder wants) is due; -1 = until woken. */
static int next_timeout_ms(const struct scanout *s, int64_t now)
{
    const struct hfx_engine_config *c = &s->e->cfg;
    if (!s->enc)
        return -1;
    int64_t due = INT64_MAX;
    if (c->idr_interval_ms)
        due = s->last_idr_ns + (int64_t)c->idr_interval_ms * 1000000;
    if (c->idle_refresh_ms) {
        int64_t r = s->last_frame_ns + (int64_t)c->idle_refresh_ms * 1000000;
        due = r < due ? r : due;
    }
    if (s->again_ns && s->again_ns < due)
        due = s->again_ns;
    if (due == INT64_MAX)
        return -1;
    int64_t ms = (due - now + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* Encodes `current` when there is something to send: new content, an
 * IDR asked for or due, an idle refresh, or the encoder's own next frame
 * (it still sharpens the picture). */
static void encode_due(struct scanout *s, const struct work *w)
{
    bool idr = atomic_load(&s->keyframe_req_ns) != 0;
    if (!s->enc) {
        if (!open_encoder(s))
            return;
        idr = true;
    }
    int64_t now = hfx_now_ns();
    const struct hfx_engine_config *c = &s->e->cfg;
    if (c->idr_interval_ms && now - s->last_idr_ns >= (int64_t)c->idr_interval_ms * 1000000)
        idr = true;
    bool refresh = c->idle_refresh_ms &&
                   now - s->last_frame_ns >= (int64_t)c->idle_refresh_ms * 1000000;
    bool again = s->again_ns && now >= s->again_ns;
    if (w->have_content || idr || refresh || again)
        encode_one(s, w, idr);
}

static void *worker_main(void *arg)
{
    struct scanout *s = arg;
    /* Encoding is batch work: a woken worker must not preempt the thread
     * that woke it (QEMU's main loop, in the middle of a display callback),
     * which SCHED_BATCH's wake-up penalty avoids. Failure only costs that. */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    /* Named so a host tool (scripts/bench-vm inside QEMU, top -H) can tell
     * the exporter's threads from QEMU's. */
    char name[16];
    snprintf(name, sizeof name, "hfx-scanout%u", s->id);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        struct pollfd pfd = {.fd = s->wake_fd, .events = POLLIN};
        int timeout = next_timeout_ms(s, hfx_now_ns());
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
            hfx_log(HFX_LOG_ERROR, "scanout %u: poll: %s", s->id, strerror(errno));
        uint64_t v;
        if (pfd.revents & POLLIN && read(s->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            hfx_log(HFX_LOG_ERROR, "scanout %u: wake read: %s", s->id, strerror(errno));
        if (atomic_load(&s->quit))
            break;
        apply_deferred(s, true);

        bool watched = atomic_load(&s->subscribers) > 0;
        struct work w;
        if (watched) {
            take_work(s, &w);
        } else {
            /* Nobody watches: only follow size changes and disables, so the
             * pictures stay consistent; drop the encoder. */
            memset(&w, 0, sizeof w);
            close_encoder(s);
            pthread_mutex_lock(&s->lock);
            bool gen_changed = s->generation != s->cur_generation;
            pthread_mutex_unlock(&s->lock);
            if (gen_changed)
                take_work(s, &w);
        }
        hfx_picture_free(w.retired);
        if (w.new_surface || w.ended)
            close_encoder(s);
        if (w.new_surface)
            set_mb_size(s);
        if (w.ended)
            s->e->cfg.sink->scanout_ended(s->e->cfg.sink_data, s->id);
        if (watched && s->current)
            encode_due(s, &w);
        done_reading(s);
    }
    close_encoder(s);
    return NULL;
}

/* ---- control side ---- */

void hfx_engine_subscribe(struct hfx_engine *e, uint32_t id, int delta)
{
    struct scanout *s = get_scanout(e, id);
    if (!s)
        return;
    int now = atomic_fetch_add(&s->subscribers, delta) + delta;
    if (delta > 0)
        want_keyframe(s);
    if (delta > 0 || now == 0)
        wake(s);
}

void hfx_engine_request_keyframe(struct hfx_engine *e, uint32_t id)
{
    struct scanout *s = get_scanout(e, id);
    if (!s)
        return;
    want_keyframe(s);
    wake(s);
}

void hfx_engine_set_bitrate(struct hfx_engine *e, uint32_t id, uint32_t bitrate)
{
    struct scanout *s = get_scanout(e, id);
    if (s)
        atomic_store(&s->bitrate_req, bitrate);
}

void hfx_engine_set_frontend(struct hfx_engine *e, const struct hfx_frontend_ops *ops, void *data)
{
    e->fe_ops = ops;
    e->fe_data = data;
}

void hfx_engine_set_head(struct hfx_engine *e, uint32_t id, bool enable, uint32_t w, uint32_t h,
                         uint32_t refresh, hfx_head_done_fn done, void *done_data)
{
    if (id >= e->cfg.max_scanouts) {
        done(done_data, -1, "scanout id out of range");
        return;
    }
    if (!e->fe_ops || !e->fe_ops->set_head) {
        done(done_data, -1, "this front end cannot switch heads on or off");
        return;
    }
    e->fe_ops->set_head(e->fe_data, id, enable, w, h, refresh, done, done_data);
}

int hfx_engine_input(struct hfx_engine *e, const struct hfx_input *ev, char *err, size_t errlen)
{
    if (ev->scanout >= e->cfg.max_scanouts) {
        snprintf(err, errlen, "scanout id out of range");
        return -1;
    }
    if (!e->fe_ops || !e->fe_ops->input) {
        snprintf(err, errlen, "this front end takes no input");
        return -1;
    }
    if (e->fe_ops->input(e->fe_data, ev, err, errlen) < 0)
        return -1;
    atomic_fetch_add(&get_scanout(e, ev->scanout)->input_events, 1);
    return 0;
}

void hfx_engine_stats(struct hfx_engine *e, uint32_t id, struct hfx_scanout_stats *out)
{
    memset(out, 0, sizeof *out);
    struct scanout *s = get_scanout(e, id);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    out->enabled = s->enabled;
    out->width = s->width;
    out->height = s->height;
    out->format = s->format;
    pthread_mutex_unlock(&s->lock);
    out->subscribers = atomic_load(&s->subscribers);
    out->encoder_open = atomic_load(&s->enc_open);
    out->encoder = (const char *)atomic_load(&s->enc_name);
    if (!out->encoder)
        out->encoder = e->ops->name;
    out->bitrate = atomic_load(&s->bitrate_req);
    out->updates = atomic_load(&s->updates);
    out->frames = atomic_load(&s->frames);
    out->keyframes = atomic_load(&s->keyframes);
    out->bytes = atomic_load(&s->bytes);
    out->coalesced = atomic_load(&s->coalesced);
    out->move_searches = atomic_load(&s->move_searches);
    out->moves = atomic_load(&s->moves);
    out->moves_shared = atomic_load(&s->moves_shared);
    out->last_encode_ns = atomic_load(&s->last_encode_ns);
    out->ncounters = atomic_load(&s->ncounters);
    for (uint32_t i = 0; i < out->ncounters; i++) {
        out->counters[i].name = s->counter_names[i];
        out->counters[i].value = atomic_load(&s->counters[i]);
    }
    out->input_events = atomic_load(&s->input_events);
}

uint32_t hfx_engine_max_scanouts(const struct hfx_engine *e)
{
    return e->cfg.max_scanouts;
}

/* ---- life cycle ---- */

static int scanout_start(struct hfx_engine *e, struct scanout *s, uint32_t id)
{
    s->e = e;
    s->id = id;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->deferred_lock, NULL);
    s->deferred_tail = &s->deferred;
    pixman_region32_init(&s->damage);
    pixman_region32_init(&s->fixup);
    pixman_region32_init(&s->moved);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0)
        return -1;
    /* The configured backend's counters show (at 0) before it first opens. */
    map_counters(s, e->ops);
    return pthread_create(&s->thread, NULL, worker_main, s) == 0 ? 0 : -1;
}

static void scanout_stop(struct scanout *s)
{
    atomic_store(&s->quit, true);
    wake(s);
    pthread_join(s->thread, NULL);
    apply_deferred(s, false); /* releases what is still pending */
    close(s->wake_fd);
    hfx_picture_free(s->staging);
    hfx_picture_free(s->spare);
    hfx_picture_free(s->current);
    free(s->mb_boxes);
    free(s->mv_boxes);
    hfx_tiles_fini(&s->tiles);
    hfx_rows_fini(&s->rows);
    pixman_region32_fini(&s->moved);
    pixman_region32_fini(&s->damage);
    pixman_region32_fini(&s->fixup);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->deferred_lock);
}

struct hfx_engine *hfx_engine_new(const struct hfx_engine_config *cfg, char *err, size_t errlen)
{
    if (cfg->max_scanouts < 1 || cfg->max_scanouts > HFX_MAX_SCANOUTS) {
        snprintf(err, errlen, "max scanouts must be 1..%d, not %u", HFX_MAX_SCANOUTS,
                 cfg->max_scanouts);
        return NULL;
    }
    if (!cfg->sink || !cfg->sink->packet || !cfg->sink->scanout_ended) {
        snprintf(err, errlen, "the engine needs a sink for its output");
        return NULL;
    }
    const struct hfx_encoder_ops *ops =
        cfg->encoder ? hfx_encoder_find(cfg->encoder) : hfx_encoder_default();
    if (!ops) {
        snprintf(err, errlen, "unknown encoder '%s' (available: %s)", cfg->encoder,
                 hfx_encoder_names());
        return NULL;
    }
    struct hfx_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    e->cfg.encoder = ops->name;
    if (!e->cfg.fps)
        e->cfg.fps = 60;
    if (e->cfg.threads < 1)
        e->cfg.threads = 1;
    e->ops = ops;
    for (uint32_t i = 0; i < cfg->max_scanouts; i++) {
        if (scanout_start(e, &e->scanouts[i], i) != 0) {
            snprintf(err, errlen, "cannot start the worker of scanout %u: %s", i,
                     strerror(errno));
            e->cfg.max_scanouts = i;
            hfx_engine_free(e);
            return NULL;
        }
    }
    return e;
}

void hfx_engine_free(struct hfx_engine *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->cfg.max_scanouts; i++)
        scanout_stop(&e->scanouts[i]);
    free(e);
}
