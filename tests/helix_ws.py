"""/ws/stream (the deployed browsers' protocol, ../shared/reference/helix-ws.md;
docs/protocol.md, "The deployed browser protocol") of `hfx web` against the
real `hfx serve` (synthetic source, 2 typing heads), with a client written to
helix-ws.md: a binary message before the init is skipped; init -> StreamInit
(exact bytes, the head's size), ConnectionComplete, VideoFrames from a
keyframe with pts in microseconds that follow the wall clock, all decoding at
the head's size; Ping -> Pong; input messages keep the socket open, a
malformed one ends it with StreamError and 1008; video can be paused; two
sockets share one subscription; tokens are checked as on our page's socket;
on a head that is off StreamInit waits until it is on; sockets of random
messages each end with StreamError or answer, and the gateway serves on.
The WebSocket client and the servers are web.py's."""

import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import ADDR, CheckFailed  # noqa: E402
from web import (HEIGHT, WIDTH, WebSocket, check_decodes, exporter_stats,  # noqa: E402
                 mint, run, with_web)

INIT = {"type": "init", "host_id": 0, "app_id": 0, "session_id": "helix-ws-test",
        "width": 1920, "height": 1080, "fps": 60, "bitrate": 8000, "packet_size": 1024,
        "play_audio_local": False, "video_supported_formats": 1}
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


class Stream:
    """A /ws/stream socket as the deployed browser drives it."""

    def __init__(self, port, query, junk_first=False):
        self.ws = WebSocket(port, "/ws/stream?" + query)
        if junk_first:      # the server skips binary messages before the init
            self.ws.send_frame(BINARY, b"\x40junk before init")
        self.frames = []    # (receive time, flags, pts_us, width, height, au)
        self.pongs = []     # (receive time, payload)
        self.cursors = []

    def init(self, msg=None):
        self.ws.send_frame(TEXT, json.dumps(INIT if msg is None else msg).encode())

    def send(self, payload):
        self.ws.send_frame(BINARY, payload)

    def expect_start(self, what, size=(WIDTH, HEIGHT)):
        """StreamInit, then ConnectionComplete: the head's size."""
        op, msg = self.ws.read_message(10)
        want = b"\x30\x01" + struct.pack(">HHBBIB", size[0], size[1], 60, 0, 0, 0)
        if op != BINARY or msg != want:
            raise CheckFailed("%s: first message %d %r, wanted StreamInit %r" % (what, op, msg,
                                                                                 want))
        op, msg = self.ws.read_message(5)
        want = {"ConnectionComplete": {"capabilities": {"touch": False}, "width": size[0],
                                       "height": size[1]}}
        if op != TEXT or json.loads(msg) != want:
            raise CheckFailed("%s: second message %d %r, wanted %r" % (what, op, msg, want))

    def read(self, seconds, what):
        """Reads video, cursor and pong messages for seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                op, msg = self.ws.read_message(max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                return      # nothing more within seconds (video paused)
            now = time.monotonic()
            if op == CLOSE:
                raise CheckFailed("%s: closed: %r" % (what, msg))
            if op != BINARY or not msg:
                raise CheckFailed("%s: a message of opcode %d: %r" % (what, op, msg[:40]))
            if msg[0] == 0x01:
                if len(msg) < 15 or msg[1] != 1 or msg[2] & ~1:
                    raise CheckFailed("%s: a VideoFrame header %r" % (what, msg[:15]))
                pts, w, h = struct.unpack(">QHH", msg[3:15])
                self.frames.append((now, msg[2], pts, w, h, msg[15:]))
            elif msg[0] == 0x41:
                self.pongs.append((now, msg))
            elif msg[0] == 0x50:
                self.cursors.append(check_cursor(msg, what))
            else:
                raise CheckFailed("%s: a message of type 0x%02x" % (what, msg[0]))

    def expect_error(self, what, words):
        """StreamError (0x31) with text holding words, then a 1008 close."""
        deadline = time.monotonic() + 10
        while True:
            op, msg = self.ws.read_message(10)
            if op == BINARY and msg[:1] in (b"\x01", b"\x41", b"\x50"):
                if time.monotonic() > deadline:
                    raise CheckFailed("%s: no StreamError within 10 s" % what)
                continue
            break
        if op != BINARY or msg[:1] != b"\x31" or struct.unpack(">H", msg[1:3])[0] != len(msg) - 3:
            raise CheckFailed("%s: %d %r, wanted StreamError" % (what, op, msg[:80]))
        text = msg[3:].decode()
        if words not in text:
            raise CheckFailed("%s: StreamError %r does not say %r" % (what, text, words))
        op, msg = self.ws.read_message(10)
        if op != CLOSE or struct.unpack(">H", msg[:2])[0] != 1008:
            raise CheckFailed("%s: after StreamError %d %r, wanted a 1008 close" % (what, op, msg))
        self.ws.close()
        return text

    def close(self):
        self.ws.close()


def check_cursor(msg, what):
    """CursorImage: little-endian header; a bitmap's 16-byte header (ARGB8888) and pixels."""
    if len(msg) < 25:
        raise CheckFailed("%s: CursorImage of %d bytes" % (what, len(msg)))
    mover, x, y, hx, hy, size = struct.unpack("<6I", msg[1:25])
    if len(msg) != 25 + size or mover != 0:
        raise CheckFailed("%s: CursorImage size %d in %d bytes, mover %d" % (what, size, len(msg),
                                                                           mover))
    if size:
        fmt, w, h, stride = struct.unpack("<4I", msg[25:41])
        if fmt != 0x34325241 or stride != w * 4 or size != 16 + stride * h:
            raise CheckFailed("%s: CursorImage bitmap %x %dx%d stride %d in %d" % (what, fmt, w, h,
                                                                                stride, size))
    return x, y, size


def check_video(s, what, least=20):
    """The first VideoFrame a keyframe at the head's size; pts strictly increasing
    and moving with the wall clock; every access unit decodes."""
    if len(s.frames) < least:
        raise CheckFailed("%s: %d VideoFrames" % (what, len(s.frames)))
    t0, flags, pts0 = s.frames[0][:3]
    if not flags & 1:
        raise CheckFailed("%s: the first VideoFrame is not a keyframe" % what)
    for (t, _, pts, w, h, _), (_, _, prev, _, _, _) in zip(s.frames[1:], s.frames):
        if (w, h) != (WIDTH, HEIGHT):
            raise CheckFailed("%s: a VideoFrame says %dx%d" % (what, w, h))
        if pts <= prev:
            raise CheckFailed("%s: pts %d after %d" % (what, pts, prev))
        # Frames queue briefly in the exporter and here: the two clocks may
        # differ by what waited, not by more.
        drift = (pts - pts0) / 1e6 - (t - t0)
        if abs(drift) > 0.3:
            raise CheckFailed("%s: pts moved %.3f s in %.3f s of wall clock"
                              % (what, (pts - pts0) / 1e6, t - t0))
    check_decodes([f[5] for f in s.frames], what, least)


def check_pong(s, sent, what):
    """The Pong of Ping(seq 7, client time sent)."""
    if not s.pongs:
        raise CheckFailed("%s: no Pong" % what)
    _, msg = s.pongs[-1]
    if len(msg) != 29:
        raise CheckFailed("%s: Pong of %d bytes" % (what, len(msg)))
    seq, ct, st, lat, p50, p99, mx = struct.unpack(">IQQHHHH", msg[1:])
    if (seq, ct) != (7, sent):
        raise CheckFailed("%s: Pong echoes %d %d, wanted 7 %d" % (what, seq, ct, sent))
    if abs(st - time.time() * 1e6) > 5e6 or lat > 2000 or (p50, p99, mx) != (0, 0, 0):
        raise CheckFailed("%s: Pong server time %d, latency %d ms, %r" % (what, st, lat,
                                                                         (p50, p99, mx)))
    return lat


def ping(s):
    sent = int(time.time() * 1e6)
    s.send(b"\x40" + struct.pack(">IQ", 7, sent))
    return sent


def check_stream(port, ctrl, server, token):
    """init, StreamInit, ConnectionComplete, video, Ping/Pong, input, pause."""
    s = Stream(port, "head=0&token=" + ctrl, junk_first=True)
    s.init()
    s.expect_start("head 0")
    sent = ping(s)
    s.read(2.0, "head 0")
    lat = check_pong(s, sent, "head 0")
    check_video(s, "head 0")
    first = len(s.frames)
    # The synthetic source's 16x16 arrow, sent before StreamInit, comes after
    # it; then its moves.
    shapes = [c for c in s.cursors if c[2] == 16 + 16 * 16 * 4]
    moves = [c for c in s.cursors if c[2] == 0 and c[0] < WIDTH and c[1] < HEIGHT]
    if not shapes or len(moves) < 10:
        raise CheckFailed("head 0: CursorImages %r, wanted the 16x16 shape and moves"
                          % s.cursors[:5])
    # A second socket on head 0: one exporter subscription for both.
    other = Stream(port, "scanout=0&token=" + ctrl)
    other.init()
    other.expect_start("head 0, second socket (?scanout=)")
    subs = exporter_stats(server, token)["scanouts"][0]["subscribers"]
    other.read(0.5, "head 0, second socket")
    other.close()
    if subs != 1:
        raise CheckFailed("two /ws/stream sockets on head 0: %d exporter subscribers" % subs)
    # Valid input of every kind: the socket stays open, and the exporter
    # takes exactly the events they make (14: see below).
    before = exporter_stats(server, token)["scanouts"][0]["input_events"]
    for msg in (b"\x10\x00\x01\x00" + struct.pack(">H", 30),      # KEY_A down
                b"\x10\x00\x00\x00" + struct.pack(">H", 30),      # up
                b"\x10\x02\x01\x00" + struct.pack(">I", 0x41),    # keysym 'A' (shift)
                b"\x10\x02\x00\x00" + struct.pack(">I", 0x41),
                b"\x10\x03\x00" + struct.pack(">I", 0xff0d),      # tap Return
                b"\x11\x02\x01\x01", b"\x11\x02\x00\x01",         # left button
                b"\x11\x03" + struct.pack("<ff", 0.0, 60.0),      # half a wheel step
                b"\x11\x03" + struct.pack("<ff", 0.0, 60.0),      # ... a whole one
                b"\x11\x04\x00\xff",                              # one step up
                b"\x12\x01" + struct.pack(">hhhh", 100, 50, 1280, 720),
                b"\x13\x00" + struct.pack(">hh", -5, 3),
                b"\x14\x00\x00" + struct.pack("<ff", 0.5, 0.5),   # touch: ignored
                b"\x20" + json.dumps({"set_video_enabled": True, "unknown": 1}).encode()):
        s.send(msg)
    sent = ping(s)
    s.frames, s.pongs = [], []
    s.read(1.0, "head 0 after input")
    check_pong(s, sent, "head 0 after input")
    if not s.frames:
        raise CheckFailed("head 0 after input: no video")
    # KEY_A down, up; 'A': Left Shift down, A down, A up, Shift up; Return
    # down, up; left down, up; the wheel: one step down (two halves), one up;
    # the pointer: absolute, relative. Touch and Control make none.
    deadline = time.monotonic() + 5
    while True:
        taken = exporter_stats(server, token)["scanouts"][0]["input_events"] - before
        if taken == 14 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if taken != 14:
        raise CheckFailed("the exporter took %d input events from the socket, wanted 14" % taken)
    # Paused: pongs but no video; resumed: from a keyframe.
    s.send(b"\x20" + json.dumps({"set_video_enabled": False}).encode())
    s.read(0.3, "pausing")
    s.frames = []
    sent = ping(s)
    s.read(0.7, "paused")
    if s.frames:
        raise CheckFailed("paused: %d VideoFrames" % len(s.frames))
    s.send(b"\x20" + json.dumps({"set_video_enabled": True}).encode())
    s.read(1.0, "resumed")
    if not s.frames or not s.frames[0][1] & 1:
        raise CheckFailed("resumed: %d frames, the first not a keyframe" % len(s.frames))
    # Malformed: a button 9.
    s.send(b"\x11\x02\x01\x09")
    text = s.expect_error("a malformed mouse message", "button")
    print("helix-ws: StreamInit %dx%d exact, ConnectionComplete, %d VideoFrames from a keyframe "
          "decode, pts follows the wall clock, CursorImage shape and %d moves, Pong (latency "
          "%d ms); a binary message before "
          "init skipped; two sockets, one subscription; input of every kind keeps the socket and "
          "the exporter takes its 14 events; "
          "pause/resume (resumes at a keyframe); malformed -> StreamError %r, 1008"
          % (WIDTH, HEIGHT, first, len(moves), lat, text))


def check_refusals(port, ctrl, server, token_file):
    """Tokens as on our page's socket; bad heads and inits end the socket."""
    Stream(port, "head=0").expect_error("no token", "token")
    s = Stream(port, "head=99&token=" + ctrl)
    s.expect_error("head=99", "head")
    for bad, words in (("{not json", "JSON"), ({"type": "hello"}, "init"), ([1, 2], "object")):
        s = Stream(port, "token=" + ctrl)
        if isinstance(bad, str):
            s.ws.send_frame(TEXT, bad.encode())
        else:
            s.init(bad)
        s.expect_error("init %r" % (bad,), words)
    head1 = mint(server, token_file, 1)
    s = Stream(port, "head=0&token=" + head1)
    s.init()
    s.expect_error("head 1's token on head 0", "head 0")
    s = Stream(port, "token=" + head1)         # no head: the token's own
    s.init()
    s.expect_start("head 1's token, no head=")
    s.read(1.0, "head 1")
    s.close()
    check_video(s, "head 1", least=10)
    print("helix-ws: no token, head=99, bad JSON, type not init, a JSON array: StreamError and "
          "1008; head 1's token: head 0 refused, no head= gives head 1, which decodes")


def check_head_off(port, ctrl, server, token_file):
    """A head that is off: StreamInit waits for it to be turned on, then
    carries its size, and the first VideoFrame is a keyframe."""
    s = Stream(port, "head=2&token=" + ctrl)
    s.init()
    try:
        op, msg = s.ws.read_message(1.0)
        raise CheckFailed("head 2 (off): a message %d %r before it is on" % (op, msg[:20]))
    except TimeoutError:
        pass
    ctl = [server.bin, "ctl", "--connect", "tcp:%s:%d" % (ADDR, server.port), "--token-file",
           token_file]
    out = subprocess.run(ctl + ["enable", "2", "320x240"], capture_output=True, text=True,
                         timeout=20)
    if out.returncode != 0:
        raise CheckFailed("hfx ctl enable 2: %s" % out.stderr.strip())
    s.expect_start("head 2 once on", (320, 240))
    s.read(0.5, "head 2")
    s.close()
    if not s.frames or not s.frames[0][1] & 1 or s.frames[0][3:5] != (320, 240):
        raise CheckFailed("head 2: %d frames, the first %r" % (len(s.frames), s.frames[:1]))
    subprocess.run(ctl + ["disable", "2"], capture_output=True, timeout=20, check=False)
    print("helix-ws: a head that is off: nothing until it is turned on, then StreamInit at "
          "its size (320x240) and a keyframe")


def check_random(port, ctrl, sockets=30, seed=12):
    """Sockets sending random messages of every browser type (fixed seed):
    each ends with StreamError and 1008 or answers a last Ping; the gateway
    serves on."""
    rnd = random.Random(seed)
    ended = answered = 0
    for i in range(sockets):
        s = Stream(port, "head=0&token=" + ctrl)
        s.init()
        s.expect_start("random socket %d" % i)
        for _ in range(rnd.randint(0, 3)):
            t = rnd.choice([0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x40, 0x02, 0x15])
            s.send(bytes([t]) + bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 14))))
        ping(s)
        while True:
            op, msg = s.ws.read_message(10)
            if op == BINARY and msg[:1] == b"\x41":
                answered += 1
                break
            if op == CLOSE or msg[:1] == b"\x31":
                if op != BINARY or not msg[3:]:
                    raise CheckFailed("random socket %d: ended by %d %r, not StreamError"
                                      % (i, op, msg))
                op, msg = s.ws.read_message(10)
                if op != CLOSE or struct.unpack(">H", msg[:2])[0] != 1008:
                    raise CheckFailed("random socket %d: after StreamError %d %r" % (i, op, msg))
                ended += 1
                break
        s.close()
    print("helix-ws: %d sockets of random messages: %d ended with StreamError and 1008, %d "
          "answered their last Ping" % (sockets, ended, answered))


def main():
    def checks(server, web, token):
        with open(token) as f:
            ctrl = f.read().strip()
        check_stream(web.port, ctrl, server, token)
        check_refusals(web.port, ctrl, server, token)
        check_head_off(web.port, ctrl, server, token)
        check_random(web.port, ctrl)
        if "CRITICAL" in web.output() or "WARNING" in web.output():
            raise CheckFailed("hfx web warned:\n%s" % web.output())

    with tempfile.TemporaryDirectory() as tmp:
        with_web(tmp, "typing", 2, checks)
    print("helix-ws: ok")


if __name__ == "__main__":
    run(main)
