/* The front ends `hfx serve` can run: one line each. */
#include <string.h>

#include "frontend/frontend.h"
#include "frontend/qemu_dbus.h"
#include "source/synth_frontend.h"

const struct hfx_frontend_class *const hfx_frontends[] = {
    &hfx_frontend_synthetic,
    &hfx_frontend_qemu_dbus,
    NULL,
};

const struct hfx_frontend_class *hfx_frontend_find(const char *name)
{
    for (int i = 0; hfx_frontends[i]; i++)
        if (!strcmp(hfx_frontends[i]->name, name))
            return hfx_frontends[i];
    return NULL;
}
