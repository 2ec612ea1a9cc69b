#include "common/ring.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint32_t hfx_ring_unit(uint32_t stride)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 && stride ? (uint32_t)((uint64_t)page / gcd((uint64_t)page, stride)) : 1;
}

int hfx_ring_init(struct hfx_ring *r, uint32_t stride, uint32_t rows)
{
    memset(r, 0, sizeof *r);
    if (stride == 0 || rows == 0)
        return -1;
    /* Each mapping is whole pages: rows rounded up to a multiple of the
     * rows that make one. */
    uint64_t unit = hfx_ring_unit(stride);
    uint64_t n = ((uint64_t)rows + unit - 1) / unit * unit;
    if (n > UINT32_MAX || n * stride > SIZE_MAX / 2)
        return -1;
    size_t size = (size_t)(n * stride);
    int fd = memfd_create("hfx-ring", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t *map = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0)
        map = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map != MAP_FAILED &&
        (mmap(map, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
         mmap(map + size, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
             MAP_FAILED)) {
        munmap(map, 2 * size);
        map = MAP_FAILED;
    }
    close(fd);
    if (map == MAP_FAILED)
        return -1;
    r->map = map;
    r->size = size;
    r->stride = stride;
    r->rows = (uint32_t)n;
    return 0;
}

void hfx_ring_fini(struct hfx_ring *r)
{
    if (r->map)
        munmap(r->map, 2 * r->size);
    memset(r, 0, sizeof *r);
}
