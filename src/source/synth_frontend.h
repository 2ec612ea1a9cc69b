/* The synthetic front end: a thread that plays a workload on each enabled
 * head at its refresh rate and feeds the engine exactly as a QEMU front end
 * does, with damage or, like a compositor on KMS, page flips. It also honours
 * ENABLE/DISABLE_SCANOUT (size and refresh rate), so the whole control path
 * can be exercised without a VM. */
#ifndef HFX_SOURCE_SYNTH_FRONTEND_H
#define HFX_SOURCE_SYNTH_FRONTEND_H

#include <stdint.h>

#include "engine/engine.h"
#include "frontend/frontend.h"
#include "source/synth.h"

struct hfx_synth_frontend_config {
    enum hfx_workload workload;
    uint32_t width, height;     /* size of the heads enabled at start */
    uint32_t fps;               /* 0 = 60 */
    uint32_t heads;             /* heads 0..heads-1 start enabled */
    uint32_t format;            /* 0 = XRGB8888 */
    bool flip;                  /* every frame drawn whole into a back buffer and
                                   flipped to (hfx_engine_scanout_compare) */
};

extern const struct hfx_frontend_class hfx_frontend_synthetic;

struct hfx_synth_frontend;

struct hfx_synth_frontend *hfx_synth_frontend_start(struct hfx_engine *e,
                                                    const struct hfx_synth_frontend_config *cfg,
                                                    char *err, size_t errlen);
void hfx_synth_frontend_stop(struct hfx_synth_frontend *f);

#endif
