"""/ws/stream in a real browser: Debian's Chromium, headless (tests/browser.py),
runs a client written to helix-ws.md as the deployed one decodes (WebCodecs
VideoDecoder, codec avc1.42d028, annexb, optimizeForLatency): StreamInit
and ConnectionComplete at the head's size, every VideoFrame decoded at that
size without a decoder error, each picture out of the decoder within a few
frames of going in (no reordering delay: our SPS say so without the rewrite
the deployed server does), Pongs and CursorImages arrive.

Skipped (exit 77) without Chromium or without tests/browser.py."""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import CheckFailed  # noqa: E402
from web import HEIGHT, TOKEN, WIDTH, run, with_web  # noqa: E402

SKIP = 77
try:
    from browser import Chromium, skip_without_chromium  # noqa: E402
except ImportError:
    print("SKIP: needs tests/browser.py (the headless Chromium driver)")
    sys.exit(SKIP)

JS = r"""
(() => {
window.r = {init:null, cc:null, decoded:0, errors:[], frames:0, keys:0, pongs:0, cursors:0,
            w:0, h:0, lat:[], pongFields:null, first:null, closed:null};
const ws = new WebSocket(`ws://${location.host}/ws/stream?token=TOKEN&head=0`);
ws.binaryType = 'arraybuffer';
let dec = null; const sent = new Map();
function mk() {
  dec = new VideoDecoder({output: f => { r.decoded++; r.w = f.displayWidth; r.h = f.displayHeight;
      const t = sent.get(f.timestamp); if (t !== undefined) { r.lat.push(performance.now() - t); sent.delete(f.timestamp); }
      f.close(); }, error: e => r.errors.push(String(e))});
  dec.configure({codec: 'avc1.42d028', avc: {format: 'annexb'}, optimizeForLatency: true});
}
ws.onopen = () => ws.send(JSON.stringify({type: 'init', host_id: 0, app_id: 0, session_id: 'x',
    width: 1920, height: 1080, fps: 60, bitrate: 8000, packet_size: 1024, play_audio_local: false,
    video_supported_formats: 1}));
ws.onclose = e => { r.closed = [e.code, e.reason]; };
ws.onmessage = ev => {
  if (typeof ev.data === 'string') { r.cc = JSON.parse(ev.data); return; }
  const d = new DataView(ev.data); const t = d.getUint8(0);
  if (t === 0x30) { r.init = [d.getUint8(1), d.getUint16(2), d.getUint16(4), d.getUint8(6)]; mk(); }
  else if (t === 0x01) {
    const key = d.getUint8(2) & 1; r.frames++; if (key) r.keys++;
    if (r.first === null) r.first = key;
    const pts = Number(d.getBigUint64(3));
    sent.set(pts, performance.now());
    dec.decode(new EncodedVideoChunk({type: key ? 'key' : 'delta', timestamp: pts,
                                      data: new Uint8Array(ev.data, 15)}));
  } else if (t === 0x41) { r.pongs++; r.pongFields = [d.getUint32(1), Number(d.getBigUint64(13)), d.getUint16(21)]; }
  else if (t === 0x50) r.cursors++;
};
setInterval(() => { if (ws.readyState !== 1) return; const b = new ArrayBuffer(13); const v = new DataView(b);
  v.setUint8(0, 0x40); v.setUint32(1, 1); v.setBigUint64(5, BigInt(Math.round(Date.now() * 1000))); ws.send(b); }, 500);
return 'started';
})()
"""


def checks(server, web, token):
    with tempfile.TemporaryDirectory() as tmp, Chromium(tmp) as chrome:
        # The gateway's origin: our page, opened without a token, only says
        # it needs one, so the deployed client's socket is the only one. A new
        # tab is about:blank, complete, until the navigation commits.
        page = chrome.open("http://127.0.0.1:%d/" % web.port)
        page.wait("location.protocol === 'http:' && document.readyState === 'complete'", 10,
                  "the page loading")
        page.eval(JS.replace("TOKEN", TOKEN["q"][len("?token="):]))
        time.sleep(3)
        r = json.loads(page.eval(
            "JSON.stringify({...r, lat: undefined, latmax: Math.max(0, ...r.lat),"
            " latmed: r.lat.slice().sort((a, b) => a - b)[r.lat.length >> 1] || 0,"
            " latavg: r.lat.reduce((a, b) => a + b, 0) / Math.max(1, r.lat.length)})"))
    want_cc = {"ConnectionComplete": {"capabilities": {"touch": False}, "width": WIDTH,
                                      "height": HEIGHT}}
    if r["init"] != [1, WIDTH, HEIGHT, 60] or r["cc"] != want_cc:
        raise CheckFailed("StreamInit %r, ConnectionComplete %r" % (r["init"], r["cc"]))
    if r["errors"] or r["closed"] or r["first"] != 1 or r["frames"] < 100:
        raise CheckFailed("frames %d (first key %r), decoder errors %r, closed %r"
                          % (r["frames"], r["first"], r["errors"], r["closed"]))
    if r["decoded"] < r["frames"] - 2 or (r["w"], r["h"]) != (WIDTH, HEIGHT):
        raise CheckFailed("%d of %d frames decoded, at %dx%d" % (r["decoded"], r["frames"],
                                                                 r["w"], r["h"]))
    # A decoder that held pictures back for reordering would hold every one
    # at least a frame interval (16.7 ms); one slow picture on a loaded
    # machine is not that.
    if r["latmed"] > 12:
        raise CheckFailed("pictures left the decoder %.1f ms (median) after they went in, "
                          "the slowest %.0f ms" % (r["latmed"], r["latmax"]))
    if r["pongs"] < 3 or r["cursors"] < 10:
        raise CheckFailed("%d Pongs, %d CursorImages" % (r["pongs"], r["cursors"]))
    print("helix-ws in Chromium: StreamInit %r, %d of %d VideoFrames decoded by WebCodecs at "
          "%dx%d, out of the decoder in %.1f ms (median; mean %.1f, slowest %.0f), %d Pongs, "
          "%d CursorImages"
          % (r["init"], r["decoded"], r["frames"], r["w"], r["h"], r["latmed"], r["latavg"],
             r["latmax"],
             r["pongs"], r["cursors"]))


def main():
    skip_without_chromium("helix_ws_browser")
    with tempfile.TemporaryDirectory() as tmp:
        with_web(tmp, "typing", 1, checks)
    print("helix-ws in Chromium: ok")


if __name__ == "__main__":
    run(main)
