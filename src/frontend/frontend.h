/* What every front end (the synthetic source, QEMU's D-Bus display, the
 * listener compiled into QEMU) is: a source of surfaces and damage for the
 * engine (hfx_engine_scanout_*), and the owner of its heads, which the
 * network may turn on and off.
 *
 * Head requests (ENABLE/DISABLE_SCANOUT) arrive on the server's thread. The
 * shared code here checks them, computes what the guest will see (the
 * connector name, the physical size) once for every front end, queues them
 * in arrival order and wakes the front end (`kick`); the front end then
 * applies them one by one, in that order, on its own thread
 * (hfx_frontend_run_requests -> `apply_head`) and answers each exactly once
 * (hfx_head_request_done), now or when its VM has answered.
 *
 * Input events (keyboard, pointer) take the same way: checked and queued on
 * the server's thread (at most HFX_INPUT_QUEUE of them: a VM that takes no
 * events must not make us hold them without bound), applied in arrival
 * order on the front end's thread (`apply_input`).
 *
 * A front end is one file: a struct hfx_frontend embedded in its state, and
 * a `struct hfx_frontend_class`; the ones `hfx serve` can run are listed in
 * frontends.c. */
#ifndef HFX_FRONTEND_FRONTEND_H
#define HFX_FRONTEND_FRONTEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "source/synth.h"

/* One head request, as the front end applies it. */
struct hfx_head_request {
    uint32_t scanout;
    bool enable;
    uint32_t width, height;         /* 0 x 0 when turning the head off */
    uint32_t refresh_hz;            /* 0: the front end's default */
    uint16_t width_mm, height_mm;   /* physical size for the guest's EDID: 96 dpi */
    char connector[16];             /* the name the guest gives the head: Virtual-N */
    /* frontend.c's */
    struct hfx_head_request *next;
    hfx_head_done_fn done;
    void *done_data;
};

/* Answers a request (status 0: done; else error says why) and frees it. */
void hfx_head_request_done(struct hfx_head_request *r, int status, const char *error);

struct hfx_frontend;

/* What `hfx serve` hands the front end it starts. */
struct hfx_frontend_args {
    const char *attach;             /* the VM: qmp:PATH or a D-Bus address (qemu-dbus) */
    enum hfx_workload workload;     /* synthetic: what each head plays */
    uint32_t width, height;         /* synthetic: heads enabled at start */
    uint32_t heads;
    uint32_t fps;                   /* synthetic: default refresh, 0 = 60 */
    uint32_t format;                /* synthetic: pixel format, 0 = XRGB8888 */
    bool flip;                      /* synthetic: present every frame as a page flip */
    void (*lost)(void *data);       /* the VM went away (called once, any thread) */
    void *lost_data;
};

struct hfx_frontend_class {
    const char *name;               /* hfx serve --frontend NAME */
    const char *summary;            /* one line for --help */
    bool needs_attach;              /* start wants args->attach */
    /* Starts on engine e (hfx serve; NULL for the front end inside QEMU,
     * which QEMU creates). NULL with err filled when it cannot. */
    struct hfx_frontend *(*start)(struct hfx_engine *e, const struct hfx_frontend_args *args,
                                  char *err, size_t errlen);
    void (*stop)(struct hfx_frontend *f);
    /* Any thread: make the owning thread call hfx_frontend_run_requests
     * soon. NULL when that thread polls the queue anyway. */
    void (*kick)(struct hfx_frontend *f);
    /* The owning thread: apply one request; hfx_head_request_done once. */
    void (*apply_head)(struct hfx_frontend *f, struct hfx_head_request *r);
    /* The owning thread: hand one event to the VM's devices of its head (a
     * pointer position is clamped to the head's size here). NULL: the front
     * end takes no input. */
    void (*apply_input)(struct hfx_frontend *f, const struct hfx_input *ev);
};

/* Input events queued for a front end, at most. */
#define HFX_INPUT_QUEUE 256u

struct hfx_frontend {
    const struct hfx_frontend_class *cls;
    struct hfx_engine *engine;
    pthread_mutex_t lock;           /* guards the queues only */
    struct hfx_head_request *queue, **tail;
    struct hfx_input input[HFX_INPUT_QUEUE]; /* a ring: input_len events from input_head */
    unsigned input_head, input_len;
};

/* Makes f the engine's front end: head requests start arriving. */
void hfx_frontend_init(struct hfx_frontend *f, const struct hfx_frontend_class *cls,
                       struct hfx_engine *e);
/* The owning thread: applies every queued request and input event, oldest
 * first. */
void hfx_frontend_run_requests(struct hfx_frontend *f);
/* No more requests reach f; those still queued are answered with an error. */
void hfx_frontend_fini(struct hfx_frontend *f);

/* The front ends hfx serve can run, NULL-terminated (frontends.c). */
extern const struct hfx_frontend_class *const hfx_frontends[];
const struct hfx_frontend_class *hfx_frontend_find(const char *name);

#endif
