#!/usr/bin/env python3
"""End-to-end: a real QEMU (TCG) boots the test guest (guest/build), which
draws the synthetic workloads on its virtio-gpu heads with page flips; the
exporter serves them through QEMU's D-Bus display; subscribers on the host
decode the streams and check the frame numbers the guest drew, in order, and
the picture against a re-creation of what it drew.

Checks, each printed with what it measured:
  heads       4 heads: head 0 at boot, heads 1-3 turned on by ENABLE_SCANOUT;
              every head's stream decodes, numbers in order, PSNR >= 30 dB
  enable      ENABLE_SCANOUT head 3 at 1920x1080: the guest sees the connector
              connect with that mode and the stream restarts at that size
  disable     DISABLE_SCANOUT head 3: the connector disconnects and the
              subscriber's stream ends cleanly
  guest-sub   a subscriber inside the guest receives frames through 10.0.2.2
  restart     the exporter is killed mid-stream: the VM keeps running, a new
              exporter attaches and a reconnecting subscriber gets an IDR at once
  bus         hfx serve --qemu-dbus with a bus address (QEMU on a private
              dbus-daemon) instead of the peer-to-peer QMP attachment
  gl-unexported
              virtio-gpu-gl-pci under stock QEMU 10.0.2's -display dbus,gl=on
              (hfx run --gl /dev/null) as this machine has it: QEMU cannot
              export its GL scanouts (Mesa's llvmpipe gives no DMABUF), sends
              only UpdateDMABUF, and the exporter says once per head that no
              picture can come and what to run instead; no frame comes, and
              QEMU logs no failed update while the exporter runs

The first five run for each kind of exporter: `hfx run` around Debian 12's
stock QEMU 7.2 and around bookworm-backports' stock QEMU 10.0.2 (D-Bus
display; scripts/stock-qemu fetches it); dbus-10.0-gl: the same stock QEMU
10.0.2 with virtio-gpu-gl-pci (virgl) under `hfx run --gl /dev/null`, its GL
scanouts reaching the exporter as DMABUFs (ScanoutDMABUF, UpdateDMABUF)
through tests/gl_export_shim.c (HFX_GL_SHIM), LD_PRELOADed into QEMU: it
stands in for the DMABUF export this machine's Mesa cannot do, with a copy of
the texture in a memfd taken at each export (each page flip); the rest is
QEMU's own GL listener code and virgl's textures, bottom-up (y0_top); and,
when HFX_QEMU names a QEMU
10.0.2 built with the exporter compiled in (scripts/build-qemu), with
`-object helix-frame-export` inside that QEMU, and when HFX_QEMU_AARCH64 names
its aarch64 build, inside that with the arm64 test guest (`virt` machine). On every kind the guest types
with a page flip per frame, and the hybrid encoder's P-slice writer must code
most of head 0's frames: the front ends find a flip's damage themselves.

Environment: HFX_BIN (the hfx binary), HFX_QEMU (optional, see above),
HFX_QEMU_AARCH64 (optional), HFX_GL_SHIM (the shim; default beside HFX_BIN
under tests/). Arguments: the checks to run (default all): dbus-7.2,
dbus-10.0, dbus-10.0-gl, dbus-10.0-gl-unexported, restart, bus, in-qemu,
in-qemu-gl, in-qemu-arm64; an in-QEMU kind whose QEMU is not named, or
dbus-10.0-gl without the shim, is skipped (exit 77). in-qemu-gl gives the
guest virtio-gpu-gl-pci (virgl, under Mesa's software renderer) beside
`-display egl-headless`, which reads each GL scanout back into the console's
2D surface: the guest's dumb buffers are GL scanouts there.
Every QEMU and exporter started here is killed when the test ends.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HFX = os.environ.get("HFX_BIN", "build/hfx")
HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "..", "guest")
MIN_PSNR = 30
# A GL head read with red and blue swapped still scores about 34 dB in luma
# (measured: the shim once read virgl's AB24 textures back as AR24), so the
# D-Bus GL kind, which takes the DMABUF's fourcc at its word, asks for more.
MIN_PSNR_GL = 40
GL_SHIM = os.environ.get("HFX_GL_SHIM") or os.path.join(
    os.path.dirname(os.path.abspath(HFX)), "tests", "libgl_export_shim.so")
# QEMU 7.2's D-Bus display reads page-flipped buffers late (see sub()); the
# slower the reader (a sanitizer build, a busy machine), the more often.
MAX_STALE_SHARE = 0.10
TYPING = "typing"

procs = []
failures = []


def log(msg):
    print(msg, flush=True)


def check(name, ok, detail):
    log(("PASS " if ok else "FAIL ") + name + ": " + detail)
    if not ok:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, **kw):
    p = subprocess.Popen(args, start_new_session=True, **kw)
    procs.append(p)
    return p


def kill_all():
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def qemu_args(heads, run, serial, arch="x86_64"):
    out = subprocess.run([os.path.join(GUEST, "qemu-args"), "--arch", arch, "--heads", str(heads),
                          "--net", "--run", run, "--serial", serial],
                         check=True, capture_output=True, text=True).stdout
    return [a for a in out.split("\n") if a]


class Serial:
    """The guest's console, read as it grows."""

    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.1)
        return None

    def count(self, pattern):
        return len(re.findall(pattern, self.text()))


# The exporters here share one secret file, so the control token (which the
# extended requests, e.g. stats, present) is known before any starts.
SECRET = None
TOKEN = None


def make_secret(tmp):
    global SECRET, TOKEN
    SECRET = os.path.join(tmp, "secret")
    with open(SECRET, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(SECRET, 0o600)
    TOKEN = subprocess.run([HFX, "token", "--secret-file", SECRET], capture_output=True,
                           text=True, check=True).stdout.strip()


def ctl(addr, *args, timeout=15):
    """hfx ctl; stats (extended mode) presents the control token, ENABLE and
    DISABLE go as the deployed v1 control client sends them."""
    token = ["--token", TOKEN] if args and args[0] == "stats" else []
    r = subprocess.run([HFX, "ctl", "--connect", addr, *token, *args], capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def sub(addr, scanout, seconds, out, check_workload=TYPING, extra=(), min_psnr=MIN_PSNR):
    """Runs hfx sub with --check; returns (exit code, last progress line).

    QEMU 7.2's D-Bus listener sends a page-flipped surface by reference and
    serializes it later, so a frame may carry what the guest drew into that
    buffer next (one or two numbers ahead) and the following one looks one
    behind: --allow-stale lets those through, and the test bounds how many."""
    args = [HFX, "sub", "--connect", addr, "--scanout", str(scanout), "--duration", str(seconds),
            "--output", out, "--allow-stale", *extra]
    if check_workload:
        args += ["--check", check_workload, "--min-psnr", str(min_psnr)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
    lines = [l for l in r.stderr.splitlines() if l.startswith("hfx sub:")]
    notes = [l for l in lines if " reads #" in l]
    return r.returncode, "; ".join(notes + lines[-1:]) if lines else r.stderr.strip()[-300:]


def stream_ok(rc, line):
    """hfx sub passed, and stale frames (see sub) are rare."""
    m = re.search(r"scanout \d+: (\d+) frames.* (\d+) stale", line)
    return (rc == 0 and m is not None and " 0 out of order" in line and " 0 undecodable" in line
            and int(m.group(2)) <= MAX_STALE_SHARE * int(m.group(1)))


def wait_scanout_size(addr, scanout, w, h, timeout):
    """Waits until the exporter has the head at w x h (its stats say so)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rc, out = ctl(addr, "stats", str(scanout))
        if rc == 0 and '"width":%d,"height":%d' % (w, h) in out:
            return True
        time.sleep(0.2)
    return False


def last_frame_size(path):
    """"W,H" of the last decoded frame (a stream may change size midway)."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "frame=width,height", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    lines = r.stdout.split()
    return lines[-1] if lines else ""


def probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0",
                        path], capture_output=True, text=True)
    return r.stdout.strip()


def wait_port(addr_port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", addr_port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def first_frame_after_subscribe(port, scanout, timeout=10):
    """Subscribes like the deployed client; seconds until the first frame and
    whether it is a keyframe."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t0 = time.monotonic()
        s.sendall(struct.pack("<IBBHII", 0x52465848, 0x30, 0, scanout, 4, scanout))
        buf = b""
        msgs = []
        while len(msgs) < 2 and time.monotonic() - t0 < timeout:
            buf += s.recv(65536)
            while len(buf) >= 12:
                magic, typ, flags, sess, size = struct.unpack("<IBBHI", buf[:12])
                if len(buf) < 12 + size:
                    break
                msgs.append((typ, buf[:12 + size], time.monotonic() - t0))
                buf = buf[12 + size:]
        if len(msgs) < 2 or msgs[0][0] != 0x31 or msgs[1][0] != 0x02:
            return None, False
        return msgs[1][2], msgs[1][1][28] == 1
    finally:
        s.close()


def stock_qemu(version):
    out = subprocess.run([os.path.join(HERE, "..", "scripts", "stock-qemu"), "--version", version],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def gl_device(qemu):
    """The guest's heads on virtio-gpu-gl-pci (virgl) instead."""
    return [a.replace("virtio-gpu-pci", "virtio-gpu-gl-pci") for a in qemu]


def exporter_cmd(kind, addr, qemu):
    """The command that boots the guest with the exporter: `hfx run` around
    a stock QEMU (dbus-10.0-gl: its GL display, the shim in QEMU), or the
    QEMU built with the exporter inside."""
    if kind.startswith("dbus-"):
        version = kind.split("-")[1]
        if "-gl" not in kind:
            return [HFX, "run", "--listen", addr, "--secret-file", SECRET, "--",
                    stock_qemu(version), *qemu]
        shim = ["env", "LD_PRELOAD=" + GL_SHIM] if kind.endswith("-gl") else []
        return [HFX, "run", "--gl", "/dev/null", "--listen", addr, "--secret-file", SECRET,
                "--", *shim, stock_qemu(version), *gl_device(qemu)]
    binary = os.environ["HFX_QEMU_AARCH64" if kind.endswith("arm64") else "HFX_QEMU"]
    if kind.endswith("-gl"):
        qemu = gl_device(qemu)
    display = "egl-headless,rendernode=/dev/null" if kind.endswith("-gl") else "none"
    return [binary, *qemu, "-display", display, "-object",
            "helix-frame-export,id=hfx0,listen=%s,secret-file=%s" % (addr, SECRET)]


ran = []


def test_heads(tmp, kind):
    """Heads, ENABLE/DISABLE and the in-guest subscriber, with one exporter."""
    ran.append(kind)
    port = free_port()
    addr = "tcp:127.0.0.1:%d" % port
    tag = kind.replace(" ", "-")
    serial = Serial(os.path.join(tmp, tag + ".serial"))
    # 30 fps: QEMU 7.2's D-Bus display sends every flip whole and unthrottled,
    # and four heads at 60 fps outrun a sanitizer build of the exporter, whose
    # backlog would then age; the checks do not depend on the rate.
    # The GL D-Bus kind at 20: the shim's readback of each page flip runs on
    # QEMU's main loop, which then falls behind the guest's asynchronous
    # flips, and QEMU reads a buffer the guest has drawn into again (a debug
    # build of the shim, logging each export's frame number, showed them go
    # backwards at SET_SCANOUT, before the exporter sees anything): measured
    # on one head of four, 4-12 % stale frames at 30 fps, 1 in 398 at 20.
    fps = 20 if kind == "dbus-10.0-gl" else 30
    guest_run = ("both --workload typing --fps %d --host 10.0.2.2 --port %d --scanout 0 "
                 "--seconds 600" % (fps, port))
    qemu = qemu_args(4, guest_run, serial.path, "arm64" if kind.endswith("arm64") else "x86_64")
    exporter_log_path = os.path.join(tmp, tag + ".log")
    run = spawn(exporter_cmd(kind, addr, qemu), stdout=open(exporter_log_path, "w"),
                stderr=subprocess.STDOUT)
    run_checks(tmp, kind, addr, port, serial, run, exporter_log_path)


def run_checks(tmp, kind, addr, port, serial, run, exporter_log_path):
    def ck(name, ok, detail):
        check("%s: %s" % (kind, name), ok, detail)

    floor = MIN_PSNR_GL if kind.startswith("dbus-") and kind.endswith("-gl") else MIN_PSNR
    t0 = time.monotonic()
    m = serial.wait_for(r"hfx-guest: head 0 connected (\d+)x(\d+)", 60)
    ck("boot", m is not None and wait_port(port),
          "head 0 connected %.1f s after start" % (time.monotonic() - t0) if m else
          "the guest never reported head 0 (serial: %r)" % serial.text()[-500:])
    if not m:
        return

    # Heads 1-3 come on the way the deployed display manager turns them on.
    sizes = {1: (1024, 768), 2: (800, 600), 3: (1280, 720)}
    for head, (w, h) in sizes.items():
        t = time.monotonic()
        rc, out = ctl(addr, "enable", str(head), "%dx%d" % (w, h))
        seen = serial.wait_for(r"hfx-guest: head %d connected %dx%d" % (head, w, h), 30)
        ck("enable head %d" % head, rc == 0 and "Virtual-%d" % (head + 1) in out and seen,
              "SCANOUT_RESP %r, guest connected %dx%d %.1f s after the request" %
              (out, w, h, time.monotonic() - t) if seen else "rc %d %r, guest did not connect" %
              (rc, out))

    # Every head streams what the guest draws.
    for head in range(4):
        path = os.path.join(tmp, "head%d.264" % head)
        rc, line = sub(addr, head, 4, path, min_psnr=floor)
        ck("heads: head %d" % head, stream_ok(rc, line) and " 0 below" in line,
              "%s; ffprobe %s" % (line, probe(path)))

    # The default encoder is the hybrid: the guest's typing, one page flip
    # per frame, reached its P-slice writer (the front end found each flip's
    # damage), and the streams above decoded without an error.
    rc, out = ctl(addr, "stats", "0")
    m = re.search(r'"writer_frames":(\d+),"x264_frames":(\d+),"switch_idrs":(\d+)', out)
    ck("hybrid", rc == 0 and m is not None and int(m.group(1)) > 4 * int(m.group(2)),
       "head 0: %s frames by the writer, %s by x264, %s switch IDRs" % m.groups() if m else
       "no writer counters in STATS: %r" % out[-300:])

    # A new mode for head 3: the guest modesets, the stream restarts at it.
    rc, out = ctl(addr, "enable", "3", "1920x1080")
    seen = serial.wait_for(r"hfx-guest: head 3 connected 1920x1080", 30)
    wait_scanout_size(addr, 3, 1920, 1080, 30)
    path = os.path.join(tmp, "head3-1080.264")
    src, line = sub(addr, 3, 4, path, min_psnr=floor)
    last = last_frame_size(path)
    ck("enable 1920x1080", rc == 0 and seen is not None and last == "1920,1080" and
          stream_ok(src, line), "SCANOUT_RESP %r, guest %s, stream ends at %s (%s)" %
          (out, "connected 1920x1080" if seen else "did not switch", last, line))

    # Disable head 3 while someone watches it: the stream ends cleanly.
    watcher = subprocess.Popen([HFX, "sub", "--connect", addr, "--scanout", "3", "--duration",
                                "30", "--output", os.path.join(tmp, "head3-end.264")],
                               stderr=subprocess.PIPE, text=True)
    procs.append(watcher)
    time.sleep(1.5)
    t = time.monotonic()
    rc, out = ctl(addr, "disable", "3")
    gone = serial.wait_for(r"hfx-guest: head 3 disconnected", 30)
    try:
        watcher.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    err = watcher.stderr.read() if watcher.poll() is not None else ""
    ck("disable", rc == 0 and gone is not None and watcher.returncode == 0 and
          "closed" in err, "SCANOUT_RESP in %.2f s (%r), guest %s, subscriber exit %s: %s" %
          (time.monotonic() - t, out, "disconnected" if gone else "still connected",
           watcher.returncode, err.strip().splitlines()[-1] if err.strip() else ""))

    # The in-guest subscriber, through QEMU's user networking.
    m = serial.wait_for(r"hfx-guest: sub scanout 0 frames (\d+) keyframes (\d+)", 30)
    ck("guest-sub", m is not None and int(m.group(1)) > 0,
          "in-guest subscriber: %s" % (m.group(0) if m else "no report on the serial console"))

    run.send_signal(signal.SIGTERM)
    try:
        run.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    with open(exporter_log_path, errors="replace") as f:
        timing = re.search(r"display callbacks: (.*)", f.read())
    ck("exit", run.returncode is not None and (kind.startswith("dbus-") or timing is not None),
          "exited %s on SIGTERM%s" % (run.returncode, "; " + timing.group(1) if timing else ""))
    # QEMU's own complaints about us (QEMU 10 asks a D-Bus listener for its
    # Interfaces, and asserts when it has none).
    with open(exporter_log_path, errors="replace") as f:
        warnings = [l for l in f.read().splitlines()
                    if "assertion" in l or "GLib-CRITICAL" in l or "GLib-WARNING" in l]
    ck("no QEMU warnings", not warnings, "%d: %s" % (len(warnings), warnings[:3]))


def test_gl_unexported(tmp):
    """GL heads over the D-Bus display as this machine has them: no DMABUF
    export, so no picture, and the exporter says so once per head."""
    kind = "dbus-10.0-gl-unexported"
    ran.append(kind)
    port = free_port()
    addr = "tcp:127.0.0.1:%d" % port
    serial = Serial(os.path.join(tmp, kind + ".serial"))
    log_path = os.path.join(tmp, kind + ".log")
    run = spawn(exporter_cmd(kind, addr, qemu_args(2, "draw --workload typing --fps 10",
                                                   serial.path)),
                stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    booted = serial.wait_for(r"hfx-guest: head 0 connected", 60) is not None and wait_port(port)
    rc, line = sub(addr, 0, 3, os.path.join(tmp, kind + ".264"), check_workload=None) \
        if booted else (1, "the guest did not boot")
    with open(log_path, errors="replace") as f:
        text = f.read()
    told = [int(c) for c in re.findall(r"console (\d+): QEMU sends this head's GL updates "
                                       r"\(UpdateDMABUF\) but no DMABUF scanout has come", text)]
    unexported = text.count("dbus_scanout_texture: failed to get fd for texture")
    failed = text.count("Failed to call update")
    check(kind, booted and " 0 frames" in line and sorted(told) == [0, 1] and unexported > 0 and
          failed == 0 and "run the exporter inside QEMU" in text,
          "guest %s; %s; explained for consoles %s (want once each for 0, 1); QEMU logged "
          "'failed to get fd for texture' %d times and 'Failed to call update' %d times" %
          ("drawing" if booted else "did not boot", line, told, unexported, failed))
    run.send_signal(signal.SIGTERM)
    try:
        run.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass


def test_restart(tmp):
    """The VM never depends on the exporter."""
    ran.append("restart")
    qmp = os.path.join(tmp, "qmp.sock")
    serial = Serial(os.path.join(tmp, "restart.serial"))
    qemu = spawn(["qemu-system-x86_64", *qemu_args(2, "draw --workload typing", serial.path),
                  "-display", "dbus,p2p=yes", "-qmp", "unix:%s,server=on,wait=off" % qmp],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not serial.wait_for(r"hfx-guest: head 0 connected", 60):
        check("restart", False, "the guest did not boot")
        return
    port = free_port()
    addr = "tcp:127.0.0.1:%d" % port
    log_path = os.path.join(tmp, "serve1.log")
    serve = spawn([HFX, "serve", "--qemu-dbus", "qmp:" + qmp, "--listen", addr,
                   "--secret-file", SECRET], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    wait_port(port)
    watcher = subprocess.Popen([HFX, "sub", "--connect", addr, "--scanout", "0", "--duration",
                                "20", "--output", os.path.join(tmp, "before.264")],
                               stderr=subprocess.PIPE, text=True)
    procs.append(watcher)
    time.sleep(2)
    os.killpg(serve.pid, signal.SIGKILL)
    serve.wait()
    frames_before = serial.count(r"hfx-guest: head 0 frame")
    time.sleep(2)
    alive = qemu.poll() is None and serial.count(r"hfx-guest: head 0 frame") > frames_before
    watcher.wait(timeout=20)
    serve2 = spawn([HFX, "serve", "--qemu-dbus", "qmp:" + qmp, "--listen", addr,
                    "--secret-file", SECRET],
                   stdout=open(os.path.join(tmp, "serve2.log"), "w"), stderr=subprocess.STDOUT)
    up = wait_port(port)
    first, key = first_frame_after_subscribe(port, 0) if up else (None, False)
    path = os.path.join(tmp, "after.264")
    rc, line = sub(addr, 0, 3, path) if up else (1, "no exporter")
    check("restart", alive and up and first is not None and key and stream_ok(rc, line),
          "VM %s after the exporter was killed; new exporter %s; first frame after SUBSCRIBE "
          "%s (%s); then %s" % ("kept drawing" if alive else "STOPPED",
                                "attached" if up else "did not attach",
                                "%.0f ms" % (first * 1000) if first is not None else "never",
                                "keyframe" if key else "not a keyframe", line))
    # The guest's lease manager holds the control token it got at boot: the
    # new exporter, with the same secret file, must still take it.
    rc, out = ctl(addr, "stats", "0") if up else (1, "no exporter")
    check("restart: control token", rc == 0 and '"id":0' in out,
          "the control token from before the restart: %s" % ("accepted" if rc == 0 else out))
    os.killpg(serve2.pid, signal.SIGTERM)
    os.killpg(qemu.pid, signal.SIGKILL)


def test_bus(tmp):
    """hfx serve --qemu-dbus with a D-Bus bus address: QEMU on a private bus."""
    ran.append("bus")
    bus = os.path.join(tmp, "bus.sock")
    daemon = spawn(["dbus-daemon", "--session", "--nofork", "--address=unix:path=" + bus],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while not os.path.exists(bus) and time.monotonic() < end:
        time.sleep(0.05)
    serial = Serial(os.path.join(tmp, "bus.serial"))
    qemu = spawn(["qemu-system-x86_64", *qemu_args(2, "draw --workload typing", serial.path),
                  "-display", "dbus,addr=unix:path=" + bus],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    booted = serial.wait_for(r"hfx-guest: head 0 connected", 60) is not None
    port = free_port()
    addr = "tcp:127.0.0.1:%d" % port
    serve = spawn([HFX, "serve", "--qemu-dbus", "unix:path=" + bus, "--listen", addr],
                  stdout=open(os.path.join(tmp, "bus-serve.log"), "w"), stderr=subprocess.STDOUT)
    up = booted and wait_port(port)
    rc, line = sub(addr, 0, 3, os.path.join(tmp, "bus.264")) if up else (1, "no exporter")
    check("bus", up and stream_ok(rc, line), "QEMU on a private bus (-display dbus,addr=...): %s" %
          line)
    for p in (serve, qemu, daemon):
        os.killpg(p.pid, signal.SIGKILL)


def main():
    subprocess.run([os.path.join(GUEST, "build")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="hfx-e2e-") as tmp:
        make_secret(tmp)
        try:
            kinds = sys.argv[1:] or ["dbus-7.2", "dbus-10.0", "dbus-10.0-gl",
                                     "dbus-10.0-gl-unexported", "restart", "bus", "in-qemu",
                                     "in-qemu-gl", "in-qemu-arm64"]
            for kind in ("dbus-7.2", "dbus-10.0"):
                if kind in kinds:
                    test_heads(tmp, kind)
            if "dbus-10.0-gl" in kinds:
                if os.path.exists(GL_SHIM):
                    test_heads(tmp, "dbus-10.0-gl")
                else:
                    log("SKIP dbus-10.0-gl: no %s (libepoxy-dev missing at build?)" % GL_SHIM)
            if "dbus-10.0-gl-unexported" in kinds:
                test_gl_unexported(tmp)
            if "restart" in kinds:
                test_restart(tmp)
            if "bus" in kinds:
                test_bus(tmp)
            for kind in ("in-qemu", "in-qemu-gl"):
                if kind in kinds and os.environ.get("HFX_QEMU"):
                    test_heads(tmp, kind)
            # The reference's shape: an arm64 guest on the virt machine.
            if "in-qemu-arm64" in kinds and os.environ.get("HFX_QEMU_AARCH64"):
                subprocess.run([os.path.join(GUEST, "build"), "--arch", "arm64"], check=True,
                               stdout=subprocess.DEVNULL)
                test_heads(tmp, "in-qemu-arm64")
        finally:
            kill_all()
    if failures:
        log("FAILED: " + ", ".join(failures))
        return 1
    if not ran:
        log("SKIP: no QEMU with the exporter inside for %s" % " ".join(sys.argv[1:]))
        return 77
    log("all end-to-end checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
