#include "frontend/frontend.h"

#include <stdio.h>
#include <stdlib.h>

/* 96 dpi, what QEMU's own displays assume. */
static uint16_t px_to_mm(uint32_t px)
{
    return (uint16_t)(px * 254 / 960);
}

/* Any thread (the server's): check, complete and queue; wake the owner. */
static void push(void *data, uint32_t scanout, bool enable, uint32_t w, uint32_t h,
                 uint32_t refresh, hfx_head_done_fn done, void *done_data)
{
    struct hfx_frontend *f = data;
    if (enable && (w < 2 || h < 2 || w > HFX_MAX_WIDTH || h > HFX_MAX_HEIGHT)) {
        done(done_data, -1, "size out of range");
        return;
    }
    if (enable && refresh > 1000) {
        done(done_data, -1, "refresh rate out of range (1..1000 Hz, or 0 for the default)");
        return;
    }
    struct hfx_head_request *r = calloc(1, sizeof *r);
    if (!r) {
        done(done_data, -1, "out of memory");
        return;
    }
    *r = (struct hfx_head_request){
        .scanout = scanout,
        .enable = enable,
        .width = enable ? w : 0,
        .height = enable ? h : 0,
        .refresh_hz = enable ? refresh : 0,
        .width_mm = px_to_mm(enable ? w : 0),
        .height_mm = px_to_mm(enable ? h : 0),
        .done = done,
        .done_data = done_data,
    };
    /* The kernel's name for a virtual connector, counted from 1. */
    snprintf(r->connector, sizeof r->connector, "Virtual-%u", scanout + 1);
    pthread_mutex_lock(&f->lock);
    *f->tail = r;
    f->tail = &r->next;
    pthread_mutex_unlock(&f->lock);
    if (f->cls->kick)
        f->cls->kick(f);
}

static const struct hfx_frontend_ops queue_ops = {.set_head = push};

void hfx_head_request_done(struct hfx_head_request *r, int status, const char *error)
{
    r->done(r->done_data, status, status == 0 ? r->connector : error);
    free(r);
}

void hfx_frontend_init(struct hfx_frontend *f, const struct hfx_frontend_class *cls,
                       struct hfx_engine *e)
{
    f->cls = cls;
    f->engine = e;
    pthread_mutex_init(&f->lock, NULL);
    f->queue = NULL;
    f->tail = &f->queue;
    hfx_engine_set_frontend(e, &queue_ops, f);
}

static struct hfx_head_request *take_all(struct hfx_frontend *f)
{
    pthread_mutex_lock(&f->lock);
    struct hfx_head_request *r = f->queue;
    f->queue = NULL;
    f->tail = &f->queue;
    pthread_mutex_unlock(&f->lock);
    return r;
}

void hfx_frontend_run_requests(struct hfx_frontend *f)
{
    for (struct hfx_head_request *r = take_all(f), *next; r; r = next) {
        next = r->next;
        f->cls->apply_head(f, r);
    }
}

void hfx_frontend_fini(struct hfx_frontend *f)
{
    hfx_engine_set_frontend(f->engine, NULL, NULL);
    for (struct hfx_head_request *r = take_all(f), *next; r; r = next) {
        next = r->next;
        hfx_head_request_done(r, -1, "the front end is stopping");
    }
    pthread_mutex_destroy(&f->lock);
}
