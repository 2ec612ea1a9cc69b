/* Writing a received stream into a container (MP4, Matroska: libavformat
 * picks by the file's name) with each frame at the time the exporter
 * produced it (FRAME_RESPONSE's pts_ns), for hfx sub --mux. A raw .264
 * has no timestamps, so a player shows it at a rate it guesses; the exporter
 * sends frames only when the picture changes, at whatever rate that is. */
#ifndef HFX_CLIENT_MUX_H
#define HFX_CLIENT_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/hfx-client.h"

struct hfx_mux;

/* Creates the file. NULL with err saying why (no container for that name,
 * cannot write there). */
struct hfx_mux *hfx_mux_open(const char *path, char *err, size_t errlen);
/* One frame (its access unit, keyframe, resumed and pts_ns) and when it
 * arrived (any monotonic clock of this machine). The file's header is
 * written at the first keyframe (its SPS gives the size); frames before it
 * are left out. 0, or -1 with err. */
int hfx_mux_frame(struct hfx_mux *m, const struct hfx_client_frame *f, int64_t arrival_ns,
                  char *err, size_t errlen);
/* Writes the last frame, shown for last_ns (until the recording ended), and
 * the trailer, and frees m. A file that got no frame is removed. 0, or -1
 * with err. */
int hfx_mux_close(struct hfx_mux *m, int64_t last_ns, char *err, size_t errlen);

#endif
