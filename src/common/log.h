#ifndef HFX_COMMON_LOG_H
#define HFX_COMMON_LOG_H

enum hfx_log_level { HFX_LOG_ERROR, HFX_LOG_WARN, HFX_LOG_INFO, HFX_LOG_DEBUG };

/* Messages at or below this level reach stderr. Process-wide by design: it is
 * the operator's verbosity, not engine state. */
void hfx_log_set_level(enum hfx_log_level level);
void hfx_log(enum hfx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
