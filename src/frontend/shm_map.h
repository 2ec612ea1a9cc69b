/* Read-only mappings of the memfds QEMU 10 shares its display surfaces
 * through (org.qemu.Display1.Listener.Unix.Map: ScanoutMap hands over a
 * memfd, UpdateMap says which rectangle of it changed).
 *
 * A guest that page-flips shows two or three buffers in turn, and QEMU sends
 * a ScanoutMap with a new fd for each flip: the cache recognises a buffer by
 * its file (st_dev, st_ino) and the range mapped, so a flip back to a buffer
 * seen before costs an fstat, not an mmap and a munmap. It holds at most
 * HFX_SHM_MAPS mappings and unmaps the least recently used one to make room.
 *
 * Single-threaded: one cache per console, used on the front end's thread. A
 * pointer from hfx_shm_cache_map stays valid until the cache evicts that
 * mapping (only while mapping another one: the most recently used one is
 * never evicted) or hfx_shm_cache_clear. */
#ifndef HFX_FRONTEND_SHM_MAP_H
#define HFX_FRONTEND_SHM_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HFX_SHM_MAPS 4

struct hfx_shm_map {
    dev_t dev;
    ino_t ino;
    off_t start;            /* page-aligned file offset of base */
    size_t len;             /* bytes mapped from start */
    uint8_t *base;          /* NULL: free slot */
    uint64_t used;          /* the cache's clock at its last use */
};

struct hfx_shm_cache {
    struct hfx_shm_map maps[HFX_SHM_MAPS];
    uint64_t clock;
};

/* The surface at `offset` in fd: height rows of `stride` bytes, each with
 * width 32-bit pixels. Checks the geometry (2..HFX_MAX_WIDTH x
 * 2..HFX_MAX_HEIGHT, stride at least width * 4 and at most
 * HFX_MAX_WIDTH * 4, 4-byte aligned offset and stride) and that offset +
 * stride * height lies within the file, maps that range PROT_READ/MAP_SHARED
 * (or finds it mapped already) and returns its first pixel. NULL with err
 * filled when it cannot. fd stays the caller's. */
const uint8_t *hfx_shm_cache_map(struct hfx_shm_cache *c, int fd, uint32_t offset,
                                 uint32_t width, uint32_t height, uint32_t stride, char *err,
                                 size_t errlen);
/* Unmaps every mapping but the one holding `keep` (NULL: all of them). */
void hfx_shm_cache_clear(struct hfx_shm_cache *c, const uint8_t *keep);

#endif
