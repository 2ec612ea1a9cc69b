/* hfx latency: key-to-picture time through a head's input and its stream,
 * as the platform's `latency` command measures it (reference-design.md, "How
 * the platform measures a stream"), but detecting the change in the decoded
 * pictures rather than by frame timing (a still screen sends no frames). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "client/decode.h"
#include "client/stream_stats.h"
#include "common/clock.h"
#include "common/keymap.h"

static const char help[] =
    "usage: hfx latency --scanout N [OPTIONS]\n"
    "\n"
    "Measures the time from pressing a key on head N (HXFR INPUT, key down then up) to the\n"
    "first frame whose decoded picture differs from the one before the press. It\n"
    "subscribes with the token (extended mode), decodes every frame, waits until the\n"
    "picture has been still for --still ms, presses, times the frame's arrival\n"
    "(CLOCK_MONOTONIC, before decoding), pauses --pause ms and does it again, --count\n"
    "times. A picture differs when a 16x16 block's mean absolute luma difference reaches\n"
    "--threshold (encoder noise stays well below). Prints each sample, then min, p50,\n"
    "p90, p99, max (nearest rank), mean and standard deviation in ms, and the verdict on\n"
    "the median: below 50 ms EXCELLENT, below 80 GOOD, below 120 ACCEPTABLE, else POOR.\n"
    "The guest must show the key (a terminal echoing it, the test guest's demo); the\n"
    "synthetic source (hfx serve --workload idle) repaints a block per press.\n"
    "\n"
    "  --scanout N      the head, 0..15 (required)\n"
    "  --connect ADDR   server address (default " HFX_DEFAULT_ADDR ")\n"
    "  --token TOKEN    present this access token; also $HFX_TOKEN\n"
    "  --token-file F   read it from F's first line; also $HFX_TOKEN_FILE\n"
    "  --count K        samples, 1..1000 (default 5)\n"
    "  --key KEY        the key pressed: evdev code, character or name (default space)\n"
    "  --pause MS       between a sample and the next press (default 500)\n"
    "  --still MS       how long the picture must not change before a press (default 300)\n"
    "  --timeout MS     a press whose change has not come by then is missed (default 2000)\n"
    "  --threshold N    block mean absolute difference that counts as a change (default 8)\n"
    "  --region X,Y,W,H compare only this rectangle of the picture (where the guest shows\n"
    "                   keys), so what else moves on the screen neither delays a press nor\n"
    "                   counts as its change (default: the whole picture)\n"
    "  --json FILE      also write the samples and statistics as one JSON line ('-' stdout)\n"
    "\n"
    "Exits 1 when no sample was measured or the server refused the input.\n";

struct lat_opts {
    const char *addr, *token_arg, *token_file, *json;
    uint32_t scanout, count, key, pause_ms, still_ms, timeout_ms, threshold;
    uint32_t rx, ry, rw, rh;    /* --region; rw 0: the whole picture */
};

static int parse_region(const char *val, struct lat_opts *o)
{
    char extra;
    if (sscanf(val, "%u,%u,%u,%u%c", &o->rx, &o->ry, &o->rw, &o->rh, &extra) != 4 || !o->rw ||
        !o->rh || o->rx > HFX_MAX_WIDTH || o->ry > HFX_MAX_HEIGHT || o->rw > HFX_MAX_WIDTH ||
        o->rh > HFX_MAX_HEIGHT) {
        fprintf(stderr, "hfx latency: --region needs X,Y,W,H (W, H at least 1), not '%s'\n",
                val);
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, struct lat_opts *o)
{
    static const struct option opts[] = {
        {"scanout", 1, 0, 's'}, {"connect", 1, 0, 'c'}, {"token", 1, 0, 'k'},
        {"token-file", 1, 0, 'f'}, {"count", 1, 0, 'n'}, {"key", 1, 0, 'K'},
        {"pause", 1, 0, 'p'}, {"still", 1, 0, 'S'}, {"timeout", 1, 0, 't'},
        {"threshold", 1, 0, 'T'}, {"json", 1, 0, 'j'}, {"region", 1, 0, 'r'},
        {"help", 0, 0, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'c': o->addr = optarg; break;
        case 'k': o->token_arg = optarg; break;
        case 'f': o->token_file = optarg; break;
        case 'j': o->json = optarg; break;
        case 's': rc = cli_uint("--scanout", optarg, 0, 15, &o->scanout); break;
        case 'n': rc = cli_uint("--count", optarg, 1, 1000, &o->count); break;
        case 'p': rc = cli_uint("--pause", optarg, 0, 60000, &o->pause_ms); break;
        case 'S': rc = cli_uint("--still", optarg, 0, 60000, &o->still_ms); break;
        case 't': rc = cli_uint("--timeout", optarg, 1, 60000, &o->timeout_ms); break;
        case 'T': rc = cli_uint("--threshold", optarg, 1, 255, &o->threshold); break;
        case 'r': rc = parse_region(optarg, o); break;
        case 'K':
            if (!(o->key = hfx_keymap_parse(optarg))) {
                fprintf(stderr, "hfx latency: unknown key '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'h': fputs(help, stdout); exit(0);
        default: fputs(help, stderr); return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc || o->scanout == UINT32_MAX) {
        fprintf(stderr, "hfx latency: %s\n\n%s",
                optind < argc ? "unexpected arguments" : "--scanout N is needed", help);
        return -1;
    }
    return 0;
}

/* The luma of the picture changes are measured against. */
struct luma {
    uint32_t w, h;
    uint8_t *y;
};

static void keep(struct luma *l, const struct hfx_decoded *d)
{
    if (l->w != d->width || l->h != d->height) {
        free(l->y);
        l->y = malloc((size_t)d->width * d->height);
        l->w = d->width;
        l->h = d->height;
    }
    for (uint32_t r = 0; l->y && r < d->height; r++)
        memcpy(l->y + (size_t)r * d->width, d->plane[0] + (size_t)r * d->stride[0], d->width);
}

/* A new size, or a 16x16 block of the region (clipped at its edges) whose
 * mean absolute difference reaches threshold. */
static bool differs(const struct luma *l, const struct hfx_decoded *d, const struct lat_opts *o)
{
    if (!l->y || l->w != d->width || l->h != d->height)
        return true;
    uint32_t x0 = o->rw ? o->rx : 0, y0 = o->rw ? o->ry : 0;
    uint32_t x1 = o->rw && o->rx + o->rw < d->width ? o->rx + o->rw : d->width;
    uint32_t y1 = o->rw && o->ry + o->rh < d->height ? o->ry + o->rh : d->height;
    uint32_t threshold = o->threshold;
    for (uint32_t by = y0; by < y1; by += 16) {
        uint32_t bh = y1 - by < 16 ? y1 - by : 16;
        for (uint32_t bx = x0; bx < x1; bx += 16) {
            uint32_t bw = x1 - bx < 16 ? x1 - bx : 16, sum = 0;
            for (uint32_t y = by; y < by + bh; y++) {
                const uint8_t *a = l->y + (size_t)y * l->w + bx;
                const uint8_t *b = d->plane[0] + (size_t)y * d->stride[0] + bx;
                for (uint32_t x = 0; x < bw; x++)
                    sum += (uint32_t)abs(a[x] - b[x]);
            }
            if (sum >= threshold * bw * bh)
                return true;
        }
    }
    return false;
}

static int report(const struct lat_opts *o, const double *ms, uint32_t n, uint32_t missed)
{
    struct hfx_latency_summary s;
    hfx_latency_summarize(ms, n, &s);
    unsigned id = o->scanout;
    printf("hfx latency: scanout %u: %u sample(s), %u missed: min %.1f, p50 %.1f, p90 %.1f, "
           "p99 %.1f, max %.1f, mean %.1f, stddev %.1f ms\n",
           id, n, missed, s.min_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms,
           s.stddev_ms);
    printf("hfx latency: scanout %u: verdict: %s (p50 %.1f ms; EXCELLENT < 50 ms, GOOD < 80, "
           "ACCEPTABLE < 120, else POOR)\n",
           id, hfx_latency_verdict_name(hfx_latency_verdict(&s)), s.p50_ms);
    fflush(stdout);
    if (!o->json)
        return 0;
    FILE *f = strcmp(o->json, "-") ? fopen(o->json, "w") : stdout;
    if (!f) {
        perror(o->json);
        return -1;
    }
    char members[512];
    hfx_latency_json_members(members, sizeof members, &s);
    fprintf(f, "{\"scanout\":%u,\"key\":%u,\"missed\":%u,\"samples_ms\":[", id, o->key, missed);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%s%.3f", i ? "," : "", ms[i]);
    fprintf(f, "],%s}\n", members);
    return (f == stdout ? fflush(f) : fclose(f)) == 0 ? 0 : -1;
}

enum phase { SETTLING, WAITING };

int cmd_latency(int argc, char **argv)
{
    struct lat_opts o = {.addr = HFX_DEFAULT_ADDR, .scanout = UINT32_MAX, .count = 5, .key = 57,
                         .pause_ms = 500, .still_ms = 300, .timeout_ms = 2000, .threshold = 8};
    if (parse(argc, argv, &o) < 0)
        return 2;
    char token_buf[HXFR_MAX_TOKEN + 1], err[512];
    bool bad;
    const char *token = cli_token(o.token_arg, o.token_file, token_buf, &bad);
    if (bad)
        return 2;
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, o.addr, err, sizeof err) < 0) {
        fprintf(stderr, "hfx latency: %s\n", err);
        return 1;
    }
    if (hfx_conn_extended(&conn, 0, token, 10000, err, sizeof err) < 0 ||
        hfx_conn_subscribe(&conn, o.scanout, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "hfx latency: %s\n", err);
        hfx_conn_close(&conn);
        return 1;
    }
    struct hfx_decoder *dec = hfx_decoder_new();
    double *ms = calloc(o.count, sizeof *ms);
    struct luma ref = {0};
    uint32_t n = 0, missed = 0;
    int rc = 0;
    enum phase phase = SETTLING;
    int64_t ms_ns = 1000000, now = hfx_now_ns();
    int64_t changed_at = now, not_before = now, pressed_at = 0;
    /* Not still for this long: the guest keeps drawing; give up. */
    int64_t settle_limit = now + (int64_t)(o.still_ms + 10000) * ms_ns;
    while (rc == 0 && n + missed < o.count) {
        now = hfx_now_ns();
        if (phase == SETTLING && ref.y && now - changed_at >= (int64_t)o.still_ms * ms_ns &&
            now >= not_before) {
            pressed_at = hfx_now_ns();
            if (cli_send_input(&conn, o.scanout, HFX_INPUT_KEY, true, o.key, 0, 0, err,
                               sizeof err) < 0 ||
                cli_send_input(&conn, o.scanout, HFX_INPUT_KEY, false, o.key, 0, 0, err,
                               sizeof err) < 0) {
                fprintf(stderr, "hfx latency: %s\n", err);
                rc = 1;
                break;
            }
            phase = WAITING;
            continue;
        }
        if (phase == SETTLING && now > settle_limit) {
            fprintf(stderr, "hfx latency: the picture of scanout %u never stayed still for %u "
                            "ms\n", o.scanout, o.still_ms);
            rc = 1;
            break;
        }
        if (phase == WAITING && now - pressed_at > (int64_t)o.timeout_ms * ms_ns) {
            printf("hfx latency: scanout %u: sample %u/%u: no change within %u ms (missed)\n",
                   o.scanout, n + missed + 1, o.count, o.timeout_ms);
            fflush(stdout);
            missed++;
            phase = SETTLING;
            changed_at = now;
            not_before = now + (int64_t)o.pause_ms * ms_ns;
            settle_limit = not_before + (int64_t)(o.still_ms + 10000) * ms_ns;
            continue;
        }
        struct hxfr_msg m;
        int r = hfx_conn_read(&conn, &m, 5, err, sizeof err);
        int64_t arrived = hfx_now_ns();
        if (r < 0) {
            fprintf(stderr, "hfx latency: %s\n", err);
            rc = 1;
            break;
        }
        if (r == 0)
            continue;
        if (m.h.type == HXFR_ERROR) {
            fprintf(stderr, "hfx latency: the server refused: %s (error %d)\n", m.u.error.text,
                    m.u.error.code);
            rc = 1;
            break;
        }
        struct hfx_decoded pic;
        if (m.h.type != HXFR_FRAME_RESPONSE ||
            hfx_decoder_decode(dec, m.u.frame.au, m.u.frame.au_size, &pic) <= 0)
            continue;
        if (!differs(&ref, &pic, &o))
            continue;
        keep(&ref, &pic);
        changed_at = arrived;
        if (phase == WAITING) {
            ms[n] = (double)(arrived - pressed_at) / 1e6;
            printf("hfx latency: scanout %u: sample %u/%u: %.1f ms\n", o.scanout,
                   n + missed + 1, o.count, ms[n]);
            fflush(stdout);
            n++;
            phase = SETTLING;
            not_before = arrived + (int64_t)o.pause_ms * ms_ns;
            settle_limit = not_before + (int64_t)(o.still_ms + 10000) * ms_ns;
        }
    }
    if (rc == 0 && (report(&o, ms, n, missed) < 0 || n == 0))
        rc = 1;
    free(ref.y);
    free(ms);
    hfx_decoder_free(dec);
    hfx_conn_close(&conn);
    return rc;
}
