#!/usr/bin/env python3
"""Drop-in compatibility test: the deployed HXFR clients against `hfx serve`.

The two clients in the field (the subscriber and the guest's display-manager
control client) cannot be changed, so this file re-implements them exactly as
/work/shared/reference/hxfr-v1.md describes them, byte for byte, with nothing
but the standard library, and drives the real binary ($HFX_BIN) with them.

Every wait is bounded and every server started here is killed in a finally
block, so the test cannot hang or leave processes behind. Exit status 0 only
if every check passed; each check prints what it measured.
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from proc_cpu import free_port  # noqa: E402,F401  (re-exported to the other tests)

# ---- wire format (reference: "Header", "Message types", "Payloads") ----

MAGIC = 0x52465848
HEADER = struct.Struct("<IBBHI")  # magic, msg_type, flags, session_id, payload_size
HEADER_SIZE = HEADER.size          # 12

FRAME_REQUEST = 0x01
FRAME_RESPONSE = 0x02
KEYFRAME_REQ = 0x03
CONFIG_REQ = 0x04
CONFIG_RESP = 0x05
PING = 0x10
PONG = 0x11
ENABLE_SCANOUT = 0x20
DISABLE_SCANOUT = 0x21
SCANOUT_RESP = 0x22
SUBSCRIBE = 0x30
SUBSCRIBE_RESP = 0x31
ERROR = 0xFF

TYPE_NAMES = {
    FRAME_REQUEST: "FRAME_REQUEST", FRAME_RESPONSE: "FRAME_RESPONSE",
    KEYFRAME_REQ: "KEYFRAME_REQ", CONFIG_REQ: "CONFIG_REQ", CONFIG_RESP: "CONFIG_RESP",
    PING: "PING", PONG: "PONG", ENABLE_SCANOUT: "ENABLE_SCANOUT",
    DISABLE_SCANOUT: "DISABLE_SCANOUT", SCANOUT_RESP: "SCANOUT_RESP",
    SUBSCRIBE: "SUBSCRIBE", SUBSCRIBE_RESP: "SUBSCRIBE_RESP", ERROR: "ERROR",
}

# Fixed sizes of the server's messages, so a reader can tell a whole message
# from a cut one without trusting the server's own payload_size.
SERVER_FIXED_PAYLOAD = {
    CONFIG_RESP: 28, PONG: 0, SCANOUT_RESP: 72, SUBSCRIBE_RESP: 8, ERROR: 260,
}
FRAME_FIXED = 28          # FRAME_RESPONSE payload before the access unit
MAX_FRAME_PAYLOAD = 64 << 20

START_CODE = b"\x00\x00\x00\x01"

ADDR = "127.0.0.1"

# Output of an ASan/UBSan build when something went wrong in the server.
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def type_name(t):
    return TYPE_NAMES.get(t, "0x%02x" % t)


class CheckFailed(Exception):
    """A compatibility check failed; the message says what and why."""


class StreamEnded(Exception):
    """The peer closed the connection (cleanly, at a message boundary)."""


def header(msg_type, session_id, payload_size, magic=MAGIC, flags=0):
    return HEADER.pack(magic, msg_type, flags, session_id & 0xFFFF, payload_size & 0xFFFFFFFF)


def subscribe_msg(scanout):
    # Deployed clients put the scanout id in session_id too (reference).
    return header(SUBSCRIBE, scanout, 4) + struct.pack("<I", scanout)


def config_msg(scanout, bitrate):
    # 60/1, profile 66 (baseline), level 40, realtime: what deployed clients send.
    return header(CONFIG_REQ, scanout, 28) + struct.pack(
        "<IIIIIBBB5x", 0, 0, bitrate, 60, 1, 66, 40, 1)


def keyframe_msg(scanout):
    # The reference gives KEYFRAME_REQ no payload layout: header only.
    return header(KEYFRAME_REQ, scanout, 0)


def ping_msg(scanout):
    return header(PING, scanout, 0)


def enable_msg(scanout, width, height, refresh):
    return header(ENABLE_SCANOUT, scanout, 16) + struct.pack(
        "<IIII", scanout, width, height, refresh)


def disable_msg(scanout):
    return header(DISABLE_SCANOUT, scanout, 4) + struct.pack("<I", scanout)


# ---- a bounded, buffered reader ----

class Reader:
    """Reads whole messages from a socket with a deadline on every read.

    It keeps every byte it received, so at EOF it can say whether the stream
    ended on a message boundary (the server must never cut a message)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out") from None
        except ConnectionResetError:
            self.reset = True
            data = b""
        if not data:
            self.eof = True
            if self.buf:
                raise CheckFailed("the connection closed in the middle of a message "
                                  "(%d stray bytes: %s)" % (len(self.buf), self.buf[:24].hex()))
            raise StreamEnded("closed" + (" (reset)" if self.reset else ""))
        self.buf += data

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def read_message(self, timeout):
        """Returns (msg_type, flags, session_id, payload_size, payload)."""
        deadline = time.monotonic() + timeout
        self._need(HEADER_SIZE, deadline)
        magic, mtype, flags, session, size = HEADER.unpack_from(self.buf)
        if magic != MAGIC:
            raise CheckFailed("bad magic 0x%08x from the server" % magic)
        want = SERVER_FIXED_PAYLOAD.get(mtype)
        if mtype == FRAME_RESPONSE:
            if not FRAME_FIXED <= size <= FRAME_FIXED + MAX_FRAME_PAYLOAD:
                raise CheckFailed("FRAME_RESPONSE payload_size %d is impossible" % size)
        elif want is None:
            raise CheckFailed("unknown message type %s from the server" % type_name(mtype))
        elif size != want:
            raise CheckFailed("%s with payload_size %d, expected %d"
                              % (type_name(mtype), size, want))
        self._need(HEADER_SIZE + size, deadline)
        payload = bytes(self.buf[HEADER_SIZE:HEADER_SIZE + size])
        del self.buf[:HEADER_SIZE + size]
        return mtype, flags, session, size, payload


def connect(port, timeout=5):
    s = socket.create_connection((ADDR, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ---- the deployed subscriber ----

class Frame:
    def __init__(self, session, flags, size, payload, received_at):
        self.session = session
        self.flags = flags
        self.payload_size = size
        self.pts, self.dts, self.keyframe, self.nal_count, self.nal_size = struct.unpack_from(
            "<qqB3xII", payload)
        self.au = payload[FRAME_FIXED:]
        self.received_at = received_at


class DeployedSubscriber:
    """The deployed subscriber, step by step as the reference describes it:
    SUBSCRIBE, exactly one reply that must be SUBSCRIBE_RESP (5 s), then maybe
    CONFIG_REQ (and KEYFRAME_REQ, PING) whose replies it never reads, then a
    loop in which anything but FRAME_RESPONSE ends the stream as an error."""

    def __init__(self, port, scanout):
        self.scanout = scanout
        self.sock = connect(port)
        self.reader = Reader(self.sock)
        self.subscribed_at = None

    def subscribe(self):
        self.subscribed_at = time.monotonic()
        self.sock.sendall(subscribe_msg(self.scanout))
        try:
            mtype, _, session, _, payload = self.reader.read_message(5.0)
        except (TimeoutError, StreamEnded) as e:
            raise CheckFailed("scanout %d: no SUBSCRIBE_RESP within 5 s (%s)"
                              % (self.scanout, e)) from None
        if mtype != SUBSCRIBE_RESP:
            raise CheckFailed("scanout %d: first reply is %s, the deployed subscriber "
                              "requires SUBSCRIBE_RESP" % (self.scanout, type_name(mtype)))
        scanout_id, success = struct.unpack("<II", payload)
        if success != 1 or scanout_id != self.scanout or session != self.scanout:
            raise CheckFailed("scanout %d: SUBSCRIBE_RESP scanout_id=%d success=%d session=%d"
                              % (self.scanout, scanout_id, success, session))

    def send_extras(self, bitrate):
        """What the deployed client may send after subscribing; it never reads replies."""
        self.sock.sendall(config_msg(self.scanout, bitrate))
        self.sock.sendall(keyframe_msg(self.scanout))
        self.sock.sendall(ping_msg(self.scanout))

    def next_frame(self, timeout):
        mtype, flags, session, size, payload = self.reader.read_message(timeout)
        if mtype != FRAME_RESPONSE:
            raise CheckFailed("scanout %d: got %s after subscribing; the deployed subscriber "
                              "treats anything but FRAME_RESPONSE as a fatal error"
                              % (self.scanout, type_name(mtype)))
        return Frame(session, flags, size, payload, time.monotonic())

    def close(self):
        self.sock.close()


def nal_units(au):
    """Splits an Annex B access unit at its start codes (3- or 4-byte)."""
    starts = []
    i = 0
    while True:
        i = au.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    units = []
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(au)
        unit = au[s:end].rstrip(b"\x00") if k + 1 < len(starts) else au[s:end]
        units.append(unit)
    return units


def check_frame(f, scanout, prev_pts, first):
    """The per-message contract the deployed subscriber relies on."""
    where = "scanout %d frame" % scanout
    if f.nal_count != 1:
        raise CheckFailed("%s: nal_count %d, the deployed subscriber assumes 1" % (where, f.nal_count))
    if f.nal_size != f.payload_size - FRAME_FIXED or len(f.au) != f.nal_size:
        raise CheckFailed("%s: nal_size %d but payload_size %d (expected payload_size - 28)"
                          % (where, f.nal_size, f.payload_size))
    if f.flags != 0:
        raise CheckFailed("%s: header flags 0x%02x, expected 0" % (where, f.flags))
    if f.session != scanout:
        raise CheckFailed("%s: session_id %d, expected the scanout id" % (where, f.session))
    if prev_pts is not None and f.pts < prev_pts:
        raise CheckFailed("%s: pts went backwards (%d after %d)" % (where, f.pts, prev_pts))
    if not f.au.startswith(START_CODE):
        raise CheckFailed("%s: access unit does not begin with a 4-byte start code (%s)"
                          % (where, f.au[:8].hex()))
    if first:
        if not f.keyframe:
            raise CheckFailed("%s: the first frame is not a keyframe" % where)
        check_keyframe_au(f.au, where)


def check_keyframe_au(au, where):
    units = nal_units(au)
    types = [u[0] & 0x1F for u in units if u]
    if len(types) < 2 or types[0] != 7 or types[1] != 8:
        raise CheckFailed("%s: keyframe access unit does not start with SPS then PPS "
                          "(NAL types %s)" % (where, types[:6]))
    if 5 not in types:
        raise CheckFailed("%s: keyframe access unit has no IDR slice (NAL types %s)"
                          % (where, types[:8]))


# ---- the deployed control client ----

def control_request(port, msg, timeout=10.0):
    """One connection per request; waits up to 10 s for SCANOUT_RESP (an ERROR
    is accepted and its text read). Returns (reply tuple or None, seconds)."""
    sock = connect(port)
    try:
        t0 = time.monotonic()
        sock.sendall(msg)
        reader = Reader(sock)
        try:
            reply = reader.read_message(timeout)
        except (TimeoutError, StreamEnded) as e:
            return None, time.monotonic() - t0, str(e)
        return reply, time.monotonic() - t0, ""
    finally:
        sock.close()


def parse_scanout_resp(reply):
    mtype, _, _, _, payload = reply
    if mtype == ERROR:
        code, text = struct.unpack("<i256s", payload)
        return None, "ERROR %d: %s" % (code, text.split(b"\0")[0].decode(errors="replace"))
    if mtype != SCANOUT_RESP:
        return None, "unexpected %s" % type_name(mtype)
    scanout_id, success, connector = struct.unpack("<II64s", payload)
    return (scanout_id, success, connector.split(b"\0")[0].decode(errors="replace")), ""


# ---- the server under test ----

def terminate(proc, seconds=10):
    """SIGTERM, then SIGKILL after seconds; False when it took the kill."""
    proc.terminate()
    try:
        proc.wait(seconds)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return False


class Server:
    """`hfx serve` with the synthetic source on a free port (also used by
    sub_stats.py)."""

    def __init__(self, workload, extra=(), heads=2):
        self.bin = os.environ.get("HFX_BIN")
        if not self.bin:
            raise CheckFailed("HFX_BIN is not set (run through meson test)")
        self.port = free_port()
        self.args = [self.bin, "serve", "--listen", "tcp:%s:%d" % (ADDR, self.port),
                     "--heads", str(heads), "--size", "640x360",
                     "--workload", workload] + list(extra)
        self.name = "hfx serve"
        self.log = tempfile.TemporaryFile()
        self.proc = None
        self.stopped = None  # None: running; "": stopped cleanly; else why not

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise CheckFailed("%s exited with %d at start:\n%s"
                                  % (self.name, self.proc.returncode, self.output()))
            try:
                socket.create_connection((ADDR, self.port), timeout=1).close()
                if self.token_ready():
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CheckFailed("%s does not listen on port %d (with its token written) "
                                  "after 10 s" % (self.name, self.port))
            time.sleep(0.05)

    def token_ready(self):
        """--token-out's file is written just after the listeners open."""
        if "--token-out" not in self.args:
            return True
        path = self.args[self.args.index("--token-out") + 1]
        return os.path.exists(path) and os.path.getsize(path) > 0

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self):
        """SIGTERM, as an operator stops it; returns why the exit was not
        clean (status, sanitizer report), or None."""
        if self.proc is None or self.stopped is not None:
            return self.stopped
        problem = None
        if self.proc.poll() is not None:
            problem = "%s had already exited with %d" % (self.name, self.proc.returncode)
        elif not terminate(self.proc):
            problem = "%s did not stop within 10 s of SIGTERM" % self.name
        out = self.output()
        if problem is None and self.proc.returncode != 0:
            problem = "%s exited with %d after SIGTERM" % (self.name, self.proc.returncode)
        if problem is None and any(m in out for m in SANITIZER_MARKS):
            problem = "%s reported a sanitizer error" % self.name
        self.stopped = "%s:\n%s" % (problem, out) if problem else ""
        return self.stopped

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
        return False


# ---- ffprobe ----

def ffprobe(frames, entries):
    """Runs ffprobe on the concatenated access units; returns its CSV fields."""
    with tempfile.NamedTemporaryFile(suffix=".264") as f:
        for fr in frames:
            f.write(fr.au)
        f.flush()
        cmd = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
               "-show_entries", "stream=" + entries, "-of", "csv=p=0", f.name]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise CheckFailed("ffprobe is not installed (apt-get install ffmpeg)") from None
        except subprocess.TimeoutExpired:
            raise CheckFailed("ffprobe took over 60 s") from None
    if r.returncode != 0 or r.stderr.strip():
        raise CheckFailed("ffprobe failed (%d): %s" % (r.returncode, r.stderr.strip()[:500]))
    return r.stdout.strip().split(",")


def collect(sub, count, timeout):
    """Reads up to `count` frames, checking each; returns them and the time
    from SUBSCRIBE to the first one."""
    frames = []
    deadline = time.monotonic() + timeout
    prev = None
    while len(frames) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed("scanout %d: only %d of %d frames in %.0f s"
                              % (sub.scanout, len(frames), count, timeout))
        try:
            f = sub.next_frame(left)
        except TimeoutError:
            continue
        except StreamEnded as e:
            raise CheckFailed("scanout %d: stream ended after %d frames (%s)"
                              % (sub.scanout, len(frames), e)) from None
        check_frame(f, sub.scanout, prev, not frames)
        prev = f.pts
        frames.append(f)
    return frames, frames[0].received_at - sub.subscribed_at


# ---- checks ----

def check_subscriber_stream(srv):
    """a + b: the deployed subscriber's whole session on a typing screen."""
    sub = DeployedSubscriber(srv.port, 0)
    try:
        sub.subscribe()
        sub.send_extras(bitrate=2_000_000)
        frames, first = collect(sub, 90, timeout=30)
    finally:
        sub.close()
    keys = sum(1 for f in frames if f.keyframe)
    span = (frames[-1].pts - frames[0].pts) / 1e9
    (decoded,) = ffprobe(frames, "nb_read_frames")
    print("  a. %d frames, %d keyframes, %d bytes, pts span %.2f s; ffprobe decoded %s"
          % (len(frames), keys, sum(len(f.au) for f in frames), span, decoded))
    if int(decoded) != len(frames):
        raise CheckFailed("ffprobe decoded %s frames of the %d received" % (decoded, len(frames)))
    print("  b. time to first frame (typing): %.3f s" % first)
    if first >= 1.0:
        raise CheckFailed("first frame %.3f s after SUBSCRIBE (limit 1 s)" % first)


def first_keyframe(port, scanout, label):
    """Subscribes as the deployed client and waits for the first frame, which
    must be a decodable keyframe; returns the subscriber and the delay."""
    sub = DeployedSubscriber(port, scanout)
    sub.subscribe()
    frames, first = collect(sub, 1, timeout=5)
    (decoded,) = ffprobe(frames, "nb_read_frames")
    print("  b. %s: first frame after %.3f s, keyframe=%d, %d bytes, ffprobe decoded %s"
          % (label, first, frames[0].keyframe, len(frames[0].au), decoded))
    if first >= 1.0:
        raise CheckFailed("%s: first frame %.3f s after SUBSCRIBE (limit 1 s)" % (label, first))
    if int(decoded) != 1:
        raise CheckFailed("%s: the first frame alone does not decode" % label)
    return sub


def check_clean_exit(srv):
    problem = srv.stop()
    if problem:
        raise CheckFailed(problem)
    print("  exit status 0, no sanitizer report")


def check_static_screen():
    """b on an idle screen: nothing changes, so only the subscribe-time IDR
    can give a new subscriber a picture."""
    with Server("idle") as srv:
        a = first_keyframe(srv.port, 0, "idle screen, first subscriber")
        try:
            time.sleep(1.5)  # let the screen be static with a subscriber attached
            b = first_keyframe(srv.port, 0, "idle screen, later subscriber")
            b.close()
            # The first subscriber must still see only frames (the IDR for b).
            try:
                while True:
                    f = a.next_frame(0.3)
                    check_frame(f, 0, None, False)
            except TimeoutError:
                pass
        finally:
            a.close()
        problem = srv.stop()
        if problem:
            raise CheckFailed(problem)


def check_control(srv):
    """c: ENABLE/DISABLE_SCANOUT from the guest's display manager."""
    reply, took, why = control_request(srv.port, enable_msg(3, 1280, 720, 60))
    print("  c. ENABLE_SCANOUT 3 1280x720: answered in %.3f s" % took)
    if reply is None:
        raise CheckFailed("ENABLE_SCANOUT: no reply within 10 s (%s)" % why)
    resp, why = parse_scanout_resp(reply)
    if resp is None or resp != (3, 1, "Virtual-4"):
        raise CheckFailed("ENABLE_SCANOUT: expected SCANOUT_RESP (3, 1, 'Virtual-4'), got %s"
                          % (resp or why,))
    if took >= 1.0:
        raise CheckFailed("ENABLE_SCANOUT took %.3f s (should be well under 1 s)" % took)

    sub = DeployedSubscriber(srv.port, 3)
    try:
        sub.subscribe()
        sub.send_extras(bitrate=3_000_000)
        frames, first = collect(sub, 30, timeout=20)
        w, h, n = ffprobe(frames, "width,height,nb_read_frames")
        print("  c. scanout 3: first frame after %.3f s; ffprobe: %sx%s, %s of %d frames"
              % (first, w, h, n, len(frames)))
        if (w, h) != ("1280", "720") or int(n) != len(frames):
            raise CheckFailed("scanout 3 decodes as %sx%s (%s frames of %d), expected 1280x720"
                              % (w, h, n, len(frames)))

        reply, took, why = control_request(srv.port, disable_msg(3))
        print("  c. DISABLE_SCANOUT 3: answered in %s"
              % ("%.3f s" % took if reply else "nothing within 10 s"))
        if reply is None:
            raise CheckFailed("DISABLE_SCANOUT: no reply within 10 s (%s); the deployed "
                              "client waits 10 s for every disable" % why)
        resp, why = parse_scanout_resp(reply)
        if resp is None or resp[:2] != (3, 1):
            raise CheckFailed("DISABLE_SCANOUT: expected SCANOUT_RESP success, got %s"
                              % (resp or why,))
        check_stream_ends(sub)
    finally:
        sub.close()


def check_stream_ends(sub):
    """After DISABLE the subscriber's stream must end with a close, having sent
    only whole FRAME_RESPONSE messages (Reader fails on a cut message)."""
    tail = 0
    deadline = time.monotonic() + 10
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed("scanout 3: the stream did not end within 10 s of DISABLE")
        try:
            f = sub.next_frame(left)
        except TimeoutError:
            continue
        except StreamEnded as e:
            print("  c. scanout 3 stream ended cleanly after %d more whole frames (%s)"
                  % (tail, e))
            return
        check_frame(f, 3, None, False)
        tail += 1


class Watcher(threading.Thread):
    """A deployed subscriber reading in the background, recording the gaps
    between its frames while other connections misbehave."""

    def __init__(self, port, scanout):
        super().__init__(daemon=True)
        self.sub = DeployedSubscriber(port, scanout)
        self.sub.subscribe()
        self.sub.send_extras(bitrate=1_000_000)
        self.stop = threading.Event()
        self.frames = 0
        self.times = []
        self.error = None

    def run(self):
        prev = None
        try:
            while not self.stop.is_set():
                try:
                    f = self.sub.next_frame(0.2)
                except TimeoutError:
                    continue
                check_frame(f, self.sub.scanout, prev, self.frames == 0)
                prev = f.pts
                self.frames += 1
                self.times.append(f.received_at)
        except (CheckFailed, StreamEnded, OSError) as e:
            self.error = str(e) or type(e).__name__

    def count_between(self, t0, t1):
        return sum(1 for t in self.times if t0 <= t <= t1)

    def max_gap(self, t0, t1):
        ts = [t0] + [t for t in self.times if t0 <= t <= t1] + [t1]
        return max(b - a for a, b in zip(ts, ts[1:]))


def expect_error_then_close(port, data, label, half_close=False):
    """Sends bad bytes on a fresh, unsubscribed connection. The reply must be
    whole messages only: an ERROR (272 bytes, code -1 or -2, NUL-terminated
    text), then the close."""
    sock = connect(port)
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        got = []
        try:
            while True:
                got.append(reader.read_message(5.0))
        except TimeoutError:
            raise CheckFailed("%s: the server did not close the connection within 5 s "
                              "(got %s)" % (label, [type_name(m[0]) for m in got])) from None
        except StreamEnded:
            pass
    finally:
        sock.close()
    if half_close and not got:
        print("  d. %s: closed without a reply%s" % (label, " (reset)" if reader.reset else ""))
        return
    if len(got) != 1 or got[0][0] != ERROR:
        raise CheckFailed("%s: expected one ERROR then a close, got %s"
                          % (label, [type_name(m[0]) for m in got] or "nothing"))
    code, text = struct.unpack("<i256s", got[0][4])
    if code not in (-1, -2) or b"\0" not in text:
        raise CheckFailed("%s: ERROR code %d, text %r (expected -1/-2 and a NUL)"
                          % (label, code, text[:64]))
    print("  d. %s: ERROR %d '%s', then closed%s"
          % (label, code, text.split(b"\0")[0].decode(errors="replace"),
             " (reset)" if reader.reset else ""))


def expect_refused_subscribe(port, scanout):
    """A deployed subscriber asking for a scanout that does not exist: its
    first (and only) reply must be SUBSCRIBE_RESP success=0, then the close."""
    label = "SUBSCRIBE scanout %d" % scanout
    sock = connect(port)
    try:
        sock.sendall(subscribe_msg(scanout))
        reader = Reader(sock)
        try:
            mtype, _, _, _, payload = reader.read_message(5.0)
        except (TimeoutError, StreamEnded) as e:
            raise CheckFailed("%s: no reply within 5 s (%s)" % (label, e)) from None
        if mtype != SUBSCRIBE_RESP:
            extra = ""
            if mtype == ERROR:
                code, text = struct.unpack("<i256s", payload)
                extra = " (%d '%s')" % (code, text.split(b"\0")[0].decode(errors="replace"))
            raise CheckFailed("%s: first reply is %s%s; the deployed subscriber requires "
                              "SUBSCRIBE_RESP success=0" % (label, type_name(mtype), extra))
        sid, success = struct.unpack("<II", payload)
        if success != 0:
            raise CheckFailed("%s: SUBSCRIBE_RESP success=%d" % (label, success))
        try:
            m = reader.read_message(5.0)
            raise CheckFailed("%s: %s after the refusal, expected the close"
                              % (label, type_name(m[0])))
        except TimeoutError:
            raise CheckFailed("%s: not closed within 5 s of the refusal" % label) from None
        except StreamEnded:
            pass
    finally:
        sock.close()
    print("  d. %s: SUBSCRIBE_RESP scanout_id=%d success=0, then closed" % (label, sid))


def abrupt_truncated(port):
    """Half a header, then a hard close: nothing to read, the server must
    simply forget the connection."""
    sock = connect(port)
    sock.sendall(subscribe_msg(0)[:7])
    sock.close()
    print("  d. truncated message then close: sent 7 bytes, closed")


def bad_inputs():
    good = subscribe_msg(0)
    return [
        ("wrong magic", lambda p: expect_error_then_close(
            p, header(SUBSCRIBE, 0, 4, magic=0x12345678) + good[12:], "wrong magic")),
        ("unknown type", lambda p: expect_error_then_close(
            p, header(0x77, 0, 0), "unknown type 0x77")),
        ("payload_size 5", lambda p: expect_error_then_close(
            p, header(SUBSCRIBE, 0, 5) + good[12:] + b"\0", "SUBSCRIBE payload_size 5")),
        ("payload_size 0xFFFFFFFF", lambda p: expect_error_then_close(
            p, header(SUBSCRIBE, 0, 0xFFFFFFFF) + good[12:], "SUBSCRIBE payload_size 0xFFFFFFFF")),
        ("scanout 99", lambda p: expect_refused_subscribe(p, 99)),
        ("4 KiB+ message", lambda p: expect_error_then_close(
            p, header(FRAME_REQUEST, 0, 5000) + bytes(5000), "5012-byte FRAME_REQUEST")),
        ("truncated + half close", lambda p: expect_error_then_close(
            p, good[:10], "truncated SUBSCRIBE then shutdown(SHUT_WR)", half_close=True)),
        ("truncated + close", lambda p: abrupt_truncated(p)),
    ]


def check_bad_input(srv):
    """d: malformed input on other connections must neither reach nor stall an
    already-subscribed deployed subscriber."""
    w = Watcher(srv.port, 1)
    w.start()
    failures = []
    try:
        time.sleep(0.5)  # let the stream settle before the abuse starts
        t0 = time.monotonic()
        for label, run in bad_inputs():
            try:
                run(srv.port)
            except (CheckFailed, OSError) as e:
                failures.append("%s: %s" % (label, e))
                print("  d. FAILED %s: %s" % (label, e))
            if not srv.alive():
                raise CheckFailed("hfx serve died during '%s':\n%s" % (label, srv.output()))
        time.sleep(0.5)  # frames sent during the last case reach the watcher
        t1 = time.monotonic()
    finally:
        w.stop.set()
        w.join(5)
        w.sub.close()
    n, gap = w.count_between(t0, t1), w.max_gap(t0, t1)
    print("  d. watcher on scanout 1: %d frames in %.2f s of abuse, longest gap %.3f s"
          % (n, t1 - t0, gap))
    if w.error:
        failures.append("the subscribed watcher's stream broke: %s" % w.error)
    elif n == 0 or gap > 0.5:
        failures.append("the subscribed watcher stalled (%d frames, gap %.3f s)" % (n, gap))
    # The server must still serve a new deployed subscriber afterwards.
    sub = DeployedSubscriber(srv.port, 0)
    try:
        sub.subscribe()
        collect(sub, 5, timeout=5)
    finally:
        sub.close()
    if failures:
        raise CheckFailed("; ".join(failures))


def main():
    checks = []

    def run(name, fn, *args):
        print("%s:" % name, flush=True)
        t = time.monotonic()
        try:
            fn(*args)
            checks.append((name, None))
            print("  PASS (%.1f s)" % (time.monotonic() - t), flush=True)
        except (CheckFailed, OSError) as e:
            checks.append((name, str(e)))
            print("  FAIL: %s" % e, flush=True)

    try:
        with Server("typing") as srv:
            run("a+b deployed subscriber on a typing screen", check_subscriber_stream, srv)
            run("c deployed control client", check_control, srv)
            run("d bad input beside a deployed subscriber", check_bad_input, srv)
            run("hfx serve (typing) stops cleanly on SIGTERM", check_clean_exit, srv)
        run("b time to first frame on a static screen", check_static_screen)
    except CheckFailed as e:
        checks.append(("setup", str(e)))

    failed = [(n, why) for n, why in checks if why]
    print()
    for n, why in failed:
        print("FAILED %s: %s" % (n, why))
    print("%d of %d checks passed" % (len(checks) - len(failed), len(checks)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
