#!/usr/bin/env python3
"""hfx sub --stats against the real `hfx serve` (the synthetic source).

The numbers must be plausible for what the source draws (typing: a change
every frame at 60 fps; idle: one frame, then nothing) and agree with each
other: the JSON (--stats-json) with the per-second lines on stderr, the
totals with the windows, the verdict with the platform's thresholds written
again here, and the frame count with what ffprobe counts in the stream
written. Bad option combinations are refused. --mux's MP4 lasts as long
as the recording (its frames at the exporter's times, not at a guessed
rate), and a head that is off ends with exit 1 and says how to turn it on.

Uses the standard library and deployed_clients.py's Server (killed on the
way out). Exit status 0 only if every check passed.
"""

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import ADDR, CheckFailed, Server  # noqa: E402

SOURCE_FPS = 60  # hfx serve --fps's default
WINDOW = re.compile(r"^hfx sub: scanout 0: second (\d+)(?: \(([\d.]+) s\))?: (\d+) frames "
                    r"\((\d+) key\), ([\d.]+) fps", re.M)
SUMMARY_LINES = ("stats over ", "fps: average ", "keyframes: ", "bandwidth: ", "frame size: ",
                 "jitter: ", "gaps: ", "verdict: ")


def platform_verdict(fps, target):
    """The platform's `benchmark` verdict (reference-design.md)."""
    for percent, name in ((95, "EXCELLENT"), (80, "GOOD"), (50, "DEGRADED")):
        if fps * 100 >= percent * target:
            return name
    return "POOR"


def sub_cmd(srv, args):
    return [srv.bin, "sub", "--connect", "tcp:%s:%d" % (ADDR, srv.port)] + list(args)


def sub(srv, *args):
    cmd = sub_cmd(srv, args)
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        raise CheckFailed("%s did not end within 30 s" % " ".join(cmd)) from None


def stats_of(r, json_text):
    """The JSON object and the window lines of one hfx sub --stats run, after
    checking that they agree."""
    if r.returncode != 0:
        raise CheckFailed("hfx sub exited with %d:\n%s" % (r.returncode, r.stderr[-2000:]))
    lines = json_text.splitlines()
    if len(lines) != 1:
        raise CheckFailed("--stats-json wrote %d lines, not 1: %r" % (len(lines), json_text[:500]))
    j = json.loads(lines[0])
    windows = [(int(n), float(part) if part else 1.0, int(f), int(k), float(fps))
               for n, part, f, k, fps in WINDOW.findall(r.stderr)]
    problems = []

    def want(cond, what):
        if not cond:
            problems.append(what)

    for line in SUMMARY_LINES:
        want("hfx sub: scanout 0: " + line in r.stderr, "no '%s' line on stderr" % line)
    want(j["scanout"] == 0, "scanout %r" % j["scanout"])
    want([w[0] for w in windows] == list(range(1, len(windows) + 1)),
         "window lines numbered %s" % [w[0] for w in windows])
    whole = [w for w in windows if w[1] == 1.0]
    want(len(whole) == j["windows"] == int(j["seconds"]),
         "%d whole-second lines, windows %d, %.3f s" % (len(whole), j["windows"], j["seconds"]))
    want(sum(w[2] for w in windows) == j["frames"], "the window lines hold %d frames, not %d"
         % (sum(w[2] for w in windows), j["frames"]))
    want(sum(w[3] for w in windows) == j["keyframes"], "the window lines hold %d keyframes, not %d"
         % (sum(w[3] for w in windows), j["keyframes"]))
    # The lines give rates to 0.1, the JSON seconds to 0.001.
    rates = [w[2] for w in whole] or [w[4] for w in windows]
    want(abs(min(rates) - j["fps_min"]) < 0.051 and abs(max(rates) - j["fps_max"]) < 0.051,
         "fps min-max %.3f-%.3f, the windows say %s" % (j["fps_min"], j["fps_max"], rates))

    def over_time(rate, total):
        """rate * seconds is total, but for the rounding of both."""
        return abs(rate * j["seconds"] - total) <= 0.0006 * rate + 0.01

    want(over_time(j["fps_average"], j["frames"]),
         "average fps %.3f, not frames/seconds" % j["fps_average"])
    want(over_time(j["kbit_per_s"], j["bytes"] * 8 / 1000),
         "%.3f kbit/s for %d bytes" % (j["kbit_per_s"], j["bytes"]))
    if j["frames"]:
        want(abs(j["frame_bytes_average"] - j["bytes"] / j["frames"]) < 0.1
             and j["frame_bytes_min"] <= j["frame_bytes_average"] <= j["frame_bytes_max"],
             "frame size %.1f (%d-%d)" % (j["frame_bytes_average"], j["frame_bytes_min"],
                                          j["frame_bytes_max"]))
    want(j["gaps"] == max(j["frames"] - 1, 0), "%d gaps for %d frames" % (j["gaps"], j["frames"]))
    want(j["gap_mean_ms"] * j["gaps"] <= j["seconds"] * 1000 + 1
         and j["gap_mean_ms"] <= j["gap_max_ms"] and j["jitter_ms"] >= 0,
         "gaps: mean %.3f ms, longest %.3f, jitter %.3f" % (j["gap_mean_ms"], j["gap_max_ms"],
                                                            j["jitter_ms"]))
    want(j["gaps_over_50ms"] >= j["gaps_over_100ms"] >= j["gaps_over_200ms"],
         "gaps over 50/100/200 ms: %d %d %d" % (j["gaps_over_50ms"], j["gaps_over_100ms"],
                                                 j["gaps_over_200ms"]))
    v = platform_verdict(j["fps_average"], j["target_fps"])
    want(j["verdict"] == v, "verdict %s, the platform's thresholds say %s" % (j["verdict"], v))
    want("hfx sub: scanout 0: verdict: %s (" % v in r.stderr, "no verdict line saying %s" % v)
    print("  %s" % lines[0])
    if problems:
        raise CheckFailed("; ".join(problems) + "\nstderr:\n" + r.stderr[-3000:])
    return j, windows


def ffprobe_frames(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.strip().isdigit():
        raise CheckFailed("ffprobe failed (%d): %s" % (r.returncode, r.stderr.strip()[:500]))
    return int(r.stdout)


def check_typing(srv, tmp):
    """3 s of a typing screen: about 60 fps, a keyframe, exactly 3 windows."""
    out, js = os.path.join(tmp, "typing.264"), os.path.join(tmp, "typing.json")
    r = sub(srv, "--stats", "--duration", "3", "--output", out, "--stats-json", js)
    with open(js) as f:
        j, windows = stats_of(r, f.read())
    print("  per second: %s" % [w[2] for w in windows])
    if j["seconds"] != 3.0 or j["windows"] != 3:
        raise CheckFailed("%.3f s in %d windows, not 3 s in 3" % (j["seconds"], j["windows"]))
    # A busy machine may lose some of the source's 60 fps; a rate far below
    # it, or above it, is a wrong measurement.
    if not 0.7 * SOURCE_FPS <= j["fps_average"] <= SOURCE_FPS + 2 or j["fps_max"] > SOURCE_FPS + 5:
        raise CheckFailed("fps %.1f (max %.1f) for a %d fps source"
                          % (j["fps_average"], j["fps_max"], SOURCE_FPS))
    if j["keyframes"] < 1 or j["target_fps"] != 60:
        raise CheckFailed("%d keyframes, target %.0f" % (j["keyframes"], j["target_fps"]))
    # What was written: the measured frames, and perhaps one that came as the
    # measurement ended.
    n = ffprobe_frames(out)
    if not j["frames"] <= n <= j["frames"] + 1:
        raise CheckFailed("ffprobe decodes %d frames from the stream, the stats counted %d"
                          % (n, j["frames"]))
    print("  ffprobe: %d frames in the stream written" % n)


def check_frames(srv):
    """--frames 30 ends the measurement early: a part-second last window."""
    r = sub(srv, "--stats", "--frames", "30", "--output", "/dev/null", "--stats-json", "-")
    j, windows = stats_of(r, r.stdout)
    if j["frames"] != 30 or j["seconds"] >= 3 or not windows[-1][1] < 1.0:
        raise CheckFailed("%d frames in %.3f s, last window %s" % (j["frames"], j["seconds"],
                                                                    windows[-1]))


def check_terminal(srv):
    """With stdout a terminal and no --output, --stats drops the stream: the
    terminal gets the JSON line (--stats-json -) and no H.264."""
    master, slave = os.openpty()
    cmd = sub_cmd(srv, ["--stats", "--frames", "10", "--stats-json", "-"])
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    tty = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.5)[0]:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            tty += chunk
        p.wait(max(deadline - time.monotonic(), 1))
        stderr = p.stderr.read().decode(errors="replace")
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()
    if b"\x00\x00\x00\x01" in tty or b"\x00\x00\x01" in tty:
        raise CheckFailed("H.264 reached the terminal (%d bytes)" % len(tty))
    r = subprocess.CompletedProcess(cmd, p.returncode, "", stderr)
    j, _ = stats_of(r, tty.decode(errors="replace").replace("\r", ""))
    if j["frames"] != 10:
        raise CheckFailed("%d frames, not 10" % j["frames"])


def check_still(srv):
    """An idle screen: its IDR, the frames in which the hybrid sharpens it for
    about a second (at most one a source frame period), then nothing; POOR
    against --target-fps 30."""
    r = sub(srv, "--stats", "--duration", "4", "--target-fps", "30", "--output", "/dev/null",
            "--stats-json", "-")
    j, windows = stats_of(r, r.stdout)
    later = sum(w[2] for w in windows[2:])
    print("  %d frames (%d key), per second %s" % (j["frames"], j["keyframes"],
                                                   [w[2] for w in windows]))
    if not (1 <= j["frames"] <= 3 + SOURCE_FPS and j["keyframes"] >= 1 and j["windows"] == 4
            and later <= 2 and j["verdict"] == "POOR" and j["target_fps"] == 30):
        raise CheckFailed("a still screen: %d frames (%d key) in %d windows, %d after the "
                          "second one, %.1f fps, %s against %.0f"
                          % (j["frames"], j["keyframes"], j["windows"], later,
                             j["fps_average"], j["verdict"], j["target_fps"]))


def check_refused(srv):
    """Option combinations that make no sense exit 2 before subscribing."""
    for args, says in ((["--stats-json", "-", "--output", "-"], "--stats-json"),
                       (["--target-fps", "30", "--duration", "1"], "--target-fps"),
                       (["--stats", "--target-fps", "0"], "--target-fps")):
        t = time.monotonic()
        r = sub(srv, *args)
        if r.returncode != 2 or says not in r.stderr or time.monotonic() - t > 5:
            raise CheckFailed("%s: exit %d, stderr %r" % (" ".join(args), r.returncode,
                                                          r.stderr[-500:]))
        print("  %s: refused: %s" % (" ".join(args), r.stderr.strip().splitlines()[0]))


def check_mux(srv, tmp):
    """--mux on a 25 fps source: the MP4 lasts as long as the recording
    (within 5 %) and holds every frame, about 25 a second. Muxed at a fixed
    rate, as the demo once did at 60 fps, it would last 25/60 of that."""
    path = os.path.join(tmp, "mux.mp4")
    seconds = 4
    r = sub(srv, "--duration", str(seconds), "--output", "/dev/null", "--mux", path, "--quiet")
    m = re.search(r"scanout 0: (\d+) frames", r.stderr)
    if r.returncode != 0 or not m:
        raise CheckFailed("hfx sub exited with %d:\n%s" % (r.returncode, r.stderr[-2000:]))
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "format=duration:stream=nb_frames", "-of", "default=nw=1", path],
                       capture_output=True, text=True, timeout=60)
    got = dict(l.split("=", 1) for l in p.stdout.split())
    duration, frames = float(got.get("duration", 0)), int(got.get("nb_frames", 0))
    print("  %s: %.3f s, %d frames (hfx sub counted %s)" % (path, duration, frames, m.group(1)))
    if abs(duration - seconds) > 0.05 * seconds or frames != int(m.group(1)):
        raise CheckFailed("the MP4 lasts %.3f s for a %d s recording, holds %d frames of %s"
                          % (duration, seconds, frames, m.group(1)))
    if not 0.7 * 25 <= frames / duration <= 25 + 2:
        raise CheckFailed("%.1f fps in the MP4 for a 25 fps source" % (frames / duration))


def check_head_off(srv):
    """A head that is off: no frame, exit 1, and the way to turn it on."""
    r = sub(srv, "--scanout", "1", "--duration", "1", "--output", "/dev/null")
    print("  " + "\n  ".join(r.stderr.strip().splitlines()[-2:]))
    if r.returncode != 1 or "head is probably off" not in r.stderr or " enable 1 " not in r.stderr:
        raise CheckFailed("exit %d, stderr %r" % (r.returncode, r.stderr[-1000:]))


def main():
    failed = []

    def run(name, fn, *args):
        print("%s:" % name, flush=True)
        try:
            fn(*args)
            print("  PASS", flush=True)
        except (CheckFailed, OSError, ValueError, KeyError) as e:
            failed.append(name)
            print("  FAIL: %s" % e, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        try:
            with Server("typing", heads=1) as srv:
                run("typing screen, --duration 3", check_typing, srv, tmp)
                run("typing screen, --frames 30", check_frames, srv)
                run("typing screen, stdout a terminal", check_terminal, srv)
                run("refused options", check_refused, srv)
                run("a head that is off", check_head_off, srv)
            with Server("typing", extra=["--fps", "25"], heads=1) as srv:
                run("25 fps typing screen, --mux", check_mux, srv, tmp)
            with Server("idle", heads=1) as srv:
                run("still screen, --target-fps 30", check_still, srv)
        except CheckFailed as e:
            failed.append("setup: %s" % e)
    print("%s" % ("FAILED: " + "; ".join(failed) if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
