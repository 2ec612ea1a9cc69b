/* The heads' input devices: see input.h. */
#include "input.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "say.h"

#define UNIQ_PREFIX "hfx-head-"

void input_init(struct input *in)
{
    memset(in, 0, sizeof *in);
}

static bool is_open(const struct input *in, int event)
{
    for (int i = 0; i < in->ndev; i++)
        if (in->dev[i].event == event)
            return true;
    return false;
}

/* The head a device belongs to (its uniq is "hfx-head-N"), or -1. */
static int device_head(int fd)
{
    char uniq[64] = "";
    if (ioctl(fd, EVIOCGUNIQ(sizeof uniq - 1), uniq) < 0)
        return -1;
    if (strncmp(uniq, UNIQ_PREFIX, strlen(UNIQ_PREFIX)) != 0)
        return -1;
    char *end;
    long head = strtol(uniq + strlen(UNIQ_PREFIX), &end, 10);
    if (*end != '\0' || end == uniq + strlen(UNIQ_PREFIX) || head < 0 || head >= DISPLAY_MAX_HEADS)
        return -1;
    return (int)head;
}

static void open_device(struct input *in, int event)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/input/event%d", event);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    int head = device_head(fd);
    if (head < 0 || in->ndev == INPUT_MAX_DEVICES) {
        close(fd);
        return;
    }
    struct input_device *d = &in->dev[in->ndev++];
    *d = (struct input_device){ .fd = fd, .head = head, .event = event, .max = { 1, 1 } };
    for (int a = 0; a < 2; a++) {
        struct input_absinfo abs;
        if (ioctl(fd, EVIOCGABS(a == 0 ? ABS_X : ABS_Y), &abs) == 0 && abs.maximum > abs.minimum) {
            d->min[a] = abs.minimum;
            d->max[a] = abs.maximum;
        }
    }
    char name[128] = "";
    ioctl(fd, EVIOCGNAME(sizeof name - 1), name);
    guest_say("head %d input %s \"%s\"", head, path, name);
}

void input_scan(struct input *in)
{
    DIR *dir = opendir("/dev/input");
    if (dir == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        int event;
        if (sscanf(e->d_name, "event%d", &event) == 1 && !is_open(in, event))
            open_device(in, event);
    }
    closedir(dir);
}

int input_fds(const struct input *in, struct pollfd *pfd, int max)
{
    int n = 0;
    for (int i = 0; i < in->ndev && n < max; i++)
        pfd[n++] = (struct pollfd){ .fd = in->dev[i].fd, .events = POLLIN };
    return n;
}

static void changed(struct input_head *h)
{
    h->any = true;
    h->changed = true;
}

/* An axis value in head pixels: QEMU scales a console position p of a size
 * s console to p * range / s (rounded down), so this rounds to nearest. */
static int32_t to_pixels(int32_t v, int32_t min, int32_t max, uint32_t size)
{
    if (size == 0)
        return 0;
    int64_t p = ((int64_t)(v - min) * size + (max - min) / 2) / (max - min);
    return (int32_t)(p < 0 ? 0 : p >= size ? size - 1 : p);
}

static void wheel(struct input_head *h, int head, int32_t steps)
{
    h->st.wheel += steps;
    changed(h);
    guest_say("head %d wheel %d", head, steps);
}

static void event(struct input *in, struct input_device *d, const struct input_event *ev)
{
    struct input_head *h = &in->heads[d->head];
    switch (ev->type) {
    case EV_KEY:
        if (ev->value == 2)
            return; /* the kernel's autorepeat: not a press */
        if (ev->code == BTN_GEAR_DOWN || ev->code == BTN_GEAR_UP) {
            /* QEMU's tablet with wheel-axis=off (and before QEMU 8.1). */
            if (ev->value == 1)
                wheel(h, d->head, ev->code == BTN_GEAR_UP ? 1 : -1);
            return;
        }
        bool button = ev->code >= BTN_MISC && ev->code < KEY_OK;
        if (ev->value == 1) {
            if (button) {
                h->st.buttons++;
                h->st.last_button = ev->code;
            } else {
                h->st.keys++;
                h->st.last_key = ev->code;
            }
            changed(h);
        }
        guest_say("head %d %s %u %s", d->head, button ? "button" : "key", ev->code,
                  ev->value ? "down" : "up");
        return;
    case EV_ABS:
        if (ev->code == ABS_X || ev->code == ABS_Y) {
            d->abs[ev->code == ABS_Y] = ev->value;
            d->moved = true;
        }
        return;
    case EV_REL:
        if (ev->code == REL_WHEEL)
            wheel(h, d->head, ev->value);
        return;
    case EV_SYN:
        if (ev->code == SYN_REPORT && d->moved) {
            d->moved = false;
            h->st.x = to_pixels(d->abs[0], d->min[0], d->max[0], h->width);
            h->st.y = to_pixels(d->abs[1], d->min[1], d->max[1], h->height);
            changed(h);
            guest_say("head %d pointer %d,%d", d->head, h->st.x, h->st.y);
        }
        return;
    }
}

static void drop(struct input *in, int i)
{
    close(in->dev[i].fd);
    in->dev[i] = in->dev[--in->ndev];
}

void input_read(struct input *in)
{
    for (int i = 0; i < in->ndev; i++) {
        struct input_event ev[64];
        ssize_t n;
        while ((n = read(in->dev[i].fd, ev, sizeof ev)) > 0)
            for (size_t k = 0; k < (size_t)n / sizeof ev[0]; k++)
                event(in, &in->dev[i], &ev[k]);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            /* ENODEV: unplugged; the next scan finds it again if it is back. */
            guest_warn("input event%d: %s", in->dev[i].event, strerror(errno));
            drop(in, i--);
        }
    }
}

void input_close(struct input *in)
{
    while (in->ndev > 0)
        drop(in, 0);
}
