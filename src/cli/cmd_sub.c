#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "client/hfx-client.h"
#include "proto/hxfr.h"
#include "client/decode.h"
#include "client/mux.h"
#include "client/stream_stats.h"
#include "client/verify.h"
#include "common/clock.h"
#include "source/synth.h"

static const char help[] =
    "usage: hfx sub [OPTIONS]\n"
    "\n"
    "Subscribes to one scanout and writes its H.264 as Annex B, e.g.\n"
    "  hfx sub --scanout 0 | ffplay -\n"
    "  hfx sub --scanout 1 --output head1.264 --duration 10\n"
    "Progress goes to stderr once a second. Exits 1 when no frame arrived (a head that is\n"
    "off sends none).\n"
    "\n"
    "  --connect ADDR   server address (default " HFX_DEFAULT_ADDR ")\n"
    "  --scanout N      scanout to watch, 0..15 (default 0)\n"
    "  --output FILE    write the stream here; '-' = stdout (default when not a terminal;\n"
    "                   on a terminal --stats drops the stream)\n"
    "  --mux FILE       also write the stream into FILE, MP4 or Matroska by its name (.mp4,\n"
    "                   .mkv), each frame at the time the exporter produced it, so it plays\n"
    "                   at the speed it was recorded (a raw .264 has no timestamps: players\n"
    "                   guess a fixed rate, while the exporter sends a frame only when the\n"
    "                   picture changes)\n"
    "  --frames N       stop after N frames\n"
    "  --duration SEC   stop after SEC seconds\n"
    "  --bitrate BPS    ask for this bitrate (CONFIG_REQ)\n"
    "  --extended       use the extended protocol (HELLO): replies and errors are read\n"
    "  --token TOKEN    present this access token (implies --extended); also $HFX_TOKEN\n"
    "  --token-file F   read the token from F's first line; also $HFX_TOKEN_FILE\n"
    "  --decode         decode every frame and show the frame number drawn in it\n"
    "                   (synthetic source); exits 1 on a decode error or a number out of order\n"
    "  --check WORKLOAD also compare each frame with what that workload drew (PSNR);\n"
    "                   exits 1 if any frame is below --min-psnr\n"
    "  --min-psnr DB    the least luma PSNR --check accepts (default 30)\n"
    "  --allow-stale    with --decode: do not fail on a frame one or two numbers behind the\n"
    "                   one before it (QEMU 7.2's D-Bus display sends page-flipped surfaces\n"
    "                   by reference, so one can be read after the guest drew the next)\n"
    "  --reconnect      when the stream is lost, connect again (with backoff) and resume\n"
    "  --quiet          no progress lines\n"
    "  --stats          measure the stream as the platform's `benchmark` does, on stderr:\n"
    "                   each second (counted from the subscription) that second's frames\n"
    "                   and fps; at the end the average fps (all frames over the time), min\n"
    "                   and max fps over the one-second windows, keyframes, bandwidth,\n"
    "                   average and min-max frame size, jitter, the gaps over 50, 100 and\n"
    "                   200 ms, and a verdict. Runs 10 s unless --duration or --frames is\n"
    "                   given (--frames or a signal can end it in part of a second, which\n"
    "                   gets a line too). Jitter: the population standard deviation, in\n"
    "                   ms, of the gaps between consecutive frames' arrivals; a gap is\n"
    "                   \"over 50 ms\" when strictly longer. Verdict: the average fps is\n"
    "                   EXCELLENT at >= 95% of --target-fps, GOOD >= 80%, DEGRADED >= 50%,\n"
    "                   else POOR. A still screen sends no frames (the exporter sends\n"
    "                   nothing for an unchanged picture), so fps measures how often the\n"
    "                   picture changes, not the stream's health: an idle desktop rates\n"
    "                   POOR, as it does in the platform's tool. The verdict does not\n"
    "                   change the exit status\n"
    "  --target-fps N   the rate --stats' verdict compares with, 1..1000 (default 60)\n"
    "  --stats-json F   --stats, and its numbers as one JSON object on one line in F at\n"
    "                   the end; '-' = stdout, when the stream goes to --output FILE\n";

static atomic_bool stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop, true);
}

struct sub_opts {
    const char *addr, *output, *token_arg, *token_file, *stats_json, *mux;
    uint32_t scanout, frames, duration, bitrate, min_psnr, target_fps;
    bool extended, decode, quiet, allow_stale, reconnect, stats;
    int check; /* workload to compare with, -1 for none */
};

static int parse(int argc, char **argv, struct sub_opts *o)
{
    enum { O_CONNECT = 256, O_SCANOUT, O_OUTPUT, O_FRAMES, O_DURATION, O_BITRATE, O_EXT, O_DECODE,
           O_QUIET, O_CHECK, O_MIN_PSNR, O_ALLOW_STALE, O_RECONNECT, O_TOKEN,
           O_TOKEN_FILE, O_STATS, O_TARGET_FPS, O_STATS_JSON, O_MUX };
    static const struct option opts[] = {
        {"connect", 1, 0, O_CONNECT}, {"scanout", 1, 0, O_SCANOUT}, {"output", 1, 0, O_OUTPUT},
        {"frames", 1, 0, O_FRAMES}, {"duration", 1, 0, O_DURATION},
        {"bitrate", 1, 0, O_BITRATE}, {"extended", 0, 0, O_EXT}, {"decode", 0, 0, O_DECODE},
        {"quiet", 0, 0, O_QUIET}, {"check", 1, 0, O_CHECK}, {"min-psnr", 1, 0, O_MIN_PSNR},
        {"allow-stale", 0, 0, O_ALLOW_STALE}, {"reconnect", 0, 0, O_RECONNECT},
        {"token", 1, 0, O_TOKEN}, {"token-file", 1, 0, O_TOKEN_FILE},
        {"stats", 0, 0, O_STATS}, {"target-fps", 1, 0, O_TARGET_FPS},
        {"stats-json", 1, 0, O_STATS_JSON}, {"mux", 1, 0, O_MUX}, {"help", 0, 0, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_CONNECT: o->addr = optarg; break;
        case O_SCANOUT: rc = cli_uint("--scanout", optarg, 0, 15, &o->scanout); break;
        case 'o':
        case O_OUTPUT: o->output = optarg; break;
        case O_MUX: o->mux = optarg; break;
        case O_FRAMES: rc = cli_uint("--frames", optarg, 1, UINT32_MAX, &o->frames); break;
        case O_DURATION: rc = cli_uint("--duration", optarg, 1, 86400 * 365, &o->duration); break;
        case O_BITRATE: rc = cli_uint("--bitrate", optarg, 10000, 1000000000, &o->bitrate); break;
        case O_EXT: o->extended = true; break;
        case O_DECODE: o->decode = true; break;
        case O_QUIET: o->quiet = true; break;
        case O_CHECK:
            o->check = hfx_workload_parse(optarg);
            o->decode = true;
            if (o->check < 0) {
                fprintf(stderr, "hfx sub: --check takes idle, typing, window, half, scroll or video, "
                                "not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case O_ALLOW_STALE: o->allow_stale = true; break;
        case O_RECONNECT: o->reconnect = true; break;
        case O_TOKEN: o->token_arg = optarg; break;
        case O_TOKEN_FILE: o->token_file = optarg; break;
        case O_MIN_PSNR: rc = cli_uint("--min-psnr", optarg, 1, 99, &o->min_psnr); break;
        case O_STATS: o->stats = true; break;
        case O_TARGET_FPS: rc = cli_uint("--target-fps", optarg, 1, 1000, &o->target_fps); break;
        case O_STATS_JSON:
            o->stats_json = optarg;
            o->stats = true;
            break;
        case 'h': fputs(help, stdout); exit(0);
        default: fputs(help, stderr); return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "hfx sub: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->target_fps && !o->stats) {
        fprintf(stderr, "hfx sub: --target-fps is for --stats\n");
        return -1;
    }
    if (!o->target_fps)
        o->target_fps = 60;
    if (o->stats && !o->duration && !o->frames)
        o->duration = 10; /* the platform's benchmark's default */
    return 0;
}

static FILE *open_output(const char *path, bool stats)
{
    if (!path && isatty(STDOUT_FILENO)) {
        if (!stats) {
            fprintf(stderr, "hfx sub: stdout is a terminal; pipe it (hfx sub | ffplay -) or use "
                            "--output FILE\n");
            return NULL;
        }
        path = "/dev/null"; /* only the numbers are wanted */
    }
    if (!path || !strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        perror(path);
    return f;
}

struct progress {
    uint64_t frames, keyframes, bytes, window_frames, window_bytes;
    int64_t start, window_start;
    int64_t last_number;
    uint64_t out_of_order, stale, undecodable, below_psnr;
    double worst_psnr;
};

static void report(const struct sub_opts *o, struct progress *p, bool final)
{
    /* --stats prints its own lines; the last progress line stays for
     * --decode's counts. */
    if (o->stats && !(final && o->decode))
        return;
    int64_t now = hfx_now_ns();
    double secs = (double)(now - p->window_start) / 1e9;
    if (!final && secs < 1.0)
        return;
    /* The last line gives the rates of the whole run: its last window can
     * be empty (a stream that went still right after a report). */
    double n = (double)p->window_frames, bytes = (double)p->window_bytes;
    if (final) {
        secs = (double)(now - p->start) / 1e9;
        n = (double)p->frames;
        bytes = (double)p->bytes;
    }
    if (!o->quiet || final) {
        fprintf(stderr, "hfx sub: scanout %u: %" PRIu64 " frames (%" PRIu64 " key), %.1f fps, "
                        "%.0f kbit/s",
                o->scanout, p->frames, p->keyframes, secs > 0 ? n / secs : 0.0,
                secs > 0 ? bytes * 8 / secs / 1000 : 0.0);
        if (o->decode)
            fprintf(stderr, ", frame #%" PRId64 ", %" PRIu64 " out of order, %" PRIu64
                            " stale, %" PRIu64 " undecodable",
                    p->last_number, p->out_of_order, p->stale, p->undecodable);
        if (o->check >= 0)
            fprintf(stderr, ", worst PSNR %.1f dB, %" PRIu64 " below %u dB", p->worst_psnr,
                    p->below_psnr, o->min_psnr);
        fputc('\n', stderr);
    }
    p->window_start = now;
    p->window_frames = p->window_bytes = 0;
}

/* --stats: a window's line, each second and for the part of one a run ends in. */
static void stats_windows(const struct sub_opts *o, struct hfx_stream_stats *st, int64_t now)
{
    struct hfx_stats_window w;
    while (hfx_stream_stats_window(st, now, &w)) {
        if (o->quiet)
            continue;
        fprintf(stderr, "hfx sub: scanout %u: second %" PRIu64, o->scanout, w.index + 1);
        if (w.partial)
            fprintf(stderr, " (%.2f s)", w.seconds);
        fprintf(stderr, ": %" PRIu64 " frames (%" PRIu64 " key), %.1f fps, %.0f kbit/s\n",
                w.frames, w.keyframes, w.fps,
                w.seconds > 0 ? (double)w.bytes * 8 / w.seconds / 1000 : 0.0);
    }
}

/* How long to wait for a frame so each second's line comes on time and the
 * measurement ends at `end`. */
static int stats_wait(const struct hfx_stream_stats *st, int64_t end)
{
    int64_t until = hfx_stream_stats_window_end(st);
    if (end < until)
        until = end;
    int64_t ns = until - hfx_now_ns();
    if (ns <= 0)
        return 0;
    return ns >= 200000000 ? 200 : (int)((ns + 999999) / 1000000);
}

/* --stats' summary on stderr, and in JSON where --stats-json says; -1 when
 * the JSON could not be written. */
static int stats_report(const struct sub_opts *o, const struct hfx_stream_stats *st, FILE *json)
{
    struct hfx_stats_summary s;
    hfx_stream_stats_summary(st, 0, &s);
    enum hfx_stats_verdict v = hfx_stats_verdict(s.fps_average, o->target_fps);
    unsigned id = o->scanout;
    fprintf(stderr, "hfx sub: scanout %u: stats over %.2f s (%" PRIu64 " one-second windows): %"
                    PRIu64 " frames\n", id, s.seconds, s.windows, s.frames);
    fprintf(stderr, "hfx sub: scanout %u: fps: average %.1f, min %.1f, max %.1f\n", id,
            s.fps_average, s.fps_min, s.fps_max);
    fprintf(stderr, "hfx sub: scanout %u: keyframes: %" PRIu64 "\n", id, s.keyframes);
    fprintf(stderr, "hfx sub: scanout %u: bandwidth: %.0f kbit/s\n", id, s.kbit_per_s);
    fprintf(stderr, "hfx sub: scanout %u: frame size: average %.0f bytes, min %" PRIu64
                    ", max %" PRIu64 "\n", id, s.frame_bytes_average, s.frame_bytes_min,
            s.frame_bytes_max);
    fprintf(stderr, "hfx sub: scanout %u: jitter: %.2f ms (the standard deviation of the %" PRIu64
                    " gaps between frame arrivals; mean gap %.2f ms, longest %.1f ms)\n",
            id, s.jitter_ms, s.gaps, s.gap_mean_ms, s.gap_max_ms);
    fprintf(stderr, "hfx sub: scanout %u: gaps:", id);
    for (int i = 0; i < HFX_STATS_GAP_LIMITS; i++)
        fprintf(stderr, "%s %" PRIu64 " over %u ms", i ? "," : "", s.gaps_over[i],
                hfx_stats_gap_limit_ms[i]);
    fprintf(stderr, "\nhfx sub: scanout %u: verdict: %s (%.1f fps is %.0f%% of the target %u "
                    "fps)\n", id, hfx_stats_verdict_name(v), s.fps_average,
            s.fps_average * 100 / o->target_fps, o->target_fps);
    if (!json)
        return 0;
    char members[2048];
    int n = hfx_stats_json_members(members, sizeof members, &s, o->target_fps);
    if (n < 0 || (size_t)n >= sizeof members ||
        fprintf(json, "{\"scanout\":%u,%s}\n", id, members) < 0 || fflush(json) != 0) {
        fprintf(stderr, "hfx sub: writing the --stats-json numbers failed\n");
        return -1;
    }
    return 0;
}

/* --stats-json's file, opened before subscribing so a bad path fails early. */
static int open_stats_json(const struct sub_opts *o, FILE *out, FILE **json)
{
    *json = NULL;
    if (!o->stats_json)
        return 0;
    if (!strcmp(o->stats_json, "-")) {
        if (out == stdout) {
            fprintf(stderr, "hfx sub: --stats-json - needs the stream elsewhere (--output FILE)\n");
            return -1;
        }
        *json = stdout;
        return 0;
    }
    *json = fopen(o->stats_json, "w");
    if (!*json) {
        perror(o->stats_json);
        return -1;
    }
    return 0;
}

static void check_frame(const struct sub_opts *o, struct hfx_decoder *dec, struct hfx_verify *ver,
                        const struct hfx_client_frame *f, struct progress *p)
{
    struct hfx_decoded pic;
    int r = hfx_decoder_decode(dec, f->data, f->size, &pic);
    if (r <= 0) {
        p->undecodable++;
        return;
    }
    int64_t n = hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width, pic.height);
    /* A new surface (the head was resized) starts its numbers again, with
     * an IDR; anywhere else a lower number is a frame out of order. */
    if (n >= 0 && n < p->last_number && p->last_number - n <= 2 && !f->keyframe) {
        p->stale++;
        return;
    }
    if (n < 0 || (n < p->last_number && !f->keyframe && !f->resumed)) {
        /* The first few are described: which frame came after which. */
        if (p->out_of_order++ < 5)
            fprintf(stderr, "hfx sub: frame %" PRIu64 " (%s) reads #%" PRId64 " after #%" PRId64
                            "\n", p->frames, f->keyframe ? "key" : "not key", n, p->last_number);
        return;
    }
    p->last_number = n;
    if (!ver)
        return;
    double psnr = hfx_verify_psnr(ver, &pic, n);
    if (psnr < p->worst_psnr)
        p->worst_psnr = psnr;
    if (psnr < o->min_psnr)
        p->below_psnr++;
}

/* Whether the head is on, from the exporter's STATS for it: 1 on, 0 off, -1
 * unknown. Only an extended connection with a token may ask (a head token
 * covers its own head's STATS). */
static int head_enabled(const struct sub_opts *o, const char *token)
{
    if (!token)
        return -1;
    struct hfx_conn conn;
    struct hxfr_msg m;
    char err[256], text[8192];
    uint8_t req[32];
    if (hfx_conn_open(&conn, o->addr, err, sizeof err) < 0)
        return -1;
    int on = -1;
    size_t len = hxfr_put_stats_req(req, o->scanout, true);
    if (hfx_conn_extended(&conn, 0, token, 2000, err, sizeof err) == 0 &&
        hfx_conn_request(&conn, req, len, &m, 2000, err, sizeof err) > 0 &&
        m.h.type == HXFR_STATS_RESP) {
        snprintf(text, sizeof text, "%.*s", (int)m.u.stats_resp.len, m.u.stats_resp.text);
        on = strstr(text, "\"enabled\":true") ? 1 : strstr(text, "\"enabled\":false") ? 0 : -1;
    }
    hfx_conn_close(&conn);
    return on;
}

/* No frame came: the usual cause is a head that is off, which the exporter
 * accepts a subscription for and then sends nothing. Say so, and how to turn
 * it on, as far as this subscriber can tell. */
static void explain_no_frames(const struct sub_opts *o, const char *token, double secs)
{
    int on = head_enabled(o, token);
    fprintf(stderr, "hfx sub: scanout %u: no frame arrived in %.1f s: ", o->scanout, secs);
    if (on == 1)
        fprintf(stderr, "the head is on (the exporter says so) but has shown no picture yet\n");
    else
        fprintf(stderr, "%s\nhfx sub: turn it on with: hfx ctl --connect %s enable %u WxH "
                        "(e.g. 1920x1080; add --token-file with the control token where plain "
                        "clients are refused)\n",
                on == 0 ? "the head is off (the exporter says so)"
                        : "the head is probably off (one that is on sends its picture to a new "
                          "subscriber at once, unless it has none yet)",
                o->addr, o->scanout);
}

int cmd_sub(int argc, char **argv)
{
    struct sub_opts o = {.addr = HFX_DEFAULT_ADDR, .check = -1, .min_psnr = 30};
    if (parse(argc, argv, &o) < 0)
        return 2;
    FILE *out = open_output(o.output, o.stats), *json;
    if (!out)
        return 2;
    if (open_stats_json(&o, out, &json) < 0) {
        if (out != stdout)
            fclose(out);
        return 2;
    }
    char err[512], token_buf[HXFR_MAX_TOKEN + 1];
    bool bad;
    const char *token = cli_token(o.token_arg, o.token_file, token_buf, &bad);
    if (bad)
        return 2;
    struct hfx_mux *mux = NULL;
    if (o.mux && !(mux = hfx_mux_open(o.mux, err, sizeof err))) {
        fprintf(stderr, "hfx sub: --mux %s\n", err);
        return 2;
    }
    /* A token needs the extended mode. */
    o.extended |= token != NULL;
    struct hfx_client_options co = {.address = o.addr, .scanout = o.scanout,
                                    .extended = o.extended, .token = token,
                                    .bitrate = o.bitrate, .reconnect = o.reconnect};
    struct hfx_client *client;
    if (hfx_client_open(&co, &client, err, sizeof err) < 0) {
        fprintf(stderr, "hfx sub: %s\n", err);
        if (mux)
            hfx_mux_close(mux, 0, err, sizeof err);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct hfx_decoder *dec = o.decode ? hfx_decoder_new() : NULL;
    struct hfx_verify *ver = o.check >= 0 ? hfx_verify_new((enum hfx_workload)o.check) : NULL;
    struct progress p = {.start = hfx_now_ns(), .last_number = -1, .worst_psnr = 99};
    p.window_start = p.start;
    int64_t end = o.duration ? p.start + (int64_t)o.duration * 1000000000 : INT64_MAX;
    struct hfx_stream_stats st;
    hfx_stream_stats_init(&st, p.start);
    int rc = 0;
    bool lost = false;         /* the stream ended with an error */
    int64_t last_arrival = 0;  /* of the last frame, for how long --mux shows it */
    while (!atomic_load(&stop) && (!o.frames || p.frames < o.frames) && hfx_now_ns() < end) {
        struct hfx_client_frame f;
        int r = hfx_client_next(client, &f, o.stats ? stats_wait(&st, end) : 200, err,
                                sizeof err);
        int64_t now = hfx_now_ns(); /* the frame's arrival */
        if (o.stats)
            stats_windows(&o, &st, now < end ? now : end);
        if (r < 0) {
            fprintf(stderr, "hfx sub: %s\n", err);
            if (!strstr(err, "closed")) /* the server ending the stream is a clean end */
                rc = 1;
            lost = true;
            break;
        }
        if (r > 0 && f.data) {
            if (o.stats && now < end)
                hfx_stream_stats_frame(&st, now, f.size, f.keyframe);
            if (fwrite(f.data, 1, f.size, out) != f.size) {
                fprintf(stderr, "hfx sub: writing the stream failed (reader gone?)\n");
                break;
            }
            fflush(out);
            if (mux && hfx_mux_frame(mux, &f, now, err, sizeof err) < 0) {
                fprintf(stderr, "hfx sub: --mux %s: %s\n", o.mux, err);
                rc = 1;
                break;
            }
            last_arrival = now;
            p.frames++;
            p.window_frames++;
            p.keyframes += f.keyframe;
            p.bytes += f.size;
            p.window_bytes += f.size;
            if (dec)
                check_frame(&o, dec, ver, &f, &p);
        } else if (r > 0 && o.extended && f.type == HXFR_ERROR) {
            size_t len;
            const uint8_t *raw = hfx_client_message(client, &len);
            struct hxfr_msg m;
            if (!raw || hxfr_decode(raw, len, HXFR_FROM_SERVER, &m, NULL) != HXFR_PARSE_OK) {
                fprintf(stderr, "hfx sub: the server reported an error\n");
            } else if (m.u.error.code == HXFR_E_DENIED) {
                /* A revoked grant: the server has ended this subscription. */
                fprintf(stderr, "hfx sub: the stream stopped: %s\n", m.u.error.text);
                rc = 1;
                break;
            } else {
                fprintf(stderr, "hfx sub: the server says: %s (%d)\n", m.u.error.text,
                        m.u.error.code);
            }
        }
        report(&o, &p, false);
    }
    report(&o, &p, true);
    int64_t stopped = hfx_now_ns();
    if (stopped > end)
        stopped = end;
    if (mux && hfx_mux_close(mux, p.frames ? stopped - last_arrival : 0, err, sizeof err) < 0) {
        fprintf(stderr, "hfx sub: --mux %s: %s\n", o.mux, err);
        rc = 1;
    }
    if (!p.frames) {
        if (!lost)
            explain_no_frames(&o, token, (double)(stopped - p.start) / 1e9);
        rc = 1;
    }
    if (o.stats) {
        int64_t now = hfx_now_ns();
        hfx_stream_stats_end(&st, now < end ? now : end);
        stats_windows(&o, &st, 0);
        if (stats_report(&o, &st, json) < 0)
            rc = 1;
    }
    if (json && json != stdout)
        fclose(json);
    if (dec && (p.out_of_order || p.undecodable || p.below_psnr || !p.frames ||
                (p.stale && !o.allow_stale)))
        rc = 1;
    hfx_decoder_free(dec);
    hfx_verify_free(ver);
    hfx_client_close(client);
    if (out != stdout)
        fclose(out);
    return rc;
}
