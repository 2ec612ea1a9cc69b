// hfx web's page: every head the token sees, in a grid or one at a time
// (#head=N), each decoded with WebCodecs onto a canvas at the head's own size,
// the guest's cursor as a layer of its own, keyboard and pointer sent back to
// the head. The socket protocol is docs/protocol.md, "Our page's protocol":
//   /ws/head/N?token=T, binary, little-endian.
//   server -> page: kind 1 video: flags u8 @1 (1 keyframe, 2 resumed), pts_ns
//     i64 @4, age_us u32 @12, one access unit (Annex B) @16; kind 3 cursor:
//     flags u8 @1 (1 visible, 2 shape follows), x i32 @4, y i32 @8, hot_x u16
//     @12, hot_y u16 @14, width u16 @16, height u16 @18, ARGB8888 @20.
//   page -> server: kind 2 input (12 bytes): input kind u8 @1 (1 key, 2
//     pointer, 3 button, 4 wheel), down u8 @2, a i32 @4, b i32 @8; kind 4: ask
//     for a keyframe (1 byte).
// HTTP: GET api/heads, POST api/heads/N/enable?width=W&height=H, POST
// api/heads/N/disable, each with ?token=.
//
// Counters for tests and benchmarks are on window.hfx (see `hfx` below).
"use strict";

const HEADS = 16;
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const withToken = (path, params = {}) => {
  const q = new URLSearchParams(params);
  if (TOKEN) q.set("token", TOKEN);
  const s = q.toString();
  return path + (s ? "?" + s : "");
};

// Reconnection: 0.25 s doubling to 5 s; back to 0.25 s once a socket has
// been good (frames flowing) for a minute.
const BACKOFF_MIN_MS = 250, BACKOFF_MAX_MS = 5000, BACKOFF_RESET_MS = 60000;
const LIST_EVERY_MS = 3000;         // how often the list of heads is asked again
const LATENCY_WINDOW_MS = 1000;     // the latency p50 is over this much
const MAX_DECODE_BEHIND = 60;       // chunks given to a decoder and not out yet: 1 s at 60 fps

const SIZES = ["640x360", "800x600", "1024x768", "1280x720", "1280x800", "1366x768",
  "1440x900", "1600x900", "1920x1080", "1920x1200", "2560x1440", "3840x2160"];

const INPUT_KEY = 1, INPUT_POINTER = 2, INPUT_BUTTON = 3, INPUT_WHEEL = 4;

// KeyboardEvent.code -> Linux evdev key code. The values are the KEY_*
// constants of linux/input-event-codes.h (the names in the comments);
// HXFR INPUT carries evdev codes and the exporter maps them to the VM's.
// tests/web_page.py checks every entry against that header.
const EVDEV = {
  Escape: 1, // KEY_ESC
  Digit1: 2, Digit2: 3, Digit3: 4, Digit4: 5, Digit5: 6, Digit6: 7, Digit7: 8, Digit8: 9,
  Digit9: 10, Digit0: 11, // KEY_1 .. KEY_0
  Minus: 12, Equal: 13, Backspace: 14, Tab: 15, // KEY_MINUS, KEY_EQUAL, KEY_BACKSPACE, KEY_TAB
  KeyQ: 16, KeyW: 17, KeyE: 18, KeyR: 19, KeyT: 20, KeyY: 21, KeyU: 22, KeyI: 23, KeyO: 24,
  KeyP: 25, // KEY_Q .. KEY_P
  BracketLeft: 26, BracketRight: 27, Enter: 28, ControlLeft: 29, // KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_ENTER, KEY_LEFTCTRL
  KeyA: 30, KeyS: 31, KeyD: 32, KeyF: 33, KeyG: 34, KeyH: 35, KeyJ: 36, KeyK: 37, KeyL: 38,
  Semicolon: 39, Quote: 40, Backquote: 41, ShiftLeft: 42, Backslash: 43, // KEY_SEMICOLON, KEY_APOSTROPHE, KEY_GRAVE, KEY_LEFTSHIFT, KEY_BACKSLASH
  KeyZ: 44, KeyX: 45, KeyC: 46, KeyV: 47, KeyB: 48, KeyN: 49, KeyM: 50,
  Comma: 51, Period: 52, Slash: 53, ShiftRight: 54, NumpadMultiply: 55, AltLeft: 56, // KEY_COMMA, KEY_DOT, KEY_SLASH, KEY_RIGHTSHIFT, KEY_KPASTERISK, KEY_LEFTALT
  Space: 57, CapsLock: 58, // KEY_SPACE, KEY_CAPSLOCK
  F1: 59, F2: 60, F3: 61, F4: 62, F5: 63, F6: 64, F7: 65, F8: 66, F9: 67, F10: 68,
  NumLock: 69, ScrollLock: 70, // KEY_NUMLOCK, KEY_SCROLLLOCK
  Numpad7: 71, Numpad8: 72, Numpad9: 73, NumpadSubtract: 74, Numpad4: 75, Numpad5: 76,
  Numpad6: 77, NumpadAdd: 78, Numpad1: 79, Numpad2: 80, Numpad3: 81, Numpad0: 82,
  NumpadDecimal: 83, // KEY_KP7 .. KEY_KPDOT (KEY_KPMINUS, KEY_KPPLUS)
  IntlBackslash: 86, F11: 87, F12: 88, IntlRo: 89, // KEY_102ND, KEY_F11, KEY_F12, KEY_RO
  NumpadEnter: 96, ControlRight: 97, NumpadDivide: 98, PrintScreen: 99, AltRight: 100, // KEY_KPENTER, KEY_RIGHTCTRL, KEY_KPSLASH, KEY_SYSRQ, KEY_RIGHTALT
  Home: 102, ArrowUp: 103, PageUp: 104, ArrowLeft: 105, ArrowRight: 106, End: 107,
  ArrowDown: 108, PageDown: 109, Insert: 110, Delete: 111, // KEY_HOME, KEY_UP, ... KEY_DELETE
  NumpadEqual: 117, Pause: 119, NumpadComma: 121, IntlYen: 124, // KEY_KPEQUAL, KEY_PAUSE, KEY_KPCOMMA, KEY_YEN
  MetaLeft: 125, MetaRight: 126, ContextMenu: 127, // KEY_LEFTMETA, KEY_RIGHTMETA, KEY_COMPOSE
  F13: 183, F14: 184, F15: 185, F16: 186, F17: 187, F18: 188, F19: 189, F20: 190, F21: 191,
  F22: 192, F23: 193, F24: 194, // KEY_F13 .. KEY_F24
};

// What tests and benchmarks read: per head, counters since the page opened.
//   received: video messages; decoded: pictures the decoder gave back;
//   drawn: pictures the canvas showed; skipped: decoded pictures a newer one
//   replaced before the next animation frame; dropped: messages the page
//   did not decode (waiting for a keyframe after a (re)connect, a decoder
//   error or a decoder that fell behind); keyframes; reconnects; state;
//   width/height of the last picture drawn; fps, drawnFps, kbps of the last
//   second; latencyP50 (ms); inputs sent.
// drawHooks: functions (head, ctx) called after each picture is drawn.
const hfx = window.hfx = { heads: {}, drawHooks: [], status: "" };

function setStatus(text) {
  hfx.status = text;
  document.getElementById("status").textContent = text;
}

// "avc1.PPCCLL" from the SPS (NAL type 7) in an Annex B access unit.
function codecOf(au) {
  for (let i = 0; i + 6 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && (au[i + 3] & 0x1f) === 7) {
      const hex = (b) => b.toString(16).padStart(2, "0");
      return "avc1." + hex(au[i + 4]) + hex(au[i + 5]) + hex(au[i + 6]);
    }
  }
  return null;
}

function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

class Head {
  constructor(id) {
    this.id = id;
    this.on = false;
    this.ws = null;
    this.decoder = null;
    this.inDecoder = 0;   // chunks decoding (decodeQueueSize counts only those not yet started)
    this.codec = null;
    this.backoff = BACKOFF_MIN_MS;
    this.retry = null;
    this.goodSince = 0;
    this.arrivals = new Map();      // pts_us -> [arrival ms, age ms]
    this.latencies = [];            // [time ms, latency ms]
    this.second = { frames: 0, bytes: 0, drawn: 0 };
    this.keysDown = new Set();      // evdev codes pressed here and not released
    this.buttonsDown = new Set();   // DOM buttons (0..4: HXFR buttons 1..5) likewise
    this.wheel = { x: 0, y: 0 };
    this.pendingMove = null;
    this.c = hfx.heads[id] = {
      received: 0, decoded: 0, drawn: 0, skipped: 0, dropped: 0, keyframes: 0, reconnects: 0,
      inputs: 0,
      width: 0, height: 0, fps: 0, kbps: 0, latencyP50: null, state: "off" };
    this.build();
  }

  build() {
    this.canvas = el("canvas", { className: "video", width: 320, height: 180 });
    this.cursor = el("canvas", { className: "cursor", hidden: true });
    this.screen = el("div", { className: "screen", tabIndex: 0, title: "click to type into this head" },
      this.canvas, this.cursor);
    this.title = el("a", { className: "title", href: "#head=" + this.id, textContent: "head " + this.id,
      title: "this head alone" });
    this.stats = el("span", { className: "stats" });
    this.stateText = el("span", { className: "state" });
    this.sizeSelect = el("select", { title: "size" },
      ...SIZES.map((s) => el("option", { value: s, textContent: s })),
      el("option", { value: "", textContent: "other:" }));
    this.sizeSelect.value = "1920x1080";
    this.sizeField = el("input", { className: "wxh", placeholder: "WxH", size: 9,
      title: "width x height, e.g. 1280x720" });
    this.enableBtn = el("button", { className: "enable", textContent: "enable" });
    this.disableBtn = el("button", { className: "disable", textContent: "disable" });
    this.keyBtn = el("button", { className: "keyframe", textContent: "keyframe" });
    this.sizeSelect.onchange = () => { if (this.sizeSelect.value) this.sizeField.value = ""; };
    this.sizeField.oninput = () => { if (this.sizeField.value) this.sizeSelect.value = ""; };
    this.enableBtn.onclick = () => this.enable();
    this.disableBtn.onclick = () => this.disable();
    this.keyBtn.onclick = () => this.askKeyframe();
    this.el = el("section", { className: "head off" },
      el("div", { className: "bar" }, this.title, this.stats),
      this.screen,
      el("div", { className: "bar controls" }, this.sizeSelect, this.sizeField, this.enableBtn,
        this.disableBtn, this.keyBtn),
      this.stateText);
    this.el.dataset.head = this.id;
    this.visible = false;
    this.screen.head = this;
    visibility.observe(this.screen);
    this.bindInput();
  }

  setState(text) {
    this.c.state = text;
    this.stateText.textContent = text;
  }

  // The head's on/off and size from the list of heads.
  update(info) {
    const on = !!info.enabled;
    this.el.classList.toggle("off", !on);
    this.enableBtn.textContent = on ? "resize" : "enable";
    if (on && info.width && info.height) {
      const size = info.width + "x" + info.height;
      this.listedSize = size;
      if (!this.el.contains(document.activeElement) || document.activeElement === this.screen) {
        if (SIZES.includes(size)) { this.sizeSelect.value = size; this.sizeField.value = ""; }
        else { this.sizeSelect.value = ""; this.sizeField.value = size; }
      }
    }
    if (on && !this.on) { this.on = true; this.connect(); }
    if (!on && this.on) { this.on = false; this.stop("off"); }
  }

  // ---- the socket ----

  connect() {
    clearTimeout(this.retry);
    this.retry = null;
    const url = new URL(withToken("ws/head/" + this.id), location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = this.ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.setState("connecting");
    this.resetDecoder();
    this.goodSince = 0;     // until a picture is drawn
    ws.onopen = () => this.setState("waiting for a keyframe");
    ws.onmessage = (e) => { if (ws === this.ws) this.onMessage(e.data); };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.resetDecoder();
      if (this.on) this.scheduleReconnect(e.reason || "connection closed (" + e.code + ")");
    };
  }

  scheduleReconnect(reason) {
    if (this.goodSince && performance.now() - this.goodSince >= BACKOFF_RESET_MS)
      this.backoff = BACKOFF_MIN_MS;
    this.goodSince = 0;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.c.reconnects++;
    const until = performance.now() + wait;
    const show = () => {
      const left = Math.max(0, until - performance.now()) / 1000;
      this.setState("reconnecting in " + (left < 1 ? left.toFixed(1) : left.toFixed(0)) + " s: " + reason);
    };
    show();
    const ticker = setInterval(show, 250);
    this.retry = setTimeout(() => { clearInterval(ticker); if (this.on) this.connect(); }, wait);
  }

  // Closes the socket on purpose (the head is off): no reconnection.
  stop(state) {
    clearTimeout(this.retry);
    this.retry = null;
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(1000); }
    this.resetDecoder();
    this.cursor.hidden = true;
    this.setState(state);
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  askKeyframe() { this.send(new Uint8Array([4])); }

  // ---- video ----

  // A new decoder for the next keyframe: after a (re)connect, an error or
  // a new codec string.
  resetDecoder() {
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    if (this.pending) this.pending.close();
    this.pending = null;
    this.decoder = null;
    this.c.dropped += this.inDecoder || 0;   // what the closed decoder will not give back
    this.inDecoder = 0;
    this.codec = null;
    this.arrivals.clear();
  }

  newDecoder(codec) {
    const decoder = new VideoDecoder({
      output: (frame) => this.decoded(frame),
      error: (err) => {
        if (decoder !== this.decoder) return;
        this.setState("decoder: " + err.message + "; waiting for a keyframe");
        this.resetDecoder();
        this.askKeyframe();
      },
    });
    // No description: the chunks are Annex B, SPS and PPS in band.
    decoder.configure({ codec, optimizeForLatency: true, hardwareAcceleration: "no-preference" });
    this.decoder = decoder;
    this.codec = codec;
  }

  onMessage(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < 1) return;
    const view = new DataView(buf);
    const kind = view.getUint8(0);
    if (kind === 3) return this.onCursor(view, buf);
    if (kind !== 1 || buf.byteLength <= 16) return;
    const now = performance.now();
    const key = (view.getUint8(1) & 1) !== 0;
    const ptsUs = Number(view.getBigInt64(4, true) / 1000n);
    const ageUs = view.getUint32(12, true);
    const au = new Uint8Array(buf, 16);
    this.c.received++;
    this.second.frames++;
    this.second.bytes += au.length;
    if (key) this.c.keyframes++;
    if (key) {
      const codec = codecOf(au);
      if (codec && codec !== this.codec) {
        this.resetDecoder();
        this.newDecoder(codec);
      }
    }
    if (this.decoder && this.inDecoder > MAX_DECODE_BEHIND) {
      // The machine cannot decode this head as fast as it comes: start
      // again at the next IDR rather than fall further behind.
      this.resetDecoder();
      this.askKeyframe();
      this.setState("decoding fell behind: waiting for a keyframe");
    }
    if (!this.decoder) { this.c.dropped++; return; }   // resume at an IDR
    this.arrivals.set(ptsUs, [now, ageUs === 0xFFFFFFFF ? null : ageUs / 1000]);
    this.decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp: ptsUs, data: au }));
    this.inDecoder++;
  }

  // Every picture is decoded (each depends on the one before); the canvas
  // shows the newest one when the page draws (scheduleDraw), so a page that
  // cannot draw every picture (many large heads, software rendering) skips
  // pictures instead of queueing them.
  decoded(frame) {
    const now = performance.now();
    const arrival = this.arrivals.get(frame.timestamp);
    this.arrivals.delete(frame.timestamp);
    if (arrival && arrival[1] !== null) this.latencies.push([now, arrival[1] + now - arrival[0]]);
    this.c.decoded++;
    this.inDecoder = Math.max(0, this.inDecoder - 1);
    if (this.pending) { this.pending.close(); this.c.skipped++; }
    this.pending = frame;
    scheduleDraw(this);
  }

  draw() {
    const frame = this.pending;
    this.pending = null;
    if (!frame) return;
    const w = frame.displayWidth, h = frame.displayHeight;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.placeCursor();
    }
    const ctx = this.canvas.getContext("2d");
    ctx.drawImage(frame, 0, 0);
    frame.close();
    this.c.drawn++;
    this.second.drawn++;
    this.c.width = w;
    this.c.height = h;
    if (!this.goodSince) {
      this.goodSince = performance.now();
      this.setState("");
    }
    for (const hook of hfx.drawHooks) hook(this.id, ctx);
  }

  // Once a second: fps, bitrate and the latency p50 over the last second.
  tick() {
    const now = performance.now();
    while (this.latencies.length && this.latencies[0][0] < now - LATENCY_WINDOW_MS) this.latencies.shift();
    for (const [pts, [t]] of this.arrivals) if (t < now - 10000) this.arrivals.delete(pts);
    this.c.fps = this.second.frames;
    this.c.drawnFps = this.second.drawn;
    this.c.kbps = Math.round(this.second.bytes * 8 / 1000);
    this.c.latencyP50 = median(this.latencies.map((l) => l[1]));
    this.second = { frames: 0, bytes: 0, drawn: 0 };
    if (!this.on) { this.stats.textContent = "off"; return; }
    const lat = this.c.latencyP50 === null ? "–" : this.c.latencyP50.toFixed(1) + " ms";
    this.stats.textContent = (this.c.width ? this.c.width + "x" + this.c.height + "  " : "") +
      this.c.fps + " fps" + (this.c.drawnFps < this.c.fps - 1 ? " (" + this.c.drawnFps + " drawn)" : "") + "  " + this.c.kbps + " kbit/s  " + this.c.keyframes + " key  latency p50 " + lat;
  }

  // ---- enable, resize, disable ----

  async control(what, params) {
    this.setState(what + "…");
    try {
      const r = await fetch(withToken("api/heads/" + this.id + "/" + what, params), { method: "POST" });
      const text = await r.text();
      if (!r.ok) throw new Error(text || r.status + " " + r.statusText);
      const info = JSON.parse(text);
      this.setState("");
      this.update(info);
      if (info.enabled) this.askKeyframe();
    } catch (e) {
      this.setState(what + " failed: " + e.message);
    }
  }

  enable() {
    const spec = this.sizeSelect.value || this.sizeField.value.trim();
    const m = /^(\d+)\s*[xX×]\s*(\d+)$/.exec(spec);
    if (!m) { this.setState("size: give WxH, e.g. 1280x720"); return; }
    this.control("enable", { width: m[1], height: m[2] });
  }

  disable() { this.control("disable", {}); }

  // ---- the cursor: its own canvas over the video, placed in head pixels ----

  onCursor(view, buf) {
    if (buf.byteLength < 20) return;
    const flags = view.getUint8(1);
    this.cur = this.cur || { hotX: 0, hotY: 0, w: 0, h: 0 };
    this.cur.x = view.getInt32(4, true);
    this.cur.y = view.getInt32(8, true);
    this.cur.visible = (flags & 1) !== 0;
    if (flags & 2) {
      const w = view.getUint16(16, true), h = view.getUint16(18, true);
      if (buf.byteLength >= 20 + w * h * 4 && w && h) {
        this.cur.hotX = view.getUint16(12, true);
        this.cur.hotY = view.getUint16(14, true);
        this.cur.w = w;
        this.cur.h = h;
        const src = new Uint8Array(buf, 20, w * h * 4);
        const img = new ImageData(w, h);
        for (let i = 0; i < w * h * 4; i += 4) {   // ARGB8888 little-endian: B G R A
          img.data[i] = src[i + 2]; img.data[i + 1] = src[i + 1];
          img.data[i + 2] = src[i]; img.data[i + 3] = src[i + 3];
        }
        this.cursor.width = w;
        this.cursor.height = h;
        this.cursor.getContext("2d").putImageData(img, 0, 0);
      }
    }
    // Placed once per animation frame, and only in view: a cursor moves
    // with every picture, and each placement costs the page a layout.
    if (!this.cursorQueued && this.visible) {
      this.cursorQueued = true;
      requestAnimationFrame(() => { this.cursorQueued = false; this.placeCursor(); });
    }
  }

  // In percent of the head's size, so it follows the canvas's scaling.
  placeCursor() {
    const c = this.cur, W = this.canvas.width, H = this.canvas.height;
    if (!c || !c.w || !W || !H) { this.cursor.hidden = true; return; }
    this.cursor.hidden = !c.visible;
    Object.assign(this.cursor.style, {
      left: ((c.x - c.hotX) / W * 100) + "%", top: ((c.y - c.hotY) / H * 100) + "%",
      width: (c.w / W * 100) + "%", height: (c.h / H * 100) + "%" });
  }

  // ---- input: only while this head's screen has the focus ----

  input(kind, down, a, b) {
    const m = new DataView(new ArrayBuffer(12));
    m.setUint8(0, 2);
    m.setUint8(1, kind);
    m.setUint8(2, down ? 1 : 0);
    m.setInt32(4, a, true);
    m.setInt32(8, b, true);
    this.send(m.buffer);
    this.c.inputs++;
  }

  // Head pixels of a pointer event, from the canvas's displayed size.
  headXY(e) {
    const r = this.canvas.getBoundingClientRect();
    const clamp = (v, max) => Math.min(Math.max(Math.floor(v), 0), Math.max(max - 1, 0));
    return [clamp((e.clientX - r.left) / r.width * this.canvas.width, this.canvas.width),
      clamp((e.clientY - r.top) / r.height * this.canvas.height, this.canvas.height)];
  }

  flushMove() {
    if (!this.pendingMove) return;
    const [x, y] = this.pendingMove;
    this.pendingMove = null;
    this.input(INPUT_POINTER, false, x, y);
  }

  bindInput() {
    const s = this.screen, focused = () => document.activeElement === s && this.c.width > 0;
    const key = (e, down) => {
      const code = EVDEV[e.code];
      if (!focused() || code === undefined) return;
      e.preventDefault();
      if (down) this.keysDown.add(code); else this.keysDown.delete(code);
      this.input(INPUT_KEY, down, code, 0);
    };
    s.addEventListener("keydown", (e) => key(e, true));
    s.addEventListener("keyup", (e) => key(e, false));
    // Keys and buttons held when the focus leaves would stay down in the guest.
    s.addEventListener("blur", () => {
      for (const code of this.keysDown) this.input(INPUT_KEY, false, code, 0);
      for (const b of this.buttonsDown) this.input(INPUT_BUTTON, false, b + 1, 0);
      this.keysDown.clear();
      this.buttonsDown.clear();
    });
    // Moves are sent at most once per animation frame (the latest), and
    // always before a button or wheel event so the VM sees them in order.
    s.addEventListener("pointermove", (e) => {
      if (!focused()) return;
      const first = !this.pendingMove;
      this.pendingMove = this.headXY(e);
      if (first) requestAnimationFrame(() => this.flushMove());
    });
    s.addEventListener("pointerdown", (e) => {
      if (!focused()) return;   // the first click only gives the focus
      e.preventDefault();
      s.setPointerCapture(e.pointerId);
      this.pendingMove = this.headXY(e);
      this.flushMove();
      if (e.button >= 0 && e.button <= 4) {
        this.buttonsDown.add(e.button);
        this.input(INPUT_BUTTON, true, e.button + 1, 0);
      }
    });
    s.addEventListener("pointerup", (e) => {
      if (!focused()) return;
      this.flushMove();
      // Only what went down here: the click that gave the focus sent no press.
      if (this.buttonsDown.delete(e.button)) this.input(INPUT_BUTTON, false, e.button + 1, 0);
    });
    s.addEventListener("mousedown", () => { if (document.activeElement !== s) s.focus(); });
    s.addEventListener("contextmenu", (e) => { if (focused()) e.preventDefault(); });
    // Wheel: a step per notch (100 px, 3 lines or a page), carried over.
    s.addEventListener("wheel", (e) => {
      if (!focused()) return;
      e.preventDefault();
      const unit = e.deltaMode === 0 ? 100 : e.deltaMode === 1 ? 3 : 1;
      this.wheel.x += e.deltaX / unit;
      this.wheel.y += e.deltaY / unit;
      const sx = Math.max(-32, Math.min(32, Math.trunc(this.wheel.x)));
      const sy = Math.max(-32, Math.min(32, Math.trunc(this.wheel.y)));
      if (!sx && !sy) return;
      this.wheel.x -= sx;
      this.wheel.y -= sy;
      this.flushMove();
      this.input(INPUT_WHEEL, false, sx, sy);
    }, { passive: false });
  }
}

// ---- drawing ----

// Heads with a new picture to show. Once per animation frame the page draws
// them in turn for at most DRAW_BUDGET_MS, the rest at the next. Drawing is
// what costs (a 1080p picture takes 8-12 ms to draw with software
// rendering, decoding it far less), so when a decoder falls behind (more
// than DECODE_BEHIND chunks in it) the page draws less often: it keeps to
// a share of the time (hfx.drawShare, down to MIN_DRAW_SHARE) that grows
// back while every decoder keeps up. Every picture is decoded; fewer are
// shown. Heads off screen or hidden (one-head view) are not drawn until
// they come into view.
const DRAW_BUDGET_MS = 8;
const DECODE_BEHIND = 4;
const MIN_DRAW_SHARE = 0.15;
const drawQueue = new Set();
let drawScheduled = false, drawAgainAt = 0;
hfx.drawShare = 1;

function adaptDrawShare() {
  let behind = 0;
  for (const h of heads.values()) if (h.decoder) behind = Math.max(behind, h.inDecoder);
  hfx.drawShare = behind > DECODE_BEHIND ? Math.max(MIN_DRAW_SHARE, hfx.drawShare * 0.8)
    : Math.min(1, hfx.drawShare + 0.01);
}

function scheduleDraw(head) {
  if (!head.visible) return;   // drawn when it comes into view
  drawQueue.add(head);
  if (!drawScheduled) {
    drawScheduled = true;
    requestAnimationFrame(drawSome);
  }
}

function drawSome(now) {
  drawScheduled = false;
  adaptDrawShare();
  if (now >= drawAgainAt) {
    const start = performance.now();
    for (const h of drawQueue) {
      if (performance.now() - start >= DRAW_BUDGET_MS) break;
      drawQueue.delete(h);
      if (h.visible) h.draw();
    }
    drawAgainAt = start + (performance.now() - start) / hfx.drawShare - 2;
  }
  if (drawQueue.size) {
    drawScheduled = true;
    requestAnimationFrame(drawSome);
  }
}

const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const h = e.target.head;
    h.visible = e.isIntersecting;
    if (h.visible && h.pending) scheduleDraw(h);
    if (h.visible) h.placeCursor();
  }
});

// ---- the page ----

const heads = new Map();   // id -> Head
let listBackoff = BACKOFF_MIN_MS;

// The grid, or one head alone (#head=N).
function route() {
  const m = /^#head=(\d+)$/.exec(location.hash);
  const one = m ? Number(m[1]) : null;
  document.body.classList.toggle("single", one !== null);
  document.getElementById("back").hidden = one === null;
  for (const [id, h] of heads) {
    h.el.classList.toggle("chosen", id === one);
    h.el.hidden = one !== null && id !== one;
  }
  if (one !== null && heads.has(one)) heads.get(one).screen.focus();
}

// Asks for the list of heads, adds and updates them; again every few
// seconds, so heads switched elsewhere show up. Failing, it retries with
// the same backoff as the sockets and says why.
async function refreshList() {
  let delay = LIST_EVERY_MS;
  try {
    const r = await fetch(withToken("api/heads"));
    const text = await r.text();
    if (r.status === 403 && !TOKEN) { noToken(text); return; }
    if (!r.ok) throw new Error(text || r.status + " " + r.statusText);
    const list = JSON.parse(text).scanouts || [];
    for (const s of list) {
      if (!(s.id >= 0 && s.id < HEADS)) continue;
      if (!heads.has(s.id)) {
        heads.set(s.id, new Head(s.id));
        const grid = document.getElementById("grid");
        const after = [...heads.keys()].filter((i) => i > s.id).sort((a, b) => a - b)[0];
        grid.insertBefore(heads.get(s.id).el, after === undefined ? null : heads.get(after).el);
        route();
      }
      heads.get(s.id).update(s);
    }
    const on = list.filter((s) => s.enabled).length;
    setStatus(on + " of " + list.length + " heads on");
    listBackoff = BACKOFF_MIN_MS;
  } catch (e) {
    delay = listBackoff;
    listBackoff = Math.min(listBackoff * 2, BACKOFF_MAX_MS);
    setStatus("cannot list the heads, again in " + (delay / 1000).toFixed(1) + " s: " + e.message);
  }
  setTimeout(refreshList, delay);
}

function noToken(reason) {
  const u = location.origin + location.pathname;
  document.getElementById("notice").hidden = false;
  document.getElementById("notice").replaceChildren(
    el("h2", { textContent: "This page needs a token" }),
    el("p", { textContent: "Open it as " }, el("code", { textContent: u + "?token=TOKEN" }),
      ": the exporter's control token shows and drives every head (hfx serve --token-out FILE " +
      "writes it; hfx token --secret-file F prints it for the secret given to hfx run or the " +
      "in-QEMU exporter), a head's token only that head (hfx ctl mint N, or the guest's lease " +
      "manager)."),
    el("p", { className: "why", textContent: "The server said: " + reason }));
  setStatus("no token");
}

function start() {
  if (!("VideoDecoder" in window)) {
    setStatus("this browser has no WebCodecs VideoDecoder" +
      (window.isSecureContext ? "" : " here: it needs a secure context (https, or http on localhost)"));
    return;
  }
  window.addEventListener("hashchange", route);
  document.getElementById("back").onclick = () => { location.hash = ""; };
  setInterval(() => heads.forEach((h) => h.tick()), 1000);
  refreshList();
}
start();
