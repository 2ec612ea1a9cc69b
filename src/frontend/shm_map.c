#include "frontend/shm_map.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

static void unmap(struct hfx_shm_map *m)
{
    munmap(m->base, m->len);
    *m = (struct hfx_shm_map){0};
}

const uint8_t *hfx_shm_cache_map(struct hfx_shm_cache *c, int fd, uint32_t offset,
                                 uint32_t width, uint32_t height, uint32_t stride, char *err,
                                 size_t errlen)
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
    long page = sysconf(_SC_PAGESIZE);
    off_t start = (off_t)(offset - offset % (uint32_t)page);
    size_t len = (size_t)(end - (uint64_t)start);
    struct hfx_shm_map *slot = &c->maps[0];
    for (int i = 0; i < HFX_SHM_MAPS; i++) {
        struct hfx_shm_map *m = &c->maps[i];
        if (m->base && m->dev == st.st_dev && m->ino == st.st_ino && m->start == start &&
            m->len == len) {
            m->used = ++c->clock;
            return m->base + (offset - start);
        }
        if (!m->base ? slot->base != NULL : (slot->base && m->used < slot->used))
            slot = m;
    }
    uint8_t *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, start);
    if (base == MAP_FAILED) {
        snprintf(err, errlen, "mmap of %zu bytes: %s", len, strerror(errno));
        return NULL;
    }
    if (slot->base)
        unmap(slot);
    *slot = (struct hfx_shm_map){st.st_dev, st.st_ino, start, len, base, ++c->clock};
    return base + (offset - start);
}

void hfx_shm_cache_clear(struct hfx_shm_cache *c, const uint8_t *keep)
{
    for (int i = 0; i < HFX_SHM_MAPS; i++) {
        struct hfx_shm_map *m = &c->maps[i];
        if (m->base && !(keep && keep >= m->base && keep < m->base + m->len))
            unmap(m);
    }
}
