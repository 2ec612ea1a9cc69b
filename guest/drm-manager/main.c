/* hfx-drm-manager: the guest's display-lease daemon. Each desktop (a
 * compositor in a container) asks it for a head over a unix socket and gets
 * a DRM lease of one virtio-gpu head, which the manager first has the host
 * turn on at the size asked for. guest/README.md has the protocol. */
#include <signal.h>
#include <string.h>

#include "log.h"
#include "manager.h"
#include "settings.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct settings s;
    int r = settings_load(&s, argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    /* No SA_RESTART: poll() returns at once and the loop sees stop. */
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct manager m;
    if (manager_open(&m, &s) < 0)
        return 1;
    return manager_run(&m, &stop);
}
