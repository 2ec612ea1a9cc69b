/* The shared front-end code, through the synthetic front end on a real
 * engine: head requests are applied in the order they arrive, even when
 * several land between two ticks of the front end's thread (an ENABLE then
 * a DISABLE must leave the head off); every request is answered once, with
 * the connector name the guest sees; bad sizes and refresh rates are
 * refused before they reach the front end; a refresh rate sets the head's
 * own frame rate. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engine/engine.h"
#include "source/synth_frontend.h"

struct answers {
    pthread_mutex_t lock;
    int n;
    int status[16];
    char text[16][64];
};

static void on_done(void *data, int status, const char *text)
{
    struct answers *a = data;
    pthread_mutex_lock(&a->lock);
    if (a->n < 16) {
        a->status[a->n] = status;
        snprintf(a->text[a->n], sizeof a->text[0], "%s", text ? text : "");
    }
    a->n++;
    pthread_mutex_unlock(&a->lock);
}

static void packet(void *data, struct hfx_packet *p)
{
    hfx_packet_unref(p);
}

static void ended(void *data, uint32_t scanout)
{
}

static const struct hfx_engine_sink sink = {.packet = packet, .scanout_ended = ended};

static int answered(struct answers *a)
{
    pthread_mutex_lock(&a->lock);
    int n = a->n;
    pthread_mutex_unlock(&a->lock);
    return n;
}

int main(void)
{
    char err[256];
    struct hfx_engine_config ecfg = {.max_scanouts = 4, .sink = &sink};
    struct hfx_engine *e = hfx_engine_new(&ecfg, err, sizeof err);
    CHECK(e, "%s", err);
    struct hfx_synth_frontend_config fcfg = {.workload = HFX_WL_TYPING, .width = 320,
                                             .height = 240, .heads = 1, .fps = 60};
    struct hfx_synth_frontend *f = hfx_synth_frontend_start(e, &fcfg, err, sizeof err);
    CHECK(f, "%s", err);
    struct answers a = {.lock = PTHREAD_MUTEX_INITIALIZER};

    /* Enable then disable, back to back: both before the next tick. */
    hfx_engine_set_head(e, 2, true, 640, 480, 0, on_done, &a);
    hfx_engine_set_head(e, 2, false, 0, 0, 0, on_done, &a);
    for (int i = 0; i < 100 && answered(&a) < 2; i++)
        sleep_ms(10);
    CHECK(answered(&a) == 2, "%d of 2 requests answered", answered(&a));
    CHECK(a.status[0] == 0 && !strcmp(a.text[0], "Virtual-3"), "enable: %d '%s'", a.status[0],
          a.text[0]);
    CHECK(a.status[1] == 0 && !strcmp(a.text[1], "Virtual-3"), "disable: %d '%s'", a.status[1],
          a.text[1]);
    sleep_ms(100);
    struct hfx_scanout_stats st;
    hfx_engine_stats(e, 2, &st);
    CHECK(!st.enabled, "ENABLE then DISABLE in one tick left head 2 on");

    /* Refused before the front end: sizes and refresh rates out of range. */
    a.n = 0;
    hfx_engine_set_head(e, 1, true, 1, 480, 0, on_done, &a);
    hfx_engine_set_head(e, 1, true, 640, 480, 5000, on_done, &a);
    hfx_engine_set_head(e, 9, true, 640, 480, 0, on_done, &a);
    CHECK(answered(&a) == 3 && a.status[0] < 0 && a.status[1] < 0 && a.status[2] < 0,
          "bad requests: %d answered, statuses %d %d %d", answered(&a), a.status[0], a.status[1],
          a.status[2]);

    /* A head at 20 Hz beside head 0 at 60 Hz: each at its own rate. */
    a.n = 0;
    hfx_engine_set_head(e, 1, true, 320, 240, 20, on_done, &a);
    for (int i = 0; i < 100 && answered(&a) < 1; i++)
        sleep_ms(10);
    CHECK(a.status[0] == 0 && !strcmp(a.text[0], "Virtual-2"), "enable 20 Hz: %d '%s'",
          a.status[0], a.text[0]);
    struct hfx_scanout_stats s0, s1, e0, e1;
    sleep_ms(200);
    hfx_engine_stats(e, 0, &s0);
    hfx_engine_stats(e, 1, &s1);
    sleep_ms(1000);
    hfx_engine_stats(e, 0, &e0);
    hfx_engine_stats(e, 1, &e1);
    double r0 = (double)(e0.updates - s0.updates), r1 = (double)(e1.updates - s1.updates);
    fprintf(stderr, "updates in 1 s: head 0 (60 Hz) %.0f, head 1 (20 Hz) %.0f\n", r0, r1);
    /* Rates on a shared machine wander; their ratio is 3 with room. */
    CHECK(r1 > 0 && r0 / r1 > 2.0 && r0 / r1 < 4.5, "rate ratio %.2f, want about 3", r0 / r1);

    hfx_synth_frontend_stop(f);
    hfx_engine_free(e);
    return check_summary("test_frontend");
}
