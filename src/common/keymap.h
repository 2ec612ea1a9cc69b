/* Key codes: the evdev codes HXFR INPUT carries (linux/input-event-codes.h)
 * as the VM's input layers want them, and as users type them (hfx input,
 * hfx latency). One place for every user. */
#ifndef HFX_COMMON_KEYMAP_H
#define HFX_COMMON_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>

/* QEMU's key number ("qnum": the XT set-1 scancode, 0x80 added for an
 * E0-prefixed key) for an evdev code; 0 when it has none. What QEMU's D-Bus
 * display (org.qemu.Display1.Keyboard) and its QMP send-key take. */
uint32_t hfx_keymap_evdev_to_qnum(uint32_t evdev);

/* The evdev code and whether Shift is needed to type c on a US layout; false
 * when c cannot be typed. */
bool hfx_keymap_ascii(char c, uint32_t *evdev, bool *shift);

/* A key as a user names it: a number (the evdev code), one other character
 * ("a"), or a name ("enter", "esc", "left", "f1", ...). 0 when unknown. */
uint32_t hfx_keymap_parse(const char *name);

#define HFX_KEY_LEFTSHIFT 42u

#endif
