// hfx web's page: every head in a grid, each decoded with WebCodecs.
// Socket /ws/head/N?token=T: binary messages; video is a 16-byte header then
// one access unit (Annex B): byte 0 kind (1 = video), byte 1 flags (1
// keyframe, 2 resumed), bytes 2-3 zero, bytes 4-11 pts in ns, bytes 12-15 its
// age in us when sent, little-endian (docs/protocol.md, "Our page's protocol").
"use strict";

const HEADS = 16;
// The token the page was opened with (?token=), passed on to every request.
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const withToken = (path) => path + (TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "");

// "avc1.PPCCLL" from the SPS (NAL type 7) in an Annex B access unit.
function codecOf(au) {
  for (let i = 0; i + 4 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && (au[i + 3] & 0x1f) === 7) {
      const hex = (b) => b.toString(16).padStart(2, "0");
      return "avc1." + hex(au[i + 4]) + hex(au[i + 5]) + hex(au[i + 6]);
    }
  }
  return null;
}

class Head {
  constructor(id) {
    this.id = id;
    this.el = document.createElement("section");
    this.el.className = "head off";
    this.canvas = document.createElement("canvas");
    this.info = document.createElement("div");
    this.info.className = "info";
    this.el.append(this.canvas, this.info);
    document.getElementById("grid").append(this.el);
    this.frames = 0; this.bytes = 0; this.keyframes = 0;
    this.connect();
  }

  connect() {
    const url = new URL(withToken("ws/head/" + this.id), location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (e) => this.onMessage(e.data);
    this.ws.onclose = (e) => {
      this.closeDecoder();
      this.info.textContent = "head " + this.id + ": " + (e.reason || "closed");
    };
  }

  closeDecoder() {
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.decoder = null;
  }

  onMessage(buf) {
    if (typeof buf === "string") return;
    const view = new DataView(buf);
    if (view.getUint8(0) !== 1) return;
    const key = (view.getUint8(1) & 1) !== 0;
    const ptsUs = Number(view.getBigUint64(4, true) / 1000n);
    const au = new Uint8Array(buf, 16);
    if (!this.decoder) {
      if (!key) return;   // start at an IDR
      const codec = codecOf(au);
      if (!codec) return;
      this.decoder = new VideoDecoder({
        output: (frame) => this.draw(frame),
        error: (err) => { this.info.textContent = "decoder: " + err.message; this.closeDecoder(); },
      });
      this.decoder.configure({ codec, optimizeForLatency: true }); // no description: Annex B
      this.el.classList.remove("off");
    }
    this.decoder.decode(new EncodedVideoChunk({
      type: key ? "key" : "delta", timestamp: ptsUs, data: au }));
    this.frames++; this.bytes += au.length; if (key) this.keyframes++;
  }

  draw(frame) {
    if (this.canvas.width !== frame.displayWidth || this.canvas.height !== frame.displayHeight) {
      this.canvas.width = frame.displayWidth;
      this.canvas.height = frame.displayHeight;
    }
    this.canvas.getContext("2d").drawImage(frame, 0, 0);
    this.size = frame.displayWidth + "x" + frame.displayHeight;
    frame.close();
  }

  tick(secs) {
    if (!this.decoder) return;
    this.info.textContent = "head " + this.id + "  " + (this.size || "") + "  " +
      (this.frames / secs).toFixed(1) + " fps  " + (this.bytes * 8 / secs / 1000).toFixed(0) +
      " kbit/s  " + this.keyframes + " key";
    this.frames = 0; this.bytes = 0;
  }
}

// The heads that are on, from the exporter's STATS (api/heads); if that
// fails, every head is tried and those that send nothing stay hidden.
const heads = [];
async function start() {
  const status = document.getElementById("status");
  if (!("VideoDecoder" in window)) {
    status.textContent = "this browser has no WebCodecs VideoDecoder";
    return;
  }
  let ids = [...Array(HEADS).keys()];
  try {
    const r = await fetch(withToken("api/heads"));
    if (!r.ok) throw new Error(await r.text());
    ids = (await r.json()).scanouts.filter((s) => s.enabled).map((s) => s.id);
    status.textContent = ids.length + " heads on";
  } catch (e) {
    status.textContent = "no list of heads (" + e.message + "): trying all";
  }
  for (const i of ids) heads.push(new Head(i));
  setInterval(() => heads.forEach((h) => h.tick(1)), 1000);
}
start();
