/* One row of hfx bench: drive a synthetic screen into the pipeline, then
 * join what the engine reported with what the subscriber read, and decode
 * every frame to compare it with what the source drew. */
#include "cli/bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/decode.h"
#include "client/verify.h"
#include "common/clock.h"

#define FRAME_NS (1000000000 / BENCH_SOURCE_FPS)
/* Generous: a 5K IDR on one thread takes well under a second, but the
 * machine is shared and noisy. */
#define WAIT_MS 30000
#define MAX_RECTS 8

static int64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {t_ns / 1000000000, t_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on a sorted array. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

/* ---- driving ---- */

/* Frame 0 on scanout 0, a subscriber, and its IDR. */
static int show_first_frame(struct bench_pipeline *p, struct hfx_synth *synth,
                            const struct bench_row_spec *spec, char *err, size_t errlen)
{
    struct hfx_rect rects[MAX_RECTS];
    hfx_synth_next(synth, rects, MAX_RECTS);
    if (hfx_engine_scanout_set(bench_pipeline_engine(p), 0, spec->width, spec->height,
                               HFX_FMT_XRGB8888, hfx_synth_pixels(synth),
                               hfx_synth_stride(synth), err, errlen) < 0 ||
        bench_subscribe(p, 0, err, errlen) < 0)
        return -1;
    return bench_wait_frame(p, 0, 0, WAIT_MS, err, errlen);
}

/* A row's page flips (bench_row_spec.flip): the two buffers the frames
 * alternate between, and the time inside each compare call. */
struct flips {
    struct hfx_flip_buffers buf;
    int64_t *compare_ns;        /* room for a drive's frames */
    uint32_t n;                 /* compare calls in the last drive */
    int64_t cpu_ns;             /* the bench thread's CPU time inside them */
};

struct drive {
    int64_t warm_start_ns;      /* the warm-up's drive started here */
    int64_t start_ns, end_ns;
    int64_t proc_cpu_ns, source_cpu_ns, sub_cpu_ns;
    uint32_t updates;
    uint32_t periods;           /* source frame periods driven */
    uint32_t last_frame;        /* number of the last frame drawn (head 0) */
};

/* Draws the next source frame (with flips: copies it whole into its
 * buffer, as a guest draws into a new one) and sets *px to the pixels to
 * hand over; its CPU time is the benchmark's, not the exporter's. */
static int draw(struct hfx_synth *synth, struct flips *fl, struct hfx_rect *rects,
                const uint8_t **px, struct drive *d)
{
    int64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    int n = hfx_synth_next(synth, rects, MAX_RECTS);
    *px = fl && n > 0 ? hfx_flip_buffers_draw(&fl->buf, hfx_synth_pixels(synth),
                                              hfx_synth_frame(synth))
                      : hfx_synth_pixels(synth);
    d->source_cpu_ns += cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    return n;
}

/* Hands a frame to the engine: its damage, or (flips) the whole buffer to
 * compare, timing the call. */
static int hand_over(struct hfx_engine *e, uint32_t h, const uint8_t *px, uint32_t stride,
                     const struct hfx_rect *rects, int n, struct flips *fl)
{
    if (!fl)
        return hfx_engine_scanout_update(e, h, px, stride, rects, n);
    int64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), t0 = hfx_now_ns();
    int rc = hfx_engine_scanout_compare(e, h, px, stride, NULL, 0);
    fl->compare_ns[fl->n++] = hfx_now_ns() - t0;
    fl->cpu_ns += cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    return rc;
}

/* The bench thread as the front end of scanouts 0 .. heads-1: hand each
 * frame's damage (or, with fl, one head only: the whole new buffer, as a
 * page flip) to the engine and either keep the source's pace or wait
 * for the frame to arrive (one head only). The engine converts during the
 * update call. At the source's pace each frame is drawn right before it
 * is handed over, as QEMU hands an update over once the guest has drawn
 * it: the guest draws on its own threads, not on the one that calls the
 * front end, and drawing the next frame right after the hand-over put
 * the source's work beside the encoder thread it had just woken (the
 * x264 `scroll` row's hand-offs took 1.0-1.2 ms instead of 0.15, docs/
 * benchmarks.md). Unpaced, the next frame is drawn while this one
 * encodes, so that the throughput is the pipeline's, not the drawing's. */
static int drive(struct bench_pipeline *p, struct hfx_synth *const *synths, uint32_t heads,
                 uint32_t frames, enum bench_pace pace, struct flips *fl, struct drive *d,
                 char *err, size_t errlen)
{
    struct hfx_engine *e = bench_pipeline_engine(p);
    memset(d, 0, sizeof *d);
    if (fl && heads != 1) {
        snprintf(err, errlen, "page flips are driven on one head only");
        return -1;
    }
    if (fl) {
        fl->n = 0;
        fl->cpu_ns = 0;
    }
    int64_t cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), sub0 = bench_subscribers_cpu_ns(p);
    int64_t last_call[HFX_MAX_SCANOUTS];
    struct hfx_rect rects[HFX_MAX_SCANOUTS][MAX_RECTS];
    const uint8_t *px[HFX_MAX_SCANOUTS];
    int n[HFX_MAX_SCANOUTS] = {0};
    bool ahead = pace != BENCH_PACED;
    d->start_ns = hfx_now_ns();
    for (uint32_t h = 0; h < heads; h++) {
        last_call[h] = -1;
        if (ahead)
            n[h] = draw(synths[h], fl, rects[h], &px[h], d);
    }
    for (uint32_t i = 1; i <= frames; i++) {
        if (pace == BENCH_PACED)
            sleep_until(d->start_ns + (int64_t)i * FRAME_NS);
        for (uint32_t h = 0; h < heads; h++) {
            if (!ahead)
                n[h] = draw(synths[h], fl, rects[h], &px[h], d);
            bool sent = n[h] > 0;
            if (sent) {
                last_call[h] = hfx_now_ns();
                if (hand_over(e, h, px[h], hfx_synth_stride(synths[h]), rects[h], n[h], fl) <
                    0) {
                    snprintf(err, errlen, "the engine refused update %u of scanout %u", i, h);
                    return -1;
                }
                d->updates++;
            }
            if (ahead && i < frames)
                n[h] = draw(synths[h], fl, rects[h], &px[h], d);
            if (sent && pace == BENCH_CLOSED_LOOP &&
                bench_wait_frame(p, h, last_call[h], WAIT_MS, err, errlen) < 0)
                return -1;
        }
    }
    /* The engine stamps an update after our last_call, so this is the frame
     * that shows the last update (possibly with others coalesced into it). */
    for (uint32_t h = 0; h < heads; h++)
        if (last_call[h] >= 0 && bench_wait_frame(p, h, last_call[h], WAIT_MS, err, errlen) < 0)
            return -1;
    d->end_ns = hfx_now_ns();
    d->proc_cpu_ns = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    d->sub_cpu_ns = bench_subscribers_cpu_ns(p) - sub0;
    d->periods = frames;
    d->last_frame = hfx_synth_frame(synths[0]);
    return 0;
}

/* ---- what arrived ---- */

/* Per-frame values in ms (overhead: a ratio), one array per column. */
enum { S_CONV_ENC, S_ENC, S_CONV, S_LAT, S_DELIVERY, S_OVERHEAD, S_COUNT };

struct samples {
    double *v[S_COUNT];
    size_t n;
    bool *measured;     /* per received frame: one of the measured ones */
};

static void samples_free(struct samples *s)
{
    for (int i = 0; i < S_COUNT; i++)
        free(s->v[i]);
    free(s->measured);
}

/* The engine's note for a frame: packets are noted in the order the server
 * sends them, so the search only moves forward, past the packet found.
 * Idle refresh frames all carry the pts of the content they repeat, so the
 * size must match too, and they are matched in order. */
static const struct bench_packet *find_packet(const struct bench_packet *pk, size_t npk,
                                              size_t *from, uint32_t scanout,
                                              const struct bench_frame *f)
{
    for (size_t i = *from; i < npk; i++)
        if (pk[i].scanout == scanout && pk[i].pts_ns == f->pts_ns && pk[i].au_size == f->au_size) {
            *from = i + 1;
            return &pk[i];
        }
    return NULL;
}

/* When a frame's content arrived, or for an idle refresh (which repeats
 * older content) when it was encoded: what places it in the warm-up or
 * the measured frames. */
static int64_t frame_time(const struct bench_frame *f, const struct bench_packet *k)
{
    return k && k->first_damage_ns > f->pts_ns ? k->first_damage_ns : f->pts_ns;
}

/* Source frames the row covered: its updates, or for a screen that does
 * not change (no updates) its frame periods. */
static uint32_t source_frames(const struct drive *d)
{
    return d->updates ? d->updates : d->periods;
}

/* Frames shown per second: of source time when paced (so an encoder that
 * cannot keep up shows as the rate it kept), of wall time when unpaced. */
static double delivered_fps(const struct bench_row_spec *spec, const struct drive *d,
                            uint32_t delivered)
{
    if (spec->pace == BENCH_PACED)
        return source_frames(d) ? (double)BENCH_SOURCE_FPS * delivered / source_frames(d) : 0;
    return (double)delivered * 1e9 / (double)(d->end_ns - d->start_ns);
}

static int collect(const struct bench_pipeline *p, const struct bench_row_spec *spec,
                   const struct drive *d, struct samples *s, struct bench_row_result *out,
                   char *err, size_t errlen)
{
    size_t nf, npk, from = 0;
    const struct bench_frame *f = bench_frames(p, 0, &nf);
    const struct bench_packet *pk = bench_packets(p, &npk);
    for (int k = 0; k < S_COUNT; k++) {
        s->v[k] = malloc((nf + 1) * sizeof(double));
        if (!s->v[k]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    s->measured = calloc(nf + 1, sizeof *s->measured);
    if (!s->measured) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t bytes = 0;
    for (size_t i = 0; i < nf; i++) {
        const struct bench_packet *k = find_packet(pk, npk, &from, 0, &f[i]);
        int64_t t = frame_time(&f[i], k);
        /* Idle refresh frames keep coming after the measured period. */
        if (t < d->warm_start_ns || t > d->end_ns)
            continue;
        if (k && t < d->start_ns) {
            double ms = (double)k->encode_ns / 1e6;
            out->warmup_enc_max = ms > out->warmup_enc_max ? ms : out->warmup_enc_max;
            continue;
        }
        if (!k) {
            snprintf(err, errlen, "a received frame matches no encoded packet (pts %lld)",
                     (long long)f[i].pts_ns);
            return -1;
        }
        s->measured[i] = true;
        out->keyframes += f[i].keyframe;
        double lat = (double)(f[i].recv_ns - k->first_damage_ns) / 1e6;
        double enc = (double)k->encode_ns / 1e6, conv = (double)k->convert_ns / 1e6;
        s->v[S_CONV_ENC][s->n] = conv + enc;
        s->v[S_ENC][s->n] = enc;
        s->v[S_CONV][s->n] = conv;
        s->v[S_LAT][s->n] = lat;
        s->v[S_DELIVERY][s->n] = lat - conv - enc;
        s->v[S_OVERHEAD][s->n] = enc > 0 ? (lat - enc) / enc : 0;
        s->n++;
        bytes += (int64_t)f[i].au_size;
    }
    out->delivered = (uint32_t)s->n;
    out->periods = d->periods;
    out->fps = delivered_fps(spec, d, out->delivered);
    /* Bits per source frame at the source's rate: what a viewer's link
     * carries, however many updates were coalesced. */
    if (source_frames(d))
        out->kbps = (double)bytes * 8 * BENCH_SOURCE_FPS / source_frames(d) / 1000;
    if (s->n)
        out->bytes_per_frame = (double)bytes / (double)s->n;
    return 0;
}

static void summarise(struct samples *s, struct bench_row_result *out)
{
    if (!s->n)
        return;
    for (int k = 0; k < S_COUNT; k++)
        qsort(s->v[k], s->n, sizeof(double), cmp_double);
    out->conv_enc_p50 = percentile(s->v[S_CONV_ENC], s->n, 50);
    out->conv_enc_p99 = percentile(s->v[S_CONV_ENC], s->n, 99);
    out->enc_p50 = percentile(s->v[S_ENC], s->n, 50);
    out->conv_p50 = percentile(s->v[S_CONV], s->n, 50);
    out->lat_p50 = percentile(s->v[S_LAT], s->n, 50);
    out->lat_p99 = percentile(s->v[S_LAT], s->n, 99);
    out->delivery_p50 = percentile(s->v[S_DELIVERY], s->n, 50);
    out->overhead_p50 = percentile(s->v[S_OVERHEAD], s->n, 50);
}

/* The time inside each measured flip's compare call. */
static int summarise_flips(const struct flips *fl, struct bench_row_result *out, char *err,
                           size_t errlen)
{
    if (!fl->n)
        return 0;
    double *v = malloc(fl->n * sizeof *v), sum = 0;
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < fl->n; i++)
        sum += v[i] = (double)fl->compare_ns[i] / 1e6;
    qsort(v, fl->n, sizeof *v, cmp_double);
    out->flips = fl->n;
    out->compare_p50 = percentile(v, fl->n, 50);
    out->compare_p99 = percentile(v, fl->n, 99);
    out->compare_mean = sum / fl->n;
    out->compare_cpu_mean = (double)fl->cpu_ns / 1e6 / fl->n;
    free(v);
    return 0;
}

/* ---- picture quality ---- */

/* Mean luma PSNR of the measured frames against what the source drew.
 * Every frame is decoded (the IDR and warm-up included: the measured ones
 * refer to them); only measured ones are compared, and a frame whose number
 * is not one the driver drew (in order) counts as unmatched. The decoder is
 * the strict one: a damaged stream is an error (counted), not concealed;
 * it leaves the cropping to us. A screen that does not change is judged
 * instead by the picture its viewer has after BENCH_STILL_NS: the last
 * frame read by then (an encoder may sharpen a still picture over its
 * frames, as x264 and the hybrid do). */
static int measure_psnr(const struct bench_pipeline *p, const struct bench_row_spec *spec,
                        const struct drive *d, const struct samples *s,
                        struct bench_row_result *out, char *err, size_t errlen)
{
    struct hfx_decoder *dec = hfx_decoder_new_strict();
    struct hfx_verify *ver = hfx_verify_new(spec->wl);
    if (!dec || !ver) {
        snprintf(err, errlen, "cannot set up the decoder and reference for the PSNR");
        hfx_decoder_free(dec);
        hfx_verify_free(ver);
        return -1;
    }
    size_t nf;
    const struct bench_frame *f = bench_frames(p, 0, &nf);
    double sum = 0;
    int64_t last = -1;
    bool still = spec->wl == HFX_WL_IDLE;
    if (still)
        out->still_psnr = -1;
    for (size_t i = 0; i < nf; i++) {
        struct hfx_decoded pic;
        int got = hfx_decoder_decode(dec, f[i].au, f[i].au_size, &pic);
        if (got < 0)
            out->decode_errors++;
        if (got == 1 && pic.width >= spec->width && pic.height >= spec->height &&
            pic.width - spec->width < 16 && pic.height - spec->height < 16) {
            pic.width = spec->width;
            pic.height = spec->height;
        }
        if (still && got == 1 && f[i].recv_ns - f[0].pts_ns <= BENCH_STILL_NS) {
            int64_t number = hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width,
                                                 pic.height);
            out->still_psnr = number >= 0 && pic.width == spec->width &&
                                      pic.height == spec->height
                                  ? hfx_verify_psnr(ver, &pic, number)
                                  : -1;
            out->still_ms = (double)(f[i].recv_ns - f[0].pts_ns) / 1e6;
        }
        if (!s->measured[i])
            continue;
        int64_t number = got == 1 ? hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width,
                                                      pic.height)
                                : -1;
        bool drawn = number >= last && number <= (int64_t)d->last_frame &&
                     pic.width == spec->width && pic.height == spec->height;
        double psnr = drawn ? hfx_verify_psnr(ver, &pic, number) : -1;
        if (psnr < 0) {
            out->unmatched++;
            continue;
        }
        last = number;
        sum += psnr;
        out->psnr_frames++;
    }
    if (out->psnr_frames)
        out->psnr = sum / out->psnr_frames;
    hfx_decoder_free(dec);
    hfx_verify_free(ver);
    return 0;
}

/* ---- rows ---- */

static void account_cpu(const struct drive *d, struct bench_row_result *out)
{
    double wall = (double)(d->end_ns - d->start_ns);
    if (wall <= 0)
        return;
    out->proc_pct = 100.0 * (double)d->proc_cpu_ns / wall;
    /* Drawing the synthetic screen and reading it back are the benchmark's
     * own work, not the exporter's. */
    out->cpu_pct = 100.0 * (double)(d->proc_cpu_ns - d->source_cpu_ns - d->sub_cpu_ns) / wall;
}

/* Adds (or takes away) counters to sum, matching them by name. */
static void count_into(struct bench_counters *sum, const struct hfx_encoder_counter *c,
                       uint32_t n, bool subtract)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = 0;
        while (j < sum->n && strcmp(sum->c[j].name, c[i].name))
            j++;
        if (j == sum->n) {
            if (sum->n == HFX_ENCODER_MAX_COUNTERS)
                continue;
            sum->c[sum->n++] = (struct hfx_encoder_counter){c[i].name, 0};
        }
        /* Unsigned: after - before comes out right whichever is added first. */
        sum->c[j].value = subtract ? sum->c[j].value - c[i].value : sum->c[j].value + c[i].value;
    }
}

void bench_counters_format(const struct bench_counters *c, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < c->n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s %llu", i ? ", " : "",
                                 c->c[i].name, (unsigned long long)c->c[i].value);
}

uint64_t bench_counter(const struct bench_counters *c, const char *name)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (!strcmp(c->c[i].name, name))
            return c->c[i].value;
    return 0;
}

/* Shows frame 0, then warms up and measures unless the engine had to use
 * another encoder than the row asks for. */
static int run(struct bench_pipeline *p, struct hfx_synth *synth,
               const struct bench_row_spec *spec, struct flips *fl, struct drive *d,
               struct bench_row_result *out, char *err, size_t errlen)
{
    struct hfx_engine *e = bench_pipeline_engine(p);
    if (show_first_frame(p, synth, spec, err, errlen) < 0)
        return -1;
    struct hfx_scanout_stats before, after;
    hfx_engine_stats(e, 0, &before);
    out->encoder_used = before.encoder;
    out->fell_back = strcmp(before.encoder, spec->encoder) != 0;
    if (out->fell_back)
        return 0;
    struct drive warm;
    if (drive(p, &synth, 1, BENCH_WARMUP_FRAMES, BENCH_PACED, fl, &warm, err, errlen) < 0)
        return -1;
    hfx_engine_stats(e, 0, &before);
    if (drive(p, &synth, 1, spec->frames, spec->pace, fl, d, err, errlen) < 0)
        return -1;
    d->warm_start_ns = warm.start_ns;
    hfx_engine_stats(e, 0, &after);
    out->coalesced = after.coalesced - before.coalesced;
    count_into(&out->counters, after.counters, after.ncounters, false);
    count_into(&out->counters, before.counters, before.ncounters, true);
    count_into(&out->since_open, after.counters, after.ncounters, false);
    out->updates = d->updates;
    account_cpu(d, out);
    return 0;
}

int bench_run_row(const struct bench_row_spec *spec, struct bench_row_result *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct hfx_synth *synth = hfx_synth_new(spec->wl, spec->width, spec->height);
    if (!synth) {
        snprintf(err, errlen, "cannot create the %s screen at %ux%u (out of memory?)",
                 hfx_workload_name(spec->wl), spec->width, spec->height);
        return -1;
    }
    struct bench_pipeline_config pc = {
        .encoder = spec->encoder, .scanouts = 1, .threads = spec->threads,
        .no_damage_hints = spec->no_damage_hints,
        .idle_refresh_ms = spec->wl == HFX_WL_IDLE ? BENCH_IDLE_REFRESH_MS : 0};
    /* Flips: frames of the whole surface, stride x height bytes each. */
    struct flips flips = {0}, *fl = NULL;
    if (spec->flip) {
        uint32_t calls = spec->frames > BENCH_WARMUP_FRAMES ? spec->frames : BENCH_WARMUP_FRAMES;
        flips.compare_ns = calloc(calls, sizeof *flips.compare_ns);
        if (!flips.compare_ns ||
            hfx_flip_buffers_init(&flips.buf,
                                  (size_t)hfx_synth_stride(synth) * spec->height) < 0) {
            snprintf(err, errlen, "out of memory for the flip buffers at %ux%u", spec->width,
                     spec->height);
            free(flips.compare_ns);
            hfx_synth_free(synth);
            return -1;
        }
        fl = &flips;
    }
    struct bench_pipeline *p = bench_pipeline_start(&pc, err, errlen);
    struct drive d = {0};
    int rc = p ? run(p, synth, spec, fl, &d, out, err, errlen) : -1;
    if (p)
        bench_pipeline_halt(p);
    if (rc == 0 && !out->fell_back) {
        struct samples s = {0};
        rc = collect(p, spec, &d, &s, out, err, errlen);
        if (rc == 0) {
            summarise(&s, out);
            rc = measure_psnr(p, spec, &d, &s, out, err, errlen);
        }
        if (rc == 0 && fl)
            rc = summarise_flips(fl, out, err, errlen);
        samples_free(&s);
    }
    bench_pipeline_free(p);
    hfx_synth_free(synth);
    if (fl) {
        hfx_flip_buffers_fini(&flips.buf);
        free(flips.compare_ns);
    }
    return rc;
}

/* ---- many heads ---- */

/* Frame 0 of workload wl on scanouts 0 .. heads-1, a subscriber each, and
 * their IDRs. */
static int show_heads(struct bench_pipeline *p, struct hfx_synth **synths, uint32_t heads,
                      enum hfx_workload wl, uint32_t width, uint32_t height, char *err,
                      size_t errlen)
{
    struct hfx_rect rects[MAX_RECTS];
    for (uint32_t i = 0; i < heads; i++) {
        synths[i] = hfx_synth_new(wl, width, height);
        if (!synths[i]) {
            snprintf(err, errlen, "cannot create %s screen %u at %ux%u", hfx_workload_name(wl),
                     i, width, height);
            return -1;
        }
        hfx_synth_next(synths[i], rects, MAX_RECTS);
        if (hfx_engine_scanout_set(bench_pipeline_engine(p), i, width, height, HFX_FMT_XRGB8888,
                                   hfx_synth_pixels(synths[i]), hfx_synth_stride(synths[i]), err,
                                   errlen) < 0 ||
            bench_subscribe(p, i, err, errlen) < 0)
            return -1;
    }
    for (uint32_t i = 0; i < heads; i++)
        if (bench_wait_frame(p, i, 0, WAIT_MS, err, errlen) < 0)
            return -1;
    return 0;
}

/* ---- idle heads ---- */

int bench_idle_heads(uint32_t heads, uint32_t width, uint32_t height, int64_t duration_ns,
                     double *cpu_pct, char *err, size_t errlen)
{
    struct bench_pipeline_config pc = {.encoder = "x264", .scanouts = heads, .threads = 1};
    struct hfx_synth *synths[HFX_MAX_SCANOUTS] = {0};
    struct bench_pipeline *p = bench_pipeline_start(&pc, err, errlen);
    int rc = p ? show_heads(p, synths, heads, HFX_WL_IDLE, width, height, err, errlen) : -1;
    if (rc == 0) {
        int64_t t0 = hfx_now_ns(), c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        sleep_until(t0 + duration_ns);
        int64_t t1 = hfx_now_ns(), c1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        *cpu_pct = 100.0 * (double)(c1 - c0) / (double)(t1 - t0);
    }
    bench_pipeline_free(p);
    for (uint32_t i = 0; i < heads; i++)
        hfx_synth_free(synths[i]);
    return rc;
}

/* ---- busy heads ---- */

/* What the heads' subscribers read of the measured frames, and what the
 * engine noted about them. */
static int collect_heads(const struct bench_pipeline *p, uint32_t heads, const struct drive *d,
                         struct bench_heads_result *out, char *err, size_t errlen)
{
    size_t npk;
    const struct bench_packet *pk = bench_packets(p, &npk);
    double *v = malloc((npk + 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < npk; i++)
        if (pk[i].pts_ns >= d->start_ns && pk[i].pts_ns <= d->end_ns)
            v[n++] = (double)(pk[i].convert_ns + pk[i].encode_ns) / 1e6;
    for (uint32_t h = 0; h < heads; h++) {
        size_t nf;
        const struct bench_frame *f = bench_frames(p, h, &nf);
        for (size_t i = 0; i < nf; i++) {
            if (f[i].pts_ns < d->start_ns || f[i].pts_ns > d->end_ns)
                continue;
            out->delivered++;
            out->keyframes += f[i].keyframe;
        }
    }
    if (n) {
        qsort(v, n, sizeof *v, cmp_double);
        out->conv_enc_p50 = percentile(v, n, 50);
        out->conv_enc_p99 = percentile(v, n, 99);
    }
    free(v);
    return 0;
}

/* The engine's counters, summed over the heads. */
static void add_head_stats(struct bench_pipeline *p, uint32_t heads,
                           struct bench_heads_result *sum)
{
    for (uint32_t h = 0; h < heads; h++) {
        struct hfx_scanout_stats st;
        hfx_engine_stats(bench_pipeline_engine(p), h, &st);
        sum->coalesced += st.coalesced;
        count_into(&sum->counters, st.counters, st.ncounters, false);
    }
}

int bench_busy_heads(uint32_t heads, enum hfx_workload wl, const char *encoder, uint32_t width,
                     uint32_t height, uint32_t frames, struct bench_heads_result *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (heads < 1 || heads > HFX_MAX_SCANOUTS) {
        snprintf(err, errlen, "%u heads: 1 to %d", heads, HFX_MAX_SCANOUTS);
        return -1;
    }
    struct bench_pipeline_config pc = {.encoder = encoder, .scanouts = heads, .threads = 1};
    struct hfx_synth *synths[HFX_MAX_SCANOUTS] = {0};
    struct bench_pipeline *p = bench_pipeline_start(&pc, err, errlen);
    int rc = p ? show_heads(p, synths, heads, wl, width, height, err, errlen) : -1;
    struct drive warm, d = {0};
    struct bench_heads_result before = {0};
    for (uint32_t h = 0; rc == 0 && h < heads; h++) {
        struct hfx_scanout_stats st;
        hfx_engine_stats(bench_pipeline_engine(p), h, &st);
        if (strcmp(st.encoder, encoder)) {
            snprintf(err, errlen, "scanout %u fell back from %s to %s", h, encoder, st.encoder);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = drive(p, synths, heads, BENCH_WARMUP_FRAMES, BENCH_PACED, NULL, &warm, err,
                   errlen);
    if (rc == 0)
        add_head_stats(p, heads, &before);
    if (rc == 0)
        rc = drive(p, synths, heads, frames, BENCH_PACED, NULL, &d, err, errlen);
    if (rc == 0) {
        add_head_stats(p, heads, out);
        out->coalesced -= before.coalesced;
        count_into(&out->counters, before.counters.c, before.counters.n, true);
        out->updates = d.updates;
        double wall = (double)(d.end_ns - d.start_ns);
        out->proc_pct = 100.0 * (double)d.proc_cpu_ns / wall;
        double exporter = (double)(d.proc_cpu_ns - d.source_cpu_ns - d.sub_cpu_ns);
        out->cpu_pct = 100.0 * exporter / wall;
        out->paced_cpu_pct = 100.0 * exporter / ((double)frames * FRAME_NS);
        out->wall_s = wall / 1e9;
    }
    if (p)
        bench_pipeline_halt(p);
    if (rc == 0)
        rc = collect_heads(p, heads, &d, out, err, errlen);
    bench_pipeline_free(p);
    for (uint32_t h = 0; h < heads; h++)
        hfx_synth_free(synths[h]);
    return rc;
}

/* Resident memory of the process, from /proc/self/statm. */
static int64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld", &pages, &resident);
    fclose(f);
    return n == 2 ? (int64_t)resident * sysconf(_SC_PAGESIZE) : -1;
}

int bench_memory(uint32_t width, uint32_t height, struct bench_memory *out, char *err,
                 size_t errlen)
{
    struct bench_pipeline_config pc = {.encoder = "x264", .scanouts = 1, .threads = 1};
    struct bench_pipeline *p = bench_pipeline_start(&pc, err, errlen);
    struct hfx_synth *synth = hfx_synth_new(HFX_WL_TYPING, width, height);
    int rc = -1;
    if (p && synth) {
        struct hfx_rect rects[MAX_RECTS];
        hfx_synth_next(synth, rects, MAX_RECTS);
        out->before = rss_bytes();
        rc = hfx_engine_scanout_set(bench_pipeline_engine(p), 0, width, height,
                                    HFX_FMT_XRGB8888, hfx_synth_pixels(synth),
                                    hfx_synth_stride(synth), err, errlen);
        out->unwatched = rss_bytes();
        struct drive d;
        if (rc == 0)
            rc = bench_subscribe(p, 0, err, errlen) < 0 ||
                         bench_wait_frame(p, 0, 0, WAIT_MS, err, errlen) < 0 ||
                         drive(p, &synth, 1, 60, BENCH_PACED, NULL, &d, err, errlen) < 0
                     ? -1
                     : 0;
        out->active = rss_bytes();
    } else if (!synth) {
        snprintf(err, errlen, "cannot create a %ux%u screen", width, height);
    }
    bench_pipeline_free(p);
    hfx_synth_free(synth);
    return rc;
}
