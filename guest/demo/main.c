/* hfx-guest-demo: what the test guest runs (see guest/README.md).
 *
 *   draw    the synthetic workload on every connected head, following hotplug
 *   sub     a plain HXFR v1 subscriber to one scanout
 *   both    draw and sub in one boot (two processes)
 *   latency, vnc-latency   the one-clock latency probes
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "draw.h"
#include "lease_client.h"
#include "say.h"
#include "sub.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

#define SUB_SPECS(o)                                                                               \
    { "--host", ARG_STR, &(o).host, 0, 0 }, { "--port", ARG_INT, &(o).port, 1, 65535 },           \
        { "--scanout", ARG_INT, &(o).scanout, 0, 15 },                                            \
        { "--connect-seconds", ARG_DOUBLE, &(o).connect_seconds, 0, 0 }

int cmd_draw(int argc, char **argv)
{
    struct draw_opts o;
    draw_opts_default(&o);
    const struct arg_spec specs[] = { DRAW_SPECS(o), { "--seconds", ARG_DOUBLE, &o.seconds, 0, 0 } };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "draw") < 0)
        return 2;
    return draw_run(&o, &stop);
}

int cmd_sub(int argc, char **argv)
{
    struct sub_opts o;
    sub_opts_default(&o);
    const struct arg_spec specs[] = { SUB_SPECS(o), { "--seconds", ARG_DOUBLE, &o.seconds, 0, 0 } };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "sub") < 0)
        return 2;
    return sub_run(&o, &stop);
}

/* What a desktop does: get a head from the lease manager, then draw on it
 * through the lease (modesets and flips as its DRM master). */
int cmd_lease(int argc, char **argv)
{
    struct draw_opts o;
    draw_opts_default(&o);
    const char *path = LEASE_SOCKET, *size = "640x480";
    const struct arg_spec specs[] = { DRAW_SPECS(o), { "--seconds", ARG_DOUBLE, &o.seconds, 0, 0 },
                                      { "--socket", ARG_STR, &path, 0, 0 },
                                      { "--size", ARG_STR, &size, 0, 0 } };
    uint32_t w, h;
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "lease") < 0)
        return 2;
    if (lease_parse_size(size, &w, &h) < 0) {
        guest_warn("lease: --size wants WxH, not '%s'", size);
        return 2;
    }
    int sock;
    struct lease_resp r;
    if (lease_take(path, w, h, &sock, &o.lease_fd, &r) < 0)
        return 1;
    o.lease_head = (int)r.scanout_id;
    int rc = draw_run(&o, &stop);
    close(sock);
    return rc;
}

/* Draw in this process, subscribe in a child. --seconds bounds both; when
 * drawing ends the subscriber gets --linger-ms more for the last frames. */
int cmd_both(int argc, char **argv)
{
    struct draw_opts d;
    struct sub_opts s;
    draw_opts_default(&d);
    sub_opts_default(&s);
    double seconds = 0;
    long linger_ms = 1000;
    const struct arg_spec specs[] = {
        DRAW_SPECS(d),
        SUB_SPECS(s),
        { "--seconds", ARG_DOUBLE, &seconds, 0, 0 },
        { "--linger-ms", ARG_INT, &linger_ms, 0, 600000 },
    };
    if (args_parse(argc, argv, 1, specs, sizeof specs / sizeof specs[0], "both") < 0)
        return 2;
    d.seconds = s.seconds = seconds;
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0)
        _exit(sub_run(&s, &stop));
    int draw_rc = draw_run(&d, &stop);
    /* The child stops by itself at --seconds; otherwise after the linger. */
    int status = 0;
    for (long waited = 0; waitpid(child, &status, WNOHANG) == 0; waited += 10) {
        if (waited >= linger_ms)
            kill(child, SIGTERM);
        usleep(10000);
    }
    int sub_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    return draw_rc ? draw_rc : sub_rc;
}

static void usage(void)
{
    fputs("usage: hfx-guest-demo COMMAND [OPTIONS]\n"
          "  draw [--workload typing|video|scroll|idle] [--fps N] [--frames N] [--seconds S] [--dirty]\n"
          "  sub [--host H] [--port P] [--scanout N] [--seconds S] [--connect-seconds S]\n"
          "  both [draw and sub options] [--seconds S] [--linger-ms MS]\n"
          "  latency [--host H] [--port P] [--head N] [--reps R] [--change small|full]\n"
          "          [--quiet-ms MS] [--flips N [--fps N]] [--timeout-ms MS] [--dirty]\n"
          "  vnc-latency [--host H] [--port 5900] [--head 0] [same as latency] [--copyrect]\n"
          "  lease [--socket PATH] [--size WxH] [draw options] [--seconds S]\n"
          "  lease-test [--socket PATH] [--size WxH] [--draw-seconds S] [--count N]\n"
          "             [--pause-seconds S]\n",
          stderr);
}

int main(int argc, char **argv)
{
    /* The console is a tty, but a pipe in a test must see lines at once too. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    catch_signals();
    if (argc < 2) {
        usage();
        return 2;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {
        { "draw", cmd_draw },       { "sub", cmd_sub },
        { "both", cmd_both },       { "latency", cmd_latency },
        { "vnc-latency", cmd_vnc_latency }, { "lease", cmd_lease },
        { "lease-test", cmd_lease_test },
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "help") != 0)
        guest_warn("unknown command '%s'", argv[1]);
    usage();
    return 2;
}
