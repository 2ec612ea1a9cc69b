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
#include "client/decode.h"
#include "common/clock.h"
#include "source/synth.h"

static const char help[] =
    "usage: hfx sub [OPTIONS]\n"
    "\n"
    "Subscribes to one scanout and writes its H.264 as Annex B, e.g.\n"
    "  hfx sub --scanout 0 | ffplay -\n"
    "  hfx sub --scanout 1 --output head1.264 --duration 10\n"
    "Progress goes to stderr once a second.\n"
    "\n"
    "  --connect ADDR   server address (default " HFX_DEFAULT_ADDR ")\n"
    "  --scanout N      scanout to watch, 0..15 (default 0)\n"
    "  --output FILE    write the stream here; '-' = stdout (default when not a terminal)\n"
    "  --frames N       stop after N frames\n"
    "  --duration SEC   stop after SEC seconds\n"
    "  --bitrate BPS    ask for this bitrate (CONFIG_REQ)\n"
    "  --extended       use the extended protocol (HELLO): replies and errors are read\n"
    "  --decode         decode every frame and show the frame number drawn in it\n"
    "                   (synthetic source); exits 1 on a decode error or a number out of order\n"
    "  --quiet          no progress lines\n";

static atomic_bool stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop, true);
}

struct sub_opts {
    const char *addr, *output;
    uint32_t scanout, frames, duration, bitrate;
    bool extended, decode, quiet;
};

static int parse(int argc, char **argv, struct sub_opts *o)
{
    enum { O_CONNECT = 256, O_SCANOUT, O_OUTPUT, O_FRAMES, O_DURATION, O_BITRATE, O_EXT, O_DECODE,
           O_QUIET };
    static const struct option opts[] = {
        {"connect", 1, 0, O_CONNECT}, {"scanout", 1, 0, O_SCANOUT}, {"output", 1, 0, O_OUTPUT},
        {"frames", 1, 0, O_FRAMES}, {"duration", 1, 0, O_DURATION},
        {"bitrate", 1, 0, O_BITRATE}, {"extended", 0, 0, O_EXT}, {"decode", 0, 0, O_DECODE},
        {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_CONNECT: o->addr = optarg; break;
        case O_SCANOUT: rc = cli_uint("--scanout", optarg, 0, 15, &o->scanout); break;
        case 'o':
        case O_OUTPUT: o->output = optarg; break;
        case O_FRAMES: rc = cli_uint("--frames", optarg, 1, UINT32_MAX, &o->frames); break;
        case O_DURATION: rc = cli_uint("--duration", optarg, 1, 86400 * 365, &o->duration); break;
        case O_BITRATE: rc = cli_uint("--bitrate", optarg, 10000, 1000000000, &o->bitrate); break;
        case O_EXT: o->extended = true; break;
        case O_DECODE: o->decode = true; break;
        case O_QUIET: o->quiet = true; break;
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
    return 0;
}

static FILE *open_output(const char *path)
{
    if (!path) {
        if (isatty(STDOUT_FILENO)) {
            fprintf(stderr, "hfx sub: stdout is a terminal; pipe it (hfx sub | ffplay -) or use "
                            "--output FILE\n");
            return NULL;
        }
        return stdout;
    }
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        perror(path);
    return f;
}

struct progress {
    uint64_t frames, keyframes, bytes, window_frames, window_bytes;
    int64_t window_start;
    int64_t last_number;
    uint64_t out_of_order, undecodable;
};

static void report(const struct sub_opts *o, struct progress *p, bool final)
{
    int64_t now = hfx_now_ns();
    double secs = (double)(now - p->window_start) / 1e9;
    if (!final && secs < 1.0)
        return;
    if (!o->quiet || final) {
        fprintf(stderr, "hfx sub: scanout %u: %" PRIu64 " frames (%" PRIu64 " key), %.1f fps, "
                        "%.0f kbit/s",
                o->scanout, p->frames, p->keyframes, secs > 0 ? p->window_frames / secs : 0.0,
                secs > 0 ? p->window_bytes * 8 / secs / 1000 : 0.0);
        if (o->decode)
            fprintf(stderr, ", frame #%" PRId64 ", %" PRIu64 " out of order, %" PRIu64
                            " undecodable",
                    p->last_number, p->out_of_order, p->undecodable);
        fputc('\n', stderr);
    }
    p->window_start = now;
    p->window_frames = p->window_bytes = 0;
}

static void check_frame(struct hfx_decoder *dec, const struct hxfr_frame *f, struct progress *p)
{
    struct hfx_decoded pic;
    int r = hfx_decoder_decode(dec, f->au, f->au_size, &pic);
    if (r <= 0) {
        p->undecodable++;
        return;
    }
    int64_t n = hfx_stamp_read_luma(pic.plane[0], pic.stride[0], pic.width, pic.height);
    if (n < 0 || n < p->last_number)
        p->out_of_order++;
    else
        p->last_number = n;
}

int cmd_sub(int argc, char **argv)
{
    struct sub_opts o = {.addr = HFX_DEFAULT_ADDR};
    if (parse(argc, argv, &o) < 0)
        return 2;
    FILE *out = open_output(o.output);
    if (!out)
        return 2;
    char err[512];
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, o.addr, err, sizeof err) < 0 ||
        hfx_conn_subscribe(&conn, o.scanout, o.extended, 5000, err, sizeof err) < 0) {
        fprintf(stderr, "hfx sub: %s\n", err);
        return 1;
    }
    if (o.bitrate) {
        uint8_t buf[40];
        struct hxfr_config cfg = {.bitrate = o.bitrate, .fps_num = 60, .fps_den = 1,
                                  .profile = 66, .level = 40, .realtime = 1};
        if (hfx_conn_send(&conn, buf, hxfr_put_config(buf, HXFR_CONFIG_REQ, (uint16_t)o.scanout,
                                                      &cfg), err, sizeof err) < 0) {
            fprintf(stderr, "hfx sub: %s\n", err);
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct hfx_decoder *dec = o.decode ? hfx_decoder_new() : NULL;
    struct progress p = {.window_start = hfx_now_ns(), .last_number = -1};
    int64_t end = o.duration ? hfx_now_ns() + (int64_t)o.duration * 1000000000 : INT64_MAX;
    int rc = 0;
    while (!atomic_load(&stop) && (!o.frames || p.frames < o.frames) && hfx_now_ns() < end) {
        struct hxfr_msg m;
        int r = hfx_conn_read(&conn, &m, 200, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "hfx sub: %s\n", err);
            rc = !strstr(err, "closed"); /* the server ending the stream is a clean end */
            break;
        }
        if (r > 0 && m.h.type == HXFR_FRAME_RESPONSE) {
            if (fwrite(m.u.frame.au, 1, m.u.frame.au_size, out) != m.u.frame.au_size) {
                fprintf(stderr, "hfx sub: writing the stream failed (reader gone?)\n");
                break;
            }
            fflush(out);
            p.frames++;
            p.window_frames++;
            p.keyframes += m.u.frame.keyframe;
            p.bytes += m.u.frame.au_size;
            p.window_bytes += m.u.frame.au_size;
            if (dec)
                check_frame(dec, &m.u.frame, &p);
        } else if (r > 0 && m.h.type == HXFR_ERROR) {
            fprintf(stderr, "hfx sub: server error %d: %s\n", m.u.error.code, m.u.error.text);
        }
        report(&o, &p, false);
    }
    report(&o, &p, true);
    if (dec && (p.out_of_order || p.undecodable || !p.frames))
        rc = 1;
    hfx_decoder_free(dec);
    hfx_conn_close(&conn);
    if (out != stdout)
        fclose(out);
    return rc;
}
