/* The stock-QEMU front end: attaches to a running VM's D-Bus display
 * (`-display dbus`), registers a listener on every graphic console and feeds
 * their Scanout/Update/Disable calls, with damage, into the engine. Head
 * requests from the network become Console.SetUIInfo, which is what turns a
 * virtio-gpu head on (a connector the guest sees connect) or off.
 *
 * QEMU 10 shares surfaces as memfds (ScanoutMap/UpdateMap), which are mapped
 * read-only; QEMU 7.2 sends their pixels. A display with gl=on sends GL heads
 * as DMABUFs (ScanoutDMABUF, ScanoutDMABUF2, UpdateDMABUF): linear ones are
 * mapped the same way, others refused with a reason, and a head whose
 * DMABUFs never come (QEMU could not export them) is reported once. QEMU
 * calls the listener without waiting for replies, but for ScanoutMap and
 * UpdateDMABUF, which are answered before any work, so nothing here can hold
 * the VM up: if this process dies, QEMU drops the listener and runs on. */
#ifndef HFX_FRONTEND_QEMU_DBUS_H
#define HFX_FRONTEND_QEMU_DBUS_H

#include <stddef.h>

#include "engine/engine.h"
#include "frontend/frontend.h"

struct hfx_qemu_dbus_config {
    /* "qmp:PATH": QEMU runs `-display dbus,p2p=yes` with a QMP socket at PATH
     * and we attach peer-to-peer (add_client). Anything else is a D-Bus bus
     * address on which QEMU owns the name org.qemu (`-display dbus,addr=...`). */
    const char *address;
    /* Called once, on the front end's thread, when QEMU's connection closes. */
    void (*lost)(void *data);
    void *lost_data;
};

struct hfx_qemu_dbus;

struct hfx_qemu_dbus *hfx_qemu_dbus_start(struct hfx_engine *e,
                                          const struct hfx_qemu_dbus_config *cfg, char *err,
                                          size_t errlen);
/* Number of graphic consoles attached (= scanouts fed). */
int hfx_qemu_dbus_heads(const struct hfx_qemu_dbus *q);
void hfx_qemu_dbus_stop(struct hfx_qemu_dbus *q);

extern const struct hfx_frontend_class hfx_frontend_qemu_dbus;

#endif
