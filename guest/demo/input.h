/* The heads' input devices (guest/qemu-args --input): each head has a
 * virtio keyboard and a virtio tablet that QEMU binds to that head's console,
 * with serial=hfx-head-N, which the kernel gives the evdev device as its
 * uniq. Read non-blocking in the draw loop; what arrives is kept per head as
 * the panel the head shows (source/input_stamp.h) and said on the console:
 *
 *   hfx-guest: head N input /dev/input/eventK "NAME"
 *   hfx-guest: head N key CODE down|up
 *   hfx-guest: head N button CODE down|up
 *   hfx-guest: head N pointer X,Y
 *   hfx-guest: head N wheel STEPS
 */
#ifndef HFX_GUEST_INPUT_H
#define HFX_GUEST_INPUT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "display.h"
#include "source/input_stamp.h"

#define INPUT_MAX_DEVICES 64

struct input_head {
    struct hfx_input_stamp st;
    bool any;                /* an event came: the panel is shown */
    bool changed;            /* since the last input_take */
    uint32_t width, height;  /* the head's size, to scale the tablet's axes */
};

struct input_device {
    int fd;
    int head;
    int event;               /* K of /dev/input/eventK */
    int32_t min[2], max[2];  /* the tablet's ABS_X, ABS_Y ranges */
    int32_t abs[2];          /* since the last SYN_REPORT */
    bool moved;
};

struct input {
    struct input_device dev[INPUT_MAX_DEVICES];
    int ndev;
    struct input_head heads[DISPLAY_MAX_HEADS];
};

void input_init(struct input *in);
/* Opens the /dev/input/event* not open yet that belong to a head. */
void input_scan(struct input *in);
/* Fills up to max pollfds with the devices; returns how many. */
int input_fds(const struct input *in, struct pollfd *pfd, int max);
/* Reads what is pending on every device. */
void input_read(struct input *in);
void input_close(struct input *in);

#endif
