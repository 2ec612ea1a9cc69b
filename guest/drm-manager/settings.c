#include "settings.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum kind { TEXT, NUMBER };

/* One table gives the option, its variable and its range, so the unit's
 * environment file and the command line cannot drift apart. */
struct setting {
    const char *option, *env;
    enum kind kind;
    size_t offset;
    long min, max;
    const char *help;
};

#define AT(field) offsetof(struct settings, field)

static const struct setting table[] = {
    { "--card", "HFX_DRM_CARD", TEXT, AT(card), 0, 0, "DRM device to be master of" },
    { "--socket", "HFX_DRM_SOCKET", TEXT, AT(socket), 0, 0, "the lease socket" },
    { "--host", "HFX_HOST", TEXT, AT(host), 0, 0, "the exporter (tcp:, unix:, vsock:)" },
    { "--token-file", "HFX_TOKEN_FILE", TEXT, AT(token_file), 0, 0,
      "the exporter's control token (fw_cfg)" },
    { "--max-heads", "HFX_MAX_HEADS", NUMBER, AT(max_heads), 0, 15,
      "heads 1..N are leased; 0 = connectors - 1" },
    { "--connect-timeout-ms", "HFX_CONNECT_TIMEOUT_MS", NUMBER, AT(connect_timeout_ms), 100,
      600000, "wait for the connector to come up" },
    { "--host-timeout-ms", "HFX_HOST_TIMEOUT_MS", NUMBER, AT(host_timeout_ms), 100, 600000,
      "connect to the exporter, and each reply" },
    { "--max-clients", "HFX_MAX_CLIENTS", NUMBER, AT(max_clients), 1, 1024,
      "connections served at once" },
    { "--max-leases-per-client", "HFX_MAX_LEASES_PER_CLIENT", NUMBER, AT(max_leases), 1, 15,
      "leases one connection may hold" },
};
#define NSETTINGS (sizeof table / sizeof table[0])

static int store(struct settings *s, const struct setting *t, const char *v, const char *from)
{
    void *dest = (char *)s + t->offset;
    if (t->kind == TEXT) {
        if (*v == '\0') {
            mgr_warn("%s is empty", from);
            return -1;
        }
        *(const char **)dest = v;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < t->min || x > t->max) {
        mgr_warn("%s wants a number in %ld..%ld, not '%s'", from, t->min, t->max, v);
        return -1;
    }
    *(long *)dest = x;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: hfx-drm-manager [OPTIONS]\n"
          "Leases virtio-gpu heads to desktops (guest/README.md). Every option can also be\n"
          "set by its environment variable; the option wins.\n\n",
          f);
    for (size_t i = 0; i < NSETTINGS; i++)
        fprintf(f, "  %-26s %-27s %s\n", table[i].option, table[i].env, table[i].help);
}

int settings_load(struct settings *s, int argc, char **argv)
{
    *s = (struct settings){
        .card = "/dev/dri/card0",
        .socket = "/run/helix-drm/drm.sock",
        .host = "tcp:10.0.2.2:15937",
        .token_file = "/sys/firmware/qemu_fw_cfg/by_name/opt/helix-frame-export/control-token/raw",
        .max_heads = 0,
        .connect_timeout_ms = 10000,
        .host_timeout_ms = 3000,
        .max_clients = 64,
        .max_leases = 15,
    };
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(table[i].env);
        if (v != NULL && *v != '\0' && store(s, &table[i], v, table[i].env) < 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        const struct setting *t = NULL;
        for (size_t i = 0; i < NSETTINGS && t == NULL; i++)
            if (strcmp(argv[a], table[i].option) == 0)
                t = &table[i];
        if (t == NULL || a + 1 >= argc) {
            mgr_warn(t ? "%s wants a value" : "unknown option '%s'", argv[a]);
            usage(stderr);
            return -1;
        }
        if (store(s, t, argv[++a], t->option) < 0)
            return -1;
    }
    return 0;
}
