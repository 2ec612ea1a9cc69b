#!/usr/bin/env python3
"""End-to-end: real compositors on leased heads. The desktop guest
(guest/build --desktop) runs hfx-drm-manager and guest/desktop/desktops,
which starts three desktops, each weston (DRM backend, pixman renderer,
kiosk shell) with foot printing the time every 100 ms, each through
hfx-lease-launcher on its own head, under `hfx run` with Debian's QEMU (TCG,
5 heads, each head's own keyboard). On the host:

  desktops   each desktop's head streams with its own token, and the decoded
             picture changes (the terminal's text); lease-to-first-frame, the
             share of frames the hybrid writer coded, the bitrate and the
             exporter's CPU per desktop are measured while the terminals print
  tokens     desktop 1's token cannot subscribe to desktop 2's head
  kill       desktop 1's compositor is SIGKILLed: its head is off on the
             exporter and its stream ended within 1 s (host clock, from the
             guest's kill line on the console), the manager's release within
             1 s of the kill (guest clock)
  again      a new launcher gets a head, and its picture changes too
  manager gone  the lease manager is SIGKILLed: every launcher notices, stops
             its compositor and exits 3; the guest ends cleanly

With the argument `cage-gl`, the desktops are cage (wlroots 0.15, its GLES2
renderer on Mesa's virgl) with foot, on virtio-gpu-gl-pci, inside the
in-QEMU build (HFX_QEMU, `scripts/build-qemu`; its GL scanouts read back by
the exporter on llvmpipe); the exporter's CPU is then its threads' (hfx-*)
in QEMU's process.

Skipped (exit 77) without qemu-system-x86_64 (HFX_QEMU for cage-gl) or when
the desktop guest cannot be built (Debian's archive out of reach).
Environment: HFX_BIN, HFX_QEMU. Everything started here is killed at the
end.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_qemu as vm  # noqa: E402  (the QEMU/guest/exporter helpers)

HEADS = 5
COUNT = 3
SIZE = (800, 600)
SECONDS = 18          # the guest's pause after "sync desktops-up" and "...-again"
BOUND_MS = 1000       # a killed desktop's head off and stream ended
MIN_CHANGES = 5       # distinct pictures a desktop's stream must show
SMALL = (320, 240)  # 800x600 scaled: foot's 8 px text stays a few grey pixels tall


KIND = "weston"


def qemu_args(port, serial):
    run = "--count %d --size %dx%d --seconds %d --kinds %s" % (COUNT, *SIZE, SECONDS, KIND)
    append = ("hfx.desktop=1 hfx.manager=1 hfx.manager_args=--host,tcp:10.0.2.2:%d,"
              "--socket,/gl/run/helix-drm/drm.sock" % port)
    return vm.guest_qemu_args("--desktop", "--input", "--heads", str(HEADS), "--net", "--mem",
                              "1536", "--run", run, "--append", append, "--serial", serial)


def stats(addr):
    """{head: scanout stats} from the exporter, or {}."""
    return vm.scanout_stats(addr) or {}


def cpu_seconds(pid):
    """The exporter's CPU: `hfx run`'s process, or in QEMU (cage-gl) the
    exporter's threads (hfx-*)."""
    tasks = ["/proc/%d" % pid] if KIND != "cage-gl" else \
        [t for t in ("/proc/%d/task/%s" % (pid, n) for n in os.listdir("/proc/%d/task" % pid))
         if open(t + "/comm").read().startswith("hfx-")]
    ticks = 0
    for t in tasks:
        with open(t + "/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure_window(addr, pid, heads, seconds):
    """While the terminals print: each desktop's ({i: head}) frames, the share
    the hybrid writer coded and the bitrate (the exporter's STATS), and the
    exporter's CPU (process pid), over `seconds`; logged. Returns
    ({i: (frames, writer share 0..1, kbit/s)}, CPU % of one core per desktop)."""
    st0, cpu0, t0 = stats(addr), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    st1, cpu1, t1 = stats(addr), cpu_seconds(pid), time.monotonic()
    span = t1 - t0
    cpu_share = (cpu1 - cpu0) / span * 100
    out = {}
    for i, head in sorted(heads.items()):
        a, b = st0.get(head, {}), st1.get(head, {})
        frames = b.get("frames", 0) - a.get("frames", 0)
        writer = b.get("writer_frames", 0) - a.get("writer_frames", 0)
        kbit = (b.get("bytes", 0) - a.get("bytes", 0)) * 8 / span / 1000
        out[i] = (frames, writer / frames if frames else 0, kbit)
        vm.log("     desktop %d head %d: %d frames in %.1f s (%.1f fps), writer %d (%.0f%%), "
               "%.0f kbit/s" % (i, head, frames, span, frames / span, writer,
                                100 * out[i][1], kbit))
    per = cpu_share / len(heads)
    vm.log("     exporter (%s) CPU over the window: %.1f%% of one core, %.2f%% per desktop"
           % ("hfx run" if KIND != "cage-gl" else "its threads in QEMU", cpu_share, per))
    return out, per


def exporter(tmp, addr, port, serial):
    """hfx run around Debian's QEMU, or (cage-gl) the in-QEMU build with GL
    heads; the manager's control token through fw_cfg either way."""
    qemu = qemu_args(port, serial.path)
    if KIND != "cage-gl":
        return vm.spawn([vm.HFX, "run", "--listen", addr + ",v1=off", "--secret-file",
                         vm.SECRET, "--", "qemu-system-x86_64", *qemu],
                        stdout=open(os.path.join(tmp, "hfx-run.log"), "w"),
                        stderr=subprocess.STDOUT)
    token = os.path.join(tmp, "control-token")
    with open(token, "w") as f:
        f.write(vm.TOKEN + "\n")
    return vm.spawn([os.environ["HFX_QEMU"], *vm.gl_device(qemu), "-display", "none",
                     "-fw_cfg", "name=opt/helix-frame-export/control-token,file=" + token,
                     "-object", "helix-frame-export,id=hfx0,listen=%s,,v1=off,secret-file=%s,"
                     "gl=on,rendernode=/dev/null" % (addr, vm.SECRET)],
                    stdout=open(os.path.join(tmp, "qemu.log"), "w"), stderr=subprocess.STDOUT)


class Watcher:
    """hfx sub on one head with a token, into a Matroska file (frames at the
    exporter's times); ended by the stream's end or the duration."""

    def __init__(self, tmp, addr, head, token, seconds, tag):
        self.path = os.path.join(tmp, "%s-head%d.mkv" % (tag, head))
        self.head = head
        self.t_start = time.monotonic()
        self.t_end = None
        self.p = vm.spawn([vm.HFX, "sub", "--connect", addr, "--scanout", str(head), "--token",
                           token, "--duration", str(seconds), "--output", "/dev/null",
                           "--mux", self.path], stdout=subprocess.DEVNULL,
                          stderr=open(self.path + ".log", "w"))
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self):
        self.p.wait()
        self.t_end = time.monotonic()

    def done(self, timeout):
        end = time.monotonic() + timeout
        while self.t_end is None and time.monotonic() < end:
            time.sleep(0.01)
        return self.t_end is not None


def frames_of(path):
    """[(pts seconds, small grey picture bytes)] of a Matroska file."""
    if not os.path.exists(path):
        return []
    pts = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", path],
                         capture_output=True, text=True).stdout.split()
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", "scale=%d:%d" % SMALL,
                          "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, timeout=120).stdout
    n = SMALL[0] * SMALL[1]
    pics = [raw[i:i + n] for i in range(0, len(raw) - n + 1, n)]
    times = []
    for p in pts:
        try:
            times.append(float(p))
        except ValueError:
            times.append(None)
    return list(zip(times, pics))


def has_text(pic):
    """Light text on the terminal's dark ground: a line's worth of lit pixels
    (the cursor alone lights about 20; one line of the time about 80)."""
    return sum(1 for b in pic if b > 60) >= 60


def first_text_at(w, frames):
    """When (host clock) the first frame with text was drawn, or None: the
    subscriber's start (its first frame follows at once: a new subscriber
    gets a keyframe) plus the exporter's time from that frame to the first
    with text."""
    text = [f for f in frames if has_text(f[1])]
    if not text or frames[0][0] is None or text[0][0] is None:
        return None
    return w.t_start + (text[0][0] - frames[0][0])


def picture_changes(frames):
    """How many times the decoded picture changed (terminal text moving)."""
    return sum(1 for a, b in zip(frames, frames[1:]) if a[1] != b[1])


def run(tmp):
    port = vm.free_port()
    addr = "tcp:127.0.0.1:%d" % port
    serial = vm.Serial(os.path.join(tmp, "desktops.serial"))
    t_start = time.monotonic()
    hfx = exporter(tmp, addr, port, serial)

    # desktops: each one's head and token, its stream watched from then on.
    desks, watchers = {}, {}
    lease_seen = {}
    end = time.monotonic() + 120
    while len(desks) < COUNT and time.monotonic() < end:
        for m in re.finditer(r"head (\d+) connector \S+ \S+ leased",
                             serial.text()):
            lease_seen.setdefault(int(m.group(1)), time.monotonic())
        for m in re.finditer(r"hfx-guest: desktop (\d+) head (\d+) token (\S+)", serial.text()):
            i, head, token = int(m.group(1)), int(m.group(2)), m.group(3)
            if i not in desks:
                desks[i] = (head, token)
                watchers[i] = Watcher(tmp, addr, head, token, 120, "up")
        time.sleep(0.05)
    vm.check("desktops leased", len(desks) == COUNT,
             "%d of %d desktops got a head and a token: %s (%.1f s after QEMU started)" %
             (len(desks), COUNT, {i: d[0] for i, d in desks.items()},
              time.monotonic() - t_start))
    if len(desks) < COUNT:
        return
    heads = {d[0] for d in desks.values()}
    vm.check("own heads", len(heads) == COUNT and 0 not in heads,
             "heads %s (head 0 is the console's)" % sorted(heads))

    # tokens: desktop 1's token on desktop 2's head.
    r = subprocess.run([vm.HFX, "sub", "--connect", addr, "--scanout", str(desks[2][0]),
                        "--token", desks[1][1], "--frames", "1", "--duration", "3",
                        "--output", "/dev/null"], capture_output=True, text=True, timeout=30)
    vm.check("tokens", r.returncode != 0,
             "desktop 1's token on desktop 2's head %d: exit %d, %s" %
             (desks[2][0], r.returncode, r.stderr.strip().splitlines()[-1:] or "no output"))

    # The steady window: while the terminals print.
    s = serial.wait_for(r"hfx-guest: sync desktops-up", 60)
    if not s:
        vm.check("sync", False, "no sync desktops-up")
        return
    # The kill's watcher: with the control token, whose stream the exporter
    # ends when the head goes off (a desktop's own token is revoked first,
    # which stops its frames but leaves the connection open; see the kill
    # check's note).
    killw = Watcher(tmp, addr, desks[1][0], vm.TOKEN, 120, "control")
    time.sleep(4)  # weston and foot start (tens of seconds of TCG at worst)
    measure_window(addr, hfx.pid, {i: d[0] for i, d in desks.items()}, SECONDS - 7)

    # kill: desktop 1's compositor; its head goes off and its stream ends.
    k = serial.wait_for(r"hfx-guest: desktop 1 kill pid (\d+) head (\d+) at ([\d.]+)", 30)
    t_kill = time.monotonic()
    if not k:
        vm.check("kill", False, "no kill line")
        return
    head = int(k.group(2))
    w = killw
    off_at = None
    while time.monotonic() < t_kill + 5 and (off_at is None or w.t_end is None):
        st = stats(addr) if off_at is None else {}
        if st and not st.get(head, {}).get("enabled", True):
            off_at = time.monotonic()
        time.sleep(0.02)
    ended = w.t_end is not None
    rel = serial.wait_for(r"hfx-drm-manager: ([\d.]+) release head %d " % head, 5)
    guest_ms = (float(rel.group(1)) - float(k.group(3))) * 1000 if rel else None
    stream_ms = (w.t_end - t_kill) * 1000 if ended else None
    off_ms = (off_at - t_kill) * 1000 if off_at else None
    vm.check("kill", ended and off_at is not None and stream_ms <= BOUND_MS and
             off_ms <= BOUND_MS and guest_ms is not None and guest_ms <= BOUND_MS,
             "desktop 1 (head %d) SIGKILLed: the manager released it %s after (guest clock); "
             "the host saw the head off %s and the stream end %s after the kill line" %
             (head, "%.0f ms" % guest_ms if guest_ms is not None else "never",
              "%.0f ms" % off_ms if off_ms is not None else "NOT",
              "%.0f ms" % stream_ms if stream_ms is not None else "NOT"))
    own = watchers[1]
    own.done(1)
    with open(own.path + ".log") as f:
        own_log = f.read()
    vm.log("     desktop 1's own-token subscriber: %s" %
           ("ended %.0f ms after the kill line" % ((own.t_end - t_kill) * 1000) if own.t_end
            else "told of an error (the token revoked), connection still open"
            if "reported an error" in own_log else "no frames since, connection still open"))

    # again: a new launcher gets a head.
    m = serial.wait_for(r"hfx-guest: desktop %d head (\d+) token (\S+)" % (COUNT + 1), 60)
    if m:
        desks[COUNT + 1] = (int(m.group(1)), m.group(2))
        watchers[COUNT + 1] = Watcher(tmp, addr, int(m.group(1)), m.group(2), SECONDS - 2,
                                      "again")
    vm.check("again", m is not None, "desktop %d got head %s" %
             (COUNT + 1, m.group(1) if m else "none"))

    done = serial.wait_for(r"hfx-guest: exit (\d+)", SECONDS + 60)
    for w in watchers.values():
        if w.t_end is None:
            w.p.terminate()
            w.done(10)

    # What each stream showed: the terminal's text, changing.
    for i, (head, _) in sorted(desks.items()):
        w = watchers.get(i)
        frames = frames_of(w.path) if w else []
        changes = picture_changes(frames)
        text = [f for f in frames if has_text(f[1])]
        first = ""
        t_text = first_text_at(w, frames) if head in lease_seen and i <= COUNT else None
        if t_text is not None:
            first = "; lease to the first frame with text about %.1f s" % (
                t_text - lease_seen[head])
        vm.check("desktop %d pictures" % i, changes >= MIN_CHANGES and len(text) > 0,
                 "head %d: %d frames decoded, the picture changed %d times, %d with text%s" %
                 (head, len(frames), changes, len(text), first))

    # manager gone: the launchers still running stop their desktops, exit 3.
    text = serial.text()
    exits = dict(re.findall(r"hfx-guest: desktop (\d+) launcher exit (\d+)", text))
    gone = re.findall(r"hfx-lease-launcher: ([\d.]+) head (\d+): the lease manager went away",
                      text)
    mk = re.search(r"hfx-guest: manager kill pid \d+ at ([\d.]+)", text)
    late = max((float(t) for t, _ in gone), default=0) - float(mk.group(1)) if mk else None
    survivors = [str(i) for i in range(2, COUNT + 2)]
    # (Exit 3 is the launcher's "the manager went away"; its line may be cut
    # by another process's on the shared console, so the lines only time it.)
    vm.check("manager gone", mk is not None and all(exits.get(i) == "3" for i in survivors),
             "manager SIGKILLed; %d launchers' lines read, the last %s after (guest clock); "
             "launchers' exits %s" % (len(gone), "%.0f ms" % (late * 1000)
                                      if late is not None else "?", exits))
    vm.check("exit", done is not None and done.group(1) == "0",
             "guest %s; %.0f s in all" %
             ("exit " + done.group(1) if done else "did not end", time.monotonic() - t_start))
    if vm.failures:
        vm.log("serial console:\n" + serial.text()[-6000:])


def main():
    global KIND
    KIND = sys.argv[1] if len(sys.argv) > 1 else "weston"
    if KIND == "cage-gl" and not os.environ.get("HFX_QEMU"):
        vm.log("SKIP: cage-gl runs in the in-QEMU build: set HFX_QEMU (scripts/build-qemu)")
        return 77
    if shutil.which("qemu-system-x86_64") is None:
        vm.log("SKIP: no qemu-system-x86_64")
        return 77
    b = subprocess.run([os.path.join(vm.GUEST, "build"), "--desktop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if b.returncode != 0:
        vm.log("SKIP: guest/build --desktop failed:\n" + b.stderr[-1500:])
        return 77
    return vm.run_in_tmp("hfx-e2e-desktops-", run, "desktop")


if __name__ == "__main__":
    sys.exit(main())
