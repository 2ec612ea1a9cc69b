/* The D-Bus front end's cache of read-only memfd mappings (QEMU 10's
 * ScanoutMap): arguments checked against the file, a buffer seen again found
 * by its file rather than mapped again, the least recently used mapping
 * evicted, the mapping read-only; references: a mapping a reader holds
 * outlives eviction and clearing, and goes when its last reference does.
 * DMABUFs (ScanoutDMABUF) by byte range, with the fd kept for the
 * DMA_BUF_IOCTL_SYNC bracket, which a memfd refuses. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "frontend/shm_map.h"

#define W 64
#define H 32
#define STRIDE (W * 4)

static int buffer(uint8_t fill)
{
    int fd = memfd_create("surface", MFD_CLOEXEC);
    uint8_t row[STRIDE];
    memset(row, fill, sizeof row);
    ftruncate(fd, STRIDE * H);
    for (int y = 0; y < H; y++)
        pwrite(fd, row, sizeof row, (off_t)y * STRIDE);
    return fd;
}

static int mapped(const struct hfx_shm_cache *c)
{
    int n = 0;
    for (int i = 0; i < HFX_SHM_MAPS; i++)
        n += c->maps[i] != NULL;
    return n;
}

/* Whether [p, p + len) is mapped in this process. */
static bool is_mapped(const uint8_t *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);
    unsigned char vec[64];
    return mincore((void *)a, len, vec) == 0 || errno != ENOMEM;
}

static void *unref_thread(void *m)
{
    hfx_shm_map_unref(m);
    return NULL;
}

static sigjmp_buf fault;
static void on_segv(int sig)
{
    siglongjmp(fault, 1);
}

int main(void)
{
    struct hfx_shm_cache c = {0};
    char err[256];
    int a = buffer(0x11);

    /* Refusals, each with a reason. */
    CHECK(!hfx_shm_cache_map(&c, a, 0, W, H + 1, STRIDE, NULL, err, sizeof err), "past the end");
    CHECK(strstr(err, "beyond the end"), "%s", err);
    CHECK(!hfx_shm_cache_map(&c, a, 4, W, H, STRIDE, NULL, err, sizeof err), "offset past the end");
    CHECK(!hfx_shm_cache_map(&c, a, 0, W, H, STRIDE - 4, NULL, err, sizeof err), "short stride");
    CHECK(!hfx_shm_cache_map(&c, a, 0, 1, H, STRIDE, NULL, err, sizeof err), "too narrow");
    CHECK(!hfx_shm_cache_map(&c, a, 0, 9000, 2, 9000 * 4, NULL, err, sizeof err), "too wide");
    CHECK(!hfx_shm_cache_map(&c, a, 2, W, H - 1, STRIDE, NULL, err, sizeof err), "unaligned offset");
    CHECK(!hfx_shm_cache_map(&c, -1, 0, W, H, STRIDE, NULL, err, sizeof err), "bad fd");
    CHECK(mapped(&c) == 0, "nothing mapped after refusals");

    /* The same buffer through another fd (QEMU sends a new one each time). */
    const uint8_t *pa = hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, NULL, err, sizeof err);
    CHECK(pa && pa[0] == 0x11 && pa[STRIDE * H - 1] == 0x11, "%s", err);
    int a2 = dup(a);
    CHECK(hfx_shm_cache_map(&c, a2, 0, W, H, STRIDE, NULL, err, sizeof err) == pa, "cache hit");
    close(a2);
    /* An offset within the same page range is another surface. */
    const uint8_t *pa4 = hfx_shm_cache_map(&c, a, STRIDE, W, H - 1, STRIDE, NULL, err, sizeof err);
    CHECK(pa4 && pa4 != pa && pa4[0] == 0x11, "offset surface: %s", err);
    hfx_shm_cache_clear(&c, pa);
    CHECK(mapped(&c) == 1 && hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, NULL, err, sizeof err) == pa,
          "clear keeps the one asked for");

    /* Shared: what the owner writes shows through. */
    uint8_t x = 0x77;
    pwrite(a, &x, 1, 5);
    CHECK(pa[5] == 0x77, "MAP_SHARED");

    /* Read-only. */
    signal(SIGSEGV, on_segv);
    volatile int wrote = 0;
    if (!sigsetjmp(fault, 1)) {
        *(volatile uint8_t *)pa = 0;
        wrote = 1;
    }
    signal(SIGSEGV, SIG_DFL);
    CHECK(!wrote, "the mapping is writable");

    /* Bounded: a fifth buffer evicts the least recently used one, not the
     * one used last. */
    int fds[HFX_SHM_MAPS + 1];
    const uint8_t *p[HFX_SHM_MAPS + 1];
    fds[0] = a;
    p[0] = pa;
    for (int i = 1; i <= HFX_SHM_MAPS; i++) {
        fds[i] = buffer((uint8_t)(0x20 + i));
        if (i == HFX_SHM_MAPS)  /* touch a: buffer 1 is now the oldest */
            CHECK(hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, NULL, err, sizeof err) == pa, "hit");
        p[i] = hfx_shm_cache_map(&c, fds[i], 0, W, H, STRIDE, NULL, err, sizeof err);
        CHECK(p[i] && p[i][0] == 0x20 + i, "buffer %d: %s", i, err);
    }
    CHECK(mapped(&c) == HFX_SHM_MAPS, "%d mapped", mapped(&c));
    CHECK(hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, NULL, err, sizeof err) == pa, "a kept");
    for (int i = 2; i <= HFX_SHM_MAPS; i++)
        CHECK(hfx_shm_cache_map(&c, fds[i], 0, W, H, STRIDE, NULL, err, sizeof err) == p[i],
              "buffer %d kept", i);
    CHECK(mapped(&c) == HFX_SHM_MAPS, "still %d", mapped(&c));
    hfx_shm_cache_clear(&c, NULL);
    CHECK(mapped(&c) == 0, "clear unmaps all");
    CHECK(!is_mapped(pa, STRIDE), "cleared and unmapped");

    /* References: what a reader holds survives clear, and goes with its
     * last reference, whichever thread drops it. */
    struct hfx_shm_map *m = NULL;
    pa = hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, &m, err, sizeof err);
    CHECK(pa && m && pa == m->base && !hfx_shm_map_busy(m), "%s", err);
    hfx_shm_map_ref(m);
    CHECK(hfx_shm_map_busy(m), "busy with a reader");
    CHECK(hfx_shm_cache_find(&c, pa + 100) == m && !hfx_shm_cache_find(&c, pa - 1), "find");
    hfx_shm_cache_clear(&c, NULL);
    CHECK(mapped(&c) == 0 && is_mapped(pa, STRIDE * H) && pa[STRIDE * H - 1] == 0x11,
          "a reader's mapping survives clear");
    pthread_t th;
    pthread_create(&th, NULL, unref_thread, m);
    pthread_join(th, NULL);
    CHECK(!is_mapped(pa, STRIDE), "unmapped with the last reference");

    /* Making room spares mappings with readers while an idle one is left:
     * the oldest (buffer 1) is busy, so buffer 2 goes. */
    struct hfx_shm_map *busy[HFX_SHM_MAPS + 1];
    for (int i = 1; i <= HFX_SHM_MAPS; i++)
        p[i] = hfx_shm_cache_map(&c, fds[i], 0, W, H, STRIDE, &busy[i], err, sizeof err);
    hfx_shm_map_ref(busy[1]);
    pa = hfx_shm_cache_map(&c, a, 0, W, H, STRIDE, NULL, err, sizeof err);
    CHECK(pa && !c.evicted_busy, "%s", err);
    CHECK(hfx_shm_cache_find(&c, p[1]) == busy[1] && !hfx_shm_cache_find(&c, p[2]),
          "the idle one went, not the busy one");
    CHECK(!is_mapped(p[2], STRIDE), "buffer 2 unmapped");
    /* Every slot busy: the least recently used goes anyway, stays mapped
     * for its reader, and the cache says so. */
    for (int i = 3; i <= HFX_SHM_MAPS; i++)
        hfx_shm_map_ref(busy[i]);
    struct hfx_shm_map *ma = hfx_shm_cache_find(&c, pa);
    hfx_shm_map_ref(ma);
    p[2] = hfx_shm_cache_map(&c, fds[2], 0, W, H, STRIDE, NULL, err, sizeof err);
    CHECK(p[2] && c.evicted_busy && !hfx_shm_cache_find(&c, p[1]), "evicted busy: %s", err);
    CHECK(is_mapped(p[1], STRIDE * H) && p[1][0] == 0x21, "still readable for its reader");
    hfx_shm_map_unref(busy[1]);
    CHECK(!is_mapped(p[1], STRIDE), "then unmapped");
    for (int i = 3; i <= HFX_SHM_MAPS; i++)
        hfx_shm_map_unref(busy[i]);
    hfx_shm_map_unref(ma);
    CHECK(mapped(&c) == HFX_SHM_MAPS, "%d mapped", mapped(&c));
    hfx_shm_cache_clear(&c, NULL);
    CHECK(!is_mapped(pa, STRIDE) && !is_mapped(p[3], STRIDE), "all gone");

    /* DMABUFs (ScanoutDMABUF) by byte range, a memfd standing in: the size
     * comes from st_size for a file, a pipe has none; the mapping keeps a
     * duplicate of the fd for DMA_BUF_IOCTL_SYNC, which a memfd refuses
     * (ENOTTY): tolerated, and not asked again; the duplicate goes with the
     * mapping. */
    uint64_t size = 0;
    CHECK(hfx_shm_fd_size(a, &size, err, sizeof err) == 0 && size == STRIDE * H, "size %llu: %s",
          (unsigned long long)size, err);
    int pfd[2];
    CHECK(pipe(pfd) == 0 && hfx_shm_fd_size(pfd[0], &size, err, sizeof err) < 0 &&
              strstr(err, "size"), "a pipe's size: %s", err);
    CHECK(!hfx_shm_cache_map_range(&c, pfd[0], 0, 64, true, NULL, err, sizeof err), "a pipe mapped");
    close(pfd[0]);
    close(pfd[1]);
    CHECK(!hfx_shm_cache_map_range(&c, a, STRIDE, STRIDE * H, true, NULL, err, sizeof err) &&
              strstr(err, "beyond the end"), "range past the end: %s", err);
    CHECK(!hfx_shm_cache_map_range(&c, a, 0, 0, true, NULL, err, sizeof err), "empty range");
    struct hfx_shm_map *dm = NULL;
    const uint8_t *pd = hfx_shm_cache_map_range(&c, a, 8, STRIDE, true, &dm, err, sizeof err);
    CHECK(pd && dm && pd == dm->base + 8 && dm->fd >= 0 && dm->fd != a &&
              (fcntl(dm->fd, F_GETFD) & FD_CLOEXEC), "range with its fd kept: %s", err);
    int kept = dm ? dm->fd : -1;
    hfx_shm_map_begin_read(dm);
    CHECK(atomic_load(&dm->no_sync), "a memfd took DMA_BUF_IOCTL_SYNC");
    hfx_shm_map_end_read(dm);
    hfx_shm_cache_clear(&c, NULL);
    CHECK(fcntl(kept, F_GETFD) < 0 && errno == EBADF, "the kept fd outlived its mapping");

    for (int i = 0; i <= HFX_SHM_MAPS; i++)
        close(fds[i]);
    return check_summary("shm_map");
}
