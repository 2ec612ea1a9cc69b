"""Debian's Chromium, headless, driven over its DevTools protocol (CDP) with
web.py's WebSocket client: standard library only. Used by web_page.py (the
page in a real browser) and scripts/bench-web.

    with Chromium(tmp) as chrome:
        page = chrome.open("http://127.0.0.1:8080/?token=...")
        page.eval("hfx.heads[0].decoded")
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import ADDR, CheckFailed, free_port, terminate  # noqa: E402
from web import WebSocket  # noqa: E402

SKIP = 77   # meson's exit status for a skipped test


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """One tab: Runtime.evaluate, input events, whatever CDP call."""

    def __init__(self, port, target_id, ws_path):
        self.target_id = target_id
        self.ws = WebSocket(port, ws_path)
        self.next_id = 0
        self.events = []

    def call(self, method, params=None, timeout=30):
        self.next_id += 1
        mid = self.next_id
        self.ws.send_frame(0x1, json.dumps({"id": mid, "method": method,
                                            "params": params or {}}).encode())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("chromium: no answer to %s in %d s" % (method, timeout))
            op, payload = self.ws.read_message(left)
            if op == 0x8:
                raise CheckFailed("chromium closed the DevTools socket")
            msg = json.loads(payload)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CheckFailed("chromium: %s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                del self.events[:-200]

    def eval(self, expr, timeout=30):
        """The value of a JavaScript expression (awaited if a promise),
        by value (JSON)."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise CheckFailed("in the page: %s\n  evaluating: %s" % (text, expr[:300]))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout, what, every=0.1):
        """Waits until expr is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expr)
            except CheckFailed as e:    # e.g. the page's script not loaded yet
                last = str(e).split("\n")[0]
                # A tab still on its first about:blank, navigating, has no context.
                if "in the page" not in last and "execution context" not in last:
                    raise
                last = "error: " + last
            else:
                if last:
                    return last
            time.sleep(every)
        raise CheckFailed("%s: not within %.0f s (last %r; page status %r)"
                          % (what, timeout, last, self.eval("window.hfx && hfx.status || ''")))

    def key(self, code, key, key_code, down):
        """A key as a keyboard would type it (on the focused element)."""
        params = {"type": "rawKeyDown" if down else "keyUp", "code": code, "key": key,
                  "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code}
        self.call("Input.dispatchKeyEvent", params)

    def mouse(self, kind, x, y, button="none", clicks=0):
        self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": button,
                                               "clickCount": clicks})

    def wheel(self, x, y, dx, dy):
        self.call("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x, "y": y,
                                               "deltaX": dx, "deltaY": dy})

    def click(self, x, y):
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, "left", 1)
        self.mouse("mouseReleased", x, y, "left", 1)

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})

    def close(self):
        self.ws.close()


class Chromium:
    """chromium --headless=new with a DevTools port of its own and a fresh
    profile; pages are opened as new targets."""

    def __init__(self, tmp, width=1920, height=1080, extra_args=()):
        self.bin = chromium_path()
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
        self.log = tempfile.TemporaryFile()
        self.size = (width, height)
        self.proc = None
        self.pages = []
        self.extra_args = list(extra_args)

    def __enter__(self):
        args = [self.bin, "--headless=new", "--remote-debugging-port=%d" % self.port,
                "--remote-debugging-address=" + ADDR, "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", "--mute-audio",
                "--window-size=%d,%d" % self.size, *self.extra_args, "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.http("/json/version")
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise CheckFailed("chromium did not open its DevTools port:\n%s"
                                      % self.output()) from None
                time.sleep(0.1)

    def http(self, path, method="GET"):
        req = urllib.request.Request("http://%s:%d%s" % (ADDR, self.port, path), method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def open(self, url):
        """A new tab at url; its Page."""
        t = self.http("/json/new?" + urllib.request.quote(url, safe=""), method="PUT")
        ws_url = t["webSocketDebuggerUrl"]
        page = Page(self.port, t["id"], ws_url[ws_url.index("/devtools/"):])
        self.pages.append(page)
        return page

    def close_page(self, page):
        page.close()
        self.pages.remove(page)
        try:
            self.http("/json/close/" + page.target_id)
        except (OSError, ValueError):
            pass

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        for p in self.pages:
            p.close()
        if self.proc and self.proc.poll() is None:
            terminate(self.proc)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        return False


def skip_without_chromium(what):
    """Exits 77 (meson: skipped) with a message when there is no Chromium."""
    if chromium_path() is None:
        print("SKIP: %s needs Chromium (scripts/install-deps installs Debian's chromium)" % what)
        sys.exit(SKIP)


# ---- reading the picture back ----

def canvas_rgba_js(sel, x, y, w, h):
    """JS: base64 of the RGBA of a canvas's rectangle."""
    return ("(() => { const c = %s; const d = c.getContext('2d').getImageData(%d, %d, %d, %d).data;"
            " let s = ''; for (let i = 0; i < d.length; i += 0x8000)"
            " s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));"
            " return btoa(s); })()" % (sel, x, y, w, h))


def luma(rgba):
    """BT.601 luma (limited range, as the encoder's libyuv makes it) of RGBA
    bytes, one value per pixel."""
    return [(66 * rgba[i] + 129 * rgba[i + 1] + 25 * rgba[i + 2] + 128 >> 8) + 16
            for i in range(0, len(rgba), 4)]


# The frame-number strip of src/source/synth.h, read as stamp.c reads it: 26
# blocks of 8x8 at the top left (a white guard, 24 bits LSB first, even
# parity), each judged by the sum of its inner 4x4 luma: < 64*16 black,
# > 192*16 white, else unreadable.
STAMP_BITS, STAMP_BLOCK = 24, 8
STAMP_W, STAMP_H = (STAMP_BITS + 2) * STAMP_BLOCK, STAMP_BLOCK


def read_strip(y, stride, top=0):
    """The value of the strip whose top row is `top` in a luma plane (the
    frame number at 0; the guest's input panel below it), or -1."""
    def block(i):
        x0, y0 = i * STAMP_BLOCK + STAMP_BLOCK // 4, top + STAMP_BLOCK // 4
        s = sum(y[(y0 + dy) * stride + x0 + dx] for dy in range(4) for dx in range(4))
        return 0 if s < 64 * 16 else 1 if s > 192 * 16 else -1
    if block(0) != 1:
        return -1
    value = 0
    for i in range(1, STAMP_BITS + 1):
        b = block(i)
        if b < 0:
            return -1
        value |= b << (i - 1)
    parity = block(STAMP_BITS + 1)
    if parity < 0 or parity != bin(value).count("1") & 1:
        return -1
    return value


def page_strips(page, head, rows=1):
    """The values of the first `rows` strips on head's canvas in the page
    (the frame number first), -1 for an unreadable one."""
    sel = "document.querySelector('section[data-head=\"%d\"] canvas.video')" % head
    data = base64.b64decode(page.eval(canvas_rgba_js(sel, 0, 0, STAMP_W, STAMP_H * rows)))
    y = luma(data)
    return [read_strip(y, STAMP_W, STAMP_H * r) for r in range(rows)]


def page_strip(page, head):
    """The frame number on head's canvas in the page, or -1."""
    return page_strips(page, head)[0]


# The input panel (src/source/input_stamp.h), drawn by the test guest's demo
# and by the synthetic front end below the frame number: a magic strip, then
# one strip per field.
INPUT_MAGIC = 0x6b3d59
INPUT_ROWS = 8


def input_panel(page, head):
    """The demo's input panel on head's canvas (input_stamp.h): a dict, or
    None before the first input event or when it is unreadable."""
    rows = page_strips(page, head, 1 + INPUT_ROWS)[1:]
    if rows[0] != INPUT_MAGIC or -1 in rows:
        return None
    signed = [v - (1 << 24) if v >> 23 else v for v in rows[5:]]
    return dict(keys=rows[1], last_key=rows[2], buttons=rows[3], last_button=rows[4],
                x=signed[0], y=signed[1], wheel=signed[2])
