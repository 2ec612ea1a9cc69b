/* What the manager is told: defaults, then the environment (the systemd
 * unit's EnvironmentFile), then the command line, each overriding the one
 * before. */
#ifndef HFX_DRM_SETTINGS_H
#define HFX_DRM_SETTINGS_H

struct settings {
    const char *card;        /* HFX_DRM_CARD, --card */
    const char *socket;      /* HFX_DRM_SOCKET, --socket */
    const char *host;        /* HFX_HOST, --host: tcp:HOST:PORT, unix:PATH, vsock:CID:PORT */
    const char *token_file;  /* HFX_TOKEN_FILE, --token-file: the exporter's control token */
    long max_heads;          /* HFX_MAX_HEADS, --max-heads: 0 = connectors - 1 (at most 15) */
    long connect_timeout_ms; /* HFX_CONNECT_TIMEOUT_MS, --connect-timeout-ms: connector wait */
    long host_timeout_ms;    /* HFX_HOST_TIMEOUT_MS, --host-timeout-ms: connect and each reply */
    long max_clients;        /* HFX_MAX_CLIENTS, --max-clients */
    long max_leases;         /* HFX_MAX_LEASES_PER_CLIENT, --max-leases-per-client */
};

/* 0, or -1 after saying what is wrong (exit status 2), or 1 after --help. */
int settings_load(struct settings *s, int argc, char **argv);

#endif
