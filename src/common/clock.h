#ifndef HFX_COMMON_CLOCK_H
#define HFX_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds: the clock every timestamp in the engine,
 * the server and the benchmarks is read from, so they can be subtracted. */
static inline int64_t hfx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
