#!/usr/bin/env python3
"""End-to-end: the guest's display-lease manager (guest/drm-manager) in the
test guest, with a real QEMU (TCG, 16 virtio-gpu heads) under `hfx run`.

The guest runs hfx-drm-manager (hfx.manager=1) and `hfx-guest-demo
lease-test`, which drives the steps below and prints what it measured on the
guest's clock; this script checks the exporter's side of each step while the
guest pauses at its "sync" lines.

  lease      a client leases a head and draws through the lease fd; a host
             subscriber decodes the head and finds the frame numbers in order
  kill       SIGKILL of that client: the manager releases the head within 1 s
             (guest clock: the kill to the manager's release line), the
             connector disconnects, the host subscriber's stream ends and the
             exporter has the head off
  many       15 leases at once (15 connections), each modeset through its
             lease: the exporter has all 15 on at the size asked for; then all
             given back (half by request, half by closing): all 15 off
  malformed  bad requests get an error and no fd, the manager's fds do not
             grow, a good request is served after them; no head left on
  token      a lease with a token (command 3): the token opens its own head
             on the exporter and no other; given back, it is revoked and its
             subscriber cut off. The exporter serves only clients with a
             token here (v1=off), so the manager works with the control token
             QEMU's fw_cfg gave it

Environment: HFX_BIN (the hfx binary). Everything started here is killed at
the end.
"""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_qemu as vm  # noqa: E402  (the QEMU/guest/exporter helpers)

SIZE = (800, 600)  # not 640x480: QEMU shows an inactive head as a 640x480 placeholder
HEADS = 16
DRAW_SECONDS = 6
PAUSE_SECONDS = 3
RELEASE_BOUND_MS = 1000
MIN_FRAMES = 30


def qemu_args(port, serial):
    run = ("lease-test --size %dx%d --count %d --draw-seconds %d --pause-seconds %d "
           "--host tcp:10.0.2.2:%d" % (SIZE[0], SIZE[1], HEADS - 1, DRAW_SECONDS, PAUSE_SECONDS,
                                       port))
    append = "hfx.manager=1 hfx.manager_args=--host,tcp:10.0.2.2:%d" % port
    return vm.guest_qemu_args("--heads", str(HEADS), "--net", "--run", run, "--append", append,
                              "--serial", serial)


def heads_on(addr):
    """{head: (w, h)} of the heads the exporter has on, or None."""
    st = vm.scanout_stats(addr)
    if st is None:
        return None
    return {i: (s["width"], s["height"]) for i, s in st.items() if s["enabled"]}


def wait_heads(addr, want, timeout=PAUSE_SECONDS - 0.5):
    """Polls until want(heads_on) holds; returns the last heads_on."""
    end = time.monotonic() + timeout
    while True:
        on = heads_on(addr)
        if (on is not None and want(on)) or time.monotonic() >= end:
            return on
        time.sleep(0.1)


def off_except_console(on):
    return on is not None and not [h for h in on if h != 0]


def host_off(serial, addr, sync, name, after):
    """At the guest's sync line, the exporter must have every head but the
    console off."""
    s = serial.wait_for(r"hfx-guest: sync %s" % sync, 10)
    on = wait_heads(addr, off_except_console) if s else None
    vm.check(name, off_except_console(on), "heads on after %s: %s" %
             (after, sorted(on) if on is not None else "?"))


def guest_check(serial, name, timeout):
    m = serial.wait_for(r"hfx-guest: check %s (ok|FAIL) (.*)" % re.escape(name), timeout)
    vm.check("guest: " + name, m is not None and m.group(1) == "ok",
             m.group(2) if m else "no result on the serial console")
    return m


def run(tmp):
    port = vm.free_port()
    addr = "tcp:127.0.0.1:%d" % port
    serial = vm.Serial(os.path.join(tmp, "lease.serial"))
    t_start = time.monotonic()
    # v1=off: only clients with a token are served, so the manager must be
    # using the control token it got through fw_cfg.
    vm.spawn([vm.HFX, "run", "--listen", addr + ",v1=off", "--secret-file", vm.SECRET, "--",
              "qemu-system-x86_64", *qemu_args(port, serial.path)],
             stdout=open(os.path.join(tmp, "hfx-run.log"), "w"), stderr=subprocess.STDOUT)

    # lease: the first client's lease, and its frames as the host decodes them.
    m = serial.wait_for(r"hfx-guest: lease head (\d+) connector (\S+) (\d+)x(\d+) fd ok in "
                        r"([\d.]+) ms", 90)
    if not m:
        vm.check("lease", False, "no lease (serial: %r)" % serial.text()[-800:])
        return
    head = int(m.group(1))
    lease_ms = float(m.group(5))
    drawn = serial.wait_for(r"hfx-guest: head %d connected (\d+)x(\d+)" % head, 10)
    result = []
    path = os.path.join(tmp, "head%d.264" % head)
    watcher = threading.Thread(target=lambda: result.append(
        vm.sub(addr, head, 30, path, extra=("--token", vm.TOKEN))))
    watcher.start()
    vm.check("lease", m.group(2) == "Virtual-%d" % (head + 1) and drawn is not None and
             (int(drawn.group(1)), int(drawn.group(2))) == SIZE,
             "head %d (%s) leased in %.1f ms (guest clock), %s %.1f s after QEMU started" %
             (head, m.group(2), lease_ms, "lessee modeset " + drawn.group(0).split()[-1]
              if drawn else "the lessee never showed it", time.monotonic() - t_start))

    # kill: the manager's release line against the moment of the kill.
    k = serial.wait_for(r"hfx-guest: scenario kill pid (\d+) head %d at ([\d.]+)" % head,
                        DRAW_SECONDS + 30)
    rel = serial.wait_for(r"hfx-drm-manager: ([\d.]+) release head %d \S+ pid \d+ "
                          r"\(client closed\) in ([\d.]+) ms" % head, 10) if k else None
    t_kill_host = time.monotonic()
    watcher.join(timeout=15)
    ended = not watcher.is_alive()
    rc, line = result[0] if result else (1, "the subscriber did not end")
    fm = re.search(r"scanout \d+: (\d+) frames", line)
    frames = int(fm.group(1)) if fm else 0
    vm.check("frames", vm.stream_ok(rc, line) and frames >= MIN_FRAMES and
             vm.last_frame_size(path) == "%d,%d" % SIZE,
             "host subscriber of head %d: %s; last frame %s" %
             (head, line, vm.last_frame_size(path) or "none"))
    release_ms = (float(rel.group(1)) - float(k.group(2))) * 1000 if rel else None
    vm.check("kill", release_ms is not None and release_ms <= RELEASE_BOUND_MS and ended,
             "SIGKILL to the manager's release line %s (guest clock; the release itself "
             "%s ms); the host subscriber's stream %s" %
             ("%.1f ms" % release_ms if release_ms is not None else "never",
              rel.group(2) if rel else "?",
              "ended %.1f s after the host saw the kill" % (time.monotonic() - t_kill_host)
              if ended else "did NOT end"))
    guest_check(serial, "kill", 15)
    s = serial.wait_for(r"hfx-guest: sync kill head %d" % head, 15)
    on = wait_heads(addr, lambda on: head not in on) if s else None
    vm.check("kill: host", on is not None and head not in on,
             "exporter's heads on after the kill: %s" % (sorted(on) if on is not None else "?"))

    # many: 15 leases at once, each shown; then every one given back.
    guest_check(serial, "many", 60)
    s = serial.wait_for(r"hfx-guest: sync many-on heads (0x[0-9a-f]+)", 10)
    want = {h for h in range(1, HEADS) if s and int(s.group(1), 16) >> h & 1}
    on = wait_heads(addr, lambda on: all(on.get(h) == SIZE for h in want))
    vm.check("many: host on", s is not None and len(want) == HEADS - 1 and on is not None and
             all(on.get(h) == SIZE for h in want),
             "%d heads leased; the exporter has %s on at %dx%d" %
             (len(want), sorted(h for h in (on or {}) if on[h] == SIZE), *SIZE))
    guest_check(serial, "many-release", 30)
    host_off(serial, addr, "many-off", "many: host off", "every lease was given back")

    # malformed: refused, nothing held, nothing leaked.
    guest_check(serial, "malformed", 60)
    host_off(serial, addr, "malformed-off", "malformed: host off", "the malformed requests")
    refusals = re.findall(r"hfx-guest: scenario malformed ([^:]+): (.*)", serial.text())
    for what, answer in refusals:
        vm.log("     %s -> %s" % (what, answer))

    # token: a lease with a token (command 3) against the exporter.
    guest_check(serial, "token", 60)
    host_off(serial, addr, "token-off", "token: host off", "the token lease was given back")

    done = serial.wait_for(r"hfx-guest: exit (\d+)", 30)
    vm.check("guest exit", done is not None and done.group(1) == "0",
             "lease-test %s; %.0f s in all" % ("exit " + done.group(1) if done else "did not end",
                                               time.monotonic() - t_start))
    if vm.failures:
        vm.log("serial console:\n" + serial.text()[-6000:])


def main():
    subprocess.run([os.path.join(vm.GUEST, "build")], check=True, stdout=subprocess.DEVNULL)
    return vm.run_in_tmp("hfx-e2e-lease-", run, "lease")


if __name__ == "__main__":
    sys.exit(main())
