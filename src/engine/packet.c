#include <stdlib.h>

#include "engine/engine.h"

struct hfx_packet *hfx_packet_ref(struct hfx_packet *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void hfx_packet_unref(struct hfx_packet *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}
