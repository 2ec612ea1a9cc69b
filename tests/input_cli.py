#!/usr/bin/env python3
"""hfx input and hfx latency against the real `hfx serve` (the synthetic
source on a still screen, which shows input as the test guest does: the
input panel, source/input_stamp.h, whose colour band changes per key press).

hfx input: refused without a token (DENIED, exit 1), taken with the control
token and with head 1's own token (exit 0, STATS counts the events on head 1
only), head 1's token refused on head 0, hfx sub --check passes over the
panel; bad actions exit 2 and send nothing. hfx latency:
five samples, each line, the statistics and the verdict on stdout, the JSON
agreeing with them. Uses deployed_clients.py's Server.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deployed_clients import ADDR, CheckFailed, Server  # noqa: E402


def hfx(srv, *args, timeout=60):
    cmd = [srv.bin, args[0], "--connect", "tcp:%s:%d" % (ADDR, srv.port)] + list(args[1:])
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CheckFailed("%s did not end within %d s" % (" ".join(cmd), timeout)) from None


def input_events(srv, token_file, scanout):
    r = hfx(srv, "ctl", "--token-file", token_file, "stats", str(scanout))
    if r.returncode != 0:
        raise CheckFailed("hfx ctl stats: %s" % r.stderr)
    return json.loads(r.stdout)["scanouts"][0]["input_events"]


def check_input(srv, tmp, ctl_token):
    r = hfx(srv, "input", "--scanout", "1", "key", "a")
    if r.returncode != 1 or "error -7" not in r.stderr:
        raise CheckFailed("without a token: exit %d, %r" % (r.returncode, r.stderr))
    r = hfx(srv, "ctl", "--token-file", ctl_token, "mint", "1")
    head1 = os.path.join(tmp, "head1.token")
    with open(head1, "w") as f:
        f.write(r.stdout)
    before0, before1 = input_events(srv, ctl_token, 0), input_events(srv, ctl_token, 1)
    r = hfx(srv, "input", "--scanout", "1", "--token-file", head1, "type", "Hi", "move", "10",
            "20", "click", "8000", "8000", "right", "wheel", "-2", "1")
    sent = r.stdout.count("sent: scanout 1 ")
    # H (shift down, h down, h up, shift up), i (2), move, click (move, down, up), wheel
    if r.returncode != 0 or sent != 11:
        raise CheckFailed("head token: exit %d, %d events sent: %s %s" % (r.returncode, sent,
                                                                          r.stdout, r.stderr))
    r = hfx(srv, "input", "--scanout", "1", "--token-file", ctl_token, "key", "enter")
    if r.returncode != 0 or "key 28 down" not in r.stdout:
        raise CheckFailed("control token: exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    r = hfx(srv, "input", "--scanout", "0", "--token-file", head1, "key", "a")
    if r.returncode != 1 or "error -7" not in r.stderr:
        raise CheckFailed("head 1's token on head 0: exit %d, %r" % (r.returncode, r.stderr))
    after0, after1 = input_events(srv, ctl_token, 0), input_events(srv, ctl_token, 1)
    if after1 - before1 != 13 or after0 != before0:
        raise CheckFailed("input_events: head 1 +%d (want 13), head 0 +%d (want 0)"
                          % (after1 - before1, after0 - before0))
    # The synthetic head shows it as the test guest does (the input panel),
    # which hfx sub --check leaves out of its comparison.
    r = hfx(srv, "sub", "--scanout", "1", "--token-file", ctl_token, "--frames", "1", "--check",
            "idle", "--output", os.devnull)
    if r.returncode != 0:
        raise CheckFailed("hfx sub --check idle after input: %s" % r.stderr[-500:])
    for bad in (["bogus"], ["key", "nosuchkey"], ["wheel", "0"], ["key", "a", "move", "1"],
                ["move", "9000", "1"]):
        r = hfx(srv, "input", "--scanout", "1", "--token-file", head1, *bad)
        if r.returncode != 2 or "sent:" in r.stdout:
            raise CheckFailed("%s: exit %d, not 2, or sent: %s" % (bad, r.returncode, r.stdout))


SAMPLE = re.compile(r"^hfx latency: scanout 1: sample (\d)/5: ([\d.]+) ms$", re.M)


def check_latency(srv, tmp, ctl_token):
    out = os.path.join(tmp, "latency.json")
    r = hfx(srv, "latency", "--scanout", "1", "--token-file", ctl_token, "--count", "5",
            "--pause", "200", "--still", "200", "--region", "208,8,64,64", "--json", out)
    print(r.stdout, end="")
    if r.returncode != 0:
        raise CheckFailed("hfx latency exited with %d: %s" % (r.returncode, r.stderr))
    samples = [float(ms) for _, ms in SAMPLE.findall(r.stdout)]
    with open(out) as f:
        j = json.load(f)
    if len(samples) != 5 or j["samples"] != 5 or j["missed"] != 0:
        raise CheckFailed("%d sample lines, JSON %r" % (len(samples), j))
    if len(j["samples_ms"]) != 5 or any(abs(a - b) > 0.051
                                        for a, b in zip(j["samples_ms"], samples)):
        raise CheckFailed("JSON samples %s, lines %s" % (j["samples_ms"], samples))
    srt = sorted(j["samples_ms"])
    if j["min_ms"] != srt[0] or j["max_ms"] != srt[-1] or j["p50_ms"] != srt[2]:
        raise CheckFailed("min/p50/max %s %s %s of %s" % (j["min_ms"], j["p50_ms"], j["max_ms"],
                                                          srt))
    want = ("EXCELLENT" if j["p50_ms"] < 50 else "GOOD" if j["p50_ms"] < 80 else
            "ACCEPTABLE" if j["p50_ms"] < 120 else "POOR")
    if j["verdict"] != want or ("verdict: %s" % want) not in r.stdout:
        raise CheckFailed("verdict %s, want %s" % (j["verdict"], want))
    # On loopback with nothing else drawing, a key shows within a frame or two.
    if j["p50_ms"] > 500:
        raise CheckFailed("p50 %.1f ms on the synthetic source" % j["p50_ms"])


def main():
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        token = os.path.join(tmp, "control.token")
        try:
            with Server("idle", extra=["--token-out", token]) as srv:
                for name, fn in (("hfx input", check_input), ("hfx latency", check_latency)):
                    print("%s:" % name, flush=True)
                    try:
                        fn(srv, tmp, token)
                        print("  PASS", flush=True)
                    except (CheckFailed, OSError, ValueError, KeyError) as e:
                        failed.append(name)
                        print("  FAIL: %s" % e, flush=True)
        except CheckFailed as e:
            failed.append("setup: %s" % e)
    print("FAILED: " + "; ".join(failed) if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
