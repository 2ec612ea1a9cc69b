/* Checks decoded pictures of a synthetic workload against what the source
 * drew: the frame number stamped in the picture says which frame it is, and
 * a second copy of the (deterministic) workload re-creates that frame. Used
 * by hfx sub --check, the benchmark and the tests. */
#ifndef HFX_CLIENT_VERIFY_H
#define HFX_CLIENT_VERIFY_H

#include <stdint.h>

#include "client/decode.h"
#include "source/input_stamp.h"
#include "source/synth.h"

struct hfx_verify;

struct hfx_verify *hfx_verify_new(enum hfx_workload wl);
void hfx_verify_free(struct hfx_verify *v);

/* Luma PSNR in dB of pic against frame `number` of the workload drawn at the
 * picture's size (99 when identical), or -1 when that frame cannot be made
 * (out of memory). A number lower than the last one, or a new size, starts
 * the workload over: a new surface restarts the source's numbering. A
 * picture carrying the test guest's input panel (input_stamp.h) is compared
 * without the panel and the pointer: the workload does not draw them. */
double hfx_verify_psnr(struct hfx_verify *v, const struct hfx_decoded *pic, int64_t number);

/* The test guest's input panel in pic (source/input_stamp.h): 0 and *out
 * filled, or -1 when the picture has none (the head has had no input yet) or
 * it is unreadable. The guest stamps it in the frame an event arrived for, so
 * out->keys counting up is the sign a key press reached the picture. */
int hfx_verify_read_input(const struct hfx_decoded *pic, struct hfx_input_stamp *out);

#endif
