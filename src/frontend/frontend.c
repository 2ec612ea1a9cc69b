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

/* Any thread (the server's): queue one event, if there is room. */
static int push_input(void *data, const struct hfx_input *ev, char *err, size_t errlen)
{
    struct hfx_frontend *f = data;
    if (!f->cls->apply_input) {
        snprintf(err, errlen, "the %s front end takes no input", f->cls->name);
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    bool room = f->input_len < HFX_INPUT_QUEUE;
    if (room)
        f->input[(f->input_head + f->input_len++) % HFX_INPUT_QUEUE] = *ev;
    pthread_mutex_unlock(&f->lock);
    if (!room) {
        snprintf(err, errlen, "the VM is not taking input (%u events wait); event dropped",
                 HFX_INPUT_QUEUE);
        return -1;
    }
    if (f->cls->kick)
        f->cls->kick(f);
    return 0;
}

static const struct hfx_frontend_ops queue_ops = {.set_head = push, .input = push_input};

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
    f->input_head = f->input_len = 0;
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

/* One event at a time under the lock, so the server's thread can queue
 * more while the front end hands this one on. */
static bool take_input(struct hfx_frontend *f, struct hfx_input *ev)
{
    pthread_mutex_lock(&f->lock);
    bool any = f->input_len > 0;
    if (any) {
        *ev = f->input[f->input_head];
        f->input_head = (f->input_head + 1) % HFX_INPUT_QUEUE;
        f->input_len--;
    }
    pthread_mutex_unlock(&f->lock);
    return any;
}

void hfx_frontend_run_requests(struct hfx_frontend *f)
{
    for (struct hfx_head_request *r = take_all(f), *next; r; r = next) {
        next = r->next;
        f->cls->apply_head(f, r);
    }
    struct hfx_input ev;
    for (unsigned n = 0; n < HFX_INPUT_QUEUE && take_input(f, &ev); n++)
        f->cls->apply_input(f, &ev);
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
