"""hfx web against the real `hfx serve` (synthetic source, 2 typing heads):
the page's files come from the binary with their content types, and the
WebSocket of head 0 (docs/protocol.md, "our page's protocol") carries a
stream that starts at an IDR and decodes (ffprobe) at the head's size, every
frame. The WebSocket client is written here (RFC 6455: the handshake and
frame parsing), standard library only."""

import base64
import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
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

    def __init__(self, port, path):
        self.sock = socket.create_connection((ADDR, port), timeout=5)
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


def check_head0(port, seconds=2.0):
    ws = WebSocket(port, "/ws/head/0")
    aus, keys = [], 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            op, msg = ws.read_message(5)
            if op == 0x8:
                raise CheckFailed("the server closed head 0's socket: %r" % msg)
            if op != 0x2:
                raise CheckFailed("a message of opcode %d, wanted binary" % op)
            if len(msg) < 12 or msg[0] != 1 or msg[2:4] != b"\0\0":
                raise CheckFailed("a message with a bad header: %r" % msg[:12])
            key = bool(msg[1] & 1)
            pts = struct.unpack("<q", msg[4:12])[0]
            if not aus and not key:
                raise CheckFailed("the first message is not a keyframe")
            if pts <= 0:
                raise CheckFailed("pts %d" % pts)
            keys += key
            aus.append(msg[12:])
    finally:
        ws.close()
    if len(aus) < 10:
        raise CheckFailed("only %d frames in %.0f s" % (len(aus), seconds))
    with tempfile.NamedTemporaryFile(suffix=".264") as f:
        f.write(b"".join(aus))
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                              "-show_entries", "stream=width,height,nb_read_frames",
                              "-of", "csv=p=0", f.name], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0 or out.stderr.strip():
            raise CheckFailed("ffprobe: %s" % (out.stderr.strip() or out.returncode))
        w, h, n = (int(v) for v in out.stdout.strip().split(","))
    if (w, h) != (WIDTH, HEIGHT):
        raise CheckFailed("decoded at %dx%d, the head is %dx%d" % (w, h, WIDTH, HEIGHT))
    if n != len(aus):
        raise CheckFailed("%d of %d frames decoded" % (n, len(aus)))
    print("web: head 0: %d frames (%d key) in %.0f s, first a keyframe, all %d decode at %dx%d"
          % (len(aus), keys, seconds, n, w, h))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        token = os.path.join(tmp, "control.token")
        with Server("typing", extra=["--token-out", token], heads=2) as server:
            with Web(server, token) as web:
                check_static(web.port)
                check_head0(web.port)
                problem = web.stop()
                if problem:
                    raise CheckFailed(problem)
            problem = server.stop()
            if problem:
                raise CheckFailed(problem)
    print("web: ok")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print("FAIL: %s" % e)
        sys.exit(1)
