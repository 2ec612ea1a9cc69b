"""web_page.py's guest mode (Test B): the page on the 4-head test guest
inside the QEMU built with the exporter (HFX_QEMU), `hfx web` beside it.
Also the guest half of scripts/bench-web. See web_page.py for the checks."""

import os
import re
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_qemu  # noqa: E402
from browser import SKIP, Chromium, input_panel  # noqa: E402
from deployed_clients import ADDR, CheckFailed  # noqa: E402
from web import Web  # noqa: E402

WIDTH, HEIGHT = 1280, 800       # QEMU's default mode, the guest's heads
HEADS = 4
KEY_A = 30                      # evdev KEY_A


class Guest:
    """The test guest (guest/qemu-args --heads 4 --input, the demo drawing
    `workload` on every head) in HFX_QEMU, and `hfx web` on it; a context
    manager. Attributes: addr (HXFR), token_file, web (its port), serial."""

    def __init__(self, tmp, workload="typing", fps=30, heads=HEADS):
        self.tmp, self.workload, self.fps, self.heads = tmp, workload, fps, heads
        self.web = None

    def __enter__(self):
        e2e_qemu.make_secret(self.tmp)
        self.token_file = os.path.join(self.tmp, "control.token")
        with open(self.token_file, "w") as f:
            f.write(e2e_qemu.TOKEN + "\n")
        port = e2e_qemu.free_port()
        self.addr = "tcp:%s:%d" % (ADDR, port)
        self.serial = e2e_qemu.Serial(os.path.join(self.tmp, "serial"))
        run = "draw --workload %s --fps %d --seconds 900" % (self.workload, self.fps)
        args = subprocess.run([os.path.join(e2e_qemu.GUEST, "qemu-args"), "--heads",
                               str(self.heads), "--input", "--run", run, "--serial",
                               self.serial.path], check=True, capture_output=True,
                              text=True).stdout.split("\n")
        obj = "helix-frame-export,id=hfx0,listen=%s,secret-file=%s" % (self.addr, e2e_qemu.SECRET)
        self.qemu = e2e_qemu.spawn([os.environ["HFX_QEMU"], *[a for a in args if a],
                                    "-display", "none", "-object", obj],
                                   stdout=open(os.path.join(self.tmp, "qemu.log"), "w"),
                                   stderr=subprocess.STDOUT)
        if not e2e_qemu.wait_port(port, 30):
            raise CheckFailed("the in-QEMU exporter does not listen on %s" % self.addr)
        self.web = Web(types.SimpleNamespace(bin=e2e_qemu.HFX, port=port),
                       self.token_file).__enter__()
        return self

    def wait_input_devices(self, timeout=120):
        """Waits until the demo opened every head's keyboard and tablet."""
        if not self.serial.wait_for_count(r"hfx-guest: head \d+ input /dev/input/event\d+ ",
                                          2 * self.heads, timeout):
            raise CheckFailed("the guest's demo did not open %d input devices in %d s: %r"
                              % (2 * self.heads, timeout, self.serial.text()[-800:]))

    def token(self):
        with open(self.token_file) as f:
            return f.read().strip()

    def url(self, extra=""):
        return "http://%s:%d/?token=%s%s" % (ADDR, self.web.port, self.token(), extra)

    def __exit__(self, *exc):
        if self.web:
            self.web.__exit__()
        e2e_qemu.kill_all()
        return False


# Heads 1-3, turned on from the page at the sizes e2e_qemu.py gives them.
SIZES = {1: (1024, 768), 2: (800, 600), 3: (1280, 720)}


def enable_from_page(page, head, size):
    """Picks the size in head's select and clicks its enable button."""
    sec = "document.querySelector('section[data-head=\"%d\"]" % head
    page.eval("(() => { const s = %s select'); s.value = '%dx%d'; "
              "s.dispatchEvent(new Event('change')); %s button.enable').click(); })()"
              % (sec, size[0], size[1], sec))


def focus(page, head):
    """Clicks head's picture (which only gives it the focus)."""
    sel = "document.querySelector('section[data-head=\"%d\"] .screen')" % head
    r = page.eval("(() => { const e = %s; e.scrollIntoView({block: 'center'}); "
                  "const r = e.getBoundingClientRect(); "
                  "return [r.left + r.width / 2, r.top + r.height / 2]; })()" % sel)
    page.click(r[0], r[1])
    page.wait("document.activeElement === %s" % sel, 5, "head %d focused" % head)


def run(tmp, say):
    """Test B; 0, or SKIP."""
    if not os.environ.get("HFX_QEMU"):
        say("SKIP: guest mode needs HFX_QEMU (scripts/build-qemu prints it)")
        return SKIP
    from web_page import check_frames  # noqa: E402  (web_page imports this module)
    subprocess.run([os.path.join(e2e_qemu.GUEST, "build")], check=True, stdout=subprocess.DEVNULL)
    with Guest(tmp) as g, Chromium(tmp) as chrome:
        g.wait_input_devices()
        say("guest: booted, the demo opened %d input devices" % (2 * HEADS))
        page = chrome.open(g.url())
        nums = check_frames(page, [0], (WIDTH, HEIGHT), "guest head 0")
        # Heads 1-3 come on from the page, as a person would turn them on.
        for h, size in SIZES.items():
            enable_from_page(page, h, size)
        for h, size in SIZES.items():
            if not g.serial.wait_for(r"hfx-guest: head %d connected %dx%d" % (h, *size), 30):
                raise CheckFailed("head %d enabled at %dx%d from the page: the guest did not "
                                  "connect it: %r" % (h, *size, g.serial.text()[-600:]))
        for h, size in SIZES.items():
            nums.update(check_frames(page, [h], size, "guest head %d" % h))
        say("heads: head 0 at %dx%d and heads 1-3 enabled from the page at %s: every canvas at "
            "its head's size shows the guest's frame numbers, legible and rising (last %r)"
            % (WIDTH, HEIGHT, ", ".join("%dx%d" % s for s in SIZES.values()), nums))
        head = 2
        focus(page, head)
        before = input_panel(page, head)
        since = len(g.serial.text())
        page.key("KeyA", "a", 65, True)
        page.key("KeyA", "a", 65, False)
        if not g.serial.wait_for(r"hfx-guest: head %d key %d up" % (head, KEY_A), 15, since):
            raise CheckFailed("the key typed on head %d did not reach the guest: %r"
                              % (head, g.serial.text()[since:][-600:]))
        time.sleep(0.3)
        lines = re.findall(r"hfx-guest: head \d+ (?:key|button|pointer|wheel).*",
                           g.serial.text()[since:])
        want = ["hfx-guest: head %d key %d down" % (head, KEY_A),
                "hfx-guest: head %d key %d up" % (head, KEY_A)]
        if lines != want:
            raise CheckFailed("the guest's input log after one key on head %d: %r, wanted %r"
                              % (head, lines, want))
        panel = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            panel = input_panel(page, head)
            if panel and panel["keys"] == 1 and panel["last_key"] == KEY_A:
                break
            time.sleep(0.1)
        else:
            raise CheckFailed("head %d's canvas does not show the key: input panel %r (before "
                              "%r)" % (head, panel, before))
        others = [input_panel(page, h) for h in range(HEADS) if h != head]
        if any(others):
            raise CheckFailed("other heads show input: %r" % others)
        check_frames(page, [head], SIZES[head], "head %d after the key" % head)
        say("key: KeyA typed on the focused head %d reached the guest (%s) and its next "
            "pictures on the page show it (input panel %r, before %r; the other heads show "
            "none)" % (head, "; ".join(lines), panel, before))
    return 0
