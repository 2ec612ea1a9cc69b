#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cli/cli.h"
#include "common/log.h"
#include "encoder/encoder.h"
#include "server/exporter.h"
#include "frontend/frontend.h"
#include "frontend/qemu_dbus.h"
#include "web/web.h"

static const char help[] =
    "usage: hfx serve [OPTIONS]\n"
    "\n"
    "Runs the exporter: a source feeds the engine, the server sends H.264 to\n"
    "subscribers. Stops on SIGINT/SIGTERM, after --duration, or when the VM goes.\n"
    "\n"
    "front end:\n"
    "  --frontend NAME     synthetic (default) or qemu-dbus\n"
    "  --attach ADDR       what the front end attaches to (qemu-dbus: below)\n"
    "source: a running QEMU VM\n"
    "  --qemu-dbus ADDR    --frontend qemu-dbus --attach ADDR: QEMU's D-Bus display, qmp:PATH\n"
    "                      for QEMU started with -display dbus,p2p=yes\n"
    "                      -qmp unix:PATH,server=on,wait=off, or a D-Bus bus address where\n"
    "                      QEMU runs -display dbus,addr=ADDR\n"
    "source: synthetic (default; a stand-in for a VM's heads)\n"
    "  --workload NAME     idle, typing, window, half, scroll or video (default typing)\n"
    "  --size WxH          size of each head (default 1920x1080)\n"
    "  --heads N           heads enabled at start, 0..scanouts (default 1)\n"
    "  --fps N             frames per second the source draws (default 60; ENABLE_SCANOUT's\n"
    "                      refresh rate sets a head's own)\n"
    "  --flip              draw every frame whole into a back buffer and page-flip to it,\n"
    "                      as a compositor on KMS does: the engine finds the damage\n"
    "  --format FOURCC     XRGB8888 (default), ARGB8888, XBGR8888, ABGR8888, BGRX8888, BGRA8888\n"
    "engine:\n"
    "  --scanouts N        scanouts 1..16 (default 16)\n"
    "  --encoder NAME      hybrid (default: x264, and our P-slice writer for small\n"
    "                      changes), x264 or openh264\n"
    "  --quality QP        1..51, lower is sharper (default 23): the writer's QP, x264's CRF\n"
    "  --bitrate BPS       default bitrate in bit/s (default: scaled to the size)\n"
    "  --threads N         encoder threads per scanout (default 1)\n"
    "  --idr-interval MS   an IDR at least this often (default 0: only when needed)\n"
    "  --idle-refresh MS   an all-skip frame after MS without a frame (default 0: off)\n"
    "server:\n"
    "  --listen ADDR       tcp:HOST:PORT, unix:PATH or vsock:CID:PORT; repeatable\n"
    "                      (default " HFX_DEFAULT_ADDR "). Append ,v1=off to serve there\n"
    "                      only clients that present a token; by default plain v1 clients\n"
    "                      (which cannot) may watch and switch any head: unsafe where\n"
    "                      untrusted code can connect (docs/protocol.md, Access control)\n"
    "  --secret-file PATH  the secret tokens derive from; created (mode 0600) if missing,\n"
    "                      so a restarted exporter keeps its control token\n"
    "                      (default: a new random secret each run)\n"
    "  --token-out PATH    write the control token to PATH (mode 0600)\n"
    "  --queue-bytes N     per-client queue bound (default 33554432)\n"
    "  --duration SEC      stop after SEC seconds (default: run until signalled)\n"
    "web:\n"
    HFX_WEB_HTTP_HELP
    "  -v, --verbose       log every connection and encoder event\n";

/* The server serve_run runs, for the signal handler. */
static struct hfx_server *_Atomic running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        hfx_server_stop(running);
}

void serve_opts_init(struct serve_opts *o)
{
    *o = (struct serve_opts){
        .engine = {.max_scanouts = HFX_MAX_SCANOUTS},
        .frontend = &hfx_frontend_synthetic,
        .source = {.workload = HFX_WL_TYPING, .width = 1920, .height = 1080, .heads = 1},
    };
}

int serve_parse(int argc, char **argv, struct serve_opts *o)
{
    enum { O_WORKLOAD = 256, O_SIZE, O_HEADS, O_FPS, O_FORMAT, O_SCANOUTS, O_ENCODER, O_BITRATE,
           O_THREADS, O_IDR, O_REFRESH, O_LISTEN, O_QUEUE, O_DURATION, O_QEMU,
           O_SECRET, O_TOKEN_OUT, O_QUALITY, O_FRONTEND, O_ATTACH, O_FLIP, O_HTTP };
    static const struct option opts[] = {
        {"qemu-dbus", 1, 0, O_QEMU}, {"frontend", 1, 0, O_FRONTEND}, {"attach", 1, 0, O_ATTACH},
        {"flip", 0, 0, O_FLIP}, {"secret-file", 1, 0, O_SECRET},
        {"token-out", 1, 0, O_TOKEN_OUT},
        {"workload", 1, 0, O_WORKLOAD}, {"size", 1, 0, O_SIZE}, {"heads", 1, 0, O_HEADS},
        {"fps", 1, 0, O_FPS}, {"format", 1, 0, O_FORMAT}, {"scanouts", 1, 0, O_SCANOUTS},
        {"encoder", 1, 0, O_ENCODER}, {"bitrate", 1, 0, O_BITRATE}, {"threads", 1, 0, O_THREADS},
        {"quality", 1, 0, O_QUALITY}, {"idr-interval", 1, 0, O_IDR}, {"idle-refresh", 1, 0, O_REFRESH},
        {"listen", 1, 0, O_LISTEN}, {"queue-bytes", 1, 0, O_QUEUE}, {"http", 1, 0, O_HTTP},
        {"duration", 1, 0, O_DURATION}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'}, {0}};
    uint32_t v;
    int c;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_WORKLOAD: {
            int wl = hfx_workload_parse(optarg);
            if (wl < 0) {
                fprintf(stderr, "hfx serve: --workload takes idle, typing, window, half, scroll or "
                                "video, not '%s'\n", optarg);
                return -1;
            }
            o->source.workload = (enum hfx_workload)wl;
            break;
        }
        case O_SIZE: rc = cli_size("--size", optarg, &o->source.width, &o->source.height); break;
        case O_HEADS: rc = cli_uint("--heads", optarg, 0, HFX_MAX_SCANOUTS, &o->source.heads); break;
        case O_FPS: rc = cli_uint("--fps", optarg, 1, 1000, &o->source.fps); break;
        case O_FORMAT: rc = cli_format("--format", optarg, &o->source.format); break;
        case O_SCANOUTS:
            rc = cli_uint("--scanouts", optarg, 1, HFX_MAX_SCANOUTS, &o->engine.max_scanouts);
            break;
        case O_ENCODER:
            if (!hfx_encoder_find(optarg)) {
                fprintf(stderr, "hfx serve: --encoder takes %s, not '%s'\n", hfx_encoder_names(),
                        optarg);
                return -1;
            }
            o->engine.encoder = optarg;
            break;
        case O_BITRATE: rc = cli_uint("--bitrate", optarg, 10000, 1000000000, &o->engine.bitrate); break;
        case O_THREADS:
            rc = cli_uint("--threads", optarg, 1, 64, &v);
            o->engine.threads = (int)v;
            break;
        case O_QUALITY:
            rc = cli_uint("--quality", optarg, 1, 51, &v);
            o->engine.quality = (int)v;
            break;
        case O_IDR: rc = cli_uint("--idr-interval", optarg, 0, 3600000, &o->engine.idr_interval_ms); break;
        case O_REFRESH: rc = cli_uint("--idle-refresh", optarg, 0, 3600000, &o->engine.idle_refresh_ms); break;
        case O_LISTEN:
            if (o->server.nlisten == HFX_MAX_LISTENERS) {
                fprintf(stderr, "hfx serve: at most %d --listen\n", HFX_MAX_LISTENERS);
                return -1;
            }
            o->server.listen[o->server.nlisten++] = optarg;
            break;
        case O_QUEUE:
            rc = cli_uint("--queue-bytes", optarg, 65536, 1u << 30, &v);
            o->server.queue_bytes = v;
            break;
        case O_DURATION: rc = cli_uint("--duration", optarg, 1, 86400 * 365, &o->duration); break;
        case O_QEMU:
            o->frontend = &hfx_frontend_qemu_dbus;
            o->source.attach = optarg;
            break;
        case O_FRONTEND:
            if (!(o->frontend = hfx_frontend_find(optarg))) {
                fprintf(stderr, "hfx serve: no front end '%s'; there are:\n", optarg);
                for (int i = 0; hfx_frontends[i]; i++)
                    fprintf(stderr, "  %-10s %s\n", hfx_frontends[i]->name,
                            hfx_frontends[i]->summary);
                return -1;
            }
            break;
        case O_ATTACH: o->source.attach = optarg; break;
        case O_FLIP: o->source.flip = true; break;
        case O_SECRET: o->server.secret_file = optarg; break;
        case O_TOKEN_OUT: o->token_out = optarg; break;
        case O_HTTP: rc = hfx_web_parse_http(optarg, &o->web, &o->web_spec); break;
        case 'v': hfx_log_set_level(HFX_LOG_DEBUG); break;
        case 'h': fputs(help, stdout); exit(0);
        default: fputs(help, stderr); return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "hfx serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->frontend->needs_attach && !o->source.attach) {
        fprintf(stderr, "hfx serve: the %s front end needs --attach ADDR\n", o->frontend->name);
        return -1;
    }
    if (o->source.heads > o->engine.max_scanouts) {
        fprintf(stderr, "hfx serve: --heads %u is more than --scanouts %u\n", o->source.heads,
                o->engine.max_scanouts);
        return -1;
    }
    return 0;
}

/* The web page beside the exporter: a subscriber of the exporter's first
 * listener, with the control token, like hfx web (one encode per head
 * still: the page's sockets share the gateway's subscription). */
static struct hfx_web *start_web(struct serve_opts *o, struct hfx_exporter *x, char *err,
                                 size_t errlen)
{
    char addr[600], token[HXFR_MAX_TOKEN + 1];
    char why[300];
    if (hfx_server_local_address(x->server, addr, sizeof addr, why, sizeof why) < 0) {
        snprintf(err, errlen, "--http needs the first --listen to be tcp: or unix: (%s)", why);
        return NULL;
    }
    hfx_server_control_token(x->server, token);
    o->web.exporter = addr;
    o->web.token = token;
    struct hfx_web *w = hfx_web_start(&o->web, err, errlen);
    if (w)
        hfx_log(HFX_LOG_INFO, "web page: http://%s/%s", o->web.http,
                o->web.open ? "" : "?token=<the control token>");
    return w;
}

static void on_vm_lost(void *data)
{
    hfx_server_stop(data);
}

static int run(struct serve_opts *o)
{
    char err[512];
    struct hfx_exporter x = {0};
    if (hfx_exporter_init(&x, &o->server, &o->engine, err, sizeof err) < 0) {
        fprintf(stderr, "hfx: %s\n", err);
        return 1;
    }
    if (o->token_out) {
        char token[HXFR_MAX_TOKEN + 1];
        hfx_server_control_token(x.server, token);
        if (cli_write_private(o->token_out, token) < 0) {
            hfx_exporter_free(&x);
            return 1;
        }
    }
    struct hfx_web *web = NULL;
    if (o->web.http && !(web = start_web(o, &x, err, sizeof err))) {
        fprintf(stderr, "hfx: %s\n", err);
        hfx_exporter_free(&x);
        return 1;
    }
    o->source.lost = on_vm_lost;
    o->source.lost_data = x.server;
    struct hfx_frontend *fe = o->frontend->start(x.engine, &o->source, err, sizeof err);
    if (!fe) {
        fprintf(stderr, "hfx: %s\n", err);
        if (web)
            hfx_web_stop(web);
        hfx_exporter_free(&x);
        return 1;
    }
    hfx_log(HFX_LOG_INFO, "front end: %s", o->frontend->name);
    running = x.server;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (o->duration)
        alarm(o->duration);
    int rc = hfx_server_run(x.server);
    running = NULL;
    if (web)
        hfx_web_stop(web);
    o->frontend->stop(fe);
    hfx_exporter_free(&x);
    return rc < 0 ? 1 : 0;
}

int serve_run(struct serve_opts *o)
{
    int rc = run(o);
    g_free(o->web_spec);
    o->web_spec = NULL;
    return rc;
}

/* Stops serve_run from another thread (hfx run, when QEMU exits). */
void serve_stop(void)
{
    if (running)
        hfx_server_stop(running);
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    serve_opts_init(&o);
    if (serve_parse(argc, argv, &o) < 0)
        return 2;
    return serve_run(&o);
}
