/* hfx bench: the whole exporter in one process, measured row by row; see
 * docs/benchmarks.md for how to read it. This file plans the rows and
 * prints; bench_row.c measures and bench_pipeline.c wires the exporter. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "common/log.h"
#include "encoder/encoder.h"

static const char help[] =
    "usage: hfx bench [OPTIONS]\n"
    "\n"
    "Runs the exporter in-process (server, engine, a subscriber on loopback TCP) on\n"
    "synthetic screens updated at 60 fps and measures, per workload x size x encoder:\n"
    "convert+encode time, encode time, damage-to-last-byte latency at the subscriber,\n"
    "bytes per frame, bitrate, luma PSNR of the decoded frames, delivered fps,\n"
    "coalesced updates and CPU. x264 runs with damage hints on and off. Idle rows\n"
    "turn the engine's idle refresh on (every 16 ms) and measure those all-skip\n"
    "frames. 3840x2160 typing and scroll also run unpaced (next update once the\n"
    "previous frame arrived) on 1 and 2 threads, x264. The flip rows show the typing\n"
    "screen as page flips: every frame a whole new buffer handed over with\n"
    "hfx_engine_scanout_compare (the engine finds the damage), whose time per flip\n"
    "is the 'compare' column (conv+enc includes it). Then: the CPU of 16 busy\n"
    "typing scanouts at the largest size with the hybrid encoder, of 16 scrolling\n"
    "1920x1080 ones (when scroll is among the workloads), and of 16 idle\n"
    "1920x1080 scanouts; last, the ratios the hybrid encoder is judged by. The default\n"
    "run takes several minutes; sizes above 3840x2160 run half the frames. Exits 1\n"
    "when a row could not be measured (no frames, or a stream that does not decode).\n"
    "\n"
    "  --frames N        measured source frames per row (default 120); each row\n"
    "                    first shows frame 0 and drives %d unmeasured warm-up frames\n"
    "  --sizes LIST      WxH,... (default 1920x1080,3840x2160,5120x2880)\n"
    "  --workloads LIST  idle,typing,window,drag,pane,half,scroll,scroll-back,video,\n"
    "                    flip (default all, in this order; drag = a window moved every\n"
    "                    frame, pane = a region scrolling, scroll-back = scroll's page\n"
    "                    going back up; flip = typing delivered as page flips)\n"
    "  --encoders LIST   encoder names, comma-separated (default all; an unknown\n"
    "                    name lists them)\n"
    "  --quick           1920x1080 only, 60 frames (a smoke run for CI)\n"
    "  --markdown        print the table and summary as GitHub markdown\n";

#define MAX_SIZES 8
#define MAX_ENCODERS 3
#define IDLE_HEADS 16
#define BUSY_HEADS 16
#define IDLE_NS 2000000000LL
#define BIG_PIXELS (3840u * 2160u)

struct size {
    uint32_t w, h;
};

struct bench_opts {
    uint32_t frames;
    bool frames_set, sizes_set, workloads_set, quick, markdown;
    bool flip;                  /* the flip rows: typing as page flips */
    struct size sizes[MAX_SIZES];
    int nsizes;
    enum hfx_workload workloads[HFX_WORKLOADS];
    int nworkloads;
    const char *encoders[MAX_ENCODERS];
    int nencoders;
};

struct row {
    struct bench_row_spec spec;
    struct bench_row_result res;
    bool ok;
};

/* ---- options ---- */

/* Splits a comma-separated list in place; calls item for each entry. */
static int each_item(char *list, const char *opt, int max, int (*item)(const char *, void *),
                     void *ctx)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, "hfx bench: %s takes at most %d entries\n", opt, max);
            return -1;
        }
        if (item(t, ctx) < 0)
            return -1;
        n++;
    }
    if (!n) {
        fprintf(stderr, "hfx bench: %s needs at least one entry\n", opt);
        return -1;
    }
    return n;
}

static int add_size(const char *t, void *ctx)
{
    struct bench_opts *o = ctx;
    struct size *s = &o->sizes[o->nsizes];
    if (cli_size("--sizes", t, &s->w, &s->h) < 0)
        return -1;
    /* The synthetic screens need room for their widgets and frame stamp. */
    if (s->w < 64 || s->h < 64) {
        fprintf(stderr, "hfx bench: --sizes needs sizes of at least 64x64, not '%s'\n", t);
        return -1;
    }
    o->nsizes++;
    return 0;
}

static int add_workload(const char *t, void *ctx)
{
    struct bench_opts *o = ctx;
    if (!strcmp(t, "flip")) {
        o->flip = true;
        return 0;
    }
    int wl = hfx_workload_parse(t);
    if (wl < 0) {
        fprintf(stderr,
                "hfx bench: --workloads takes idle, typing, window, drag, pane, half, scroll, "
                "scroll-back, video or flip, not '%s'\n",
                t);
        return -1;
    }
    if (o->nworkloads == HFX_WORKLOADS) {
        fprintf(stderr, "hfx bench: --workloads names a workload twice\n");
        return -1;
    }
    o->workloads[o->nworkloads++] = (enum hfx_workload)wl;
    return 0;
}

static int add_encoder(const char *t, void *ctx)
{
    struct bench_opts *o = ctx;
    const struct hfx_encoder_ops *ops = hfx_encoder_find(t);
    if (!ops) {
        fprintf(stderr, "hfx bench: --encoders takes %s, not '%s'\n", hfx_encoder_names(), t);
        return -1;
    }
    o->encoders[o->nencoders++] = ops->name;
    return 0;
}

static void set_defaults(struct bench_opts *o)
{
    static const struct size sizes[] = {{1920, 1080}, {3840, 2160}, {5120, 2880}};
    /* From no damage to all of it. */
    static const enum hfx_workload workloads[HFX_WORKLOADS] = {
        HFX_WL_IDLE, HFX_WL_TYPING, HFX_WL_WINDOW, HFX_WL_DRAG,
        HFX_WL_PANE, HFX_WL_HALF,   HFX_WL_SCROLL, HFX_WL_SCROLL_BACK, HFX_WL_VIDEO};
    if (!o->frames_set)
        o->frames = o->quick ? 60 : 120;
    if (!o->sizes_set) {
        o->nsizes = o->quick ? 1 : 3;
        memcpy(o->sizes, sizes, sizeof sizes);
    }
    if (!o->workloads_set) {
        memcpy(o->workloads, workloads, sizeof workloads);
        o->nworkloads = HFX_WORKLOADS;
        o->flip = true;
    }
    if (!o->nencoders)
        for (const struct hfx_encoder_ops *ops;
             o->nencoders < MAX_ENCODERS && (ops = hfx_encoder_at((size_t)o->nencoders));)
            o->encoders[o->nencoders++] = ops->name;
}

static int parse(int argc, char **argv, struct bench_opts *o)
{
    enum { O_FRAMES = 256, O_SIZES, O_WORKLOADS, O_ENCODERS, O_QUICK, O_MARKDOWN };
    static const struct option opts[] = {
        {"frames", 1, 0, O_FRAMES}, {"sizes", 1, 0, O_SIZES},
        {"workloads", 1, 0, O_WORKLOADS}, {"encoders", 1, 0, O_ENCODERS},
        {"quick", 0, 0, O_QUICK}, {"markdown", 0, 0, O_MARKDOWN}, {"help", 0, 0, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_FRAMES:
            rc = cli_uint("--frames", optarg, 2, 100000, &o->frames);
            o->frames_set = true;
            break;
        case O_SIZES:
            o->nsizes = 0;
            rc = each_item(optarg, "--sizes", MAX_SIZES, add_size, o);
            o->sizes_set = true;
            break;
        case O_WORKLOADS:
            o->nworkloads = 0;
            o->flip = false;
            rc = each_item(optarg, "--workloads", HFX_WORKLOADS + 1, add_workload, o);
            o->workloads_set = true;
            break;
        case O_ENCODERS:
            o->nencoders = 0;
            rc = each_item(optarg, "--encoders", MAX_ENCODERS, add_encoder, o);
            break;
        case O_QUICK: o->quick = true; break;
        case O_MARKDOWN: o->markdown = true; break;
        case 'h': printf(help, BENCH_WARMUP_FRAMES); exit(0);
        default: fprintf(stderr, help, BENCH_WARMUP_FRAMES); return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "hfx bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    set_defaults(o);
    return 0;
}

/* ---- the plan ---- */

static bool has_encoder(const struct bench_opts *o, const char *name)
{
    for (int i = 0; i < o->nencoders; i++)
        if (!strcmp(o->encoders[i], name))
            return true;
    return false;
}

static bool has_workload(const struct bench_opts *o, enum hfx_workload wl)
{
    for (int i = 0; i < o->nworkloads; i++)
        if (o->workloads[i] == wl)
            return true;
    return false;
}

static bool has_size(const struct bench_opts *o, uint32_t w, uint32_t h)
{
    for (int i = 0; i < o->nsizes; i++)
        if (o->sizes[i].w == w && o->sizes[i].h == h)
            return true;
    return false;
}

static void add_row(struct row *rows, int *n, struct bench_row_spec spec)
{
    rows[(*n)++] = (struct row){.spec = spec};
}

/* Paced rows for every workload x size x encoder (x264 with and without
 * hints), the flip rows last among them (typing as page flips), then the 4K
 * throughput rows. */
static int plan(const struct bench_opts *o, struct row *rows)
{
    int n = 0;
    for (int w = 0; w < o->nworkloads + o->flip; w++) {
        bool flip = w == o->nworkloads;
        for (int s = 0; s < o->nsizes; s++) {
            struct size sz = o->sizes[s];
            uint32_t frames = sz.w * sz.h > BIG_PIXELS ? o->frames / 2 : o->frames;
            struct bench_row_spec spec = {.wl = flip ? HFX_WL_TYPING : o->workloads[w],
                                          .flip = flip, .width = sz.w, .height = sz.h,
                                          .threads = 1, .pace = BENCH_PACED, .frames = frames};
            for (int e = 0; e < o->nencoders; e++) {
                spec.encoder = o->encoders[e];
                spec.no_damage_hints = false;
                add_row(rows, &n, spec);
                if (strcmp(spec.encoder, "x264"))
                    continue;
                spec.no_damage_hints = true;
                add_row(rows, &n, spec);
            }
        }
    }
    if (!has_encoder(o, "x264") || !has_size(o, 3840, 2160))
        return n;
    for (int w = 0; w < o->nworkloads; w++) {
        if (o->workloads[w] != HFX_WL_TYPING && o->workloads[w] != HFX_WL_SCROLL)
            continue;
        for (int t = 1; t <= 2; t++) {
            struct bench_row_spec spec = {.wl = o->workloads[w], .width = 3840, .height = 2160,
                                          .encoder = "x264", .threads = t,
                                          .pace = BENCH_CLOSED_LOOP, .frames = o->frames};
            add_row(rows, &n, spec);
        }
    }
    return n;
}

/* ---- the table ---- */

#define NCOLS 18

static const char *const headers[NCOLS] = {
    "workload", "size", "encoder", "hints", "threads", "pace", "frames", "fps", "coalesced",
    "conv+enc p50/p99 ms", "enc p50 ms", "compare p50/p99 ms", "latency p50/p99 ms",
    "bytes/frame", "kbit/s", "PSNR dB", "CPU %", "proc CPU %",
};
/* Plain-text widths: the header's, or the widest value expected. */
static const int widths[NCOLS] = {11, 9, 8, 5, 7, 6, 7, 5, 9, 19, 10, 18, 18, 11, 7, 7, 5, 10};
/* Columns from this one on are numbers: right-aligned. */
#define FIRST_NUMERIC 6

typedef char cell[48];

static void print_cells(const struct bench_opts *o, cell *cells)
{
    for (int i = 0; i < NCOLS; i++) {
        if (o->markdown)
            printf("| %s ", cells[i]);
        else if (i < FIRST_NUMERIC)
            printf("%-*s ", widths[i], cells[i]);
        else
            printf(i + 1 < NCOLS ? "%*s " : "%*s", widths[i], cells[i]);
    }
    puts(o->markdown ? "|" : "");
}

static void print_header(const struct bench_opts *o)
{
    cell cells[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        snprintf(cells[i], sizeof cells[i], "%s", headers[i]);
    print_cells(o, cells);
    if (!o->markdown)
        return;
    for (int i = 0; i < NCOLS; i++)
        printf("|%s", i < FIRST_NUMERIC ? "---" : "--:");
    puts("|");
}

/* The workload column: flip rows draw the typing screen. */
static const char *row_workload(const struct bench_row_spec *s)
{
    return s->flip ? "flip" : hfx_workload_name(s->wl);
}

static const char *hints_name(const struct bench_row_spec *s)
{
    /* OpenH264 has no per-macroblock hint API: the engine's hints are
     * dropped. The hybrid always takes them: they choose its writer. */
    if (!strcmp(s->encoder, "x264"))
        return s->no_damage_hints ? "off" : "on";
    return strcmp(s->encoder, "hybrid") ? "n/a" : "on";
}

/* Milliseconds: below one, three decimals, so that the hybrid's small
 * frames do not all read 0.01. */
static void ms_text(char *c, size_t len, double ms)
{
    snprintf(c, len, ms < 1.0 ? "%.3f" : "%.2f", ms);
}

static void ms_cell(cell c, double ms)
{
    ms_text(c, sizeof(cell), ms);
}

static void ms_pair_cell(cell c, double a, double b)
{
    char x[20], y[20];
    ms_text(x, sizeof x, a);
    ms_text(y, sizeof y, b);
    snprintf(c, sizeof(cell), "%s / %s", x, y);
}

static void print_row(const struct bench_opts *o, const struct row *r)
{
    const struct bench_row_spec *s = &r->spec;
    const struct bench_row_result *v = &r->res;
    cell c[NCOLS];
    bool frames = v->delivered > 0;
    snprintf(c[0], sizeof c[0], "%s", row_workload(s));
    snprintf(c[1], sizeof c[1], "%ux%u", s->width, s->height);
    snprintf(c[2], sizeof c[2], "%s", s->encoder);
    snprintf(c[3], sizeof c[3], "%s", hints_name(s));
    snprintf(c[4], sizeof c[4], "%d", s->threads);
    snprintf(c[5], sizeof c[5], "%s", s->pace == BENCH_PACED ? "60 fps" : "max");
    if (v->fell_back) {
        /* The engine could not open this encoder at this size. */
        for (int i = 6; i < NCOLS; i++)
            snprintf(c[i], sizeof c[i], "%s", i == 6 ? "n/a" : "-");
        print_cells(o, c);
        return;
    }
    /* An idle row makes no updates: its frames are idle refreshes, counted
     * against the source frame periods. */
    snprintf(c[6], sizeof c[6], "%u/%u", v->delivered, v->updates ? v->updates : v->periods);
    snprintf(c[7], sizeof c[7], frames ? "%.1f" : "-", v->fps);
    snprintf(c[8], sizeof c[8], "%llu", (unsigned long long)v->coalesced);
    if (frames) {
        ms_pair_cell(c[9], v->conv_enc_p50, v->conv_enc_p99);
        ms_cell(c[10], v->enc_p50);
        ms_pair_cell(c[12], v->lat_p50, v->lat_p99);
    } else {
        snprintf(c[9], sizeof c[9], "-");
        snprintf(c[10], sizeof c[10], "-");
        snprintf(c[12], sizeof c[12], "-");
    }
    if (v->flips)
        ms_pair_cell(c[11], v->compare_p50, v->compare_p99);
    else
        snprintf(c[11], sizeof c[11], "-");
    snprintf(c[13], sizeof c[13], frames ? "%.0f" : "-", v->bytes_per_frame);
    snprintf(c[14], sizeof c[14], "%.0f", v->kbps);
    if (s->wl == HFX_WL_IDLE)
        snprintf(c[15], sizeof c[15], v->still_psnr >= 0 ? "%.1f" : "-", v->still_psnr);
    else
        snprintf(c[15], sizeof c[15], v->psnr_frames ? "%.1f" : "-", v->psnr);
    snprintf(c[16], sizeof c[16], "%.1f", v->cpu_pct);
    snprintf(c[17], sizeof c[17], "%.1f", v->proc_pct);
    print_cells(o, c);
}

/* ---- summary ---- */

/* The machine is shared: the load others put on it is part of the result. */
static void load_average(char *out, size_t len)
{
    double l[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
        snprintf(out, len, "unknown");
    else
        snprintf(out, len, "%.2f %.2f %.2f", l[0], l[1], l[2]);
    if (f)
        fclose(f);
}

static void print_machine(void)
{
    struct utsname u;
    char model[256] = "unknown CPU", line[512], date[64];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f)
        fclose(f);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    if (uname(&u) < 0)
        memset(&u, 0, sizeof u);
    char load[64];
    load_average(load, sizeof load);
    printf("machine: %s %s %s %s, %s, %ld cores, %s, load average %s\n\n", u.sysname,
           u.nodename, u.release, u.machine, model, sysconf(_SC_NPROCESSORS_ONLN), date, load);
}

/* A line of the summary: a bullet in markdown, indented otherwise. */
__attribute__((format(printf, 2, 3)))
static void item(const struct bench_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(o->markdown ? "- " : "  ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static void section(const struct bench_opts *o, const char *title)
{
    printf(o->markdown ? "\n**%s**\n\n" : "\n%s\n", title);
}

/* The measured row of encoder (x264: with hints or without) for wl at w x h. */
static const struct row *find_row(const struct row *rows, int n, const char *encoder,
                                  enum hfx_workload wl, bool flip, uint32_t w, uint32_t h,
                                  bool hints, int threads, enum bench_pace pace)
{
    for (int i = 0; i < n; i++) {
        const struct bench_row_spec *s = &rows[i].spec;
        if (rows[i].ok && !rows[i].res.fell_back && s->wl == wl && s->flip == flip &&
            s->width == w &&
            s->height == h && !strcmp(s->encoder, encoder) &&
            (strcmp(encoder, "x264") || s->no_damage_hints == !hints) && s->threads == threads &&
            s->pace == pace)
            return &rows[i];
    }
    return NULL;
}

static const struct row *paced_row(const struct row *rows, int n, const char *encoder,
                                   enum hfx_workload wl, uint32_t w, uint32_t h, bool hints)
{
    return find_row(rows, n, encoder, wl, false, w, h, hints, 1, BENCH_PACED);
}

/* What the warm-up hid: its slowest encode next to the steady median, and
 * what the hybrid refined in it. */
static void print_warmup(const struct bench_opts *o, const struct row *rows, int n)
{
    static const char *const encoders[] = {"x264", "hybrid"};
    for (int w = 0; w < o->nworkloads; w++)
        for (size_t e = 0; e < sizeof encoders / sizeof encoders[0]; e++) {
            char line[1024] = "";
            size_t len = 0;
            for (int z = 0; z < o->nsizes && len < sizeof line; z++) {
                const struct row *r = paced_row(rows, n, encoders[e], o->workloads[w],
                                                o->sizes[z].w, o->sizes[z].h, true);
                if (!r || !r->res.delivered)
                    continue;
                len += (size_t)snprintf(line + len, sizeof line - len, "%s%ux%u %.2f / %.3f ms",
                                        len ? ", " : "", r->spec.width, r->spec.height,
                                        r->res.warmup_enc_max, r->res.enc_p50);
                /* Counted since the encoder opened: its IDR, the warm-up and
                 * the measured frames. */
                uint64_t all = bench_counter(&r->res.since_open, "refine_mbs");
                uint64_t measured = bench_counter(&r->res.counters, "refine_mbs");
                if (all && len < sizeof line)
                    len += (size_t)snprintf(line + len, sizeof line - len,
                                            " (%llu macroblocks refined before the measured "
                                            "frames, %llu in them)",
                                            (unsigned long long)(all - measured),
                                            (unsigned long long)measured);
            }
            if (len)
                item(o, "warm-up, %s, %s: slowest encode of the %d unmeasured frames after the "
                        "IDR / steady enc p50: %s",
                     hfx_workload_name(o->workloads[w]), encoders[e], BENCH_WARMUP_FRAMES, line);
        }
}

static void print_notes(const struct bench_opts *o, const struct row *rows, int n)
{
    section(o, "notes");
    item(o, "CPU %% is the exporter's (engine, conversion, server): process CPU time less the "
            "synthetic source's drawing and the in-process subscriber's reading, over the "
            "row's wall time; proc CPU %% is the whole process. 100 = one core.");
    item(o, "latency: from the front end's update call (first damage coalesced into the "
            "frame) to the subscriber having read the frame's last byte, loopback TCP.");
    item(o, "idle rows: the screen never changes; the engine's idle refresh is on at %d ms, so "
            "every frame is an idle refresh (no macroblock changed) and frames counts them "
            "against the %d Hz periods of the measured time; latency runs from the start of "
            "its encode. Their PSNR is that of the last frame read within %.0f s of the screen "
            "being set (the picture a viewer has after that long of stillness), not a mean.",
         BENCH_IDLE_REFRESH_MS, BENCH_SOURCE_FPS, BENCH_STILL_NS / 1e9);
    item(o, "hybrid: x264 writes the IDRs and large changes, the P-slice writer frames with "
            "small damage; hints = the damage it is given.");
    char load[64];
    load_average(load, sizeof load);
    item(o, "load average at the end: %s", load);
    print_warmup(o, rows, n);
    for (int i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        const char *wl = row_workload(&r->spec);
        if (!r->ok)
            continue;
        if (r->res.fell_back) {
            item(o, "%s %ux%u %s: not available, %s cannot encode this size (the engine fell "
                    "back to %s)",
                 wl, r->spec.width, r->spec.height, r->spec.encoder, r->spec.encoder,
                 r->res.encoder_used);
            continue;
        }
        if (r->res.unmatched)
            item(o, "%s %ux%u %s: %u delivered frame(s) left out of the PSNR (frame number "
                    "unreadable or not one the source drew)",
                 wl, r->spec.width, r->spec.height, r->spec.encoder, r->res.unmatched);
        if (r->res.decode_errors)
            item(o, "%s %ux%u %s%s: %u access unit(s) the decoder refused as damaged",
                 wl, r->spec.width, r->spec.height, r->spec.encoder,
                 r->spec.no_damage_hints ? " (no hints)" : "", r->res.decode_errors);
        char counters[256];
        bench_counters_format(&r->res.counters, counters, sizeof counters);
        if (counters[0])
            item(o, "%s %ux%u %s%s: the encoder's counters over the measured frames: %s", wl,
                 r->spec.width, r->spec.height, r->spec.encoder,
                 r->spec.pace == BENCH_PACED ? "" : " (unpaced)", counters);
        if (r->spec.wl == HFX_WL_IDLE && r->res.still_psnr >= 0)
            item(o, "idle %ux%u %s%s: PSNR after 1 s from the frame read at %.0f ms",
                 r->spec.width, r->spec.height, r->spec.encoder,
                 r->spec.no_damage_hints ? " (no hints)" : "", r->res.still_ms);
        bench_counters_format(&r->res.since_open, counters, sizeof counters);
        if (r->spec.wl == HFX_WL_IDLE && counters[0])
            item(o, "idle %ux%u %s: the encoder's counters since it opened (its work on the "
                    "still screen): %s",
                 r->spec.width, r->spec.height, r->spec.encoder, counters);
        if (r->res.keyframes)
            item(o, "%s %ux%u %s%s%s: %u IDR(s) among the measured frames", wl, r->spec.width,
                 r->spec.height, r->spec.encoder, r->spec.no_damage_hints ? " (no hints)" : "",
                 r->spec.pace == BENCH_PACED ? "" : " (unpaced)", r->res.keyframes);
    }
}

static void print_hint_ratios(const struct bench_opts *o, const struct row *rows, int n)
{
    section(o, "damage hints, x264 (conv+enc p50 without hints / with hints)");
    for (int i = 0; i < n; i++) {
        const struct bench_row_spec *s = &rows[i].spec;
        if (s->pace != BENCH_PACED || s->no_damage_hints || s->flip || strcmp(s->encoder, "x264"))
            continue;
        const struct row *on = paced_row(rows, n, "x264", s->wl, s->width, s->height, true);
        const struct row *off = paced_row(rows, n, "x264", s->wl, s->width, s->height, false);
        if (!on || !off)
            continue;
        if (!on->res.delivered || !off->res.delivered)
            item(o, "%s %ux%u: no frames after the first (nothing changed)",
                 hfx_workload_name(s->wl), s->width, s->height);
        else
            item(o, "%s %ux%u: %.3f ms / %.3f ms = %.2fx", hfx_workload_name(s->wl), s->width,
                 s->height, off->res.conv_enc_p50, on->res.conv_enc_p50,
                 off->res.conv_enc_p50 / on->res.conv_enc_p50);
    }
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

static void target_video(const struct bench_opts *o, const struct row *rows, int n)
{
    const struct row *r = paced_row(rows, n, "x264", HFX_WL_VIDEO, 1920, 1080, true);
    if (!r || !r->res.delivered)
        return;
    const struct bench_row_result *v = &r->res;
    /* Sustaining the rate means no update had to be folded into a later frame. */
    bool met = v->coalesced == 0 && v->cpu_pct < 100 && v->lat_p99 <= 12.0;
    item(o, "video 1920x1080, x264, 1 thread: %u of %u updates delivered as frames (%.1f fps, "
            "%llu coalesced), exporter CPU %.0f%% of one core, latency p99 %.2f ms "
            "(target: 60 fps on one core, p99 <= 12 ms): %s",
         v->delivered, v->updates, v->fps, (unsigned long long)v->coalesced, v->cpu_pct,
         v->lat_p99, verdict(met));
}

/* Judged on the workloads it was set for. */
static void target_overhead(const struct bench_opts *o, const struct row *rows, int n)
{
    static const enum hfx_workload judged[] = {HFX_WL_TYPING, HFX_WL_SCROLL, HFX_WL_VIDEO};
    for (int w = 0; w < o->nworkloads; w++) {
        bool judge = false;
        for (size_t j = 0; j < sizeof judged / sizeof judged[0]; j++)
            judge |= o->workloads[w] == judged[j];
        const struct row *r = paced_row(rows, n, "x264", o->workloads[w], 1920, 1080, true);
        if (!judge || !r || !r->res.delivered)
            continue;
        const struct bench_row_result *v = &r->res;
        item(o, "overhead around the encoder, %s 1920x1080 x264: median (latency - encode) / "
                "encode = %.0f%% (p50s: latency %.2f ms, encode %.2f ms, of the rest "
                "conversion %.2f ms, hand-offs and socket %.2f ms; target <= 10%%): %s",
             hfx_workload_name(r->spec.wl), 100 * v->overhead_p50, v->lat_p50, v->enc_p50,
             v->conv_p50, v->delivery_p50, verdict(v->overhead_p50 <= 0.10));
    }
}

static void target_throughput(const struct bench_opts *o, const struct row *rows, int n,
                              enum hfx_workload wl, double goal)
{
    const struct row *one = find_row(rows, n, "x264", wl, false, 3840, 2160, true, 1,
                                     BENCH_CLOSED_LOOP);
    const struct row *two = find_row(rows, n, "x264", wl, false, 3840, 2160, true, 2,
                                     BENCH_CLOSED_LOOP);
    if (!two)
        return;
    item(o, "%s 3840x2160, x264, unpaced: %.1f fps on 2 threads (target >= %.0f): %s; "
            "%.1f fps on 1 thread",
         hfx_workload_name(wl), two->res.fps, goal, verdict(two->res.fps >= goal),
         one ? one->res.fps : 0.0);
}

static void print_targets(const struct bench_opts *o, const struct row *rows, int n,
                          const double *idle_cpu)
{
    section(o, "targets");
    target_video(o, rows, n);
    target_overhead(o, rows, n);
    target_throughput(o, rows, n, HFX_WL_TYPING, 60);
    target_throughput(o, rows, n, HFX_WL_SCROLL, 50);
    if (idle_cpu)
        item(o, "%d subscribed idle 1920x1080 scanouts: %.2f%% of one core over %.0f s, "
                "whole process (target < 1%%): %s",
             IDLE_HEADS, *idle_cpu, IDLE_NS / 1e9, verdict(*idle_cpu < 1.0));
}

/* ---- the hybrid encoder's targets ---- */

/* What the hybrid is held to, per workload and size (issue 6: typing;
 * issue 14: scroll and the repainted window); 0: no target of that kind. */
struct hybrid_goal {
    enum hfx_workload wl;
    uint32_t w, h;
    double ratio;       /* x264 with hints conv+enc p50 / the hybrid's, at least */
    double ms;          /* the hybrid's conv+enc p50, at most */
};

static const struct hybrid_goal hybrid_goals[] = {
    {HFX_WL_TYPING, 1920, 1080, 20, 0.10},
    {HFX_WL_TYPING, 5120, 2880, 100, 0.15},
    {HFX_WL_SCROLL, 1920, 1080, 5, 1.0},
    {HFX_WL_SCROLL, 5120, 2880, 0, 8.0},
    {HFX_WL_WINDOW, 1920, 1080, 15, 0.2},
};
#define IDLE_GOAL_MS 0.02
/* Issue 14: a still picture reaches x264's quality within this. */
#define STILL_PSNR_GAP_DB 1.0
#define BUSY_GOAL_PCT 25.0
/* Sixteen 1080p heads scrolling, in cores (x264 alone needs about five). */
#define BUSY_SCROLL_GOAL_CORES 1.5

static const struct hybrid_goal *hybrid_goal(enum hfx_workload wl, uint32_t w, uint32_t h)
{
    for (size_t i = 0; i < sizeof hybrid_goals / sizeof hybrid_goals[0]; i++)
        if (hybrid_goals[i].wl == wl && hybrid_goals[i].w == w && hybrid_goals[i].h == h)
            return &hybrid_goals[i];
    return NULL;
}

/* x264 with hints against the hybrid, conv+enc p50, for one workload; for
 * a scroll (either way) also its bytes against x264's (issue 14: no more)
 * and whether every update came out as a frame. */
static void hybrid_ratio(const struct bench_opts *o, const struct row *rows, int n,
                         enum hfx_workload wl, struct size sz)
{
    const struct row *hy = paced_row(rows, n, "hybrid", wl, sz.w, sz.h, true);
    const struct row *x = paced_row(rows, n, "x264", wl, sz.w, sz.h, true);
    if (!hy || !x || !hy->res.delivered || !x->res.delivered)
        return;
    const struct bench_row_result *h = &hy->res;
    double ratio = x->res.conv_enc_p50 / h->conv_enc_p50;
    const struct hybrid_goal *g = hybrid_goal(wl, sz.w, sz.h);
    char goal[640] = "";
    size_t len = 0;
    if (g && g->ratio > 0)
        len += (size_t)snprintf(goal + len, sizeof goal - len, " (target >= %.0fx): %s",
                                g->ratio, verdict(ratio >= g->ratio));
    if (g && g->ms > 0)
        len += (size_t)snprintf(goal + len, sizeof goal - len,
                                "; hybrid p50 %.3f ms (target <= %.2f ms): %s", h->conv_enc_p50,
                                g->ms, verdict(h->conv_enc_p50 <= g->ms));
    if ((wl == HFX_WL_SCROLL || wl == HFX_WL_SCROLL_BACK) && len < sizeof goal)
        snprintf(goal + len, sizeof goal - len,
                 "; bytes per frame %.0f against x264's %.0f (target: no more): %s; %u of %u "
                 "updates delivered as frames (target: all): %s",
                 h->bytes_per_frame, x->res.bytes_per_frame,
                 verdict(h->bytes_per_frame <= x->res.bytes_per_frame), h->delivered, h->updates,
                 verdict(h->delivered >= h->updates && h->coalesced == 0));
    item(o, "%s %ux%u: x264 with hints %.3f ms / hybrid %.3f ms = %.1fx%s",
         hfx_workload_name(wl), sz.w, sz.h, x->res.conv_enc_p50, h->conv_enc_p50, ratio, goal);
}

static void hybrid_idle(const struct bench_opts *o, const struct row *rows, int n, struct size sz)
{
    const struct row *hy = paced_row(rows, n, "hybrid", HFX_WL_IDLE, sz.w, sz.h, true);
    const struct row *x = paced_row(rows, n, "x264", HFX_WL_IDLE, sz.w, sz.h, true);
    if (!hy || !hy->res.delivered)
        return;
    char other[128] = "";
    if (x && x->res.delivered)
        snprintf(other, sizeof other, "; x264 with hints %.3f ms", x->res.conv_enc_p50);
    item(o, "idle %ux%u: hybrid idle refresh p50 %.3f ms, p99 %.3f ms, %.0f bytes (target "
            "p50 <= %.2f ms): %s%s",
         sz.w, sz.h, hy->res.conv_enc_p50, hy->res.conv_enc_p99, hy->res.bytes_per_frame,
         IDLE_GOAL_MS, verdict(hy->res.conv_enc_p50 <= IDLE_GOAL_MS), other);
    if (x && x->res.still_psnr >= 0 && hy->res.still_psnr >= 0)
        item(o, "idle %ux%u: PSNR after 1 s of stillness hybrid %.1f dB, x264 with hints %.1f "
                "dB (target: within %.0f dB): %s; refinement %llu bytes",
             sz.w, sz.h, hy->res.still_psnr, x->res.still_psnr, STILL_PSNR_GAP_DB,
             verdict(hy->res.still_psnr >= x->res.still_psnr - STILL_PSNR_GAP_DB),
             (unsigned long long)bench_counter(&hy->res.since_open, "refine_bytes"));
}

static void print_hybrid(const struct bench_opts *o, const struct row *rows, int n,
                         const struct bench_heads_result *busy, struct size busy_size)
{
    section(o, "hybrid encoder: cost against the damage (conv+enc p50, rows above)");
    for (int z = 0; z < o->nsizes; z++)
        hybrid_ratio(o, rows, n, HFX_WL_TYPING, o->sizes[z]);
    for (int z = 0; z < o->nsizes; z++)
        hybrid_idle(o, rows, n, o->sizes[z]);
    static const enum hfx_workload others[] = {HFX_WL_WINDOW, HFX_WL_DRAG, HFX_WL_PANE,
                                               HFX_WL_HALF,   HFX_WL_SCROLL, HFX_WL_SCROLL_BACK,
                                               HFX_WL_VIDEO};
    for (size_t w = 0; w < sizeof others / sizeof others[0]; w++)
        for (int z = 0; z < o->nsizes; z++)
            hybrid_ratio(o, rows, n, others[w], o->sizes[z]);
    if (!busy)
        return;
    char counters[256];
    bench_counters_format(&busy->counters, counters, sizeof counters);
    bool judged = busy_size.w == 5120 && busy_size.h == 2880;
    char goal[96] = " (no target at this size)";
    if (judged)
        snprintf(goal, sizeof goal, " (target < %.0f%%): %s", BUSY_GOAL_PCT,
                 verdict(busy->cpu_pct < BUSY_GOAL_PCT));
    item(o, "%d subscribed %ux%u typing scanouts at %d fps, hybrid, 1 thread each: exporter "
            "CPU %.1f%% of one core in all, whole process %.1f%%%s; %u of %u updates "
            "delivered as frames, %llu coalesced, %u IDR(s), conv+enc p50 %.3f ms, p99 %.3f ms; "
            "%s",
         BUSY_HEADS, busy_size.w, busy_size.h, BENCH_SOURCE_FPS, busy->cpu_pct, busy->proc_pct,
         goal, busy->delivered, busy->updates, (unsigned long long)busy->coalesced,
         busy->keyframes, busy->conv_enc_p50, busy->conv_enc_p99, counters);
}

/* In cores at the source's pace: CPU time over the time the frames span
 * at 60 fps, since a machine that cannot keep up stretches the run and
 * would make CPU over wall time look cheap. */
static void print_busy_scroll(const struct bench_opts *o, const struct bench_heads_result *b,
                              uint32_t frames)
{
    double cores = b->paced_cpu_pct / 100;
    char counters[256];
    bench_counters_format(&b->counters, counters, sizeof counters);
    item(o, "%d subscribed 1920x1080 scroll scanouts at %d fps, hybrid, 1 thread each: "
            "exporter CPU %.2f cores in all at that pace (target < %.1f): %s; the %u frames "
            "took %.1f s (%.1f s at %d fps), %.2f cores over that; %u of %u updates delivered "
            "as frames, %llu coalesced, %u IDR(s), conv+enc p50 %.3f ms, p99 %.3f ms; %s",
         BUSY_HEADS, BENCH_SOURCE_FPS, cores, BUSY_SCROLL_GOAL_CORES,
         verdict(cores < BUSY_SCROLL_GOAL_CORES), frames, b->wall_s,
         (double)frames / BENCH_SOURCE_FPS, BENCH_SOURCE_FPS, b->cpu_pct / 100, b->delivered,
         b->updates, (unsigned long long)b->coalesced, b->keyframes, b->conv_enc_p50,
         b->conv_enc_p99, counters);
}

/* ---- page flips ---- */

/* What finding a flip's damage costs, per size and encoder: the flip row
 * against the typing row, which hands the engine the same frames with their
 * damage. */
static void print_flips(const struct bench_opts *o, const struct row *rows, int n)
{
    if (!o->flip)
        return;
    section(o, "page flips: the typing screen as whole new buffers "
               "(hfx_engine_scanout_compare per flip, rows above)");
    for (int i = 0; i < n; i++) {
        const struct row *f = &rows[i];
        const struct bench_row_spec *s = &f->spec;
        if (!s->flip || !f->ok || f->res.fell_back || !f->res.flips)
            continue;
        const struct bench_row_result *v = &f->res;
        const char *hints = strcmp(s->encoder, "x264") ? "" : s->no_damage_hints ? " (no hints)"
                                                                                  : " (hints)";
        double mib = (double)s->width * s->height * 4 / 1048576;
        char damage[256] = "";
        const struct row *t = paced_row(rows, n, s->encoder, HFX_WL_TYPING, s->width, s->height,
                                        !s->no_damage_hints);
        if (t && t->res.delivered)
            snprintf(damage, sizeof damage, "; the same frames as damage (typing row): conv+enc "
                                            "p50 %.3f ms, latency p50 %.2f ms",
                     t->res.conv_enc_p50, t->res.lat_p50);
        char coded[256] = ", ";
        bench_counters_format(&v->counters, coded + 2, sizeof coded - 2);
        if (!coded[2])
            coded[0] = '\0';
        item(o, "%ux%u %s%s: compare p50 %.3f ms, p99 %.3f ms, mean %.3f ms (CPU %.3f ms) per "
                "flip over %u flips (%.1f MiB read: %.1f GB/s at the mean CPU time); conv+enc "
                "p50 %.3f ms, latency p50/p99 %.2f / %.2f ms%s%s",
             s->width, s->height, s->encoder, hints, v->compare_p50, v->compare_p99,
             v->compare_mean, v->compare_cpu_mean, v->flips, mib,
             v->compare_cpu_mean > 0 ? mib * 1048576 / (v->compare_cpu_mean * 1e6) : 0.0,
             v->conv_enc_p50, v->lat_p50, v->lat_p99, coded, damage);
    }
}

/* ---- main ---- */

/* A row counts as measured when it delivered frames that decode and could
 * be compared with the source; an encoder that cannot open the size at all
 * is reported as not available instead. */
static bool row_measured(const struct row *r, char *why, size_t len)
{
    const struct bench_row_result *v = &r->res;
    if (v->fell_back)
        return true;
    if (!v->delivered)
        snprintf(why, len, "no frame was delivered");
    else if (v->decode_errors)
        snprintf(why, len, "%u access unit(s) did not decode", v->decode_errors);
    else if (!v->psnr_frames)
        snprintf(why, len, "no delivered frame could be compared with the source");
    else
        return true;
    return false;
}

static int run_rows(const struct bench_opts *o, struct row *rows, int n)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char err[512] = "";
        struct row *r = &rows[i];
        r->ok = bench_run_row(&r->spec, &r->res, err, sizeof err) == 0;
        if (r->ok)
            print_row(o, r);
        if (r->ok && !row_measured(r, err, sizeof err))
            r->ok = false;
        if (!r->ok) {
            fprintf(stderr, "hfx bench: %s %ux%u %s%s: %s\n", row_workload(&r->spec),
                    r->spec.width, r->spec.height, r->spec.encoder,
                    r->spec.no_damage_hints ? " (no hints)" : "", err);
            failed++;
        }
        fflush(stdout);
    }
    return failed;
}

/* Memory is reported in frames' worth: the I420 picture the encoder takes
 * (1.5 bytes a pixel) and the XRGB surface the guest draws (4 bytes). */
static void print_memory(const struct bench_memory *m, uint32_t w, uint32_t h)
{
    double i420 = 1.5 * w * h, xrgb = 4.0 * w * h;
    double unwatched = (double)(m->unwatched - m->before), active = (double)(m->active - m->before);
    printf("\n**memory of one %ux%u typing scanout (resident, process delta)**\n\n", w, h);
    printf("- surface set, no subscriber: %.1f MiB = %.1f I420 frames = %.2f XRGB frames "
           "(no encoder)\n", unwatched / 1048576, unwatched / i420, unwatched / xrgb);
    printf("- subscribed, after 60 frames (x264 open): %.1f MiB = %.1f I420 frames = %.2f XRGB "
           "frames (target: about three frames' worth)\n",
           active / 1048576, active / i420, active / xrgb);
}

/* The largest size of the run: where 16 busy heads cost the most. */
static struct size largest_size(const struct bench_opts *o)
{
    struct size big = o->sizes[0];
    for (int i = 1; i < o->nsizes; i++)
        if ((uint64_t)o->sizes[i].w * o->sizes[i].h > (uint64_t)big.w * big.h)
            big = o->sizes[i];
    return big;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_opts o = {0};
    if (parse(argc, argv, &o) < 0)
        return 2;
    /* Per-row encoder openings are not news here; warnings still are. */
    hfx_log_set_level(HFX_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    /* At most four paced rows per workload (flip included) x size (x264
     * twice), two unpaced per workload. */
    struct row *rows = calloc((size_t)(o.nworkloads + o.flip) *
                                  (o.nsizes * (MAX_ENCODERS + 1) + 2),
                              sizeof *rows);
    if (!rows) {
        fprintf(stderr, "hfx bench: out of memory\n");
        return 1;
    }
    int n = plan(&o, rows);
    print_machine();
    /* First, while the process's heap is fresh: freed pictures of earlier
     * rows would otherwise be reused without showing in the resident size. */
    char err[512] = "";
    struct bench_memory mem;
    int mem_rc = bench_memory(1920, 1080, &mem, err, sizeof err);
    if (mem_rc < 0)
        fprintf(stderr, "hfx bench: memory of a scanout: %s\n", err);
    print_header(&o);
    int failed = run_rows(&o, rows, n) + (mem_rc < 0);

    /* Sixteen busy heads, at the largest size of the run. */
    struct bench_heads_result busy;
    struct size busy_size = largest_size(&o);
    bool busy_ok = false;
    if (has_encoder(&o, "hybrid")) {
        busy_ok = bench_busy_heads(BUSY_HEADS, HFX_WL_TYPING, "hybrid", busy_size.w,
                                   busy_size.h, o.frames, &busy, err, sizeof err) == 0;
        if (busy_ok && !busy.delivered) {
            snprintf(err, sizeof err, "no frame was delivered");
            busy_ok = false;
        }
        if (!busy_ok) {
            fprintf(stderr, "hfx bench: %d busy %ux%u scanouts: %s\n", BUSY_HEADS, busy_size.w,
                    busy_size.h, err);
            failed++;
        }
    }
    /* Sixteen 1080p heads scrolling. */
    struct bench_heads_result scroll;
    bool scroll_ok = false;
    if (has_encoder(&o, "hybrid") && has_workload(&o, HFX_WL_SCROLL)) {
        scroll_ok = bench_busy_heads(BUSY_HEADS, HFX_WL_SCROLL, "hybrid", 1920, 1080, o.frames,
                                     &scroll, err, sizeof err) == 0;
        if (!scroll_ok) {
            fprintf(stderr, "hfx bench: %d scrolling 1920x1080 scanouts: %s\n", BUSY_HEADS,
                    err);
            failed++;
        }
    }
    double idle_cpu;
    bool idle_ok = bench_idle_heads(IDLE_HEADS, 1920, 1080, IDLE_NS, &idle_cpu, err,
                                    sizeof err) == 0;
    if (!idle_ok) {
        fprintf(stderr, "hfx bench: %d idle scanouts: %s\n", IDLE_HEADS, err);
        failed++;
    }
    print_notes(&o, rows, n);
    print_hint_ratios(&o, rows, n);
    print_targets(&o, rows, n, idle_ok ? &idle_cpu : NULL);
    if (has_encoder(&o, "hybrid"))
        print_hybrid(&o, rows, n, busy_ok ? &busy : NULL, busy_size);
    if (scroll_ok)
        print_busy_scroll(&o, &scroll, o.frames);
    print_flips(&o, rows, n);
    if (mem_rc == 0)
        print_memory(&mem, 1920, 1080);
    free(rows);
    return failed ? 1 : 0;
}
