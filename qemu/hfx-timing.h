/*
 * helix-frame-export compiled into QEMU: how long the display callbacks and
 * the GL readbacks take (hfx-display.c reports it: `qom-get ID stats`).
 */
#ifndef HFX_TIMING_H
#define HFX_TIMING_H

/* Durations of the most recent calls of one kind, for percentiles. Written
 * by one thread; read for the statistics from another (a snapshot). */
#define HFX_TIMING_RING 8192

typedef struct HfxTiming {
    uint32_t ns[HFX_TIMING_RING];
    uint64_t calls;
    uint64_t max_ns;
    uint64_t total_ns;          /* for the exporter's CPU per flip (bench-vm) */
} HfxTiming;

int64_t hfx_timing_begin(void);
void hfx_timing_end(HfxTiming *t, int64_t t0);
/* "what: calls=N p50_us=... p99_us=... max_us=... total_us=..." */
char *hfx_timing_text(const char *what, const HfxTiming *t);

#endif
