/* What the demo tells the world: one "hfx-guest: ..." line per event on
 * stdout (the serial console, which the tests read), problems on stderr. */
#ifndef HFX_GUEST_SAY_H
#define HFX_GUEST_SAY_H

/* "hfx-guest: " + message + newline, flushed at once: a test waits on it. */
void guest_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "hfx-guest-demo: " + message + newline on stderr. */
void guest_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
