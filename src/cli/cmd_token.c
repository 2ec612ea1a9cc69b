#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "server/access.h"

static const char help[] =
    "usage: hfx token --secret-file PATH\n"
    "\n"
    "Prints the control token of an exporter that runs with this secret file\n"
    "(hfx serve --secret-file, or the in-QEMU object's secret-file property), e.g.\n"
    "to hand it to the guest's lease manager before QEMU starts (a missing file\n"
    "is created with a new secret, as the exporter would):\n"
    "  hfx token --secret-file S > T\n"
    "  qemu-system-x86_64 -fw_cfg name=opt/helix-frame-export/control-token,file=T ...\n";

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"secret-file", 1, 0, 's'}, {"help", 0, 0, 'h'}, {0}};
    const char *secret = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's') {
            secret = optarg;
        } else {
            fputs(help, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (!secret || optind < argc) {
        fputs(help, stderr);
        return 2;
    }
    char token[HFX_TOKEN_SIZE], err[512];
    if (hfx_access_token_from_file(secret, token, err, sizeof err) < 0) {
        fprintf(stderr, "hfx token: %s\n", err);
        return 1;
    }
    puts(token);
    return 0;
}
