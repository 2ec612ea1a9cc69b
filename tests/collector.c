#include "collector.h"

#include <string.h>
#include <time.h>

static void on_packet(void *data, struct hfx_packet *pkt)
{
    struct collector *c = data;
    pthread_mutex_lock(&c->lock);
    if (c->n < MAX_PKTS)
        c->pkts[c->n++] = pkt;
    else
        hfx_packet_unref(pkt);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (c->hold_ms)
        nanosleep(&(struct timespec){.tv_nsec = (long)c->hold_ms * 1000000}, NULL);
}

static void on_ended(void *data, uint32_t scanout)
{
    struct collector *c = data;
    pthread_mutex_lock(&c->lock);
    c->ended[scanout]++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

const struct hfx_engine_sink col_sink = {.packet = on_packet, .scanout_ended = on_ended};

void col_init(struct collector *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

void col_clear(struct collector *c)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++)
        hfx_packet_unref(c->pkts[i]);
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

int col_wait(struct collector *c, int n, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->lock);
    while (c->n < n && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
        ;
    int got = c->n;
    pthread_mutex_unlock(&c->lock);
    return got;
}

int col_count(struct collector *c)
{
    pthread_mutex_lock(&c->lock);
    int n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

int col_ended(struct collector *c, uint32_t scanout)
{
    pthread_mutex_lock(&c->lock);
    int n = c->ended[scanout];
    pthread_mutex_unlock(&c->lock);
    return n;
}

void col_settle(struct collector *c)
{
    int prev = -1;
    while (prev != col_count(c)) {
        prev = col_count(c);
        struct timespec ts = {0, 300 * 1000000};
        nanosleep(&ts, NULL);
    }
}
