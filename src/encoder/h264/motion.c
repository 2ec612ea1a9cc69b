#include "encoder/h264/motion.h"
#include "encoder/h264/mc.h"

#include <stdlib.h>
#include <string.h>

/* The farthest vertical shift the row votes look for. The writer may allow
 * less (the level's vector range). */
#define MAX_DY 255
/* How far a probe segment is searched in each direction: a window dragged
 * at 60 fps moves a few to a few tens of pixels a frame. */
#define PROBE_RANGE 32
#define MAX_PROBES 8
/* Probes that found nothing moved before the rest are given up. */
#define PROBES_NOTHING 3
/* A probe found at more places than this is repetitive content and says
 * nothing. */
#define PROBE_MAX_HITS 4
#define MAX_CANDIDATES 8
/* Boxes smaller than this (typing) are not searched: what moved there is
 * found only by vectors found elsewhere or last time. A typed character
 * can touch 2x2 macroblocks, and what a search finds there (the glyphs
 * beside it) codes no smaller than its residual: `typing` at 1080p, 256
 * bytes a frame at 6 against 261 at 4, for a third less work. */
#define MIN_SEARCH_MBS 6
/* See vote_rows. */
#define ROWS_CLEAR 8

struct vec {
    int16_t dx, dy;
};

/* Rows and counts fit 16 bits (H.264's levels keep a picture under
 * 17000 rows; the engine's, under 8193): 16-byte slots. */
struct slot {
    uint64_t key;
    uint32_t gen;
    uint16_t row, count;
};

struct h264_motion {
    uint32_t width, height, mb_width, mb_height;
    struct hfx_picture *prev;
    bool prev_ok;
    /* The last find's result, valid where stamp == picture. */
    uint32_t *stamp;
    uint32_t picture;
    struct vec *vec;
    uint8_t *kind;              /* enum h264_move_kind */
    /* Per macroblock of a row being matched: matched, luma equal, chroma
     * equal. */
    uint8_t *row_done, *row_ok, *row_chroma;
    /* Candidates for the picture being searched, most votes first, and
     * the vectors that moved macroblocks last time. */
    struct vec cand[MAX_CANDIDATES];
    uint32_t cand_votes[MAX_CANDIDATES];
    int ncand;
    struct vec last[MAX_CANDIDATES];
    int nlast;
    /* Row votes: a hash table of old rows (generation-stamped, never
     * cleared) and votes by shift. */
    struct slot *table;
    uint32_t table_mask, gen;
    uint32_t votes[2 * MAX_DY + 1];
    int16_t voted[2 * MAX_DY + 1];  /* the shifts with votes, in no order */
};

struct h264_motion *h264_motion_new(uint32_t width, uint32_t height)
{
    struct h264_motion *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->width = width;
    m->height = height;
    m->mb_width = (width + 15) / 16;
    m->mb_height = (height + 15) / 16;
    size_t n = (size_t)m->mb_width * m->mb_height;
    uint32_t size = 64;
    while (size < 2 * m->mb_height * 16)
        size *= 2;
    m->table_mask = size - 1;
    m->prev = hfx_picture_new(width, height);
    m->stamp = calloc(n, sizeof *m->stamp);
    m->vec = malloc(n * sizeof *m->vec);
    m->kind = malloc(n);
    m->row_done = malloc(m->mb_width);
    m->row_ok = malloc(m->mb_width);
    m->row_chroma = malloc(m->mb_width);
    m->table = calloc(size, sizeof *m->table);
    if (!m->prev || !m->stamp || !m->vec || !m->kind || !m->row_done || !m->row_ok || !m->row_chroma || !m->table) {
        h264_motion_free(m);
        return NULL;
    }
    return m;
}

void h264_motion_free(struct h264_motion *m)
{
    if (!m)
        return;
    hfx_picture_free(m->prev);
    free(m->stamp);
    free(m->vec);
    free(m->kind);
    free(m->row_done);
    free(m->row_ok);
    free(m->row_chroma);
    free(m->table);
    free(m);
}

/* Where row_hash reads a row span [x0, x1) (at least 8 wide): 8 words
 * spread over it, found once per box. */
static void hash_offsets(uint32_t x0, uint32_t x1, uint32_t off[8])
{
    uint32_t span = x1 - x0 - 8;
    for (uint32_t i = 0; i < 8; i++)
        off[i] = x0 + span * i / 7;
}

/* A hash of the 8 words at off: enough to tell text rows apart for
 * voting; the per-macroblock check is exact. */
static uint64_t row_hash(const uint8_t *row, const uint32_t off[8])
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (uint32_t i = 0; i < 8; i++) {
        h = (h ^ h264_load64(row + off[i])) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return h;
}

static void add_candidate(struct h264_motion *m, int dx, int dy, uint32_t votes)
{
    if (dx == 0 && dy == 0)
        return;
    for (int i = 0; i < m->ncand; i++)
        if (m->cand[i].dx == dx && m->cand[i].dy == dy) {
            m->cand_votes[i] += votes;
            return;
        }
    int at = m->ncand;
    if (at == MAX_CANDIDATES) {
        at = MAX_CANDIDATES - 1;
        if (m->cand_votes[at] >= votes)
            return;
    } else {
        m->ncand++;
    }
    m->cand[at] = (struct vec){(int16_t)dx, (int16_t)dy};
    m->cand_votes[at] = votes;
}

static void sort_candidates(struct h264_motion *m)
{
    for (int i = 1; i < m->ncand; i++)
        for (int j = i; j > 0 && m->cand_votes[j] > m->cand_votes[j - 1]; j--) {
            struct vec v = m->cand[j];
            uint32_t n = m->cand_votes[j];
            m->cand[j] = m->cand[j - 1];
            m->cand_votes[j] = m->cand_votes[j - 1];
            m->cand[j - 1] = v;
            m->cand_votes[j - 1] = n;
        }
}

/* Vertical shifts of the box's pixel span [x0, x1) x [y0, y1): each new
 * row whose hash is that of exactly one old row within reach votes for
 * their distance. Returns whether a shift won clearly: votes from at
 * least 1/ROWS_CLEAR of the rows (a few rows that happen to match, in a
 * box that moved otherwise, leave the probes to find it). */
static bool vote_rows(struct h264_motion *m, const struct hfx_picture *src, uint32_t x0,
                      uint32_t x1, uint32_t y0, uint32_t y1)
{
    int32_t reach = (int32_t)(y1 - y0) - 1 < MAX_DY ? (int32_t)(y1 - y0) - 1 : MAX_DY;
    uint32_t oy0 = y0 > (uint32_t)reach ? y0 - (uint32_t)reach : 0;
    uint32_t oy1 = y1 + (uint32_t)reach < m->height ? y1 + (uint32_t)reach : m->height;
    if (++m->gen == 0) {
        memset(m->table, 0, (size_t)(m->table_mask + 1) * sizeof *m->table);
        m->gen = 1;
    }
    /* The part of the table this box needs (at least twice its old rows),
     * which stays in the cache where the whole one would not. */
    uint32_t mask = 63;
    while (mask < m->table_mask && mask + 1 < 2 * (oy1 - oy0))
        mask = mask * 2 + 1;
    const uint8_t *old = m->prev->plane[0], *cur = src->plane[0];
    size_t os = m->prev->stride[0], cs = src->stride[0];
    uint32_t off[8];
    hash_offsets(x0, x1, off);
    for (uint32_t y = oy0; y < oy1; y++) {
        uint64_t h = row_hash(old + y * os, off);
        uint32_t i = (uint32_t)h & mask;
        while (m->table[i].gen == m->gen && m->table[i].key != h)
            i = (i + 1) & mask;
        struct slot *sl = &m->table[i];
        if (sl->gen != m->gen)
            *sl = (struct slot){h, m->gen, (uint16_t)y, 0};
        sl->count++;
    }
    uint32_t nvoted = 0;
    for (uint32_t y = y0; y < y1; y++) {
        uint64_t h = row_hash(cur + y * cs, off);
        uint32_t i = (uint32_t)h & mask;
        while (m->table[i].gen == m->gen && m->table[i].key != h)
            i = (i + 1) & mask;
        const struct slot *sl = &m->table[i];
        if (sl->gen != m->gen || sl->count != 1)
            continue;
        int32_t dy = sl->row - (int32_t)y;
        if (dy == 0 || dy < -reach || dy > reach)
            continue;
        if (m->votes[dy + MAX_DY]++ == 0)
            m->voted[nvoted++] = (int16_t)(dy + MAX_DY);
    }
    /* The two best shifts, if they won more than a couple of rows (the
     * smaller shift of a tie). */
    bool clear = false;
    for (int k = 0; k < 2; k++) {
        int best = -1;
        for (uint32_t i = 0; i < nvoted; i++) {
            int v = m->voted[i];
            if (m->votes[v] > 2 &&
                (best < 0 || m->votes[v] > m->votes[best] ||
                 (m->votes[v] == m->votes[best] && v < best)))
                best = v;
        }
        if (best < 0)
            break;
        clear |= (uint64_t)m->votes[best] * ROWS_CLEAR >= y1 - y0;
        add_candidate(m, 0, best - MAX_DY, m->votes[best]);
        m->votes[best] = 0;
    }
    /* Votes stay zero between boxes: only those cast are cleared. */
    for (uint32_t i = 0; i < nvoted; i++)
        m->votes[m->voted[i]] = 0;
    return clear;
}

/* Probe k of box b: the middle row of one of its macroblocks, spread over
 * it, 16 samples of new luma at (x, y) read as a0, a1. False where there
 * is none worth searching for: past the picture, the macroblock of the
 * probe before (a box smaller than MAX_PROBES), flat, or unchanged (the
 * part of a box a repaint left as it was finds itself and says nothing
 * about a move). */
static bool segment(const struct h264_motion *m, const struct hfx_picture *src,
                    const struct hfx_mb_box *b, uint32_t k, uint32_t *x, uint32_t *y,
                    uint64_t *a0, uint64_t *a1)
{
    uint32_t bw = b->x2 - b->x1, n = bw * (b->y2 - b->y1);
    uint32_t i = (uint32_t)((uint64_t)n * (2 * k + 1) / (2 * MAX_PROBES));
    if (k > 0 && i == (uint32_t)((uint64_t)n * (2 * k - 1) / (2 * MAX_PROBES)))
        return false;
    *x = (b->x1 + i % bw) * 16;
    *y = (b->y1 + i / bw) * 16 + 8;
    if (*x + 16 > m->width || *y >= m->height)
        return false;
    const uint8_t *p = src->plane[0] + (size_t)*y * src->stride[0] + *x;
    *a0 = h264_load64(p);
    *a1 = h264_load64(p + 8);
    uint64_t flat = 0x0101010101010101u * p[0];
    const uint8_t *same = m->prev->plane[0] + (size_t)*y * m->prev->stride[0] + *x;
    return !(*a0 == flat && *a1 == flat) &&
           !(h264_load64(same) == *a0 && h264_load64(same + 8) == *a1);
}

/* Whether the segment at (x, y) lies in the old luma moved by v. */
static bool found_at(const struct h264_motion *m, uint32_t x, uint32_t y, struct vec v,
                     uint64_t a0, uint64_t a1)
{
    int32_t ox = (int32_t)x + v.dx, oy = (int32_t)y + v.dy;
    if (ox < 0 || ox + 16 > (int32_t)m->width || oy < 0 || oy >= (int32_t)m->height)
        return false;
    const uint8_t *q = m->prev->plane[0] + (size_t)oy * m->prev->stride[0] + ox;
    return h264_load64(q) == a0 && h264_load64(q + 8) == a1;
}

/* Whether the vectors that moved macroblocks last time still explain box
 * b: most of its probe segments lie where one of them puts them. Then
 * they are its candidates, and a steady scroll, drag or chart is found
 * again without the search (the rows' hashes, the probes' squares); the
 * match tries them on every macroblock. */
static bool known_moves(struct h264_motion *m, const struct hfx_picture *src,
                        const struct hfx_mb_box *b)
{
    uint32_t hits[MAX_CANDIDATES] = {0}, probes = 0, found = 0;
    for (uint32_t k = 0; m->nlast && k < MAX_PROBES; k++) {
        uint32_t x, y;
        uint64_t a0, a1;
        if (!segment(m, src, b, k, &x, &y, &a0, &a1))
            continue;
        probes++;
        for (int c = 0; c < m->nlast; c++)
            if (found_at(m, x, y, m->last[c], a0, a1)) {
                hits[c]++;
                found++;
                break;
            }
    }
    if (probes < 2 || 2 * found <= probes)
        return false;
    for (int c = 0; c < m->nlast; c++)
        if (hits[c])
            add_candidate(m, m->last[c].dx, m->last[c].dy, hits[c]);
    return true;
}

/* Shifts in both directions: the box's probe segments searched in the old
 * luma within PROBE_RANGE. */
static void probe(struct h264_motion *m, const struct hfx_picture *src, const struct hfx_mb_box *b)
{
    const uint8_t *old = m->prev->plane[0];
    size_t os = m->prev->stride[0];
    int searched = 0;
    bool moved = false;
    for (uint32_t k = 0; k < MAX_PROBES; k++) {
        uint32_t x, y;
        uint64_t a0, a1;
        if (!segment(m, src, b, k, &x, &y, &a0, &a1))
            continue;
        /* Where a vector already found puts it (an earlier probe's, or a
         * box's before): a vote for that, without the search. */
        bool known = false;
        for (int c = 0; c < m->ncand && !known; c++)
            if (found_at(m, x, y, m->cand[c], a0, a1)) {
                add_candidate(m, m->cand[c].dx, m->cand[c].dy, 1);
                known = moved = true;
            }
        if (known)
            continue;
        int32_t ylo = (int32_t)y - PROBE_RANGE < 0 ? 0 : (int32_t)y - PROBE_RANGE;
        int32_t yhi = (int32_t)y + PROBE_RANGE >= (int32_t)m->height ? (int32_t)m->height - 1
                                                                     : (int32_t)y + PROBE_RANGE;
        int32_t xlo = (int32_t)x - PROBE_RANGE < 0 ? 0 : (int32_t)x - PROBE_RANGE;
        int32_t xhi = (int32_t)x + PROBE_RANGE > (int32_t)m->width - 16
                          ? (int32_t)m->width - 16
                          : (int32_t)x + PROBE_RANGE;
        struct vec hit[PROBE_MAX_HITS];
        int hits = 0;
        for (int32_t oy = ylo; oy <= yhi && hits <= PROBE_MAX_HITS; oy++) {
            const uint8_t *row = old + (size_t)oy * os;
            for (int32_t ox = xlo; ox <= xhi; ox++) {
                if (h264_load64(row + ox) != a0 || h264_load64(row + ox + 8) != a1)
                    continue;
                if (hits < PROBE_MAX_HITS)
                    hit[hits] = (struct vec){(int16_t)(ox - (int32_t)x), (int16_t)(oy - (int32_t)y)};
                if (++hits > PROBE_MAX_HITS)
                    break;
            }
        }
        if (hits <= PROBE_MAX_HITS)
            for (int h = 0; h < hits; h++) {
                add_candidate(m, hit[h].dx, hit[h].dy, 1);
                moved |= hit[h].dx || hit[h].dy;
            }
        /* New content (a repainted window) matches nowhere: a few probes
         * say so, and the rest are not worth their search. */
        if (++searched == PROBES_NOTHING && !moved)
            return;
    }
}

/* Whether the size x size block of plane p of src at (x, y) equals the
 * old picture's at (x + dx, y + dy), both read with the visible picture's
 * edge repeated (what the coder reads past it). For the blocks at the
 * picture's edges; run_equal does the rest faster. */
static bool same_block(const struct h264_motion *m, const struct hfx_picture *src, int p, int x,
                       int y, int dx, int dy, int size)
{
    int w = (int)(p ? (m->width + 1) / 2 : m->width);
    int h = (int)(p ? (m->height + 1) / 2 : m->height);
    const uint8_t *a = src->plane[p], *b = m->prev->plane[p];
    size_t as = src->stride[p], bs = m->prev->stride[p];
    /* Past the top or bottom only (the commonest), rows compare whole. */
    bool cols_inside = x >= 0 && x + size <= w && x + dx >= 0 && x + dx + size <= w;
    for (int r = 0; r < size; r++) {
        const uint8_t *ar = a + (size_t)h264_edge_index(y + r, h - 1) * as;
        const uint8_t *br = b + (size_t)h264_edge_index(y + dy + r, h - 1) * bs;
        if (cols_inside) {
            if (memcmp(ar + x, br + x + dx, (size_t)size))
                return false;
            continue;
        }
        for (int c = 0; c < size; c++)
            if (ar[h264_edge_index(x + c, w - 1)] != br[h264_edge_index(x + dx + c, w - 1)])
                return false;
    }
    return true;
}

/* ok[i] for macroblock x0 + i of row y: set on entry where still to be
 * checked, cleared where plane p's block differs from the old picture's
 * moved by (dx, dy) (in that plane's samples). Row by row over the run:
 * reads go along the rows of both pictures, which a macroblock at a time
 * (16 rows apart) does not, and this is most of finding a scroll. Blocks
 * that read past the visible picture are checked on their own. */
static void run_equal(const struct h264_motion *m, const struct hfx_picture *src, int p,
                      uint32_t y, uint32_t x0, uint32_t n, int dx, int dy, uint8_t *ok)
{
    int size = p ? 8 : 16;
    int w = (int)(p ? (m->width + 1) / 2 : m->width);
    int h = (int)(p ? (m->height + 1) / 2 : m->height);
    int by = (int)y * size, oy = by + dy;
    bool rows_inside = by + size <= h && oy >= 0 && oy + size <= h;
    uint32_t inner = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        int bx = (int)(x0 + i) * size;
        if (rows_inside && bx + size <= w && bx + dx >= 0 && bx + dx + size <= w) {
            inner++;
            continue;
        }
        /* 2: settled equal, outside the row loop. */
        ok[i] = same_block(m, src, p, bx, by, dx, dy, size) ? 2 : 0;
    }
    /* Where blocks are left to check here, all of them read inside. */
    for (int r = 0; inner && r < size; r++) {
        const uint8_t *a = src->plane[p] + (size_t)(by + r) * src->stride[p];
        const uint8_t *b = m->prev->plane[p] + (size_t)(oy + r) * m->prev->stride[p];
        for (uint32_t i = 0; i < n; i++) {
            if (ok[i] != 1)
                continue;
            size_t o = (size_t)(x0 + i) * (size_t)size, ob = (size_t)((ptrdiff_t)o + dx);
            uint64_t d = h264_load64(a + o) ^ h264_load64(b + ob);
            if (size == 16)
                d |= h264_load64(a + o + 8) ^ h264_load64(b + ob + 8);
            if (d) {
                ok[i] = 0;
                inner--;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++)
        ok[i] = ok[i] != 0;
}

/* A macroblock that did not move but lies next to one that did (the edge
 * of a scrolled pane, of a dragged window) may still be cheaper to code
 * against that vector than in place. */
static void mark_nearby(struct h264_motion *m, uint32_t x, uint32_t y, const struct hfx_mb_box *b)
{
    uint32_t addr = y * m->mb_width + x;
    const struct vec *near = NULL;
    if (x > b->x1 && m->stamp[addr - 1] == m->picture)
        near = &m->vec[addr - 1];
    else if (y > b->y1 && m->stamp[addr - m->mb_width] == m->picture)
        near = &m->vec[addr - m->mb_width];
    else if (m->ncand)
        near = &m->cand[0];
    if (!near)
        return;
    m->vec[addr] = *near;
    m->kind[addr] = H264_MOVE_NEARBY;
    m->stamp[addr] = m->picture;
}

static void remember(struct h264_motion *m, struct vec v)
{
    for (int i = 0; i < m->nlast; i++)
        if (m->last[i].dx == v.dx && m->last[i].dy == v.dy)
            return;
    if (m->nlast < MAX_CANDIDATES && (v.dx || v.dy))
        m->last[m->nlast++] = v;
}

/* The run x0 .. x0 + n - 1 of row y: each macroblock takes the first
 * vector of tries under which its luma matches. */
static uint32_t match_run(struct h264_motion *m, const struct hfx_picture *src, uint32_t y,
                          uint32_t x0, uint32_t n, const struct vec *tries, int ntries)
{
    uint8_t *done = m->row_done, *ok = m->row_ok, *chroma = m->row_chroma;
    uint32_t left = n, found = 0;
    /* Macroblocks the caller's hint moved are settled. */
    for (uint32_t i = 0; i < n; i++) {
        done[i] = m->stamp[y * m->mb_width + x0 + i] == m->picture;
        left -= done[i];
    }
    for (int t = 0; left && t < ntries; t++) {
        struct vec v = tries[t];
        for (uint32_t i = 0; i < n; i++)
            ok[i] = !done[i];
        run_equal(m, src, 0, y, x0, n, v.dx, v.dy, ok);
        bool even = ((v.dx | v.dy) & 1) == 0;
        memcpy(chroma, ok, n);
        if (even) {
            run_equal(m, src, 1, y, x0, n, v.dx / 2, v.dy / 2, chroma);
            run_equal(m, src, 2, y, x0, n, v.dx / 2, v.dy / 2, chroma);
        }
        bool used = false;
        for (uint32_t i = 0; i < n; i++) {
            if (!ok[i])
                continue;
            uint32_t addr = y * m->mb_width + x0 + i;
            bool exact = even && chroma[i];
            m->kind[addr] = exact ? H264_MOVE_EXACT : H264_MOVE_LUMA;
            m->vec[addr] = v;
            m->stamp[addr] = m->picture;
            done[i] = 1;
            left--;
            found++;
            used = true;
        }
        if (used)
            remember(m, v);
    }
    return found;
}

/* Matches the damaged macroblocks against the old picture moved by each
 * candidate and last vector (not without `compare`: no old picture) and
 * marks those next to moved ones. Returns how many matched. */
static uint32_t match(struct h264_motion *m, const struct hfx_picture *src,
                      const struct hfx_mb_damage *damage, bool compare)
{
    struct vec tries[2 * MAX_CANDIDATES];
    int ntries = 0;
    for (int i = 0; i < m->ncand; i++)
        tries[ntries++] = m->cand[i];
    for (int i = 0; i < m->nlast; i++) {
        bool dup = false;
        for (int j = 0; j < ntries; j++)
            dup |= tries[j].dx == m->last[i].dx && tries[j].dy == m->last[i].dy;
        if (!dup)
            tries[ntries++] = m->last[i];
    }
    m->nlast = 0;
    if (!ntries)
        return 0;
    uint32_t found = 0;
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        for (uint32_t y = b->y1; y < b->y2; y++) {
            if (compare)
                found += match_run(m, src, y, b->x1, b->x2 - b->x1, tries, ntries);
            for (uint32_t x = b->x1; x < b->x2; x++)
                if (m->stamp[y * m->mb_width + x] != m->picture)
                    mark_nearby(m, x, y, b);
        }
    }
    return found;
}

/* The moves the caller found (damage->moved), taken without comparing
 * (those whose visible part would read outside the picture aside: the
 * caller's promise does not cover them). Returns how many were taken. */
static uint32_t take_hint(struct h264_motion *m, const struct hfx_mb_damage *damage)
{
    const struct hfx_mb_moves *h = &damage->moved;
    if (!h->dx && !h->dy)
        return 0;
    struct vec v = {(int16_t)h->dx, (int16_t)h->dy};
    bool even = ((h->dx | h->dy) & 1) == 0;
    uint32_t taken = 0;
    for (uint32_t i = 0; i < h->nboxes; i++) {
        const struct hfx_mb_box *b = &h->boxes[i];
        for (uint32_t y = b->y1; y < b->y2; y++)
            for (uint32_t x = b->x1; x < b->x2; x++) {
                /* The part inside the picture, read inside it: past an
                 * even edge lies padding the decoder crops (encoder.h). */
                int64_t vw = hfx_mb_hint_lines(x, m->width), vh = hfx_mb_hint_lines(y, m->height);
                int64_t sx = (int64_t)x * 16 + h->dx, sy = (int64_t)y * 16 + h->dy;
                if (!vw || !vh || sx < 0 || sy < 0 || sx + vw > m->width || sy + vh > m->height)
                    continue;
                uint32_t addr = y * m->mb_width + x;
                m->kind[addr] = even ? H264_MOVE_EXACT : H264_MOVE_LUMA;
                m->vec[addr] = v;
                m->stamp[addr] = m->picture;
                taken++;
            }
    }
    /* The rest of the damage tries the vector too: macroblocks at the
     * edges of the move are part moved. */
    add_candidate(m, h->dx, h->dy, taken);
    return taken;
}

/* Whether the hint settled most of the box: what it left is the content
 * that came into view beside the move, which no search finds (match still
 * tries the hint's vector and the last ones on it). */
static bool mostly_hinted(const struct h264_motion *m, const struct hfx_mb_box *b)
{
    uint32_t n = 0;
    for (uint32_t y = b->y1; y < b->y2; y++)
        for (uint32_t x = b->x1; x < b->x2; x++)
            n += m->stamp[y * m->mb_width + x] == m->picture;
    return 2 * n >= (b->x2 - b->x1) * (b->y2 - b->y1);
}

uint32_t h264_motion_find(struct h264_motion *m, const struct hfx_picture *src,
                          const struct hfx_mb_damage *damage)
{
    if (++m->picture == 0) {
        memset(m->stamp, 0, (size_t)m->mb_width * m->mb_height * sizeof *m->stamp);
        m->picture = 1;
    }
    uint32_t found = 0, hinted = 0;
    if (damage) {
        m->ncand = 0;
        found = hinted = take_hint(m, damage);
    }
    if (damage && m->prev_ok) {
        for (uint32_t i = 0; i < damage->nboxes; i++) {
            const struct hfx_mb_box *b = &damage->boxes[i];
            if ((b->x2 - b->x1) * (b->y2 - b->y1) < MIN_SEARCH_MBS || mostly_hinted(m, b) ||
                known_moves(m, src, b))
                continue;
            uint32_t x0 = b->x1 * 16, x1 = b->x2 * 16 < m->width ? b->x2 * 16 : m->width;
            uint32_t y0 = b->y1 * 16, y1 = b->y2 * 16 < m->height ? b->y2 * 16 : m->height;
            bool rows = x1 >= x0 + 8 && y1 > y0 + 1 && vote_rows(m, src, x0, x1, y0, y1);
            if (!rows)
                probe(m, src, b);
        }
    }
    if (damage) {
        sort_candidates(m);
        found += match(m, src, damage, m->prev_ok);
        /* After match, which keeps only the vectors it used. */
        if (hinted)
            remember(m, (struct vec){(int16_t)damage->moved.dx, (int16_t)damage->moved.dy});
    }
    /* While hints explain most of the damage (a scroll), the old picture
     * is not kept: updating it would copy the damage, most of a scroll's
     * cost here. The first frame without one keeps all of it again and
     * finds only what hints give. */
    if (damage && hinted && 2 * hinted >= damage->count) {
        m->prev_ok = false;
        return found;
    }
    if (!damage || !m->prev_ok) {
        hfx_picture_copy_rect(m->prev, src, 0, 0, m->prev->alloc_w, m->prev->alloc_h);
        m->prev_ok = true;
        return found;
    }
    for (uint32_t i = 0; i < damage->nboxes; i++) {
        const struct hfx_mb_box *b = &damage->boxes[i];
        hfx_picture_copy_rect(m->prev, src, b->x1 * 16, b->y1 * 16, (b->x2 - b->x1) * 16,
                              (b->y2 - b->y1) * 16);
    }
    return found;
}

enum h264_move_kind h264_motion_get(const struct h264_motion *m, uint32_t addr, int *dx, int *dy)
{
    if (m->stamp[addr] != m->picture)
        return H264_MOVE_NONE;
    *dx = m->vec[addr].dx;
    *dy = m->vec[addr].dy;
    return (enum h264_move_kind)m->kind[addr];
}
