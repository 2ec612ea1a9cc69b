/* A sink for the engine that collects its packets and counts ended streams,
 * for the tests that check what an engine encodes (test_engine, and the
 * D-Bus front end's test_qemu_dbus_gl). */
#ifndef HFX_TESTS_COLLECTOR_H
#define HFX_TESTS_COLLECTOR_H

#include <pthread.h>

#include "engine/engine.h"

#define MAX_PKTS 4096

struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct hfx_packet *pkts[MAX_PKTS];
    int n;
    int ended[HFX_MAX_SCANOUTS];
    /* Milliseconds each packet keeps the engine's worker (the sink runs on
     * it), set before the packets come: updates handed in meanwhile
     * coalesce, whatever the machine's speed. */
    int hold_ms;
};

/* sink_data: the collector. */
extern const struct hfx_engine_sink col_sink;

void col_init(struct collector *c);
/* Drops every packet collected. */
void col_clear(struct collector *c);
/* Waits until at least n packets are collected; returns how many there are. */
int col_wait(struct collector *c, int n, int timeout_ms);
int col_count(struct collector *c);
int col_ended(struct collector *c, uint32_t scanout);
/* Waits until no packet has arrived for 300 ms: the engine is done. */
void col_settle(struct collector *c);

#endif
