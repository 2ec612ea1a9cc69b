#include "frontend/shm_map.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
        if (m->fd >= 0)
            close(m->fd);
        free(m);
    }
}

bool hfx_shm_map_busy(struct hfx_shm_map *m)
{
    return atomic_load_explicit(&m->refs, memory_order_acquire) > 1;
}

static void sync_read(struct hfx_shm_map *m, uint64_t when)
{
    if (m->fd < 0 || atomic_load_explicit(&m->no_sync, memory_order_relaxed))
        return;
    struct dma_buf_sync sync = {.flags = when | DMA_BUF_SYNC_READ};
    int rc;
    do
        rc = ioctl(m->fd, DMA_BUF_IOCTL_SYNC, &sync);
    while (rc < 0 && (errno == EINTR || errno == EAGAIN));
    /* Not a DMABUF (ENOTTY), or an exporter without the bracket: there is
     * nothing to bracket. */
    if (rc < 0)
        atomic_store_explicit(&m->no_sync, true, memory_order_relaxed);
}

void hfx_shm_map_begin_read(struct hfx_shm_map *m)
{
    sync_read(m, DMA_BUF_SYNC_START);
}

void hfx_shm_map_end_read(struct hfx_shm_map *m)
{
    sync_read(m, DMA_BUF_SYNC_END);
}

static void drop(struct hfx_shm_cache *c, int i)
{
    struct hfx_shm_map *m = c->maps[i];
    c->maps[i] = NULL;
    hfx_shm_map_unref(m);
}

int hfx_shm_fd_size(int fd, uint64_t *size, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "fstat: %s", strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        *size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
        return 0;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        snprintf(err, errlen, "cannot tell the buffer's size: lseek: %s", strerror(errno));
        return -1;
    }
    lseek(fd, 0, SEEK_SET);
    *size = (uint64_t)end;
    return 0;
}

const uint8_t *hfx_shm_cache_map_range(struct hfx_shm_cache *c, int fd, uint64_t start,
                                       uint64_t len, bool keep_fd, struct hfx_shm_map **map,
                                       char *err, size_t errlen)
{
    struct stat st;
    uint64_t size;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "fstat: %s", strerror(errno));
        return NULL;
    }
    if (hfx_shm_fd_size(fd, &size, err, errlen) < 0)
        return NULL;
    if (len == 0 || start > size || len > size - start) {
        snprintf(err, errlen, "bytes %llu..%llu are beyond the end of the buffer (%llu bytes)",
                 (unsigned long long)start, (unsigned long long)(start + len),
                 (unsigned long long)size);
        return NULL;
    }
    if (len > SIZE_MAX) {
        snprintf(err, errlen, "%llu bytes do not fit this address space",
                 (unsigned long long)len);
        return NULL;
    }
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    off_t from = (off_t)(start - start % (uint64_t)page);
    size_t span = (size_t)(start + len - (uint64_t)from);
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
        if (m->dev == st.st_dev && m->ino == st.st_ino && m->start == from && m->len == span) {
            m->used = ++c->clock;
            if (keep_fd && m->fd < 0)
                m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (map)
                *map = m;
            return m->base + (start - (uint64_t)from);
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
    uint8_t *base = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, from);
    if (base == MAP_FAILED) {
        snprintf(err, errlen, "mmap of %zu bytes: %s", span, strerror(errno));
        free(m);
        return NULL;
    }
    if (slot < 0) {
        slot = idle >= 0 ? idle : any;
        if (idle < 0)
            c->evicted_busy = true;
        drop(c, slot);
    }
    *m = (struct hfx_shm_map){.dev = st.st_dev, .ino = st.st_ino, .start = from, .len = span,
                              .base = base, .used = ++c->clock,
                              .fd = keep_fd ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1};
    atomic_init(&m->refs, 1);
    atomic_init(&m->no_sync, false);
    c->maps[slot] = m;
    if (map)
        *map = m;
    return base + (start - (uint64_t)from);
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
    return hfx_shm_cache_map_range(c, fd, offset, (uint64_t)stride * height, false, map, err,
                                   errlen);
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
