/* The H.264 core interface: what the hybrid (encoder_hybrid.c) needs of
 * the encoder whose stream its P-slice writer continues. A core is an
 * ordinary backend (its encoder ops encode a frame, with damage hints or
 * without) that can also show the picture a decoder holds after its last
 * frame and start over at an IDR. x264 implements it
 * today (encoder_x264.c); a hardware encoder (VA-API, NVENC, VideoToolbox)
 * that can read back its reconstruction could implement it later.
 *
 * The core's stream must stay within what the writer can continue:
 * baseline, CAVLC, one reference, no weighted prediction, no 8x8
 * transform, POC type 0 or 2 (src/encoder/h264/params.h). */
#ifndef HFX_ENCODER_H264_CORE_H
#define HFX_ENCODER_H264_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "encoder/encoder.h"
#include "encoder/h264/params.h"

/* The decoder's picture after the core's last frame, and what a writer
 * continuing the stream must know of it. */
struct hfx_h264_reference {
    /* NV12, whole macroblocks; valid until the core's next call. */
    const uint8_t *y, *uv;
    int y_stride, uv_stride;
    struct h264_params params;      /* of the SPS and PPS in force */
    struct h264_slice_pos pos;      /* where its slice numbering left off */
    /* The QP its last frame was coded at (x264: the slice QP; its rate
     * control may code some rows worse). */
    int qp;
};

struct hfx_h264_core_ops {
    /* The reference after the last frame encode() returned: 0, or -1 and
     * err (a sentence for the log) when the stream is one the writer
     * cannot continue or no frame was coded since open or restart. */
    int (*reference)(struct hfx_encoder *enc, struct hfx_h264_reference *out, char *err,
                     size_t errlen);
    /* Starts over as if just opened (same settings, so the same SPS and
     * PPS): the next frame is an IDR, and rate control starts from a full
     * buffer, since frames coded by others went by without it. */
    int (*restart)(struct hfx_encoder *enc);
};

#endif
