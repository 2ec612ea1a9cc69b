/* The manager's log: one line per event on stderr (the journal under
 * systemd, the console in the test guest), each starting with
 * "hfx-drm-manager: " and the CLOCK_MONOTONIC time in seconds, so a test
 * can set it against times other programs in the guest measured. */
#ifndef HFX_DRM_LOG_H
#define HFX_DRM_LOG_H

void mgr_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line with "warning: " after the time. */
void mgr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
