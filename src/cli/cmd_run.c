/* hfx run: start QEMU with its D-Bus display on a private peer-to-peer
 * connection (no bus daemon), attach, serve, and leave with QEMU's status. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "frontend/qmp.h"
#include "server/access.h"

static const char help[] =
    "usage: hfx run [hfx serve options] -- qemu-system-... [qemu options]\n"
    "\n"
    "Starts QEMU with '-display dbus,p2p=yes' and a private QMP socket, attaches\n"
    "to every graphic console (all heads of a virtio-gpu, max_outputs up to 16)\n"
    "and serves them like 'hfx serve --qemu-dbus'. Exits with QEMU's exit status\n"
    "when QEMU exits; SIGINT/SIGTERM stop QEMU too. Do not pass -display to QEMU.\n"
    "\n"
    "  --gl RENDERNODE  the D-Bus display with OpenGL (gl=on,rendernode=RENDERNODE),\n"
    "                   for virtio-gpu-gl heads: QEMU then shares each GL scanout as\n"
    "                   a DMABUF, which needs a GPU (e.g. /dev/dri/renderD128) whose\n"
    "                   driver exports linear buffers; without one no picture comes\n"
    "                   (the log says so): run the exporter inside QEMU instead\n"
    "                   (scripts/build-qemu, -object helix-frame-export)\n"
    "\n"
    "Other options before '--' are hfx serve's (see 'hfx serve --help'), e.g.\n"
    "  hfx run --listen tcp:127.0.0.1:15937 -- qemu-system-x86_64 -accel tcg \\\n"
    "      -vga none -device virtio-gpu-pci,max_outputs=4 ...\n"
    "\n"
    "The guest receives the control token through fw_cfg, as\n"
    "opt/helix-frame-export/control-token (the lease manager reads it from\n"
    "/sys/firmware/qemu_fw_cfg/by_name/opt/helix-frame-export/control-token/raw).\n"
    "The secret is --secret-file if given, else a new one in the private directory.\n";

#define QMP_WAIT_MS 30000
#define HFX_FW_CFG_TOKEN "opt/helix-frame-export/control-token"

/* The control token in a file QEMU hands the guest (fw_cfg); the secret is
 * created first when it does not exist yet. */
static int prepare_token(const char *secret_path, const char *token_path)
{
    char err[512], token[HFX_TOKEN_SIZE];
    struct hfx_access *a = hfx_access_new(secret_path, err, sizeof err);
    if (!a) {
        fprintf(stderr, "hfx run: %s\n", err);
        return -1;
    }
    hfx_access_control_token(a, token);
    hfx_access_free(a);
    return cli_write_private(token_path, token);
}

static pid_t qemu_pid;
static _Atomic int qemu_status = -1;

static pid_t spawn_qemu(char **qemu_argv, int qemu_argc, const char *qmp_path,
                        const char *token_path, const char *gl_node)
{
    char **argv = calloc((size_t)qemu_argc + 8, sizeof *argv);
    char qmp_arg[512], fw_cfg_arg[512], display_arg[512];
    if (gl_node)
        snprintf(display_arg, sizeof display_arg, "dbus,p2p=yes,gl=on,rendernode=%s", gl_node);
    else
        snprintf(display_arg, sizeof display_arg, "dbus,p2p=yes");
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", qmp_path);
    snprintf(fw_cfg_arg, sizeof fw_cfg_arg, "name=" HFX_FW_CFG_TOKEN ",file=%s", token_path);
    int n = 0;
    for (int i = 0; i < qemu_argc; i++)
        argv[n++] = qemu_argv[i];
    argv[n++] = "-display";
    argv[n++] = display_arg;
    argv[n++] = "-qmp";
    argv[n++] = qmp_arg;
    argv[n++] = "-fw_cfg";
    argv[n++] = fw_cfg_arg;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "hfx run: cannot start %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(argv);
    return pid;
}

/* Waits until QEMU's QMP socket takes connections, or QEMU is gone. */
static int wait_for_qmp(const char *path)
{
    for (int waited = 0; waited < QMP_WAIT_MS; waited += 20) {
        int status;
        if (waitpid(qemu_pid, &status, WNOHANG) == qemu_pid) {
            qemu_status = status;
            return -1;
        }
        char err[256];
        int fd = hfx_qmp_open(path, err, sizeof err);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void *reaper(void *arg)
{
    (void)arg;
    int status;
    while (waitpid(qemu_pid, &status, 0) < 0 && errno == EINTR)
        ;
    qemu_status = status;
    serve_stop();
    return NULL;
}

static int exit_code(int status)
{
    if (status < 0)
        return 1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int cmd_run(int argc, char **argv)
{
    int sep = 1;
    while (sep < argc && strcmp(argv[sep], "--"))
        sep++;
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        fputs(help, stdout);
        return 0;
    }
    if (sep >= argc - 1) {
        fputs(help, stderr);
        return 2;
    }
    /* --gl is ours; the rest before "--" is hfx serve's. */
    const char *gl_node = NULL;
    char **serve_argv = calloc((size_t)sep + 1, sizeof *serve_argv);
    int serve_argc = 0;
    for (int i = 0; i < sep; i++) {
        if (!strcmp(argv[i], "--gl") && i + 1 < sep)
            gl_node = argv[++i];
        else if (!strncmp(argv[i], "--gl=", 5))
            gl_node = argv[i] + 5;
        else
            serve_argv[serve_argc++] = argv[i];
    }
    struct serve_opts o;
    serve_opts_init(&o);
    int parsed = serve_parse(serve_argc, serve_argv, &o);
    free(serve_argv);
    if (parsed < 0)
        return 2;
    char dir[] = "/tmp/hfx-run-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "hfx run: cannot make a private directory: %s\n", strerror(errno));
        return 1;
    }
    char qmp_path[sizeof dir + 16], address[sizeof qmp_path + 8];
    char secret_path[sizeof dir + 16], token_path[sizeof dir + 16];
    snprintf(qmp_path, sizeof qmp_path, "%s/qmp.sock", dir);
    snprintf(address, sizeof address, "qmp:%s", qmp_path);
    snprintf(secret_path, sizeof secret_path, "%s/secret", dir);
    snprintf(token_path, sizeof token_path, "%s/control-token", dir);
    o.frontend = &hfx_frontend_qemu_dbus;
    o.source.attach = address;
    if (!o.server.secret_file)
        o.server.secret_file = secret_path;

    int rc = 1;
    if (prepare_token(o.server.secret_file, token_path) < 0) {
        /* prepare_token said why */
    } else if ((qemu_pid = spawn_qemu(argv + sep + 1, argc - sep - 1, qmp_path, token_path,
                                  gl_node)) < 0) {
        fprintf(stderr, "hfx run: fork: %s\n", strerror(errno));
    } else if (wait_for_qmp(qmp_path) < 0) {
        fprintf(stderr, "hfx run: QEMU %s before its QMP socket answered\n",
                qemu_status >= 0 ? "exited" : "did not start");
        if (qemu_status < 0)
            kill(qemu_pid, SIGKILL);
    } else {
        /* If this process dies, the VM runs on; this is how to reattach. */
        hfx_log(HFX_LOG_INFO,
                "QEMU pid %d; attach again with: hfx serve --qemu-dbus %s --secret-file %s",
                (int)qemu_pid, address, o.server.secret_file);
        hfx_log(HFX_LOG_INFO, "control token in %s (hfx ctl --token-file %s ...)", token_path,
                token_path);
        pthread_t t;
        pthread_create(&t, NULL, reaper, NULL);
        int serve_rc = serve_run(&o);
        /* Stopped by a signal or a failure: QEMU goes too. */
        if (qemu_status < 0)
            kill(qemu_pid, SIGTERM);
        pthread_join(t, NULL);
        rc = serve_rc && qemu_status == 0 ? serve_rc : exit_code(qemu_status);
    }
    unlink(qmp_path);
    unlink(token_path);
    unlink(secret_path);
    rmdir(dir);
    return rc;
}
