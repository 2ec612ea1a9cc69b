/* The few assertion helpers the C tests share: a failed check prints where
 * and why, counts, and lets the test go on so one run shows every failure;
 * and sleep_ms, for the tests that wait for threads. */
#ifndef HFX_TESTS_CHECK_H
#define HFX_TESTS_CHECK_H

#include <stdio.h>
#include <time.h>

static int check_failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            check_failures++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static inline int check_summary(const char *name)
{
    if (check_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    else
        fprintf(stderr, "%s: all checks passed\n", name);
    return check_failures ? 1 : 0;
}

#endif
