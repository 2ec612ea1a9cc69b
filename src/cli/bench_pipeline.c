/* The benchmark's exporter: the server and engine wired as hfx serve wires
 * them, in-process, with subscribers on threads of their own that timestamp
 * every frame when its last byte has been read. The bench thread itself is
 * the front end. */
#include "cli/bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/client.h"
#include "common/clock.h"
#include "server/exporter.h"

struct bench_sub {
    struct hfx_conn conn;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t cond;        /* a frame arrived or the stream ended */
    struct bench_frame *frames;
    size_t n, cap;
    int64_t newest_pts;
    bool ended;
    char err[256];
};

struct bench_pipeline {
    struct hfx_exporter x;
    bool running;
    char addr[64];
    pthread_mutex_t lock;       /* guards packets: the workers append */
    struct bench_packet *packets;
    size_t npackets, cap;
    struct bench_sub subs[HFX_MAX_SCANOUTS];
};

static bool grow(void **array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 256;
    void *a = realloc(*array, n * elem);
    if (!a)
        return false;
    *array = a;
    *cap = n;
    return true;
}

/* ---- the engine's output, on its way to the server ---- */

/* The per-frame costs (convert, encode, first damage) never reach the wire,
 * so the packets pass through here first to be noted down; the subscriber's
 * frames are joined with these notes by pts afterwards. */
static void note_packet(void *data, const struct hfx_packet *pkt)
{
    struct bench_pipeline *p = data;
    struct bench_packet rec = {
        .scanout = pkt->scanout,
        .pts_ns = pkt->pts_ns,
        .first_damage_ns = pkt->first_damage_ns,
        .convert_ns = pkt->convert_ns,
        .encode_ns = pkt->encode_ns,
        .au_size = pkt->au_size,
    };
    pthread_mutex_lock(&p->lock);
    if (grow((void **)&p->packets, &p->cap, p->npackets + 1, sizeof *p->packets))
        p->packets[p->npackets++] = rec;
    pthread_mutex_unlock(&p->lock);
}

/* ---- subscribers ---- */

static int keep_frame(struct bench_sub *sub, const struct hxfr_frame *f, int64_t recv_ns)
{
    struct bench_frame fr = {.recv_ns = recv_ns, .pts_ns = f->pts_ns, .au_size = f->au_size,
                             .keyframe = f->keyframe};
    fr.au = malloc(f->au_size ? f->au_size : 1);
    if (!fr.au)
        return -1;
    memcpy(fr.au, f->au, f->au_size);
    pthread_mutex_lock(&sub->lock);
    bool ok = grow((void **)&sub->frames, &sub->cap, sub->n + 1, sizeof *sub->frames);
    if (ok) {
        sub->frames[sub->n++] = fr;
        if (fr.pts_ns > sub->newest_pts)
            sub->newest_pts = fr.pts_ns;
        pthread_cond_broadcast(&sub->cond);
    }
    pthread_mutex_unlock(&sub->lock);
    if (!ok)
        free(fr.au);
    return ok ? 0 : -1;
}

static void *reader_main(void *arg)
{
    struct bench_sub *sub = arg;
    char err[256] = "";
    for (;;) {
        struct hxfr_msg m;
        int r = hfx_conn_read(&sub->conn, &m, -1, err, sizeof err);
        /* Taken before anything else so copying the frame is not counted. */
        int64_t now = hfx_now_ns();
        if (r <= 0)
            break;
        if (m.h.type == HXFR_FRAME_RESPONSE && keep_frame(sub, &m.u.frame, now) < 0) {
            snprintf(err, sizeof err, "out of memory for the frames received");
            break;
        }
    }
    pthread_mutex_lock(&sub->lock);
    sub->ended = true;
    snprintf(sub->err, sizeof sub->err, "%s", err);
    pthread_cond_broadcast(&sub->cond);
    pthread_mutex_unlock(&sub->lock);
    return NULL;
}

int bench_subscribe(struct bench_pipeline *p, uint32_t scanout, char *err, size_t errlen)
{
    struct bench_sub *sub = &p->subs[scanout];
    if (hfx_conn_open(&sub->conn, p->addr, err, errlen) < 0)
        return -1;
    if (hfx_conn_subscribe(&sub->conn, scanout, 5000, err, errlen) < 0) {
        hfx_conn_close(&sub->conn);
        return -1;
    }
    if (pthread_create(&sub->thread, NULL, reader_main, sub) != 0) {
        snprintf(err, errlen, "cannot start a subscriber thread");
        hfx_conn_close(&sub->conn);
        return -1;
    }
    sub->running = true;
    return 0;
}

int bench_wait_frame(struct bench_pipeline *p, uint32_t scanout, int64_t min_pts, int timeout_ms,
                     char *err, size_t errlen)
{
    struct bench_sub *sub = &p->subs[scanout];
    int64_t deadline = hfx_now_ns() + (int64_t)timeout_ms * 1000000;
    struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
    int rc = 0;
    pthread_mutex_lock(&sub->lock);
    while (sub->newest_pts < min_pts && !sub->ended && rc == 0)
        rc = pthread_cond_timedwait(&sub->cond, &sub->lock, &ts);
    bool ok = sub->newest_pts >= min_pts;
    if (!ok && sub->ended)
        snprintf(err, errlen, "the stream of scanout %u ended: %s", scanout, sub->err);
    else if (!ok)
        snprintf(err, errlen, "scanout %u: the frame waited for did not arrive within %d ms",
                 scanout, timeout_ms);
    pthread_mutex_unlock(&sub->lock);
    return ok ? 0 : -1;
}

int64_t bench_subscribers_cpu_ns(struct bench_pipeline *p)
{
    int64_t sum = 0;
    for (int i = 0; i < HFX_MAX_SCANOUTS; i++) {
        clockid_t id;
        struct timespec ts;
        if (p->subs[i].running && pthread_getcpuclockid(p->subs[i].thread, &id) == 0 &&
            clock_gettime(id, &ts) == 0)
            sum += (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    return sum;
}

/* ---- life cycle ---- */

static void init_subs(struct bench_pipeline *p)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    /* Deadlines are computed from hfx_now_ns. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < HFX_MAX_SCANOUTS; i++) {
        struct bench_sub *sub = &p->subs[i];
        sub->conn.fd = -1;
        sub->newest_pts = -1;
        pthread_mutex_init(&sub->lock, NULL);
        pthread_cond_init(&sub->cond, &ca);
    }
    pthread_condattr_destroy(&ca);
}

struct bench_pipeline *bench_pipeline_start(const struct bench_pipeline_config *cfg, char *err,
                                            size_t errlen)
{
    struct bench_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    init_subs(p);
    /* Port 0: several benchmarks (or a running hfx serve) must not collide. */
    struct hfx_server_config scfg = {.listen = {"tcp:127.0.0.1:0"}, .nlisten = 1};
    struct hfx_engine_config ecfg = {
        .max_scanouts = cfg->scanouts,
        .encoder = cfg->encoder,
        .threads = cfg->threads,
        .no_damage_hints = cfg->no_damage_hints,
        .idle_refresh_ms = cfg->idle_refresh_ms,
    };
    p->x.observe = note_packet;
    p->x.observe_data = p;
    if (hfx_exporter_init(&p->x, &scfg, &ecfg, err, errlen) < 0) {
        bench_pipeline_free(p);
        return NULL;
    }
    p->running = true;
    if (hfx_exporter_start_thread(&p->x, err, errlen) < 0) {
        bench_pipeline_free(p);
        return NULL;
    }
    snprintf(p->addr, sizeof p->addr, "tcp:127.0.0.1:%d", hfx_server_port(p->x.server, 0));
    return p;
}

struct hfx_engine *bench_pipeline_engine(struct bench_pipeline *p)
{
    return p->x.engine;
}

void bench_pipeline_halt(struct bench_pipeline *p)
{
    for (int i = 0; i < HFX_MAX_SCANOUTS; i++) {
        struct bench_sub *sub = &p->subs[i];
        if (!sub->running)
            continue;
        /* Wakes the reader out of its blocking read with an end of stream. */
        shutdown(sub->conn.fd, SHUT_RDWR);
        pthread_join(sub->thread, NULL);
        sub->running = false;
    }
    if (p->running) {
        hfx_exporter_stop(&p->x);
        hfx_exporter_free(&p->x);
        p->running = false;
    }
}

const struct bench_frame *bench_frames(const struct bench_pipeline *p, uint32_t scanout,
                                       size_t *n)
{
    *n = p->subs[scanout].n;
    return p->subs[scanout].frames;
}

const struct bench_packet *bench_packets(const struct bench_pipeline *p, size_t *n)
{
    *n = p->npackets;
    return p->packets;
}

void bench_pipeline_free(struct bench_pipeline *p)
{
    if (!p)
        return;
    bench_pipeline_halt(p);
    for (int i = 0; i < HFX_MAX_SCANOUTS; i++) {
        struct bench_sub *sub = &p->subs[i];
        for (size_t k = 0; k < sub->n; k++)
            free(sub->frames[k].au);
        free(sub->frames);
        if (sub->conn.fd >= 0)
            hfx_conn_close(&sub->conn);
        pthread_mutex_destroy(&sub->lock);
        pthread_cond_destroy(&sub->cond);
    }
    free(p->packets);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
