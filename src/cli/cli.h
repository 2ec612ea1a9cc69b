/* The hfx command line: one file per subcommand, shared option helpers here. */
#ifndef HFX_CLI_H
#define HFX_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "server/server.h"
#include "frontend/frontend.h"
#include "frontend/qemu_dbus.h"
#include "source/synth_frontend.h"
#include "web/web.h"

int cmd_serve(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_web(int argc, char **argv);
int cmd_input(int argc, char **argv);
int cmd_latency(int argc, char **argv);

/* hfx serve's options and main loop, shared with hfx run. */
struct serve_opts {
    struct hfx_engine_config engine;
    struct hfx_server_config server;
    const struct hfx_frontend_class *frontend;
    struct hfx_frontend_args source;
    const char *token_out;      /* write the control token here */
    uint32_t duration;
    struct hfx_web_config web;  /* web.http set: serve the web page too */
    char *web_spec;             /* what web.http points into */
};
void serve_opts_init(struct serve_opts *o);
/* Parses hfx serve's options; -1 after printing what is wrong. */
int serve_parse(int argc, char **argv, struct serve_opts *o);
/* Runs until a signal, --duration, serve_stop() or the VM going away;
 * returns the process exit code. */
int serve_run(struct serve_opts *o);
void serve_stop(void);

/* Parsers that print what is wrong with the value and return -1. */
int cli_uint(const char *opt, const char *val, uint32_t min, uint32_t max, uint32_t *out);
int cli_size(const char *opt, const char *val, uint32_t *w, uint32_t *h);
int cli_format(const char *opt, const char *val, uint32_t *fourcc);
/* The access token a client presents: --token, else the first line of
 * --token-file, else $HFX_TOKEN, else $HFX_TOKEN_FILE's. NULL (and out "")
 * when there is none; -1 through *bad after printing why a file failed. */
const char *cli_token(const char *token, const char *token_file, char out[HXFR_MAX_TOKEN + 1],
                      bool *bad);
/* Writes text and a newline to a new mode-0600 file; -1 after printing why. */
int cli_write_private(const char *path, const char *text);

struct hfx_conn;
/* hfx input, hfx latency: one INPUT event (client.h's connection, in the
 * extended mode). 0, or -1 with err. */
int cli_send_input(struct hfx_conn *c, uint32_t scanout, int kind, bool down, uint32_t code,
                   int32_t x, int32_t y, char *err, size_t errlen);
/* Sends PING and reads up to its PONG, printing every ERROR before it (the
 * refusals of what was sent) prefixed by who: -1 when there was one or no
 * PONG came within timeout_ms. Frames on the way are skipped. */
int cli_input_errors(struct hfx_conn *c, int timeout_ms, const char *who);

#endif
