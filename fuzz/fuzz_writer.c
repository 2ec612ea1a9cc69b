/* libFuzzer target for the P-slice writer. The input picks a small picture
 * (size, pixel format) and then is a damage sequence in the steps of
 * tests/writer_sequence.h. It aborts when a frame fails to encode or
 * decode, or when a frame the writer coded differs by one bit from what
 * libavcodec decodes. Quality is test_writer's business: no PSNR floor. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/engine.h"
#include "writer_sequence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough frames for long runs of the writer and switches back and forth,
 * few enough to keep many inputs a second. */
#define MAX_STEPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t formats[] = {HFX_FMT_XRGB8888, HFX_FMT_ARGB8888, HFX_FMT_XBGR8888,
                                       HFX_FMT_ABGR8888, HFX_FMT_BGRX8888, HFX_FMT_BGRA8888};
    if (size < 3)
        return 0;
    uint32_t w = 16 + data[0] % 113, h = 16 + data[1] % 113;
    char err[256] = "";
    struct wseq *q = wseq_new(w, h, formats[data[2] % 6], 0, err, sizeof err);
    if (!q) {
        fprintf(stderr, "%ux%u: %s\n", w, h, err);
        abort();
    }
    data += 3;
    size -= 3;
    for (int i = 0; i < MAX_STEPS && size >= WSEQ_STEP_BYTES; i++) {
        if (wseq_step(q, data, 0, err, sizeof err) < 0) {
            fprintf(stderr, "%ux%u step %d: %s\n", w, h, i, err);
            abort();
        }
        data += WSEQ_STEP_BYTES;
        size -= WSEQ_STEP_BYTES;
    }
    wseq_free(q);
    return 0;
}
