#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"

static const char usage[] =
    "usage: hfx COMMAND [OPTIONS]\n"
    "\n"
    "Exports the screens (scanouts) of a VM as H.264 over HXFR.\n"
    "\n"
    "commands:\n"
    "  serve   run the exporter (engine + server) on a source\n"
    "  run     start QEMU with its D-Bus display and serve its heads\n"
    "  sub     subscribe to a scanout and write its H.264 (Annex B)\n"
    "  ctl     enable or disable a head, request a keyframe, read stats\n"
    "  bench   measure convert+encode cost, latency, bitrate, PSNR\n"
    "  token   print the control token a secret file yields\n"
    "  web     serve a page of every head for browsers (HTTP, WebSocket)\n"
    "  input   send keys, pointer moves, clicks and wheel steps to a head\n"
    "  latency measure key-to-picture time through a head's input and stream\n"
    "\n"
    "'hfx COMMAND --help' describes each.\n";

int cli_uint(const char *opt, const char *val, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = val ? strtoull(val, &end, 10) : 0;
    if (!val || errno || end == val || *end || v < min || v > max || val[0] == '-') {
        fprintf(stderr, "hfx: %s needs a whole number from %u to %u, not '%s'\n", opt, min, max,
                val ? val : "");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_size(const char *opt, const char *val, uint32_t *w, uint32_t *h)
{
    unsigned a, b;
    char extra;
    if (!val || sscanf(val, "%ux%u%c", &a, &b, &extra) != 2 || a < 16 || b < 16 ||
        a > HFX_MAX_WIDTH || b > HFX_MAX_HEIGHT) {
        fprintf(stderr, "hfx: %s needs WIDTHxHEIGHT within 16x16..%dx%d, e.g. 1920x1080, not '%s'\n",
                opt, HFX_MAX_WIDTH, HFX_MAX_HEIGHT, val ? val : "");
        return -1;
    }
    *w = a;
    *h = b;
    return 0;
}

int cli_format(const char *opt, const char *val, uint32_t *fourcc)
{
    static const struct { const char *name; uint32_t code; } formats[] = {
        {"XRGB8888", HFX_FMT_XRGB8888}, {"ARGB8888", HFX_FMT_ARGB8888},
        {"XBGR8888", HFX_FMT_XBGR8888}, {"ABGR8888", HFX_FMT_ABGR8888},
        {"BGRX8888", HFX_FMT_BGRX8888}, {"BGRA8888", HFX_FMT_BGRA8888},
    };
    for (size_t i = 0; val && i < sizeof formats / sizeof formats[0]; i++) {
        if (!strcasecmp(val, formats[i].name)) {
            *fourcc = formats[i].code;
            return 0;
        }
    }
    fprintf(stderr, "hfx: %s takes XRGB8888, ARGB8888, XBGR8888, ABGR8888, BGRX8888 or "
                    "BGRA8888, not '%s'\n", opt, val ? val : "");
    return -1;
}

static int read_token_file(const char *path, char out[HXFR_MAX_TOKEN + 1])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hfx: cannot read the token file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[HXFR_MAX_TOKEN + 2] = "";
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (!got || !line[0] || strlen(line) > HXFR_MAX_TOKEN) {
        fprintf(stderr, "hfx: %s does not hold a token on its first line\n", path);
        return -1;
    }
    strcpy(out, line);
    return 0;
}

const char *cli_token(const char *token, const char *token_file, char out[HXFR_MAX_TOKEN + 1],
                      bool *bad)
{
    *bad = false;
    out[0] = 0;
    if (!token && !token_file) {
        token = getenv("HFX_TOKEN");
        token_file = getenv("HFX_TOKEN_FILE");
        if (token && !*token)
            token = NULL;
        if (token_file && !*token_file)
            token_file = NULL;
    }
    if (token) {
        if (strlen(token) > HXFR_MAX_TOKEN) {
            fprintf(stderr, "hfx: a token has at most %u characters\n", HXFR_MAX_TOKEN);
            *bad = true;
            return NULL;
        }
        strcpy(out, token);
        return out;
    }
    if (token_file) {
        *bad = read_token_file(token_file, out) < 0;
        return *bad ? NULL : out;
    }
    return NULL;
}

int cli_write_private(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && dprintf(fd, "%s\n", text) > 0;
    int saved = errno;
    if (fd >= 0 && close(fd) < 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "hfx: cannot write %s: %s\n", path, strerror(saved));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"serve", cmd_serve}, {"sub", cmd_sub}, {"ctl", cmd_ctl}, {"bench", cmd_bench}, {"run", cmd_run},
        {"token", cmd_token}, {"web", cmd_web}, {"input", cmd_input}, {"latency", cmd_latency},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hfx: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
