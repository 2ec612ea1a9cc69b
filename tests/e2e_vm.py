#!/usr/bin/env python3
"""End-to-end: the provisioned Debian 12 VM (scripts/provision-vm) under
scripts/vm, with the exporter attached (hfx run, stock QEMU 10.0.2, TCG).

  provision  scripts/provision-vm into a cache keyed by its inputs
             (HFX_VM_E2E_DIR, default ~/.cache/hfx-vm-e2e): from nothing a few
             minutes, after that seconds. The cached VM is never booted: the
             test boots a copy whose disk is a qcow2 overlay on it
  start      scripts/vm start under TCG; boot to SSH, and boot to the first
             1920x1080 frame of head 0 (the console) decoded by ffmpeg from
             hfx sub's stream
  checks     over SSH: systemd is running, hfx-drm-manager is active, the NIC
             (virtio_net) has its DHCP address, Docker's data root is on ext4;
             systemctl kill -s KILL hfx-drm-manager: systemd starts it again
  desktop    hfx-lease-launcher runs weston with foot printing the time on a
             leased head; the host decodes that head, its picture changing;
             SIGTERM to the launcher gives the head back (skipped when the VM
             has the launcher's stand-in)
  stop       scripts/vm stop: the guest powers off through ACPI and QEMU exits 0
             within the timeout
  resize     scripts/vm resize +2G, start again: the root file system is larger

Skipped (exit 77) without root, mmdebstrap, QEMU, ffmpeg or the hfx binary.
Times are printed as `time NAME S` lines (docs/benchmarks.md).
Environment: HFX_BIN, HFX_VM_E2E_DIR.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HFX = os.environ.get("HFX_BIN", os.path.join(TOP, "build", "hfx"))
CACHE = os.environ.get("HFX_VM_E2E_DIR", os.path.expanduser("~/.cache/hfx-vm-e2e"))
NAME = "e2e"
STOP_TIMEOUT = 120
FRAME_TIMEOUT = 240


def log(msg):
    print(msg, flush=True)


def run(args, timeout=None, check=True, env=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def prerequisites():
    missing = []
    if os.geteuid() != 0:
        missing.append("root (provision-vm unpacks the root file system with its owners)")
    for prog in ("mmdebstrap", "qemu-img", "qemu-system-x86_64", "ffmpeg", "ssh", "mkfs.ext4"):
        if not shutil.which(prog):
            missing.append(prog)
    if not os.access(HFX, os.X_OK):
        missing.append(HFX)
    return missing


class VM:
    def __init__(self, vm_dir):
        self.vm_dir = vm_dir
        self.env = dict(os.environ, HFX_VM_DIR=vm_dir, HFX_BIN=HFX)

    def vm(self, *args, timeout=600, check=True):
        return run([os.path.join(TOP, "scripts", "vm"), *args], timeout=timeout, check=check,
                   env=self.env)

    def ssh(self, cmd, check=True):
        return self.vm("ssh", NAME, cmd, timeout=120, check=check).stdout.strip()

    def ports(self):
        p = os.path.join(self.vm_dir, NAME, "run", "ports")
        return dict(l.split("=", 1) for l in open(p).read().split())


def clone(src, dst):
    """The cached VM's files, its disk as an overlay (the cache stays unbooted)."""
    os.makedirs(dst)
    for f in os.listdir(src):
        p = os.path.join(src, f)
        if os.path.isfile(p) and f != "disk.qcow2":
            shutil.copy2(p, dst)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
         os.path.join(src, "disk.qcow2"), os.path.join(dst, "disk.qcow2")])


def sps_size(rbsp):
    """(width, height) from an H.264 SPS (the bytes after its NAL header)."""
    data = rbsp.replace(b"\x00\x00\x03", b"\x00\x00")
    bits = "".join("{:08b}".format(b) for b in data[:64])
    pos = 0

    def u(n):
        nonlocal pos
        v = int(bits[pos:pos + n], 2) if n else 0
        pos += n
        return v

    def ue():
        nonlocal pos
        z = 0
        while bits[pos] == "0":
            z, pos = z + 1, pos + 1
        pos += 1
        return (1 << z) - 1 + u(z)

    def se():
        v = ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)

    profile = u(8)
    u(16)
    ue()
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if ue() == 3:
            u(1)
        ue(), ue(), u(1)
        if u(1):
            raise ValueError("SPS with scaling matrices")
    ue()
    poc = ue()
    if poc == 0:
        ue()
    elif poc == 1:
        u(1), se(), se()
        for _ in range(ue()):
            se()
    ue(), u(1)
    w, h = ue() + 1, ue() + 1
    frame_mbs_only = u(1)
    if not frame_mbs_only:
        u(1)
    u(1)
    crop = [ue() for _ in range(4)] if u(1) else [0, 0, 0, 0]
    return (w * 16 - 2 * (crop[0] + crop[1]),
            (2 - frame_mbs_only) * (h * 16 - 2 * (crop[2] + crop[3])))


class FirstFrame(threading.Thread):
    """Once the exporter listens: hfx sub on head 0, its stream kept in a file;
    the time the first keyframe at the console's size (1920x1080) arrives,
    read from its SPS (a raw H.264 decoder shows a frame only when the next
    one begins, which a still console may never send). The file is decoded
    afterwards (decoded_frames)."""

    def __init__(self, port, t0, path):
        super().__init__(daemon=True)
        self.port, self.t0, self.path, self.at = int(port), t0, path, None
        self.sub, self.done = None, False

    def run(self):
        while not self.done:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        if self.done:
            return
        self.sub = subprocess.Popen([HFX, "sub", "--connect", "tcp:127.0.0.1:%d" % self.port,
                                     "--scanout", "0", "--reconnect", "--quiet", "--output", "-"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        buf = b""
        with open(self.path, "wb") as out:
            while True:
                chunk = self.sub.stdout.read1(1 << 16)
                if not chunk:
                    return
                out.write(chunk)
                if self.at is not None:
                    continue
                buf += chunk
                for m in re.finditer(b"\x00\x00\x01\x67", buf):
                    try:
                        size = sps_size(buf[m.end():m.end() + 64])
                    except (IndexError, ValueError):
                        break  # cut short: wait for more
                    if size == (1920, 1080):
                        self.at = time.monotonic() - self.t0
                        break
                buf = buf[-64:]

    def stop(self):
        self.done = True
        if self.sub:
            self.sub.kill()
            self.sub.wait()

    def decoded_frames(self):
        """Frames FFmpeg decodes at 1920x1080 from the recorded stream."""
        r = run(["ffmpeg", "-hide_banner", "-nostats", "-f", "h264", "-i", self.path,
                 "-vf", "showinfo", "-f", "null", "-"], check=False)
        return r.stderr.count(" s:1920x1080 ")


def boot(v, label):
    """scripts/vm start; returns (seconds to SSH, seconds to head 0's first frame)."""
    ports = os.path.join(v.vm_dir, NAME, "run", "ports")
    if os.path.exists(ports):
        os.unlink(ports)  # the last start's (vm start writes the new one)
    t0 = time.monotonic()
    start = subprocess.Popen([os.path.join(TOP, "scripts", "vm"), "start", NAME,
                              "--accel", "tcg", "--ssh-timeout", "400"],
                             env=v.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not os.path.exists(ports) and start.poll() is None:
        time.sleep(0.05)
    ff = None
    if os.path.exists(ports):
        ff = FirstFrame(v.ports()["exporter_port"], t0, os.path.join(v.vm_dir, "head0-%s.264" % label))
        ff.start()
    out, err = start.communicate()
    if start.returncode != 0:
        raise RuntimeError("vm start: %s" % err)
    t_ssh = time.monotonic() - t0
    log("time %s_boot_to_ssh %.1f" % (label, t_ssh))
    end = time.monotonic() + FRAME_TIMEOUT
    while ff and ff.at is None and time.monotonic() < end:
        time.sleep(0.2)
    t_frame = ff.at if ff else None
    if ff:
        time.sleep(1)
        ff.stop()
    if t_frame is None:
        raise RuntimeError("no 1920x1080 keyframe of head 0 arrived")
    log("time %s_boot_to_head0_frame %.1f" % (label, t_frame))
    n = ff.decoded_frames()
    if n < 1:
        raise RuntimeError("FFmpeg decoded no 1920x1080 frame of head 0")
    log("ok head 0: FFmpeg decoded %d frames at 1920x1080" % n)
    return t_ssh, t_frame


def check_guest(v):
    # Polled: `is-system-running --wait` as a user over SSH sometimes never
    # returned (without logind), although the state was already "running".
    end = time.monotonic() + 180
    st = v.ssh("systemctl is-system-running", check=False)
    while st in ("initializing", "starting") and time.monotonic() < end:
        time.sleep(1)
        st = v.ssh("systemctl is-system-running", check=False)
    if st != "running":
        failed = v.ssh("systemctl --failed --no-legend --plain", check=False)
        raise RuntimeError("systemd is %r; failed units: %s" % (st, failed))
    log("ok systemd running")
    if v.ssh("systemctl is-active hfx-drm-manager", check=False) != "active":
        raise RuntimeError("hfx-drm-manager not active:\n" +
                           v.ssh("systemctl status --no-pager hfx-drm-manager", check=False))
    log("ok hfx-drm-manager active")
    nic = v.ssh("for i in /sys/class/net/*; do [ \"$(basename $(readlink -f $i/device/driver) 2>/dev/null)\" "
                "= virtio_net ] && basename $i; done; true")
    addr = v.ssh("ip -4 -o addr show dev %s" % nic)
    lease = v.ssh("networkctl status %s --no-pager" % nic, check=False)
    if "10.0.2.15" not in addr or "dynamic" not in addr:
        raise RuntimeError("NIC %s has no DHCP address: %s\n%s" % (nic, addr, lease))
    log("ok %s (virtio_net) DHCP %s" % (nic, re.search(r"inet (\S+)", addr).group(1)))
    root = v.ssh("sudo docker info -f '{{.DockerRootDir}} {{.Driver}}'")
    fstype = v.ssh("findmnt -n -o FSTYPE --target %s" % root.split()[0])
    if fstype != "ext4" or root.split()[1] != "overlay2":
        raise RuntimeError("docker data root %s on %s" % (root, fstype))
    log("ok docker %s on %s" % (root, fstype))
    pid0 = v.ssh("systemctl show -P MainPID hfx-drm-manager")
    v.ssh("sudo systemctl kill -s KILL hfx-drm-manager")
    end = time.monotonic() + 30
    while True:
        pid = v.ssh("systemctl show -P MainPID hfx-drm-manager")
        active = v.ssh("systemctl is-active hfx-drm-manager", check=False)
        if active == "active" and pid not in ("0", pid0):
            break
        if time.monotonic() > end:
            raise RuntimeError("hfx-drm-manager did not come back after SIGKILL (%s, pid %s)" % (active, pid))
        time.sleep(0.5)
    log("ok hfx-drm-manager restarted after SIGKILL (pid %s -> %s)" % (pid0, pid))


DESKTOP_SIZE = (1280, 800)


def check_desktop(v):
    """hfx-lease-launcher starts weston (pixman, kiosk shell) with foot printing
    the time every 100 ms on a leased head; the host decodes that head at the
    lease's size with changing pictures; SIGTERM gives the head back."""
    if v.ssh("head -c 4 /usr/local/bin/hfx-lease-launcher | tail -c 3") != "ELF":
        log("SKIP desktop: hfx-lease-launcher is not in this VM")
        return
    v.ssh("sudo rm -f /run/user/1000/helix-scanout-id; sudo sh -c 'env -i PATH=/usr/local/bin:/usr/bin:/bin "
          "nohup hfx-lease-launcher --user helix --size %dx%d --compositor-log /tmp/weston.log -- "
          "weston --backend=drm-backend.so --use-pixman --drm-device=card0 --shell=kiosk-shell.so "
          "--config=/etc/hfx/weston-clock.ini --socket=wayland-1 >/tmp/launcher.log 2>&1 &'"
          % DESKTOP_SIZE)
    head = None
    end = time.monotonic() + 60
    while head is None and time.monotonic() < end:
        head = v.ssh("cat /run/user/1000/helix-scanout-id 2>/dev/null; true") or None
        time.sleep(0.5)
    if head is None:
        raise RuntimeError("the launcher got no head:\n" + v.ssh("cat /tmp/launcher.log /tmp/weston.log"))
    time.sleep(3)  # weston's first frame, foot's first lines
    path = os.path.join(v.vm_dir, "desktop.264")
    run([HFX, "sub", "--connect", "tcp:127.0.0.1:%s" % v.ports()["exporter_port"], "--scanout", head,
         "--quiet", "--output", path, "--duration", "4"], timeout=30, check=False)
    r = run(["ffmpeg", "-hide_banner", "-nostats", "-f", "h264", "-i", path, "-vf", "showinfo",
             "-f", "null", "-"], check=False)
    sized = r.stderr.count(" s:%dx%d " % DESKTOP_SIZE)
    sums = set(re.findall(r"checksum:(\w+)", r.stderr))
    if sized < 5 or len(sums) < 3:
        raise RuntimeError("head %s: %d frames at %dx%d, %d different pictures\n%s" % (
            head, sized, DESKTOP_SIZE[0], DESKTOP_SIZE[1], len(sums), v.ssh("cat /tmp/launcher.log")))
    log("ok desktop: weston and foot on leased head %s, %d frames decoded at %dx%d, %d different"
        % (head, sized, DESKTOP_SIZE[0], DESKTOP_SIZE[1], len(sums)))
    v.ssh("sudo pkill -TERM -f ^hfx-lease-launcher; true")
    end = time.monotonic() + 15
    while "given back" not in v.ssh("cat /tmp/launcher.log"):
        if time.monotonic() > end:
            raise RuntimeError("the launcher did not give head %s back:\n%s" % (head, v.ssh("cat /tmp/launcher.log")))
        time.sleep(0.5)
    log("ok desktop: head %s given back after SIGTERM" % head)


def stop(v):
    t0 = time.monotonic()
    v.vm("stop", NAME, "--timeout", str(STOP_TIMEOUT), timeout=STOP_TIMEOUT + 30)
    took = time.monotonic() - t0
    status = open(os.path.join(v.vm_dir, NAME, "run", "exit-status")).read().strip()
    if status != "0" or took >= STOP_TIMEOUT:
        raise RuntimeError("vm stop: QEMU's exit status %s after %.1f s" % (status, took))
    log("ok vm stop: QEMU exited 0 after %.1f s" % took)
    log("time shutdown %.1f" % took)


def main():
    missing = prerequisites()
    if missing:
        log("SKIP: missing " + ", ".join(missing))
        return 77
    os.makedirs(CACHE, exist_ok=True)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(TOP, "scripts", "provision-vm"), "--name", NAME,
                        "--vm-dir", CACHE, "--heads", "2", "--disk-size", "8G",
                        "--rebuild-if-changed"],
                       stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log("FAIL provision-vm exit %d" % r.returncode)
        return 1
    log("time provision %.1f" % (time.monotonic() - t0))
    tmp = tempfile.mkdtemp(prefix="hfx-e2e-vm-")
    v = VM(tmp)
    try:
        clone(os.path.join(CACHE, NAME), os.path.join(tmp, NAME))
        boot(v, "first")
        check_guest(v)
        check_desktop(v)
        size0 = int(v.ssh("df -B1 --output=size / | tail -n 1"))
        stop(v)
        v.vm("resize", NAME, "+2G")
        boot(v, "resized")
        size1 = int(v.ssh("df -B1 --output=size / | tail -n 1"))
        if size1 < size0 + 1.5 * 2**30:
            raise RuntimeError("root file system %d bytes after resize, %d before" % (size1, size0))
        log("ok resize: / grew from %.2f to %.2f GiB" % (size0 / 2**30, size1 / 2**30))
        stop(v)
    except Exception as e:  # noqa: BLE001 (report and fail)
        log("FAIL %s" % e)
        serial = os.path.join(tmp, NAME, "serial.log")
        if os.path.exists(serial):
            log("serial console (last lines):\n" + "\n".join(
                [l for l in open(serial, errors="replace").read().splitlines() if l.strip()][-30:]))
        v.vm("stop", NAME, "--timeout", "20", check=False, timeout=60)
        return 1
    finally:
        if os.environ.get("HFX_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
