#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"

static const char help[] =
    "usage: hfx ctl [--connect ADDR] COMMAND\n"
    "\n"
    "commands:\n"
    "  enable N WxH [HZ]   turn head N on at that size (ENABLE_SCANOUT)\n"
    "  disable N           turn head N off (DISABLE_SCANOUT)\n"
    "  keyframe N          ask for an IDR on scanout N\n"
    "  stats [N]           print the server's statistics as JSON\n"
    "  ping                check that the server answers\n"
    "  mint N              print a new token for scanout N only (revokes its earlier ones;\n"
    "                      needs the control token)\n"
    "  revoke N            revoke every token for scanout N (needs the control token)\n"
    "\n"
    "  --connect ADDR      server address (default " HFX_DEFAULT_ADDR ")\n"
    "  --timeout MS        how long to wait for a reply (default 10000)\n"
    "  --token TOKEN       present this access token (extended mode); also $HFX_TOKEN\n"
    "  --token-file PATH   read it from the file's first line; also $HFX_TOKEN_FILE\n";

static int print_reply(const struct hxfr_msg *m)
{
    switch (m->h.type) {
    case HXFR_SCANOUT_RESP:
        printf("scanout %u: %s (%s)\n", m->u.scanout_resp.scanout_id,
               m->u.scanout_resp.success ? "ok" : "failed", m->u.scanout_resp.connector);
        return m->u.scanout_resp.success ? 0 : 1;
    case HXFR_ERROR:
        fprintf(stderr, "hfx ctl: the server refused: %s (error %d)\n", m->u.error.text,
                m->u.error.code);
        return 1;
    case HXFR_PONG:
        printf("pong\n");
        return 0;
    case HXFR_STATS_RESP:
        printf("%.*s\n", (int)m->u.stats_resp.len, m->u.stats_resp.text);
        return 0;
    case HXFR_TOKEN_RESP:
        if (m->u.token.op == HXFR_TOKEN_MINT)
            printf("%s\n", m->u.token.token);
        else
            printf("scanout %u: tokens revoked\n", m->u.token.scanout_id);
        return 0;
    default:
        fprintf(stderr, "hfx ctl: unexpected reply %s\n", hxfr_type_name(m->h.type));
        return 1;
    }
}

int cmd_ctl(int argc, char **argv)
{
    static const struct option opts[] = {
        {"connect", 1, 0, 'c'}, {"timeout", 1, 0, 't'}, {"token", 1, 0, 'k'},
        {"token-file", 1, 0, 'f'}, {"help", 0, 0, 'h'}, {0}};
    const char *addr = HFX_DEFAULT_ADDR, *token_arg = NULL, *token_file = NULL;
    uint32_t timeout = 10000;
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'c')
            addr = optarg;
        else if (c == 'k')
            token_arg = optarg;
        else if (c == 'f')
            token_file = optarg;
        else if (c == 't' && cli_uint("--timeout", optarg, 1, 600000, &timeout) < 0)
            return 2;
        else if (c == 'h') {
            fputs(help, stdout);
            return 0;
        } else if (c != 't') {
            fputs(help, stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        fputs(help, stderr);
        return 2;
    }
    char token_buf[HXFR_MAX_TOKEN + 1];
    bool bad;
    const char *token = cli_token(token_arg, token_file, token_buf, &bad);
    if (bad)
        return 2;
    uint8_t req[32];
    size_t len = 0;
    bool extended = false, wait_reply = true;
    uint32_t id = 0, w = 0, h = 0, hz = 0;
    const char *cmd = argv[0];
    if (!strcmp(cmd, "enable") && (argc == 3 || argc == 4)) {
        if (cli_uint("head", argv[1], 0, 15, &id) < 0 || cli_size("size", argv[2], &w, &h) < 0 ||
            (argc == 4 && cli_uint("refresh", argv[3], 1, 240, &hz) < 0))
            return 2;
        len = hxfr_put_enable(req, id, w, h, hz);
    } else if (!strcmp(cmd, "disable") && argc == 2) {
        if (cli_uint("head", argv[1], 0, 15, &id) < 0)
            return 2;
        len = hxfr_put_disable(req, id);
    } else if (!strcmp(cmd, "keyframe") && argc == 2) {
        if (cli_uint("scanout", argv[1], 0, 15, &id) < 0)
            return 2;
        len = hxfr_put_keyframe_req(req, id, true);
        wait_reply = false;
    } else if (!strcmp(cmd, "stats") && argc <= 2) {
        if (argc == 2 && cli_uint("scanout", argv[1], 0, 15, &id) < 0)
            return 2;
        len = hxfr_put_stats_req(req, id, argc == 2);
        extended = true;
    } else if ((!strcmp(cmd, "mint") || !strcmp(cmd, "revoke")) && argc == 2) {
        if (cli_uint("scanout", argv[1], 0, 15, &id) < 0)
            return 2;
        len = hxfr_put_token_req(req, id, cmd[0] == 'm' ? HXFR_TOKEN_MINT : HXFR_TOKEN_REVOKE);
        extended = true;
    } else if (!strcmp(cmd, "ping") && argc == 1) {
        len = hxfr_put_ping(req, HXFR_PING, 0);
    } else {
        fprintf(stderr, "hfx ctl: '%s' with %d argument(s) is not a command\n\n%s", cmd,
                argc - 1, help);
        return 2;
    }
    char err[512];
    struct hfx_conn conn;
    if (hfx_conn_open(&conn, addr, err, sizeof err) < 0) {
        fprintf(stderr, "hfx ctl: %s\n", err);
        return 1;
    }
    struct hxfr_msg m;
    int rc = 0;
    /* A token needs the extended mode; without one, requests go as v1. */
    if ((extended || token) &&
        hfx_conn_extended(&conn, 0, token, (int)timeout, err, sizeof err) < 0)
        rc = -1;
    if (rc == 0 && !wait_reply) {
        rc = hfx_conn_send(&conn, req, len, err, sizeof err);
        /* KEYFRAME_REQ has no reply: say what was done, or silence reads as
         * nothing having happened. */
        if (rc == 0)
            printf("scanout %u: keyframe requested (no reply comes; the next frame is an IDR)\n",
                   id);
    }
    else if (rc == 0)
        rc = hfx_conn_request(&conn, req, len, &m, (int)timeout, err, sizeof err) <= 0
                 ? -1
                 : print_reply(&m);
    if (rc < 0)
        fprintf(stderr, "hfx ctl: %s\n", err);
    hfx_conn_close(&conn);
    return rc != 0;
}
