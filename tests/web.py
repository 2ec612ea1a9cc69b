"""hfx web against the real `hfx serve` (synthetic source, 2 typing heads):
the page's files come from the binary with their content types, and the
WebSocket of head 0 (docs/protocol.md, "our page's protocol") carries a
stream that starts at an IDR and decodes (ffprobe) at the head's size, every
frame; nothing but the page's files is served without a token, and a head's
token sees only its head. The WebSocket client is written here (RFC 6455:
the handshake and frame parsing), standard library only."""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import ADDR, CheckFailed, Server, free_port  # noqa: E402

WIDTH, HEIGHT = 640, 360           # deployed_clients.Server's --size
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Web(Server):
    """`hfx web` on a free port, connected to server with the token in token_file;
    started and stopped as Server starts and stops `hfx serve`."""

    def __init__(self, server, token_file):  # pylint: disable=super-init-not-called
        self.bin = server.bin
        self.port = free_port()
        self.args = [self.bin, "web", "--connect", "tcp:%s:%d" % (ADDR, server.port),
                     "--token-file", token_file, "--http", "%s:%d" % (ADDR, self.port)]
        self.name = "hfx web"
        self.log = tempfile.TemporaryFile()
        self.proc = None
        self.stopped = None


def http_get(port, path):
    """(status, headers dict with lower-case names, body) of GET path."""
    with socket.create_connection((ADDR, port), timeout=5) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                   % (path, ADDR, port)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise CheckFailed("unexpected chunked response for %s" % path)
    return status, headers, body


class WebSocket:
    """A client of RFC 6455, enough to read binary messages."""

    def __init__(self, port, path, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect((ADDR, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, ADDR, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CheckFailed("the WebSocket handshake got no answer")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise CheckFailed("WebSocket handshake answered %r" % lines[0])
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        got = [l.split(":", 1)[1].strip() for l in lines[1:]
               if l.lower().startswith("sec-websocket-accept:")]
        if got != [accept]:
            raise CheckFailed("Sec-WebSocket-Accept %r, wanted %r" % (got, accept))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise CheckFailed("the WebSocket ended")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def read_message(self, timeout):
        """(opcode, payload) of the next whole message; answers pings."""
        self.sock.settimeout(timeout)
        parts, first_op = [], None
        while True:
            b0, b1 = self._need(2)
            op, fin = b0 & 0x0F, b0 & 0x80
            if b1 & 0x80:
                raise CheckFailed("the server masked a frame")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._need(8))[0]
            payload = self._need(n)
            if op == 0x9:                       # ping
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                return op, payload
            if first_op is None:
                first_op = op
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def close(self):
        try:
            self.send_frame(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


TOKEN = {"q": ""}   # "?token=..." of the control token, set in with_web


def q(path, token=None):
    """path with the control token (or the one given) as its query."""
    return path + (TOKEN["q"] if token is None else "?token=" + token)


def check_static(port):
    for path, ctype, marker in (("/", "text/html", b"app.js"),
                                ("/app.js", "text/javascript", b"VideoDecoder"),
                                ("/style.css", "text/css", b"canvas")):
        status, headers, body = http_get(port, path)
        if status != 200:
            raise CheckFailed("GET %s: status %d" % (path, status))
        if not headers.get("content-type", "").startswith(ctype):
            raise CheckFailed("GET %s: Content-Type %r, wanted %s"
                              % (path, headers.get("content-type"), ctype))
        if marker not in body:
            raise CheckFailed("GET %s: the body lacks %r" % (path, marker))
    status, _, _ = http_get(port, "/nothing-here.js")
    if status != 404:
        raise CheckFailed("GET /nothing-here.js: status %d, wanted 404" % status)
    print("web: /, /app.js, /style.css served with their types; a missing file is 404")


def read_stream(ws, seconds, what):
    """The access units (with their keyframe flags) ws brings in seconds."""
    aus, keys = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op, msg = ws.read_message(5)
        if op == 0x8:
            raise CheckFailed("%s: the server closed the socket: %r" % (what, msg))
        if op != 0x2:
            raise CheckFailed("%s: a message of opcode %d, wanted binary" % (what, op))
        if msg[:1] == b"\3":
            continue                            # a cursor update
        if len(msg) < 16 or msg[0] != 1 or msg[2:4] != b"\0\0":
            raise CheckFailed("%s: a message with a bad header: %r" % (what, msg[:16]))
        key = bool(msg[1] & 1)
        pts = struct.unpack("<q", msg[4:12])[0]
        if not aus and not key:
            raise CheckFailed("%s: the first message is not a keyframe" % what)
        if pts <= 0:
            raise CheckFailed("%s: pts %d" % (what, pts))
        age = struct.unpack("<I", msg[12:16])[0]
        if age > 2000000:
            raise CheckFailed("%s: a frame %d us old on arrival (same host)" % (what, age))
        aus.append(msg[16:])
        keys.append(key)
    return aus, keys


def check_decodes(aus, what, least=10):
    """Every access unit decodes, at the head's size."""
    if len(aus) < least:
        raise CheckFailed("%s: only %d frames" % (what, len(aus)))
    with tempfile.NamedTemporaryFile(suffix=".264") as f:
        f.write(b"".join(aus))
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                              "-show_entries", "stream=width,height,nb_read_frames",
                              "-of", "csv=p=0", f.name], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0 or out.stderr.strip():
            raise CheckFailed("%s: ffprobe: %s" % (what, out.stderr.strip() or out.returncode))
        w, h, n = (int(v) for v in out.stdout.strip().split(","))
    if (w, h) != (WIDTH, HEIGHT):
        raise CheckFailed("%s: decoded at %dx%d, the head is %dx%d" % (what, w, h, WIDTH, HEIGHT))
    if n != len(aus):
        raise CheckFailed("%s: %d of %d frames decoded" % (what, n, len(aus)))
    return n


def stream_decodes(port, path, seconds, what):
    """A new socket on path: what it brings in seconds starts at a keyframe
    and decodes; returns the access units."""
    ws = WebSocket(port, path)
    try:
        aus, _ = read_stream(ws, seconds, what)
    finally:
        ws.close()
    check_decodes(aus, what)
    return aus


def check_head0(port, seconds=2.0):
    ws = WebSocket(port, q("/ws/head/0"))
    try:
        aus, keys = read_stream(ws, seconds, "head 0")
    finally:
        ws.close()
    n = check_decodes(aus, "head 0")
    print("web: head 0: %d frames (%d key) in %.0f s, first a keyframe, all %d decode at %dx%d"
          % (len(aus), sum(keys), seconds, n, WIDTH, HEIGHT))


def exporter_stats(server, token_file):
    out = subprocess.run([server.bin, "ctl", "--connect", "tcp:%s:%d" % (ADDR, server.port),
                          "--token-file", token_file, "stats"], capture_output=True, text=True,
                         timeout=20)
    if out.returncode != 0:
        raise CheckFailed("hfx ctl stats: %s" % out.stderr.strip())
    return json.loads(out.stdout)


def check_shared(port, server, token_file):
    """Two sockets on head 0 (the second joining a running stream) and one on
    head 1: each starts at a keyframe and decodes, and the exporter has one
    subscriber per head."""
    results, errors = {}, []

    def reader(name, path, delay, seconds):
        try:
            time.sleep(delay)
            ws = WebSocket(port, path)
            try:
                results[name] = read_stream(ws, seconds, name)
            finally:
                ws.close()
        except (CheckFailed, OSError) as e:
            errors.append("%s: %s" % (name, e))

    threads = [threading.Thread(target=reader, args=a) for a in
               (("head 0 first", q("/ws/head/0"), 0, 3.0), ("head 0 second", q("/ws/head/0"), 1.0, 1.5),
                ("head 1", q("/ws/head/1"), 0, 3.0))]
    for t in threads:
        t.start()
    time.sleep(1.8)
    stats = exporter_stats(server, token_file)
    for t in threads:
        t.join(30)
    if errors:
        raise CheckFailed("; ".join(errors))
    subs = [s["subscribers"] for s in stats["scanouts"][:2]]
    if subs != [1, 1]:
        raise CheckFailed("the exporter has %r subscribers on heads 0 and 1 with three sockets "
                          "open, wanted one each" % subs)
    for name, (aus, _) in sorted(results.items()):
        check_decodes(aus, name)
    print("web: two sockets on head 0 (one joining late) and one on head 1: each starts at a "
          "keyframe and decodes; the exporter has one subscriber per head")


def check_churn(port):
    """Sockets opened and closed at once, 20 times (each starting and ending
    head 0's subscription, the closing never waiting for the reader), then
    one that reads: it still starts at a keyframe and decodes."""
    for _ in range(20):
        WebSocket(port, q("/ws/head/0")).close()
    stream_decodes(port, q("/ws/head/0"), 1.0, "head 0 after 20 short sockets")
    print("web: 20 sockets opened and closed at once, then one that reads: it decodes")


def check_heads_list(port):
    """/api/heads: the exporter's STATS, heads 0 and 1 on at their size."""
    status, headers, body = http_get(port, q("/api/heads"))
    if status != 200 or not headers.get("content-type", "").startswith("application/json"):
        raise CheckFailed("GET /api/heads: %d %r: %r" % (status, headers.get("content-type"),
                                                         body[:200]))
    on = [(s["id"], s["width"], s["height"]) for s in json.loads(body)["scanouts"]
          if s["enabled"]]
    if on != [(0, WIDTH, HEIGHT), (1, WIDTH, HEIGHT)]:
        raise CheckFailed("GET /api/heads: heads on %r, wanted 0 and 1 at %dx%d"
                          % (on, WIDTH, HEIGHT))
    print("web: /api/heads lists heads 0 and 1 on at %dx%d" % (WIDTH, HEIGHT))


def check_slow_viewer(port, pause=5.0):
    """A socket that does not read for a while loses frames up to an IDR (the
    queue's overflow) and what it receives still decodes; a socket reading
    alongside it loses nothing."""
    slow = WebSocket(port, q("/ws/head/0"), rcvbuf=4096)
    fast = WebSocket(port, q("/ws/head/0"))
    fast_aus, errors = [], []

    def read_fast():
        try:
            fast_aus.extend(read_stream(fast, pause + 2, "the reading socket")[0])
        except (CheckFailed, OSError) as e:
            errors.append(str(e))

    t = threading.Thread(target=read_fast)
    t.start()
    try:
        time.sleep(pause)
        aus, keys = read_stream(slow, 2.0, "the stalled socket")
    finally:
        t.join(30)
        slow.close()
        fast.close()
    if errors:
        raise CheckFailed(errors[0])
    if sum(keys[1:]) < 1:
        raise CheckFailed("the stalled socket got no keyframe after its first: nothing was "
                          "dropped (%d frames)" % len(aus))
    check_decodes(aus, "the stalled socket")
    n = check_decodes(fast_aus, "the reading socket", least=int((pause + 2) * 20))
    print("web: a socket stalled %.0f s skipped to an IDR (%d frames, %d key) and decodes; the "
          "socket reading alongside got %d frames" % (pause, len(aus), sum(keys), n))


def mint(server, token_file, head):
    """A token for head (hfx ctl mint)."""
    out = subprocess.run([server.bin, "ctl", "--connect", "tcp:%s:%d" % (ADDR, server.port),
                          "--token-file", token_file, "mint", str(head)], capture_output=True,
                         text=True, timeout=20)
    token = out.stdout.strip()
    if out.returncode != 0 or not token:
        raise CheckFailed("hfx ctl mint %d: %s" % (head, out.stderr.strip()))
    return token


def check_tokens(port, server, token_file):
    """Without a token nothing but the page's files is served; a head's token
    opens its own head's socket and /api/heads lists only that head; another
    head's socket is refused with 1008 and the reason."""
    status, _, body = http_get(port, "/api/heads")
    if status != 403 or b"token" not in body:
        raise CheckFailed("GET /api/heads without a token: %d %r, wanted 403" % (status, body))
    ws = WebSocket(port, "/ws/head/0")
    op, msg = ws.read_message(10)
    ws.close()
    if op != 0x8 or struct.unpack(">H", msg[:2])[0] != 1008 or b"token" not in msg:
        raise CheckFailed("/ws/head/0 without a token: %d %r, wanted a 1008 close" % (op, msg))
    head1 = mint(server, token_file, 1)
    status, _, body = http_get(port, q("/api/heads", head1))
    ids = [s["id"] for s in json.loads(body)["scanouts"]] if status == 200 else None
    if ids != [1]:
        raise CheckFailed("GET /api/heads with head 1's token: %d, heads %r, wanted [1]"
                          % (status, ids))
    ws = WebSocket(port, q("/ws/head/0", head1))
    op, msg = ws.read_message(10)
    ws.close()
    if op != 0x8 or struct.unpack(">H", msg[:2])[0] != 1008:
        raise CheckFailed("/ws/head/0 with head 1's token: %d %r, wanted a 1008 close" % (op, msg))
    stream_decodes(port, q("/ws/head/1", head1), 1.0, "head 1 with its own token")
    print("web: no token: 403 and a 1008 close; head 1's token: /api/heads lists head 1 only, "
          "head 0's socket refused (1008), head 1's decodes")


def with_web(tmp, workload, heads, checks):
    """Runs checks(server, web, token_file) against `hfx web` on `hfx serve`;
    both must then stop cleanly."""
    token = os.path.join(tmp, "control-%s.token" % workload)
    with Server(workload, extra=["--token-out", token], heads=heads) as server:
        with open(token) as f:
            TOKEN["q"] = "?token=" + f.read().strip()
        with Web(server, token) as web:
            checks(server, web, token)
            problem = web.stop()
            if problem:
                raise CheckFailed(problem)
        problem = server.stop()
        if problem:
            raise CheckFailed(problem)


def check_inside_exporter(tmp):
    """`hfx serve --http`: the same gateway inside the exporter (subscribing to
    the exporter's own listener): the page's heads list and head 1's socket
    with the control token; nothing without it."""
    token = os.path.join(tmp, "control-inside.token")
    port = free_port()
    with Server("typing", extra=["--token-out", token, "--http", "%s:%d" % (ADDR, port)],
                heads=2) as server:
        with open(token) as f:
            TOKEN["q"] = "?token=" + f.read().strip()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((ADDR, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise CheckFailed("hfx serve --http does not listen on %d" % port) from None
                time.sleep(0.05)
        check_heads_list(port)
        status, _, _ = http_get(port, "/api/heads")
        if status != 403:
            raise CheckFailed("hfx serve --http: /api/heads without a token: %d, wanted 403"
                              % status)
        aus = stream_decodes(port, q("/ws/head/1"), 1.0, "hfx serve --http, head 1")
        problem = server.stop()
        if problem:
            raise CheckFailed(problem)
    print("web: hfx serve --http serves the page's heads and sockets from inside the exporter "
          "(%d frames of head 1 decode); it stops cleanly" % len(aus))


def main():
    def typing_checks(server, web, token):
        check_static(web.port)
        check_head0(web.port)
        check_shared(web.port, server, token)
        check_heads_list(web.port)
        check_churn(web.port)
        check_tokens(web.port, server, token)

    with tempfile.TemporaryDirectory() as tmp:
        with_web(tmp, "typing", 2, typing_checks)
        # A stream heavy enough to fill a stalled socket's buffers quickly.
        with_web(tmp, "video", 1, lambda server, web, token: check_slow_viewer(web.port))
        check_inside_exporter(tmp)
    print("web: ok")


def run(fn):
    """fn(); a failed check is a line FAIL: ... and exit status 1."""
    try:
        fn()
    except CheckFailed as e:
        print("FAIL: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    run(main)
