/* Checks decoded pictures of a synthetic workload against what the source
 * drew: the frame number stamped in the picture says which frame it is, and
 * a second copy of the (deterministic) workload re-creates that frame. Used
 * by hfx sub --check, the benchmark and the tests. */
#ifndef HFX_CLIENT_VERIFY_H
#define HFX_CLIENT_VERIFY_H

#include <stdint.h>

#include "client/decode.h"
#include "source/synth.h"

struct hfx_verify;

struct hfx_verify *hfx_verify_new(enum hfx_workload wl);
void hfx_verify_free(struct hfx_verify *v);

/* Luma PSNR in dB of pic against frame `number` of the workload drawn at the
 * picture's size (99 when identical), or -1 when that frame cannot be made
 * (out of memory). A number lower than the last one, or a new size, starts
 * the workload over: a new surface restarts the source's numbering. */
double hfx_verify_psnr(struct hfx_verify *v, const struct hfx_decoded *pic, int64_t number);

#endif
