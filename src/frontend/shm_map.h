/* Read-only mappings of the memfds QEMU 10 shares its display surfaces
 * through (org.qemu.Display1.Listener.Unix.Map: ScanoutMap hands over a
 * memfd, UpdateMap says which rectangle of it changed).
 *
 * A guest that page-flips shows two or three buffers in turn, and QEMU sends
 * a ScanoutMap with a new fd for each flip: the cache recognises a buffer by
 * its file (st_dev, st_ino) and the range mapped, so a flip back to a buffer
 * seen before costs an fstat, not an mmap and a munmap. It holds at most
 * HFX_SHM_MAPS mappings and drops the least recently used one to make room.
 *
 * The cache itself is single-threaded (one per console, used on the front
 * end's thread, or under its lock). A mapping is reference-counted: the
 * cache holds one reference, and whoever reads the surface later on another
 * thread (the engine's deferred compare) takes one with hfx_shm_map_ref and
 * drops it with hfx_shm_map_unref (any thread); the memory is unmapped when
 * the last reference goes, so eviction and hfx_shm_cache_clear never pull a
 * mapping from under a reader, and never wait for one either.
 *
 * QEMU's GL scanouts (ScanoutDMABUF) are DMABUFs: mapped the same way once
 * their layout is checked (frontend/dmabuf.h), with the mapping keeping a
 * duplicate of the fd for the CPU-access bracket DMA_BUF_IOCTL_SYNC wants
 * around reads (hfx_shm_map_begin_read/end_read). A DMABUF's size is not
 * in fstat's st_size: it comes from lseek(SEEK_END). */
#ifndef HFX_FRONTEND_SHM_MAP_H
#define HFX_FRONTEND_SHM_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HFX_SHM_MAPS 4

struct hfx_shm_map {
    atomic_int refs;        /* the cache's (while cached) and one per reader */
    dev_t dev;
    ino_t ino;
    off_t start;            /* page-aligned file offset of base */
    size_t len;             /* bytes mapped from start */
    uint8_t *base;
    int fd;                 /* a duplicate kept for DMA_BUF_IOCTL_SYNC; -1: none */
    atomic_bool no_sync;    /* the fd refused DMA_BUF_IOCTL_SYNC (not a DMABUF) */
    uint64_t used;          /* the cache's clock at its last use */
    /* The front end's: a reader may have seen the buffer change under it
     * (qemu_dbus.c). Touched only by the cache's owner. */
    bool suspect;
};

struct hfx_shm_cache {
    struct hfx_shm_map *maps[HFX_SHM_MAPS];    /* NULL: free slot */
    uint64_t clock;
    /* Set when making room dropped a mapping that still had readers (every
     * slot was busy); the owner clears it. */
    bool evicted_busy;
};

/* The surface at `offset` in fd: height rows of `stride` bytes, each with
 * width 32-bit pixels. Checks the geometry (2..HFX_MAX_WIDTH x
 * 2..HFX_MAX_HEIGHT, stride at least width * 4 and at most
 * HFX_MAX_WIDTH * 4, 4-byte aligned offset and stride) and that offset +
 * stride * height lies within the file, maps that range PROT_READ/MAP_SHARED
 * (or finds it mapped already) and returns its first pixel; *map (if not
 * NULL) is the cache's mapping, valid while it stays cached unless the
 * caller takes a reference. Making room drops the least recently used
 * mapping without readers (or, if all have some, the least recently used).
 * NULL with err filled when it cannot. fd stays the caller's. */
const uint8_t *hfx_shm_cache_map(struct hfx_shm_cache *c, int fd, uint32_t offset,
                                 uint32_t width, uint32_t height, uint32_t stride,
                                 struct hfx_shm_map **map, char *err, size_t errlen);
/* The size of what fd refers to: st_size for a file (a memfd), else where
 * lseek(SEEK_END) lands (a DMABUF; the offset is put back to 0). -1 with
 * err filled when neither tells (a pipe, a socket). */
int hfx_shm_fd_size(int fd, uint64_t *size, char *err, size_t errlen);
/* The bytes [start, start + len) of fd, which must lie within its size
 * (hfx_shm_fd_size), mapped PROT_READ/MAP_SHARED or found mapped already,
 * as hfx_shm_cache_map does; returns the byte at start. With keep_fd the
 * mapping holds a duplicate of fd (for hfx_shm_map_begin_read). NULL with
 * err filled when it cannot. */
const uint8_t *hfx_shm_cache_map_range(struct hfx_shm_cache *c, int fd, uint64_t start,
                                       uint64_t len, bool keep_fd, struct hfx_shm_map **map,
                                       char *err, size_t errlen);
/* Drops the cache's reference to every mapping but the one holding `keep`
 * (NULL: all of them); those without readers are unmapped at once. */
void hfx_shm_cache_clear(struct hfx_shm_cache *c, const uint8_t *keep);
/* The cached mapping holding p, or NULL. */
struct hfx_shm_map *hfx_shm_cache_find(struct hfx_shm_cache *c, const uint8_t *p);

struct hfx_shm_map *hfx_shm_map_ref(struct hfx_shm_map *m);
void hfx_shm_map_unref(struct hfx_shm_map *m);
/* Whether anyone but the cache holds a reference (a reader in flight). */
bool hfx_shm_map_busy(struct hfx_shm_map *m);
/* Brackets CPU reads of a DMABUF mapping (DMA_BUF_IOCTL_SYNC, START or END
 * with READ; START waits for the GPU's pending writes where the exporter
 * fences them). Any thread; nothing for a mapping without a kept fd, and
 * nothing more once the fd has refused the ioctl (a memfd: ENOTTY). */
void hfx_shm_map_begin_read(struct hfx_shm_map *m);
void hfx_shm_map_end_read(struct hfx_shm_map *m);

#endif
