/* hfx web: the web gateway (src/web/) on its own, beside an exporter it
 * reaches over HXFR. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>

#include "cli/cli.h"
#include "web/web.h"

static const char help[] =
    "usage: hfx web [OPTIONS]\n"
    "\n"
    "Serves a page of every head of an exporter: each head live in the browser\n"
    "(WebCodecs), with its keyboard and pointer, e.g.\n"
    "  hfx web --connect tcp:127.0.0.1:15937 --token-file control.token\n"
    "then open http://127.0.0.1:8080/?token=TOKEN (the control token: every head;\n"
    "a head's token: that head only).\n"
    "\n"
    "  --connect ADDR      the exporter (default " HFX_DEFAULT_ADDR ")\n"
    "  --token-file F      the gateway's token (subscribes for every viewer), first line\n"
    "                      of F; also --token, $HFX_TOKEN, $HFX_TOKEN_FILE\n"
    "  --token TOKEN       the token itself\n"
    HFX_WEB_HTTP_HELP
    "                      (default 127.0.0.1:8080)\n"
    "  --duration SEC      stop after SEC seconds\n";

static gboolean on_stop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

int cmd_web(int argc, char **argv)
{
    enum { O_CONNECT = 256, O_TOKEN, O_TOKEN_FILE, O_HTTP, O_DURATION };
    static const struct option opts[] = {
        {"connect", 1, 0, O_CONNECT}, {"token", 1, 0, O_TOKEN}, {"token-file", 1, 0, O_TOKEN_FILE},
        {"http", 1, 0, O_HTTP}, {"duration", 1, 0, O_DURATION}, {"help", 0, 0, 'h'}, {0}};
    const char *token_arg = NULL, *token_file = NULL;
    struct hfx_web_config cfg = {.exporter = HFX_DEFAULT_ADDR, .http = "127.0.0.1:8080"};
    char *spec = NULL;
    uint32_t duration = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_CONNECT: cfg.exporter = optarg; break;
        case O_TOKEN: token_arg = optarg; break;
        case O_TOKEN_FILE: token_file = optarg; break;
        case O_HTTP:
            if (hfx_web_parse_http(optarg, &cfg, &spec) < 0)
                return 2;
            break;
        case O_DURATION:
            if (cli_uint("--duration", optarg, 1, 86400 * 365, &duration) < 0)
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hfx web: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    static char token_buf[HXFR_MAX_TOKEN + 1];
    bool bad = false;
    cfg.token = cli_token(token_arg, token_file, token_buf, &bad);
    if (bad)
        return 2;

    signal(SIGPIPE, SIG_IGN);
    char err[512];
    struct hfx_web *w = hfx_web_start(&cfg, err, sizeof err);
    if (!w) {
        fprintf(stderr, "hfx web: %s\n", err);
        g_free(spec);
        return 1;
    }
    fprintf(stderr, "hfx web: serving http://%s/%s for the exporter at %s\n", cfg.http,
            cfg.open ? "" : "?token=TOKEN", cfg.exporter);
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, on_stop, loop);
    g_unix_signal_add(SIGTERM, on_stop, loop);
    if (duration)
        g_timeout_add_seconds(duration, on_stop, loop);
    g_main_loop_run(loop);
    hfx_web_stop(w);
    g_main_loop_unref(loop);
    g_free(spec);
    return 0;
}
