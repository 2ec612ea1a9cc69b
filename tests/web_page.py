"""The page (web/) in a real browser: Debian's Chromium, headless, driven over
its DevTools protocol (tests/browser.py).

  synthetic (Test A, no VM): `hfx web` on `hfx serve` (synthetic typing, 3
    heads of 640x360):
      heads    the page lists all 16 scanouts and shows the 3 that are on;
               each canvas is 640x360 and its frame-number strip (read back
               from the canvas as stamp.c reads decoded luma: every block's
               inner 4x4 mean below 64 or above 192, parity right) is legible
               on every read and rises; every received frame was decoded
      cursor   the cursor is a canvas of its own over head 0's picture, with
               the synthetic arrow's pixels, moving
      input    a click gives head 0 the focus (and sends nothing); a key, a
               click and a wheel notch there reach the synthetic head, whose
               input panel (drawn as the test guest draws it) reads the key,
               the head pixel under the mouse on the scaled canvas, the
               button and the wheel step; the exporter counted every event
      switch   disable from head 2's button: the tile is marked off and the
               exporter has it off; enable it from the page at 800x600 (the
               size select) and resize head 1 to 960x540 (the WxH field): the
               canvases take the new sizes and their strips read
      restart  the exporter restarted (same secret, same port): the page
               recovers by itself, frames flow and the strips read again
      token    a page with head 1's token sees head 1 only (and its cursor,
               joining a running subscription); a page without a token says
               how to open it with one
  guest (Test B): the 4-head test guest (guest/qemu-args --heads 4 --input,
    the demo drawing the typing workload) under the in-QEMU exporter
    (HFX_QEMU), `hfx web` beside it:
      heads    every canvas at the guest's size shows the guest's legible,
               rising frame numbers
      key      a key typed on the focused head 2 (Input.dispatchKeyEvent)
               reaches the guest (serial: "head 2 key 30 down" and up, no
               other head) and the next pictures of head 2's canvas show it
               (the demo's input panel reads keys 1, last key 30)

Skipped (exit 77) without Chromium, and the guest mode without HFX_QEMU.
Environment: HFX_BIN (the hfx binary), HFX_QEMU (guest mode).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import (Chromium, input_panel, page_strip, skip_without_chromium,  # noqa: E402
                     SKIP)
from deployed_clients import ADDR, CheckFailed, Server  # noqa: E402
from web import Web, exporter_stats  # noqa: E402

WIDTH, HEIGHT = 640, 360   # deployed_clients.Server's --size
START = time.monotonic()


def say(msg):
    print("web_page %5.1fs: %s" % (time.monotonic() - START, msg), flush=True)


def head_sel(head, what="canvas.video"):
    return "document.querySelector('section[data-head=\"%d\"] %s')" % (head, what)


def click_el(page, sel):
    """A real mouse click in the middle of an element (scrolled into view)."""
    r = page.eval("(() => { const e = %s; e.scrollIntoView({block: 'center'});"
                  " const r = e.getBoundingClientRect();"
                  " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % sel)
    page.click(r[0], r[1])


def counters(page, head):
    return page.eval("hfx.heads[%d]" % head)


def check_frames(page, heads, size, what, reads=3):
    """Each head's canvas is `size` and its frame number legible and rising
    on every read (heads scrolled into view one after the other); returns
    the last numbers."""
    base = {h: page.eval("window.hfx && hfx.heads[%d] ? hfx.heads[%d].decoded : 0" % (h, h))
            for h in heads}
    for h in heads:
        # The page draws only heads in view.
        page.eval("(() => { const e = document.querySelector('section[data-head=\"%d\"]'); "
                  "if (e) e.scrollIntoView({block: 'nearest'}); })()" % h)
        page.wait("(() => { const c = hfx.heads[%d]; return c && c.decoded > %d && "
                  "c.width === %d && c.height === %d; })()" % (h, base[h] + 5, size[0], size[1]),
                  20, "%s: head %d decoding at %dx%d" % (what, h, size[0], size[1]))
    seen = {h: [] for h in heads}
    for i in range(reads):
        for h in heads:
            w, hh = page.eval("[%s.width, %s.height]" % (head_sel(h), head_sel(h)))
            if (w, hh) != tuple(size):
                raise CheckFailed("%s: head %d's canvas is %dx%d, wanted %dx%d"
                                  % (what, h, w, hh, size[0], size[1]))
            seen[h].append(page_strip(page, h))
        if i + 1 < reads:
            time.sleep(0.3)
    for h, nums in seen.items():
        if min(nums) < 0 or any(b <= a for a, b in zip(nums, nums[1:])):
            raise CheckFailed("%s: head %d's frame numbers read %r: not all legible and "
                              "rising" % (what, h, nums))
    return {h: nums[-1] for h, nums in seen.items()}


def scanouts(server, token_file):
    """The exporter's STATS, by scanout id."""
    return {s["id"]: s for s in exporter_stats(server, token_file)["scanouts"]}


def check_heads(page, server, token_file):
    listed = page.wait("document.querySelectorAll('section.head').length === 16 && "
                       "document.querySelectorAll('section.head:not(.off)').length", 20,
                       "the page lists 16 heads")
    if listed != 3:
        raise CheckFailed("%d heads shown on, wanted 3" % listed)
    nums = check_frames(page, [0, 1, 2], (WIDTH, HEIGHT), "heads")
    # Every frame received is decoded (a few may be in the decoder), none
    # dropped: the page keeps up with three heads.
    page.wait("[0, 1, 2].every(i => { const c = hfx.heads[i]; "
              "return c.received - c.decoded <= 2 && !c.dropped; })", 5,
              "every received frame decoded, none dropped")
    c = [counters(page, h) for h in range(3)]
    say("heads: 16 listed, 3 shown on; canvases %dx%d; frame numbers legible and rising "
        "(last %r); received/decoded %r; latency p50 %r ms"
        % (WIDTH, HEIGHT, nums, [(x["received"], x["decoded"]) for x in c],
           [x["latencyP50"] and round(x["latencyP50"], 1) for x in c]))


def check_cursor(page):
    """The synthetic head's cursor (a 16x16 arrow that moves with the frames)
    is a canvas of its own over the picture, with the shape's pixels, placed
    at the cursor's position and moving."""
    js = ("(() => { const c = %s; if (c.hidden || !c.width) return null; "
          "const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
          "let opaque = 0; for (let i = 3; i < a.length; i += 4) opaque += a[i] > 128; "
          "return [c.width, c.height, opaque, c.style.left, c.style.top, "
          "c.parentElement === %s.parentElement]; })()" % (head_sel(0, "canvas.cursor"),
                                                           head_sel(0)))
    first = page.wait(js, 10, "head 0's cursor layer shown")
    time.sleep(0.3)
    second = page.eval(js)
    if not (first[:2] == [16, 16] and first[2] > 10 and first[5] and second and
            second[3:5] != first[3:5]):
        raise CheckFailed("head 0's cursor layer: %r then %r (wanted 16x16 with the arrow's "
                          "pixels, beside the video canvas, moving)" % (first, second))
    say("cursor: a 16x16 canvas of its own over head 0's picture (%d opaque pixels), at "
        "left/top %s/%s then %s/%s" % (first[2], first[3], first[4], second[3], second[4]))


def wait_panel(page, head, want, what):
    """Waits until head's input panel has the fields in want; the panel."""
    deadline = time.monotonic() + 5
    panel = None
    while time.monotonic() < deadline:
        panel = input_panel(page, head)
        if panel and all(panel[k] == v for k, v in want.items()):
            return panel
        time.sleep(0.05)
    raise CheckFailed("%s: head %d's input panel reads %r, wanted %r" % (what, head, panel, want))


def check_input(page, server, token_file):
    """Keyboard, pointer, button and wheel of the focused head reach the
    synthetic head, which shows them in its input panel as the test guest
    does (src/source/input_stamp.h)."""
    click_el(page, head_sel(0, ".screen"))          # gives the focus, sends nothing
    page.wait("document.activeElement === %s" % head_sel(0, ".screen"), 5, "head 0 focused")
    if input_panel(page, 0) is not None:
        raise CheckFailed("the click that gave head 0 the focus sent input")
    page.key("KeyA", "a", 65, True)
    page.key("KeyA", "a", 65, False)
    wait_panel(page, 0, {"keys": 1, "last_key": 30}, "KeyA")
    # A click at a head pixel of the scaled canvas: the panel has that pixel.
    r = page.eval("(() => { const r = %s.getBoundingClientRect(); return [r.left, r.top, "
                  "r.width, r.height]; })()" % head_sel(0))
    px, py = int(WIDTH * 0.25), int(HEIGHT * 0.6)
    cx, cy = r[0] + (px + 0.5) * r[2] / WIDTH, r[1] + (py + 0.5) * r[3] / HEIGHT
    page.click(cx, cy)
    wait_panel(page, 0, {"x": px, "y": py, "buttons": 1, "last_button": 272}, "a click")
    page.wheel(cx, cy, 0, -100)                    # one notch up
    panel = wait_panel(page, 0, {"wheel": 1}, "a wheel notch up")
    took = scanouts(server, token_file)[0].get("input_events")
    sent = counters(page, 0)["inputs"]
    if took != sent or sent < 6:
        raise CheckFailed("the page sent %d input events for head 0, the exporter took %r"
                          % (sent, took))
    say("input: on the focused head 0 (the focusing click sent nothing) KeyA, a click at head "
        "pixel %d,%d of the scaled canvas (%.0f x %.0f on screen) and a wheel notch up: the "
        "head's input panel reads %r; the exporter took all %d events"
        % (px, py, r[2], r[3], panel, sent))


def check_switch(page, server, token_file):
    click_el(page, head_sel(2, "button.disable"))
    page.wait("document.querySelector('section[data-head=\"2\"]').classList.contains('off') "
              "&& hfx.heads[2].state === 'off'", 10, "head 2 marked off")
    if scanouts(server, token_file)[2]["enabled"]:
        raise CheckFailed("head 2 is still on in the exporter after its disable button")
    say("switch: head 2's disable button: the tile is marked off, the exporter has it off")
    page.eval("(() => { const s = %s; s.value = '800x600'; s.dispatchEvent(new Event('change')); "
              "})()" % head_sel(2, "select"))
    click_el(page, head_sel(2, "button.enable"))
    click_el(page, head_sel(1, "input.wxh"))
    page.eval("%s.select()" % head_sel(1, "input.wxh"))
    page.call("Input.insertText", {"text": "960x540"})
    click_el(page, head_sel(1, "button.enable"))
    check_frames(page, [2], (800, 600), "head 2 enabled at 800x600")
    check_frames(page, [1], (960, 540), "head 1 resized to 960x540")
    st = scanouts(server, token_file)
    got = [(st[h]["enabled"], st[h]["width"], st[h]["height"]) for h in (1, 2)]
    if got != [(True, 960, 540), (True, 800, 600)]:
        raise CheckFailed("the exporter has heads 1, 2 at %r" % got)
    say("switch: head 2 enabled from the page at 800x600 (size select), head 1 resized to "
        "960x540 (WxH field): canvases at the new sizes, frame numbers legible")


def check_no_token(chrome, port):
    page = chrome.open("http://%s:%d/" % (ADDR, port))
    text = page.wait("!document.getElementById('notice').hidden && "
                     "document.getElementById('notice').textContent", 10,
                     "the page without a token shows its notice")
    if "?token=" not in text:
        raise CheckFailed("the no-token notice does not say how: %r" % text)
    chrome.close_page(page)
    say("token: the page without one says: %r" % text[:90])


def check_head_token(chrome, port, server, token_file):
    out = subprocess.run([server.bin, "ctl", "--connect", "tcp:%s:%d" % (ADDR, server.port),
                          "--token-file", token_file, "mint", "1"], capture_output=True,
                         text=True, timeout=20)
    if out.returncode != 0:
        raise CheckFailed("hfx ctl mint 1: %s" % out.stderr)
    page = chrome.open("http://%s:%d/?token=%s" % (ADDR, port, out.stdout.strip()))
    page.wait("hfx.heads[1] && hfx.heads[1].decoded > 5", 15, "head 1's page decodes")
    # Head 1's subscription was running (the first page): the gateway gives
    # the joining socket the cursor's shape it had already sent.
    page.wait("!%s.hidden && %s.width === 16" % (head_sel(1, "canvas.cursor"),
                                                 head_sel(1, "canvas.cursor")), 10,
              "head 1's cursor on a page joining a running subscription")
    ids = page.eval("Object.keys(hfx.heads).map(Number)")
    shown = page.eval("[...document.querySelectorAll('section.head')].map(e => +e.dataset.head)")
    chrome.close_page(page)
    if ids != [1] or shown != [1]:
        raise CheckFailed("head 1's token: the page has heads %r, shows %r" % (ids, shown))
    say("token: a page with head 1's token sees and decodes head 1 only (and, joining a "
        "running subscription, has its cursor)")


def same_port(old, new, option, value):
    """new (a Server or Web, not started) takes old's port: its option's
    value becomes value % port."""
    new.port = old.port
    new.args[new.args.index(option) + 1] = value % old.port
    return new


def restart_exporter(server, extra):
    problem = server.stop()
    if problem:
        raise CheckFailed(problem)
    return same_port(server, Server("typing", extra=extra, heads=3), "--listen",
                     "tcp:" + ADDR + ":%d").__enter__()


def restart_gateway(page, web, server, token):
    """Stops the gateway, waits for the page to say it reconnects, starts
    it again; the new Web and what the page said."""
    problem = web.stop()
    if problem:
        raise CheckFailed(problem)
    said = page.wait("/^reconnecting in [0-9.]+ s: /.test(hfx.heads[0].state) && "
                     "hfx.heads[0].state", 10, "the page says it reconnects")
    return same_port(web, Web(server, token), "--http", ADDR + ":%d").__enter__(), said


def check_restarts(page, procs, extra, token):
    """The exporter restarted under a running gateway (which subscribes
    again by itself), then the gateway restarted (the page's sockets close
    and it reconnects): the page recovers from both by itself. procs
    ("server", "web") follows the processes, for the caller to stop."""
    before = [counters(page, h)["decoded"] for h in (0, 1)]
    server = procs["server"] = restart_exporter(procs["server"], extra)
    check_frames(page, [0, 1], (WIDTH, HEIGHT), "after the exporter's restart")
    after = [counters(page, h)["decoded"] for h in (0, 1)]
    say("restart: exporter restarted: frames flow again on heads 0, 1 (decoded %r -> %r), "
        "strips legible" % (before, after))
    procs["web"], said = restart_gateway(page, procs["web"], server, token)
    check_frames(page, [0, 1], (WIDTH, HEIGHT), "after the gateway's restart")
    c = [counters(page, h) for h in (0, 1)]
    if not all(x["reconnects"] >= 1 for x in c):
        raise CheckFailed("the gateway restarted but the page did not reconnect: %r" % c)
    say("restart: gateway restarted: the page said %r, reconnected by itself (reconnects %r), "
        "frames flow again (decoded %r -> %r), strips legible"
        % (said, [x["reconnects"] for x in c], after, [x["decoded"] for x in c]))


# KeyboardEvent.code -> the KEY_ name of linux/input-event-codes.h, where no
# rule (KeyA: KEY_A, Digit1: KEY_1, F1: KEY_F1, Numpad1: KEY_KP1) gives it.
KEY_NAMES = {
    "Escape": "ESC", "Minus": "MINUS", "Equal": "EQUAL", "Backspace": "BACKSPACE", "Tab": "TAB",
    "BracketLeft": "LEFTBRACE", "BracketRight": "RIGHTBRACE", "Enter": "ENTER",
    "ControlLeft": "LEFTCTRL", "Semicolon": "SEMICOLON", "Quote": "APOSTROPHE",
    "Backquote": "GRAVE", "ShiftLeft": "LEFTSHIFT", "Backslash": "BACKSLASH", "Comma": "COMMA",
    "Period": "DOT", "Slash": "SLASH", "ShiftRight": "RIGHTSHIFT", "NumpadMultiply": "KPASTERISK",
    "AltLeft": "LEFTALT", "Space": "SPACE", "CapsLock": "CAPSLOCK", "NumLock": "NUMLOCK",
    "ScrollLock": "SCROLLLOCK", "NumpadSubtract": "KPMINUS", "NumpadAdd": "KPPLUS",
    "NumpadDecimal": "KPDOT", "IntlBackslash": "102ND", "IntlRo": "RO", "NumpadEnter": "KPENTER",
    "ControlRight": "RIGHTCTRL", "NumpadDivide": "KPSLASH", "PrintScreen": "SYSRQ",
    "AltRight": "RIGHTALT", "Home": "HOME", "ArrowUp": "UP", "PageUp": "PAGEUP",
    "ArrowLeft": "LEFT", "ArrowRight": "RIGHT", "End": "END", "ArrowDown": "DOWN",
    "PageDown": "PAGEDOWN", "Insert": "INSERT", "Delete": "DELETE", "NumpadEqual": "KPEQUAL",
    "Pause": "PAUSE", "NumpadComma": "KPCOMMA", "IntlYen": "YEN", "MetaLeft": "LEFTMETA",
    "MetaRight": "RIGHTMETA", "ContextMenu": "COMPOSE"}
INPUT_EVENT_CODES = "/usr/include/linux/input-event-codes.h"


def check_keymap():
    """web/app.js's EVDEV table against linux/input-event-codes.h."""
    with open(os.path.join(os.path.dirname(__file__), "..", "web", "app.js")) as f:
        js = f.read()
    body = js[js.index("const EVDEV = {"):]
    table = dict((k, int(v)) for k, v in re.findall(r"(\w+): (\d+)", body[:body.index("};")]))
    if not os.path.exists(INPUT_EVENT_CODES):
        say("keymap: %s missing (linux-libc-dev), not checked" % INPUT_EVENT_CODES)
        return
    with open(INPUT_EVENT_CODES) as f:
        codes = dict((k, int(v, 0)) for k, v in re.findall(r"#define KEY_(\w+)\s+(\w+)", f.read())
                     if re.fullmatch(r"(0x)?[0-9a-fA-F]+", v))
    wrong = []
    for code, value in table.items():
        m = re.fullmatch(r"Key([A-Z])|Digit(\d)|(F\d+)|Numpad(\d)", code)
        name = KEY_NAMES.get(code) or (m and (m.group(1) or m.group(2) or m.group(3) or
                                              m.group(4) and "KP" + m.group(4)))
        if not name or codes.get(name) != value:
            wrong.append("%s: %d, KEY_%s is %r" % (code, value, name, codes.get(name)))
    if wrong or len(table) < 100:
        raise CheckFailed("web/app.js's EVDEV (%d entries) disagrees with %s: %s"
                          % (len(table), INPUT_EVENT_CODES, "; ".join(wrong)))
    say("keymap: all %d entries of web/app.js's EVDEV match %s" % (len(table), INPUT_EVENT_CODES))


def run_synthetic(tmp):
    check_keymap()
    secret = os.path.join(tmp, "secret")
    token = os.path.join(tmp, "control.token")
    extra = ["--secret-file", secret, "--token-out", token]
    procs = {"server": Server("typing", extra=extra, heads=3).__enter__()}
    try:
        server = procs["server"]
        web = procs["web"] = Web(server, token).__enter__()
        # A window small enough that the grid scales the canvases down.
        with Chromium(tmp, width=1280, height=800) as chrome:
            with open(token) as f:
                ctl = f.read().strip()
            page = chrome.open("http://%s:%d/?token=%s" % (ADDR, web.port, ctl))
            check_heads(page, server, token)
            check_cursor(page)
            check_input(page, server, token)
            check_switch(page, server, token)
            check_restarts(page, procs, extra, token)
            server, web = procs["server"], procs["web"]
            check_head_token(chrome, web.port, server, token)
            check_no_token(chrome, web.port)
        for p in (web, server):
            problem = p.stop()
            if problem:
                raise CheckFailed(problem)
    finally:
        for p in procs.values():
            p.__exit__()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "synthetic"
    skip_without_chromium("web_page")
    with tempfile.TemporaryDirectory(prefix="hfx-web-page-") as tmp:
        if mode == "synthetic":
            run_synthetic(tmp)
        elif mode == "guest":
            import web_page_guest
            rc = web_page_guest.run(tmp, say)
            if rc:
                return rc
        else:
            raise CheckFailed("mode %r: synthetic or guest" % mode)
    say("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
