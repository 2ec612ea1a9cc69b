#include "say.h"

#include <stdarg.h>
#include <stdio.h>

void guest_say(const char *fmt, ...)
{
    /* One fprintf per line: with draw and sub in two processes on one
     * console, whole lines keep the output parseable. */
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stdout, "hfx-guest: %s\n", line);
    fflush(stdout);
}

void guest_warn(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "hfx-guest-demo: %s\n", line);
    fflush(stderr);
}
