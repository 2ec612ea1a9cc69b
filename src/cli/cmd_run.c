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

static const char help[] =
    "usage: hfx run [hfx serve options] -- qemu-system-... [qemu options]\n"
    "\n"
    "Starts QEMU with '-display dbus,p2p=yes' and a private QMP socket, attaches\n"
    "to every graphic console (all heads of a virtio-gpu, max_outputs up to 16)\n"
    "and serves them like 'hfx serve --qemu-dbus'. Exits with QEMU's exit status\n"
    "when QEMU exits; SIGINT/SIGTERM stop QEMU too. Do not pass -display to QEMU.\n"
    "\n"
    "Options before '--' are hfx serve's (see 'hfx serve --help'), e.g.\n"
    "  hfx run --listen tcp:127.0.0.1:15937 -- qemu-system-x86_64 -accel tcg \\\n"
    "      -vga none -device virtio-gpu-pci,max_outputs=4 ...\n";

#define QMP_WAIT_MS 30000

static pid_t qemu_pid;
static _Atomic int qemu_status = -1;

static pid_t spawn_qemu(char **qemu_argv, int qemu_argc, const char *qmp_path)
{
    char **argv = calloc((size_t)qemu_argc + 6, sizeof *argv);
    char qmp_arg[512];
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", qmp_path);
    int n = 0;
    for (int i = 0; i < qemu_argc; i++)
        argv[n++] = qemu_argv[i];
    argv[n++] = "-display";
    argv[n++] = "dbus,p2p=yes";
    argv[n++] = "-qmp";
    argv[n++] = qmp_arg;
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
    struct serve_opts o;
    serve_opts_init(&o);
    if (serve_parse(sep, argv, &o) < 0)
        return 2;
    char dir[] = "/tmp/hfx-run-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "hfx run: cannot make a private directory: %s\n", strerror(errno));
        return 1;
    }
    char qmp_path[sizeof dir + 16], address[sizeof qmp_path + 8];
    snprintf(qmp_path, sizeof qmp_path, "%s/qmp.sock", dir);
    snprintf(address, sizeof address, "qmp:%s", qmp_path);
    o.qemu_dbus = address;

    qemu_pid = spawn_qemu(argv + sep + 1, argc - sep - 1, qmp_path);
    int rc = 1;
    if (qemu_pid < 0) {
        fprintf(stderr, "hfx run: fork: %s\n", strerror(errno));
    } else if (wait_for_qmp(qmp_path) < 0) {
        fprintf(stderr, "hfx run: QEMU %s before its QMP socket answered\n",
                qemu_status >= 0 ? "exited" : "did not start");
        if (qemu_status < 0)
            kill(qemu_pid, SIGKILL);
    } else {
        /* If this process dies, the VM runs on; this is how to reattach. */
        hfx_log(HFX_LOG_INFO, "QEMU pid %d; attach again with: hfx serve --qemu-dbus %s",
                (int)qemu_pid, address);
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
    rmdir(dir);
    return rc;
}
