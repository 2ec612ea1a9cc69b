#include "say.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* One fprintf per line: with draw and sub in two processes on one console,
 * whole lines keep the output parseable. */
static void line(FILE *to, const char *prefix, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    fprintf(to, "%s%s\n", prefix, text);
    fflush(to);
}

#define SAY(name, to, prefix)                                                                    \
    void name(const char *fmt, ...)                                                              \
    {                                                                                            \
        va_list ap;                                                                              \
        va_start(ap, fmt);                                                                       \
        line(to, prefix, fmt, ap);                                                               \
        va_end(ap);                                                                              \
    }

SAY(guest_say, stdout, "hfx-guest: ")
SAY(guest_warn, stderr, "hfx-guest-demo: ")
/* guest/drm-manager/kms.c, which the demo shares with the lease manager to
 * lease kmscube's heads (kmscube.c), reports through the manager's log.h. */
SAY(mgr_warn, stderr, "hfx-guest-demo: ")
