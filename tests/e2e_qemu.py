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
  input       (dbus-7.2, dbus-10.0 and in-qemu, whose guest has each head's keyboard and
              tablet: guest/qemu-args --input) hfx input's pointer move, key,
              click and wheel step on head 2 reach head 2's devices (in
              order on each) and no other head's (the
              demo's serial lines); hfx latency times 5 key presses to the
              change of head 2's decoded stream (the input panel's colour
              band) and prints its statistics and verdict; the same presses
              timed where nothing shows them find no change
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
in-qemu-gl, in-qemu-gl-egl-headless, in-qemu-arm64, in-qemu-gl-arm64; an
in-QEMU kind whose QEMU is not named, or dbus-10.0-gl without the shim, is
skipped (exit 77). The in-QEMU GL kinds give the guest virtio-gpu-gl-pci
(virgl, under Mesa's software renderer) and boot the GL guest (guest/build
--gl), where Debian's kmscube renders through Mesa's virtio_gpu driver
(virgl) on heads 1 and 2, each on a DRM lease the demo makes, while the demo
draws heads 0 and 3 (dumb buffers: GL scanouts there too). in-qemu-gl (and
in-qemu-gl-arm64, the same in the aarch64 build) makes the exporter QEMU's GL
display (gl=on), reading each GL scanout back on its own threads;
in-qemu-gl-egl-headless puts it beside `-display egl-headless`, which reads
each GL scanout back into the console's 2D surface instead. Their extra checks:
  kmscube     on each kmscube head: the guest's renderer is virgl, the stream
              decodes, every frame is a picture (not blank: a grey background
              with a coloured cube) and it moves (frames a second apart differ)
  kmscube resize  ENABLE_SCANOUT of a kmscube head at a new size: a new kmscube
              on a new lease, checked as above at that size
  kmscube stop DISABLE_SCANOUT of a kmscube head ends that kmscube and its lease
and in-qemu-gl's (gl_checks): a subscriber that never reads slows neither
the guest's rendering nor the other heads' streams; 100 disable/enable cycles
of a GL head leak nothing in QEMU and never stop another head's stream. The
GL kinds' frame checks ask for 40 dB, not 30 (MIN_PSNR_GL).
Every QEMU and exporter started here is killed when the test ends.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from deployed_clients import free_port

HFX = os.environ.get("HFX_BIN", "build/hfx")
HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "..", "guest")
MIN_PSNR = 30
# A GL head read with red and blue swapped still scores about 34 dB in luma
# (measured: the shim once read virgl's AB24 textures back as AR24), so the
# GL kinds, whose pixels come from GL readbacks and DMABUF fourccs, ask for
# more.
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


def guest_qemu_args(*opts):
    """guest/qemu-args with these options, as a list."""
    out = subprocess.run([os.path.join(GUEST, "qemu-args"), *opts], check=True,
                         capture_output=True, text=True).stdout
    return [a for a in out.split("\n") if a]


def qemu_args(heads, run, serial, arch="x86_64", gl=False, input_devices=False):
    return guest_qemu_args("--arch", arch, "--heads", str(heads), "--net", "--run", run,
                           "--serial", serial, *(["--gl"] if gl else []),
                           *(["--input"] if input_devices else []))


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

    def wait_for(self, pattern, timeout, since=0):
        """The first match in the console from offset since on, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text()[since:])
            if m:
                return m
            time.sleep(0.1)
        return None

    def count(self, pattern):
        return len(re.findall(pattern, self.text()))

    def wait_for_count(self, pattern, n, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count(pattern) >= n:
                return True
            time.sleep(0.05)
        return False


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


def run_in_tmp(prefix, body, what):
    """body(tmp) in a fresh folder with the shared secret; kills what it
    started; the folder is copied to $HFX_KEEP_DIR if set. The exit code."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        make_secret(tmp)
        try:
            body(tmp)
        finally:
            kill_all()
            keep = os.environ.get("HFX_KEEP_DIR")
            if keep:
                shutil.copytree(tmp, keep, dirs_exist_ok=True)
    if failures:
        log("FAILED: " + ", ".join(failures))
        return 1
    log("all %s checks passed" % what)
    return 0


def scanout_stats(addr):
    """{head: that scanout's stats} from the exporter's STATS, or None."""
    rc, out = ctl(addr, "stats")
    line = next((l for l in out.splitlines() if l.startswith("{")), None)
    if rc != 0 or line is None:
        return None
    return {s["id"]: s for s in json.loads(line)["scanouts"]}


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
    # The last progress line; with no frame, hfx sub explains after it.
    progress = [l for l in lines if re.search(r"scanout \d+: \d+ frames \(", l)]
    if not lines:
        return r.returncode, r.stderr.strip()[-300:]
    return r.returncode, "; ".join(notes + (progress or lines)[-1:])


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


def kmscube_kind(kind):
    """The in-QEMU GL kinds boot the GL guest, kmscube on KMSCUBE_HEADS."""
    return kind.startswith("in-qemu") and "-gl" in kind


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
    obj = "helix-frame-export,id=hfx0,listen=%s,secret-file=%s" % (addr, SECRET)
    display = "none"
    if "-gl" in kind:
        qemu = gl_device(qemu)
        if kind.endswith("-egl-headless"):
            display = "egl-headless,rendernode=/dev/null"
        else:
            obj += ",gl=on,rendernode=/dev/null"
    return [binary, *qemu, "-display", display, "-object", obj]


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
    # The GL D-Bus kind slower: the shim's readback of each page flip runs on
    # QEMU's main loop, which then falls behind the guest's asynchronous
    # flips, and QEMU reads a buffer the guest has drawn into again (a debug
    # build of the shim, logging each export's frame number, showed them go
    # backwards at SET_SCANOUT, before the exporter sees anything): measured
    # on one head of four, 4-12 % stale frames at 30 fps, 1 in 398 at 20.
    # At 20, once on a later machine (a sanitizer build): 1-9 of 80-85 on
    # every head, 0 in five other runs there; fewer flips leave QEMU's main
    # loop more room, so 15. The in-QEMU GL kinds read back on QEMU's main
    # loop too: at 30, once (2026-12-03) 12 stale of 86 on the 1920x1080
    # head of in-qemu-gl-egl-headless, which reached only 21.5 fps then; so
    # 15 for them as well.
    fps = 15 if kind == "dbus-10.0-gl" or kmscube_kind(kind) else 30
    guest_run = ("both --workload typing --fps %d --host 10.0.2.2 --port %d --scanout 0 "
                 "--seconds 600" % (fps, port))
    gl = kmscube_kind(kind)
    if gl:
        guest_run += " --kmscube " + "+".join(str(h) for h in KMSCUBE_HEADS)
    qemu = qemu_args(4, guest_run, serial.path, "arm64" if kind.endswith("arm64") else "x86_64",
                     gl, kind in INPUT_KINDS)
    exporter_log_path = os.path.join(tmp, tag + ".log")
    run = spawn(exporter_cmd(kind, addr, qemu), stdout=open(exporter_log_path, "w"),
                stderr=subprocess.STDOUT)
    run_checks(tmp, kind, addr, port, serial, run, exporter_log_path)


# The kinds whose guest gets each head's keyboard and tablet (guest/qemu-args
# --input) and whose input path is checked (input_checks): the D-Bus front
# end on stock QEMU 7.2 and 10.0, and the in-QEMU one.
INPUT_KINDS = ("dbus-7.2", "dbus-10.0", "in-qemu")
# The test guest's input panel (src/source/input_stamp.h): its colour band,
# which changes with every key press, is where hfx latency looks.
INPUT_BAND = "208,8,64,64"
INPUT_EVENT = r"hfx-guest: head (\d) (?:key|button|pointer|wheel) .*"


def hfx_input(addr, scanout, *actions):
    r = subprocess.run([HFX, "input", "--connect", addr, "--token", TOKEN, "--scanout",
                        str(scanout), *actions], capture_output=True, text=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip()


def input_checks(ck, kind, tmp, addr, serial, exporter_log_path):
    """INPUT through the exporter to head 2's own keyboard and tablet: the
    pointer and a key reach them and no other head's (the demo's serial
    lines); hfx latency times key presses to the decoded change of head 2's
    stream (the panel's colour band)."""
    t = time.monotonic()
    opened = serial.wait_for_count(r"hfx-guest: head 2 input /dev/input/event\d+ ", 2, 30)
    ck("input: devices", opened, "head 2's keyboard and tablet opened in the guest %s" %
       ("%.1f s after the check began" % (time.monotonic() - t) if opened else "never"))
    if not opened:
        return
    since = len(serial.text())
    rc, out = hfx_input(addr, 2, "move", "400", "300")
    moved = serial.wait_for(r"hfx-guest: head 2 pointer (\d+),(\d+)", 15, since)
    ck("input: pointer", rc == 0 and moved is not None and moved.groups() == ("400", "300"),
       "hfx input move 400 300 (%s): guest %s" % (out.splitlines()[-1] if out else rc,
                                                  moved.group(0) if moved else "saw nothing"))
    since = len(serial.text())
    rc, out = hfx_input(addr, 2, "key", "a", "click", "400", "300", "wheel", "-1")
    last = serial.wait_for(r"hfx-guest: head 2 wheel 1", 15, since)
    time.sleep(0.5)
    events = [m.group(0) for m in re.finditer(INPUT_EVENT, serial.text()[since:])]
    # In order on each device (the keyboard and the tablet are two devices,
    # which the guest reads apart).
    keys = ["hfx-guest: head 2 key 30 down", "hfx-guest: head 2 key 30 up"]
    tablet = ["hfx-guest: head 2 button 272 down", "hfx-guest: head 2 button 272 up",
              "hfx-guest: head 2 wheel 1"]
    ck("input: key, click, wheel", rc == 0 and last is not None and
       [e for e in events if " key " in e] == keys and
       [e for e in events if " button " in e or " wheel " in e] == tablet and
       all(e.startswith("hfx-guest: head 2 ") for e in events),
       "hfx input key a click 400 300 wheel -1: the guest logged %s" % events)
    out_json = os.path.join(tmp, "latency-%s.json" % addr.rsplit(":", 1)[1])
    r = subprocess.run([HFX, "latency", "--connect", addr, "--token", TOKEN, "--scanout", "2",
                        "--count", "5", "--region", INPUT_BAND, "--json", out_json],
                       capture_output=True, text=True, timeout=120)
    lines = [l for l in r.stdout.splitlines() if l.startswith("hfx latency:")]
    try:
        with open(out_json) as f:
            j = json.load(f)
    except (OSError, ValueError):
        j = {}
    ck("input: latency", r.returncode == 0 and j.get("samples", 0) >= 4 and
       "verdict: " in r.stdout,
       "head 2, 5 key presses: %s" % ("; ".join(lines[-2:]) if lines else r.stderr.strip()))
    # The control: where the guest draws nothing for a key (the desktop left
    # of the typing window), the same presses must find no change.
    r = subprocess.run([HFX, "latency", "--connect", addr, "--token", TOKEN, "--scanout", "2",
                        "--count", "2", "--pause", "100", "--timeout", "700", "--region",
                        "0,100,64,64"], capture_output=True, text=True, timeout=60)
    ck("input: latency control", r.returncode == 1 and "0 sample(s), 2 missed" in r.stdout,
       "2 presses timed where nothing shows them: %s" %
       (r.stdout.strip().splitlines()[-2] if r.stdout.strip() else r.stderr.strip()))


def run_checks(tmp, kind, addr, port, serial, run, exporter_log_path):
    def ck(name, ok, detail):
        check("%s: %s" % (kind, name), ok, detail)

    floor = MIN_PSNR_GL if "-gl" in kind else MIN_PSNR
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
    gl_heads = KMSCUBE_HEADS if kmscube_kind(kind) else ()
    for head in range(4):
        if head in gl_heads:
            check_kmscube(ck, tmp, addr, head, serial)
            continue
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

    if kind == "in-qemu-gl":
        gl_checks(tmp, addr, port, serial, run, ck)

    if kind in INPUT_KINDS:
        input_checks(ck, kind, tmp, addr, serial, exporter_log_path)

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

    # A kmscube head at a new size: kmscube keeps the mode it started with, so
    # the demo ends it and starts one on a new lease, which must render too.
    if gl_heads:
        head = gl_heads[-1]
        since = len(serial.text())
        rc, out = ctl(addr, "enable", str(head), "640x480")
        seen = serial.wait_for(r"hfx-guest: head %d connected 640x480 kmscube (pid \d+)" % head, 30,
                               since)
        ck("kmscube resize", rc == 0 and seen is not None,
           "ENABLE_SCANOUT head %d 640x480 (%r): %s" %
           (head, out, "kmscube started again, " + seen.group(1) if seen else "no new kmscube"))
        if seen:
            wait_scanout_size(addr, head, 640, 480, 30)
            # From the new kmscube's start: the old one may have reported a
            # rate after the request, before it was stopped.
            check_kmscube(ck, tmp, addr, head, serial, since + seen.start(), (640, 480))

    # A kmscube head switched off: its kmscube ends, then the demo says the
    # head is gone (and revokes its lease).
    if gl_heads:
        head = gl_heads[0]
        since = len(serial.text())
        rc, out = ctl(addr, "disable", str(head))
        ended = serial.wait_for(r"hfx-guest: kmscube head %d exited (.*)" % head, 30, since)
        gone = serial.wait_for(r"hfx-guest: head %d disconnected" % head, 10, since)
        ck("kmscube stop", rc == 0 and ended is not None and gone is not None,
           "DISABLE_SCANOUT head %d (%r): kmscube %s, head %s" %
           (head, out, "exited " + ended.group(1) if ended else "did not exit after it",
            "disconnected" if gone else "still connected"))

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


def subs_parallel(addr, heads, seconds, tmp, tag, checked):
    """hfx sub on several heads at once, those in checked with --check:
    {head: (rc, lines)}, lines being every progress line (one a second, then
    the final one)."""
    ps = {}
    for head in heads:
        path = os.path.join(tmp, "%s-head%d.264" % (tag, head))
        check = ["--check", TYPING, "--min-psnr", str(MIN_PSNR_GL)] if head in checked else []
        ps[head] = subprocess.Popen([HFX, "sub", "--connect", addr, "--scanout", str(head),
                                     "--duration", str(seconds), "--output", path,
                                     "--allow-stale", *check], stderr=subprocess.PIPE, text=True)
        procs.append(ps[head])
    out = {}
    for head, p in ps.items():
        _, err = p.communicate(timeout=seconds + 30)
        out[head] = (p.returncode, [l for l in err.splitlines() if l.startswith("hfx sub:")])
    return out


def fps_of(line):
    m = re.search(r" ([\d.]+) fps", line)
    return float(m.group(1)) if m else 0.0


def proc_usage(pid):
    """(resident KiB, open fds, thread names) of a process."""
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    names = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, task)) as f:
                names.append(f.read().strip())
        except FileNotFoundError:
            pass                # ended while listed
    return rss, len(os.listdir("/proc/%d/fd" % pid)), sorted(names)


# Threads of QEMU's own pools (not the exporter's) that may differ between
# two moments of an idle process.
GL_POOL_SLACK = 4


def gl_checks(tmp, addr, port, serial, run, ck):
    """GL heads read back by the exporter (the GL guest: kmscube on heads 1
    and 2, the demo's dumb buffers on 0 and 3): a stalled subscriber on one
    head slows neither the guest's rendering nor the streams of the heads
    (its own included), and 100 enable/disable cycles of a GL head leak
    nothing and never stop the other heads' streams."""
    # Each frame the guest renders is a flip and a frame of the stream, so a
    # stream's rate is its head's rendering rate: the demo's 15 fps on 0 and
    # 3 (their frame numbers checked too), kmscube's own on 1 and 2 (90-250 fps
    # here, and it varies with the load on the machine: it gets 60 %).
    heads, dumb = (0, 1, 2, 3), (0, 3)
    base = subs_parallel(addr, heads, 5, tmp, "gl-base", dumb)
    # A deployed-style subscriber of kmscube's head 1 that never reads: its
    # socket buffers fill and the server must drop for it, not wait.
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(struct.pack("<IBBHII", 0x52465848, 0x30, 0, 1, 4, 1))
    time.sleep(3)
    during = subs_parallel(addr, heads, 5, tmp, "gl-stalled", dumb)
    stalled.close()
    ok = True
    detail = []
    for head in heads:
        b, d = base[head], during[head]
        fb, fd = fps_of(b[1][-1]) if b[1] else 0, fps_of(d[1][-1]) if d[1] else 0
        least = 0.8 if head in dumb else 0.6
        ok = ok and b[0] == 0 and d[0] == 0 and fb > 10 and fd >= least * fb
        detail.append("head %d %.1f -> %.1f fps" % (head, fb, fd))
        for what, (rc, lines) in (("without", b), ("with", d)):
            if rc != 0:
                notes = [l for l in lines if " reads #" in l or "below" in l][:3]
                detail.append("head %d %s it: hfx sub exit %d: %s" % (
                    head, what, rc, "; ".join(notes + lines[-1:])))
    ck("stalled subscriber", ok, "a subscriber of head 1 that never reads; each head's rate "
       "(its rendering rate) without and with it, another subscriber of head 1's included: " +
       ", ".join(detail) + " (at least 80 % on the demo's heads, 60 % on kmscube's; every "
       "frame decoded, the demo's checked)")

    # 100 cycles of head 3, a 1280x720 GL head, while kmscube's head 2 is watched.
    cycles = 100
    watcher = subprocess.Popen([HFX, "sub", "--connect", addr, "--scanout", "2", "--duration",
                                "600", "--output", os.path.join(tmp, "gl-cycles-head2.264")],
                               stderr=subprocess.PIPE, text=True)
    procs.append(watcher)
    before = None
    t0 = time.monotonic()
    failed = ""
    for i in range(cycles):
        if i == 10:
            before = proc_usage(run.pid)    # after the first allocations
        connected = serial.count(r"hfx-guest: head 3 connected")
        gone = serial.count(r"hfx-guest: head 3 disconnected")
        rc, out = ctl(addr, "disable", "3")
        if rc != 0 or not serial.wait_for_count(r"hfx-guest: head 3 disconnected", gone + 1, 30):
            failed = "cycle %d: disable: %r, guest did not disconnect" % (i, out)
            break
        rc, out = ctl(addr, "enable", "3", "1280x720")
        if rc != 0 or not serial.wait_for_count(r"hfx-guest: head 3 connected", connected + 1,
                                                 30):
            failed = "cycle %d: enable: %r, guest did not connect" % (i, out)
            break
    elapsed = time.monotonic() - t0
    # The last hfx ctl's connection may still be open on the server's side.
    settle = time.monotonic() + 5
    after = proc_usage(run.pid)
    while before is not None and after[1] != before[1] and time.monotonic() < settle:
        time.sleep(0.2)
        after = proc_usage(run.pid)
    watcher.terminate()
    _, err = watcher.communicate(timeout=20)
    rates = [fps_of(l) for l in err.splitlines() if l.startswith("hfx sub:")][1:-1]
    ck("gl cycles", not failed and rates and min(rates) > 0,
       failed or "%d disable/enable cycles of GL head 3 in %.0f s; head 2's stream meanwhile: "
       "%d one-second windows, slowest %.1f fps" % (cycles, elapsed, len(rates),
                                                    min(rates) if rates else 0))
    if failed or before is None:
        return
    # Leaks: a head's copy is 3.5 MiB and its texture as much again, so 90
    # cycles leaking either would add 300 MiB or more. The exporter's threads
    # (hfx-*) must be the same ones; QEMU's and GLib's pools start and end
    # workers as they please (one more here once), so theirs may differ by a
    # few, where a thread leaked per cycle would add 90.
    grown = (after[0] - before[0]) / 1024
    ours = [[n for n in names if n.startswith("hfx-")] for names in (before[2], after[2])]
    others = [len(names) - len(o) for names, o in zip((before[2], after[2]), ours)]
    ck("gl no leak", after[1] == before[1] and ours[0] == ours[1] and
       abs(others[1] - others[0]) <= GL_POOL_SLACK and grown < 48,
       "QEMU from cycle 10 to %d: resident %+.1f MiB, fds %d -> %d, the exporter's %d threads "
       "%s, QEMU's own %d -> %d (%d may come and go)" %
       (cycles, grown, before[1], after[1], len(ours[0]),
        "the same" if ours[0] == ours[1] else "became: " + " ".join(ours[1]), others[0],
        others[1], GL_POOL_SLACK))
    # And head 3 still streams what the guest draws.
    rc, line = sub(addr, 3, 3, os.path.join(tmp, "gl-cycles-head3.264"), min_psnr=MIN_PSNR_GL)
    ck("gl after cycles", stream_ok(rc, line), "head 3: %s" % line)


# The GL kind: kmscube's heads (the others keep the demo's dumb buffers), and
# what its picture must show. Frames are compared at 160x120 (RGB).
KMSCUBE_HEADS = (1, 2)
KMSCUBE_SECONDS = 4
SMALL_W, SMALL_H = 160, 120
# The mean absolute difference (0-255, per channel) of frames a second apart:
# kmscube turns its cube by a fraction of a degree a frame, which makes 2-9
# at 30-45 fps, depending on the cube's position; two decodes of one still
# picture differ by 0 (and the exporter sends no frame for a picture that does
# not change, so a stalled kmscube leaves too few frames to compare).
MIN_MOTION = 0.5
MIN_LUMA_SPREAD = 8.0  # standard deviation of luma: 18-26 with the cube, 0 blank
MIN_COLOURFUL = 0.03   # share of pixels with a strong colour: 12-14% (the cube)


def small_frames(path):
    """Every frame of an H.264 file, decoded and scaled to SMALL_W x SMALL_H
    RGB24, and ffmpeg's complaints."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", "scale=%d:%d" % (SMALL_W,
                        SMALL_H), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                       capture_output=True, timeout=120)
    size = SMALL_W * SMALL_H * 3
    return ([r.stdout[i:i + size] for i in range(0, len(r.stdout) - size + 1, size)],
            r.stderr.decode(errors="replace").strip())


def picture_stats(f):
    """(luma standard deviation, share of strongly coloured pixels)."""
    lum = [(f[i] * 299 + f[i + 1] * 587 + f[i + 2] * 114) / 1000 for i in range(0, len(f), 3)]
    mean = sum(lum) / len(lum)
    spread = (sum((y - mean) ** 2 for y in lum) / len(lum)) ** 0.5
    colourful = sum(1 for i in range(0, len(f), 3)
                    if max(f[i:i + 3]) - min(f[i:i + 3]) > 48) / len(lum)
    return spread, colourful


def mean_abs_diff(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def check_kmscube(ck, tmp, addr, head, serial, since=0, size=None):
    """The kmscube started on head after console offset since renders through
    virgl, and the host decodes a moving picture of it (of that size)."""
    m = serial.wait_for(r'hfx-guest: kmscube head %d:\s+renderer: "([^"]*)"' % head, 60, since)
    renderer = m.group(1) if m else None
    # Its first rate report comes after 2 s of flips: from then on the head
    # shows the cube (before kmscube's modeset it shows nothing).
    if renderer is not None:
        serial.wait_for(r"hfx-guest: kmscube head %d: Rendered" % head, 30, since)
    path = os.path.join(tmp, "head%d-kmscube-%d.264" % (head, since))
    rc, line = sub(addr, head, KMSCUBE_SECONDS, path, check_workload=None)
    frames, errors = small_frames(path)
    got = re.search(r"scanout \d+: (\d+) frames", line)
    sent = int(got.group(1)) if got else -1
    # Frames a second apart (the stream's own rate), from the start.
    step = max(1, round(len(frames) / KMSCUBE_SECONDS))
    pairs = [(i, i + step) for i in range(0, len(frames) - step, step)]
    motion = [mean_abs_diff(frames[a], frames[b]) for a, b in pairs]
    stats = [picture_stats(frames[i]) for i in sorted({i for p in pairs for i in p})]
    rendered = re.findall(r"hfx-guest: kmscube head %d: Rendered \d+ frames in [\d.]+ sec "
                          r"\(([\d.]+) fps\)" % head, serial.text()[since:])
    last = last_frame_size(path)
    ok = (renderer is not None and renderer.startswith("virgl") and rc == 0 and not errors and
          (size is None or last == "%d,%d" % size) and
          len(frames) == sent and len(pairs) >= 2 and min(motion) >= MIN_MOTION and
          min(s[0] for s in stats) >= MIN_LUMA_SPREAD and
          min(s[1] for s in stats) >= MIN_COLOURFUL)
    ck("kmscube: head %d%s" % (head, " at %dx%d" % size if size else ""), ok,
       "renderer %r; %s; %d of %d frames decoded%s, the last %s; a second apart (%d frames) they "
       "differ by %s (>= %.1f); luma spread %s (>= %.0f), coloured %s (>= %.0f%%); kmscube's own "
       "rate %s fps" %
       (renderer, line, len(frames), sent, " (ffmpeg: %s)" % errors[-200:] if errors else "",
        last.replace(",", "x") or "none",
        step, ", ".join("%.1f" % x for x in motion) or "nothing", MIN_MOTION,
        ", ".join("%.0f" % s[0] for s in stats) or "-", MIN_LUMA_SPREAD,
        ", ".join("%.0f%%" % (100 * s[1]) for s in stats) or "-", 100 * MIN_COLOURFUL,
        rendered[-1] if rendered else "never reported"))


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
                                     "in-qemu-gl", "in-qemu-gl-egl-headless", "in-qemu-arm64",
                                     "in-qemu-gl-arm64"]
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
            for kind in ("in-qemu", "in-qemu-gl", "in-qemu-gl-egl-headless"):
                if kind in kinds and os.environ.get("HFX_QEMU"):
                    if "-gl" in kind:
                        subprocess.run([os.path.join(GUEST, "build"), "--gl"], check=True,
                                       stdout=subprocess.DEVNULL)
                    test_heads(tmp, kind)
            # The reference's shape: an arm64 guest on the virt machine.
            for kind in ("in-qemu-arm64", "in-qemu-gl-arm64"):
                if kind in kinds and os.environ.get("HFX_QEMU_AARCH64"):
                    subprocess.run([os.path.join(GUEST, "build"), "--arch", "arm64",
                                    *(["--gl"] if "-gl" in kind else [])], check=True,
                                   stdout=subprocess.DEVNULL)
                    test_heads(tmp, kind)
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
