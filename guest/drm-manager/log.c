#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/clock.h"
#include "say.h"

static void line(const char *kind, const char *fmt, va_list ap)
{
    /* Formatted whole first: one write per line keeps lines intact beside
     * the other programs writing to the same console. */
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    int64_t t = hfx_now_ns();
    fprintf(stderr, "hfx-drm-manager: %lld.%06lld %s%s\n", (long long)(t / 1000000000),
            (long long)(t % 1000000000 / 1000), kind, text);
    fflush(stderr);
}

void mgr_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line("", fmt, ap);
    va_end(ap);
}

void mgr_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line("warning: ", fmt, ap);
    va_end(ap);
}

/* guest/demo/uevent.c, which the manager shares with the demo, reports
 * through the demo's say.h. */
void guest_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line("warning: ", fmt, ap);
    va_end(ap);
}
