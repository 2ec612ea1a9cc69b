#!/usr/bin/env python3
"""End-to-end, the guest's side of input: the test guest boots with
guest/qemu-args --input (a virtio keyboard and tablet bound to each head's
console), draws the idle workload on two heads, and QMP's input-send-event
sends a pointer move, a key, a button and a wheel step to one head's console.

Checks, each printed with what it measured:
  boot      the demo opened each head's keyboard and tablet (serial log)
  isolation events sent to head 1's console reach head 1's devices only
  serial    head 0's events on the serial log, in the demo's formats
  picture   head 0's stream (hfx sub --check idle --min-psnr 40: the host's
            verify leaves the input panel and crosshair out of its PSNR, and
            the crosshair leaves no trail when it moves): the first picture has
            no input panel, the last one reads keys 1, last key 30, buttons
            1 (272), the pointer at the pixel sent and the wheel's step; the
            key press changed the picture (a frame with keys 1 came after
            one without it)

The exporter is the QEMU built with it inside (HFX_QEMU, scripts/build-qemu)
when named, else `hfx run` around Debian's QEMU 7.2 (qemu-system-x86_64 on
PATH); without either the test is skipped (exit 77).

Environment: HFX_BIN (the hfx binary), HFX_QEMU (optional).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# The other end-to-end test's helpers: its log and check lines, processes
# killed at the end, the serial console reader.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_qemu import GUEST, HFX, Serial, check, failures, free_port, kill_all, log, spawn  # noqa: E402

# src/source/synth.h and input_stamp.h: the strips of 8x8 blocks.
BLOCK = 8
BITS = 24
INPUT_MAGIC = 0x6b3d59
INPUT_ROWS = 8
WIDTH, HEIGHT = 1280, 800   # QEMU's default mode
KEY_A = 30                  # evdev KEY_A
BTN_LEFT = 272
# The panel and crosshair are left out of the comparison, and nothing else
# differs from the idle workload's picture (measured 47.4 dB: x264's loss).
MIN_PSNR = 40

def wait_for(what, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = what()
        if v:
            return v
        time.sleep(step)
    return None


class Qmp:
    """A QMP client on QEMU's unix socket."""

    def __init__(self, path, timeout=30):
        self.sock = wait_for(lambda: self._connect(path), timeout)
        if self.sock is None:
            raise RuntimeError("no QMP socket at " + path)
        self.buf = b""
        self._reply()  # the greeting
        self.cmd("qmp_capabilities")

    @staticmethod
    def _connect(path):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(path)
            return s
        except OSError:
            return None

    def _reply(self):
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise RuntimeError("QMP closed")
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        r = self._reply()
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (name, r["error"]))
        return r.get("return")

    def events(self, head, events):
        self.cmd("input-send-event", device="gpu0", head=head, events=events)


def key(down, qcode="a"):
    return {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}


def btn(down, button):
    return {"type": "btn", "data": {"down": down, "button": button}}


def pointer(x, y):
    """An absolute position in head pixels, scaled as QEMU's own display
    front ends scale one (qemu_input_queue_abs: p * 0x7fff / size)."""
    return [{"type": "abs", "data": {"axis": "x", "value": x * 0x7fff // WIDTH}},
            {"type": "abs", "data": {"axis": "y", "value": y * 0x7fff // HEIGHT}}]


def read_strip(y, stride, top):
    """hfx_stamp_read_luma on the strip whose top row is `top`; None if
    unreadable."""
    def block(i):
        s = sum(y[(top + BLOCK // 4 + dy) * stride + i * BLOCK + BLOCK // 4 + dx]
                for dy in range(BLOCK // 2) for dx in range(BLOCK // 2))
        return 0 if s < 64 * 16 else 1 if s > 192 * 16 else None
    if block(0) != 1:
        return None
    bits = [block(i) for i in range(1, BITS + 2)]
    if None in bits or bits[-1] != sum(bits[:-1]) % 2:
        return None
    return sum(b << i for i, b in enumerate(bits[:-1]))


def read_input(y, stride):
    """hfx_verify_read_input: the input panel's fields, or None."""
    rows = [read_strip(y, stride, BLOCK * (1 + i)) for i in range(INPUT_ROWS)]
    if rows[0] != INPUT_MAGIC or None in rows:
        return None
    signed = [v - (1 << 24) if v >> 23 else v for v in rows[5:]]
    return dict(keys=rows[1], last_key=rows[2], buttons=rows[3], last_button=rows[4],
                x=signed[0], y=signed[1], wheel=signed[2])


def decoded_frames(path):
    """Every picture of an H.264 file, as luma planes."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], capture_output=True, check=True).stdout
    size = WIDTH * HEIGHT
    return [raw[i:i + size] for i in range(0, len(raw) - size + 1, size)]


def boot(tmp, serial_path, qmp_path, port):
    qemu = subprocess.run([os.path.join(GUEST, "qemu-args"), "--heads", "2", "--input", "--run",
                           "draw --workload idle --fps 30 --seconds 600", "--serial",
                           serial_path], check=True, capture_output=True,
                          text=True).stdout.split("\n")
    qemu = [a for a in qemu if a] + ["-qmp", "unix:%s,server=on,wait=off" % qmp_path]
    addr = "tcp:127.0.0.1:%d" % port
    secret = os.path.join(tmp, "secret")
    with open(secret, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(secret, 0o600)
    if os.environ.get("HFX_QEMU"):
        kind = "in-QEMU exporter (%s)" % os.environ["HFX_QEMU"]
        cmd = [os.environ["HFX_QEMU"], *qemu, "-display", "none", "-object",
               "helix-frame-export,id=hfx0,listen=%s,secret-file=%s" % (addr, secret)]
    else:
        kind = "hfx run around %s" % shutil.which("qemu-system-x86_64")
        cmd = [HFX, "run", "--listen", addr, "--secret-file", secret, "--",
               "qemu-system-x86_64", *qemu]
    spawn(cmd, stdout=open(os.path.join(tmp, "qemu.log"), "w"), stderr=subprocess.STDOUT)
    return kind, addr


def main():
    if not os.environ.get("HFX_QEMU") and not shutil.which("qemu-system-x86_64"):
        log("SKIP: no QEMU (neither HFX_QEMU nor qemu-system-x86_64)")
        return 77
    subprocess.run([os.path.join(GUEST, "build")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="hfx-e2e-input-") as tmp:
        try:
            run(tmp)
        finally:
            kill_all()
    if failures:
        log("FAILED: " + ", ".join(failures))
        return 1
    log("all input checks passed")
    return 0


def run(tmp):
    serial = Serial(os.path.join(tmp, "serial"))
    port = free_port()
    t0 = time.monotonic()
    kind, addr = boot(tmp, serial.path, os.path.join(tmp, "qmp"), port)
    log("exporter: " + kind)
    opened = serial.wait_for_count(r"hfx-guest: head [01] input /dev/input/event\d+ ", 4, 90) and \
        serial.wait_for(r"hfx-guest: head 0 connected", 30)
    text = serial.text()
    check("boot", bool(opened), "%s after %.1f s: %s" % (
        "the demo opened 4 input devices (2 per head)" if opened else "not ready",
        time.monotonic() - t0, "; ".join(re.findall(r"hfx-guest: head \d input .*", text))
        or repr(text[-600:])))
    if not opened:
        return
    qmp = Qmp(os.path.join(tmp, "qmp"))

    # Head 1 first: its devices say so, head 0's stay silent.
    since = len(serial.text())
    qmp.events(1, [key(True, "b"), key(False, "b")])
    got = serial.wait_for(r"hfx-guest: head 1 key 48 up", 10, since)
    time.sleep(0.3)
    lines = re.findall(r"hfx-guest: head \d (?:key|button|pointer|wheel).*",
                       serial.text()[since:])
    check("isolation", bool(got) and lines == ["hfx-guest: head 1 key 48 down",
                                               "hfx-guest: head 1 key 48 up"],
          "a key sent to console 1 gave: %r" % lines)

    # Head 0, watched by a subscriber that checks the idle picture.
    out = os.path.join(tmp, "head0.264")
    sub = subprocess.Popen([HFX, "sub", "--connect", addr, "--scanout", "0", "--duration", "7",
                            "--output", out, "--check", "idle", "--min-psnr", str(MIN_PSNR)],
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    since = len(serial.text())
    # Moved twice: the crosshair left behind would cost the PSNR.
    qmp.events(0, pointer(100, 100))
    time.sleep(0.5)
    qmp.events(0, pointer(640, 400))
    time.sleep(0.7)
    qmp.events(0, [key(True), key(False)])
    time.sleep(0.7)
    qmp.events(0, [btn(True, "left"), btn(False, "left")])
    time.sleep(0.7)
    qmp.events(0, [btn(True, "wheel-up"), btn(False, "wheel-up")])
    try:
        _, err = sub.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        sub.kill()
        _, err = sub.communicate()
    want = ["hfx-guest: head 0 pointer 100,100", "hfx-guest: head 0 pointer 640,400", "hfx-guest: head 0 key 30 down",
            "hfx-guest: head 0 key 30 up", "hfx-guest: head 0 button 272 down",
            "hfx-guest: head 0 button 272 up", "hfx-guest: head 0 wheel 1"]
    lines = re.findall(r"hfx-guest: head \d (?:key|button|pointer|wheel).*",
                       serial.text()[since:])
    check("serial", lines == want, "head 0's events on the console: %r" % lines)

    summary = [l for l in err.splitlines() if l.startswith("hfx sub:")]
    frames = decoded_frames(out) if os.path.exists(out) else []
    panels = [read_input(f, WIDTH) for f in frames]
    first_key = next((i for i, p in enumerate(panels) if p and p["keys"] == 1), None)
    last = panels[-1] if panels else None
    want_last = dict(keys=1, last_key=KEY_A, buttons=1, last_button=BTN_LEFT, x=640, y=400,
                     wheel=1)
    check("picture", sub.returncode == 0 and " 0 below" in err and len(frames) >= 2 and
          panels[0] is None and first_key is not None and panels[first_key - 1] is not None and
          panels[first_key - 1]["keys"] == 0 and last == want_last,
          "hfx sub rc %d (%s); %d pictures; panels read: first %r, key press first seen in "
          "picture %r, last %r" % (sub.returncode, summary[-1] if summary else err[-300:],
                                   len(frames), panels[0] if panels else None, first_key, last))


if __name__ == "__main__":
    sys.exit(main())
