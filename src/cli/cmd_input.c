/* hfx input: keyboard and pointer events for one head (HXFR INPUT). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/keymap.h"

static const char help[] =
    "usage: hfx input --scanout N [OPTIONS] ACTION [ARGS] [ACTION [ARGS]]...\n"
    "\n"
    "Sends keyboard and pointer events to the VM's devices of head N (HXFR INPUT, extended\n"
    "mode; needs a token granting the head: the control token or the head's own). Prints\n"
    "each event sent, then any ERROR the server answers (exit 1).\n"
    "\n"
    "actions:\n"
    "  key KEY           press and release KEY: an evdev code (30 is A), one character\n"
    "                    (a, 5, /), or a name (enter, esc, tab, space, backspace, up, down,\n"
    "                    left, right, home, end, pageup, pagedown, delete, f1..f12, shift, ...)\n"
    "  down KEY, up KEY  press or release only\n"
    "  type TEXT         type TEXT on a US layout (Shift where needed; a newline is Enter)\n"
    "  move X Y          the pointer to X,Y in the head's pixels (clamped to the head)\n"
    "  click X Y [BTN]   move there, press and release BTN: left (default), middle, right,\n"
    "                    side, extra\n"
    "  wheel DY [DX]     wheel steps: DY down (negative: up), DX right\n"
    "\n"
    "  --scanout N       the head, 0..15 (required)\n"
    "  --connect ADDR    server address (default " HFX_DEFAULT_ADDR ")\n"
    "  --token TOKEN     present this access token; also $HFX_TOKEN\n"
    "  --token-file F    read it from F's first line; also $HFX_TOKEN_FILE\n"
    "  --delay MS        wait this long between key events (default 0)\n"
    "\n"
    "e.g.  hfx input --scanout 1 --token-file head1.token type 'ls -l' key enter click 100 200\n";

int cli_send_input(struct hfx_conn *c, uint32_t scanout, int kind, bool down, uint32_t code,
                   int32_t x, int32_t y, char *err, size_t errlen)
{
    struct hfx_input ev = {.scanout = scanout, .kind = (uint8_t)kind, .down = down, .code = code,
                           .x = x, .y = y};
    uint8_t buf[HXFR_INPUT_SIZE];
    return hfx_conn_send(c, buf, hxfr_put_input(buf, &ev), err, errlen);
}

int cli_input_errors(struct hfx_conn *c, int timeout_ms, const char *who)
{
    uint8_t ping[12];
    char err[256];
    if (hfx_conn_send(c, ping, hxfr_put_ping(ping, HXFR_PING, 0), err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return -1;
    }
    /* INPUT is not answered when taken: its refusals come before our PONG.
     * The same refusal in a row is printed once, with its count. */
    int refused = 0, same = 0, r;
    char last[HXFR_ERROR_TEXT_SIZE + 32] = "";
    struct hxfr_msg m;
    while ((r = hfx_conn_read(c, &m, timeout_ms, err, sizeof err)) > 0 &&
           m.h.type != HXFR_PONG) {
        if (m.h.type != HXFR_ERROR)
            continue;
        char text[sizeof last];
        snprintf(text, sizeof text, "%s (error %d)", m.u.error.text, m.u.error.code);
        refused++;
        if (!strcmp(text, last)) {
            same++;
            continue;
        }
        if (same > 1)
            fprintf(stderr, "%s: (%d times)\n", who, same);
        fprintf(stderr, "%s: the server refused: %s\n", who, text);
        snprintf(last, sizeof last, "%s", text);
        same = 1;
    }
    if (same > 1)
        fprintf(stderr, "%s: (%d times)\n", who, same);
    if (r <= 0)
        fprintf(stderr, "%s: %s\n", who, r ? err : "no answer to PING");
    return r <= 0 || refused ? -1 : 0;
}

static int button_parse(const char *name)
{
    static const char *const names[] = {NULL, "left", "middle", "right", "side", "extra"};
    for (int i = 1; i <= HFX_BUTTON_EXTRA; i++)
        if (!strcmp(name, names[i]))
            return i;
    return 0;
}

static int coord(const char *what, const char *val, int32_t min, int32_t max, int32_t *out)
{
    char *end;
    long v = strtol(val, &end, 10);
    if (end == val || *end || v < min || v > max) {
        fprintf(stderr, "hfx input: %s needs a whole number from %d to %d, not '%s'\n", what, min,
                max, val);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

struct sender {
    struct hfx_conn *c;         /* NULL: only check the actions */
    uint32_t scanout, delay_ms;
    int sent;
};

static int send_ev(struct sender *s, int kind, bool down, uint32_t code, int32_t x, int32_t y)
{
    static const char *const kinds[] = {NULL, "key", "pointer", "button", "wheel"};
    char err[256];
    if (!s->c)
        return 0;
    if (cli_send_input(s->c, s->scanout, kind, down, code, x, y, err, sizeof err) < 0) {
        fprintf(stderr, "hfx input: %s\n", err);
        return -1;
    }
    if (kind == HFX_INPUT_KEY || kind == HFX_INPUT_BUTTON)
        printf("sent: scanout %u %s %u %s\n", s->scanout, kinds[kind], code,
               down ? "down" : "up");
    else
        printf("sent: scanout %u %s %d %d\n", s->scanout,
               kind == HFX_INPUT_WHEEL ? "wheel (right, down)" : kinds[kind], x, y);
    s->sent++;
    if (s->delay_ms && kind == HFX_INPUT_KEY) {
        struct timespec ts = {s->delay_ms / 1000, (long)(s->delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int press(struct sender *s, uint32_t code, bool shift)
{
    return (shift && send_ev(s, HFX_INPUT_KEY, true, HFX_KEY_LEFTSHIFT, 0, 0) < 0) ||
                   send_ev(s, HFX_INPUT_KEY, true, code, 0, 0) < 0 ||
                   send_ev(s, HFX_INPUT_KEY, false, code, 0, 0) < 0 ||
                   (shift && send_ev(s, HFX_INPUT_KEY, false, HFX_KEY_LEFTSHIFT, 0, 0) < 0)
               ? -1
               : 0;
}

/* One action from argv; returns how many arguments it took, or -1. */
static int action(struct sender *s, int argc, char **argv)
{
    const char *a = argv[0];
    int32_t x, y;
    if ((!strcmp(a, "key") || !strcmp(a, "down") || !strcmp(a, "up")) && argc >= 2) {
        uint32_t code = hfx_keymap_parse(argv[1]);
        if (!code) {
            fprintf(stderr, "hfx input: unknown key '%s'\n", argv[1]);
            return -1;
        }
        int rc = a[0] == 'k' ? press(s, code, false)
                             : send_ev(s, HFX_INPUT_KEY, a[0] == 'd', code, 0, 0);
        return rc < 0 ? -1 : 2;
    }
    if (!strcmp(a, "type") && argc >= 2) {
        for (const char *p = argv[1]; *p; p++) {
            uint32_t code;
            bool shift;
            if (!hfx_keymap_ascii(*p, &code, &shift)) {
                fprintf(stderr, "hfx input: cannot type '%c' (0x%02x)\n", *p, (unsigned char)*p);
                return -1;
            }
            if (press(s, code, shift) < 0)
                return -1;
        }
        return 2;
    }
    if ((!strcmp(a, "move") || !strcmp(a, "click")) && argc >= 3) {
        if (coord("X", argv[1], 0, HFX_INPUT_MAX_COORD, &x) < 0 ||
            coord("Y", argv[2], 0, HFX_INPUT_MAX_COORD, &y) < 0 ||
            send_ev(s, HFX_INPUT_POINTER, false, 0, x, y) < 0)
            return -1;
        if (a[0] == 'm')
            return 3;
        int button = HFX_BUTTON_LEFT, took = 3;
        if (argc >= 4 && button_parse(argv[3])) {
            button = button_parse(argv[3]);
            took = 4;
        }
        return send_ev(s, HFX_INPUT_BUTTON, true, (uint32_t)button, 0, 0) < 0 ||
                       send_ev(s, HFX_INPUT_BUTTON, false, (uint32_t)button, 0, 0) < 0
                   ? -1
                   : took;
    }
    if (!strcmp(a, "wheel") && argc >= 2) {
        int max = HFX_INPUT_MAX_STEPS, took = 2;
        x = 0;
        if (coord("DY", argv[1], -max, max, &y) < 0)
            return -1;
        if (argc >= 3 && (argv[2][0] == '-' || (argv[2][0] >= '0' && argv[2][0] <= '9'))) {
            if (coord("DX", argv[2], -max, max, &x) < 0)
                return -1;
            took = 3;
        }
        if (!x && !y) {
            fprintf(stderr, "hfx input: wheel needs a step that is not 0\n");
            return -1;
        }
        return send_ev(s, HFX_INPUT_WHEEL, false, 0, x, y) < 0 ? -1 : took;
    }
    fprintf(stderr, "hfx input: '%s' is not an action (or lacks its arguments)\n\n%s", a, help);
    return -1;
}

int cmd_input(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scanout", 1, 0, 's'}, {"connect", 1, 0, 'c'}, {"token", 1, 0, 'k'},
        {"token-file", 1, 0, 'f'}, {"delay", 1, 0, 'd'}, {"help", 0, 0, 'h'}, {0}};
    const char *addr = HFX_DEFAULT_ADDR, *token_arg = NULL, *token_file = NULL;
    uint32_t scanout = UINT32_MAX, delay = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': addr = optarg; break;
        case 'k': token_arg = optarg; break;
        case 'f': token_file = optarg; break;
        case 's':
            if (cli_uint("--scanout", optarg, 0, 15, &scanout) < 0)
                return 2;
            break;
        case 'd':
            if (cli_uint("--delay", optarg, 0, 10000, &delay) < 0)
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (scanout == UINT32_MAX || optind >= argc) {
        fprintf(stderr, "hfx input: %s\n\n%s", scanout == UINT32_MAX ? "--scanout N is needed"
                                                                      : "no action given", help);
        return 2;
    }
    /* Every action checked before any is sent. */
    struct sender s = {.scanout = scanout};
    for (int i = optind, took; i < argc; i += took)
        if ((took = action(&s, argc - i, argv + i)) < 0)
            return 2;
    char token_buf[HXFR_MAX_TOKEN + 1], err[512];
    bool bad;
    const char *token = cli_token(token_arg, token_file, token_buf, &bad);
    if (bad)
        return 2;
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, addr, err, sizeof err) < 0 ||
        (hfx_conn_extended(&conn, 0, token, 10000, err, sizeof err) < 0 &&
         (hfx_conn_close(&conn), 1))) {
        fprintf(stderr, "hfx input: %s\n", err);
        return 1;
    }
    s = (struct sender){.c = &conn, .scanout = scanout, .delay_ms = delay};
    int rc = 0;
    for (int i = optind, took; i < argc && rc == 0; i += took)
        if ((took = action(&s, argc - i, argv + i)) < 0)
            rc = 1;
    fflush(stdout);
    /* What was sent may still be refused: wait for the server's word. */
    if (s.sent && cli_input_errors(&conn, 3000, "hfx input") < 0 && rc == 0)
        rc = 1;
    hfx_conn_close(&conn);
    return rc;
}
