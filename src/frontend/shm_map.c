#include "frontend/shm_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

struct hfx_shm_map *hfx_shm_map_ref(struct hfx_shm_map *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void hfx_shm_map_unref(struct hfx_shm_map *m)
{
    /* acq_rel: the reader's last access to the pixels happens before the
     * munmap on whichever thread drops the last reference. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        munmap(m->base, m->len);
        free(m);
    }
}

bool hfx_shm_map_busy(struct hfx_shm_map *m)
{
    return atomic_load_explicit(&m->refs, memory_order_acquire) > 1;
}

static void drop(struct hfx_shm_cache *c, int i)
{
    struct hfx_shm_map *m = c->maps[i];
    c->maps[i] = NULL;
    hfx_shm_map_unref(m);
}

const uint8_t *hfx_shm_cache_map(struct hfx_shm_cache *c, int fd, uint32_t offset,
                                 uint32_t width, uint32_t height, uint32_t stride,
                                 struct hfx_shm_map **map, char *err, size_t errlen)
{
    if (width < 2 || height < 2 || width > HFX_MAX_WIDTH || height > HFX_MAX_HEIGHT) {
        snprintf(err, errlen, "size %ux%u out of range", width, height);
        return NULL;
    }
    if (stride < width * 4 || stride > HFX_MAX_WIDTH * 4 || stride % 4 || offset % 4) {
        snprintf(err, errlen, "stride %u or offset %u does not fit width %u", stride, offset,
                 width);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "fstat: %s", strerror(errno));
        return NULL;
    }
    uint64_t end = (uint64_t)offset + (uint64_t)stride * height;
    if (st.st_size < 0 || end > (uint64_t)st.st_size) {
        snprintf(err, errlen, "offset %u + stride %u * height %u = %llu is beyond the end of "
                 "the shared memory (%lld bytes)", offset, stride, height,
                 (unsigned long long)end, (long long)st.st_size);
        return NULL;
    }
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    off_t start = (off_t)(offset - offset % (uint32_t)page);
    size_t len = (size_t)(end - (uint64_t)start);
    /* Room: a free slot, else the least recently used idle mapping, else
     * the least recently used one. */
    int slot = -1, idle = -1, any = -1;
    for (int i = 0; i < HFX_SHM_MAPS; i++) {
        struct hfx_shm_map *m = c->maps[i];
        if (!m) {
            if (slot < 0)
                slot = i;
            continue;
        }
        if (m->dev == st.st_dev && m->ino == st.st_ino && m->start == start && m->len == len) {
            m->used = ++c->clock;
            if (map)
                *map = m;
            return m->base + (offset - start);
        }
        if (any < 0 || m->used < c->maps[any]->used)
            any = i;
        if (!hfx_shm_map_busy(m) && (idle < 0 || m->used < c->maps[idle]->used))
            idle = i;
    }
    struct hfx_shm_map *m = malloc(sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uint8_t *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, start);
    if (base == MAP_FAILED) {
        snprintf(err, errlen, "mmap of %zu bytes: %s", len, strerror(errno));
        free(m);
        return NULL;
    }
    if (slot < 0) {
        slot = idle >= 0 ? idle : any;
        if (idle < 0)
            c->evicted_busy = true;
        drop(c, slot);
    }
    *m = (struct hfx_shm_map){.dev = st.st_dev, .ino = st.st_ino, .start = start, .len = len,
                              .base = base, .used = ++c->clock};
    atomic_init(&m->refs, 1);
    c->maps[slot] = m;
    if (map)
        *map = m;
    return base + (offset - start);
}

struct hfx_shm_map *hfx_shm_cache_find(struct hfx_shm_cache *c, const uint8_t *p)
{
    for (int i = 0; i < HFX_SHM_MAPS; i++) {
        struct hfx_shm_map *m = c->maps[i];
        if (m && p >= m->base && p < m->base + m->len)
            return m;
    }
    return NULL;
}

void hfx_shm_cache_clear(struct hfx_shm_cache *c, const uint8_t *keep)
{
    for (int i = 0; i < HFX_SHM_MAPS; i++) {
        struct hfx_shm_map *m = c->maps[i];
        if (m && !(keep && keep >= m->base && keep < m->base + m->len))
            drop(c, i);
    }
}
