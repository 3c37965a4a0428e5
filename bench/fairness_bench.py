"""Fairness benchmark: a lone order's round trip while four sessions flood the venue.

    .venv/bin/python -m bench.fairness_bench [--seconds 5] [--fsync always]

Runs `kabuto serve --insecure` (no chain batcher, no throttle; the journal as --fsync says: serve's
default `always`, `off`, or `none`, no journal) in a subprocess. Four flooding sessions, each in a process
of its own, send batch frames as fast as the venue answers them, with at most --window frames in
flight each: a frame of --batch new orders (priced away from the mid, so nothing trades), then a
frame canceling them, so the book stays bounded. A fifth session pair sends lone orders at --rate
per second (bench/zmq_load.c, open loop, alternating a buyer and a seller at the mid: each sell
fills the buy before it) and measures each one's round trip to its first report. The baseline is
the same lone-order run on the same venue with no flood, measured first. While the flood goes on,
the same client then measures round trips to zmq_load's C echo (no venue, no Python): the floor
that the flood's load on the machine's cores sets for any round trip.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

from bench.gateway_bench import SYM, build_load, c_floor, cpu_seconds, latency, start_venue

FLOODERS = 4
JOURNALS = {"always": "fsync always (serve's default)", "off": "--fsync off", "none": "--no-journal"}
ANSWERS = [msgpack.packb(ev) for ev in ("accepted", "canceled", "rejected")]


def _flood_frames(k: int, batch: int, count: int) -> list[bytes]:
    """Pairs of frames for flooder k: batch new orders away from the mid, then the cancels of those orders."""
    side = "buy" if k % 2 == 0 else "sell"
    frames = []
    cl = 0
    for f in range(count):
        cls = list(range(cl + 1, cl + batch + 1))
        cl += batch
        news = []
        for c in cls:
            ticks = 24000 - c % 50 if side == "buy" else 26000 + c % 50  # 240.00 and below, 260.00 and above
            news.append(["new", c, c, SYM, side, "limit", f"{ticks // 100}.{ticks % 100:02d}", "0.100"])
        frames.append(msgpack.packb(["batch", 2 * f, news]))
        frames.append(msgpack.packb(["batch", 2 * f + 1, [["cancel", c, c] for c in cls]]))
    return frames


def role_flood(endpoint: str, k: int, seconds: float, batch: int, window: int, ready: str) -> dict:
    """One flooding session: keeps window frames of batch commands in flight for seconds after ready exists."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    s.send(msgpack.packb(["logon", 0, {"account": f"flood{k}"}]))
    s.recv()
    frames = _flood_frames(k, batch, 200)
    Path(ready).with_suffix(f".flood{k}").write_text("ready")
    while not os.path.exists(ready):
        time.sleep(0.01)
    sent = answered = 0
    limit = window * batch
    t0 = time.perf_counter()
    t_end = t0 + seconds
    i = 0
    while True:
        now = time.perf_counter()
        if now < t_end:
            while sent - answered < limit:
                s.send(frames[i % len(frames)], copy=False)
                i += 1
                sent += batch
        elif answered >= sent:
            break
        if not s.poll(1000) and now > t_end + 10:
            break
        while True:
            try:
                payload = s.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            answered += sum(payload.count(a) for a in ANSWERS)  # bytes, not msgpack: CPU is the venue's
    dt = time.perf_counter() - t0
    s.close()
    ctx.term()
    return {"commands": answered, "seconds": dt, "per_s": answered / dt}


def run(seconds: float, rate: float, batch: int, window: int, fsync: str, serve: list[str] = ()) -> dict:
    """Baseline lone orders, then the same under four floods; returns every figure (serve: more serve options)."""
    durability = {"always": [], "off": ["--fsync", "off"], "none": ["--no-journal"]}[fsync] + list(serve)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        load = build_load(tmp)
        venue, ep, _ = start_venue(tmp, False, durability)
        try:
            base = latency(load, tmp, ep["orders"], seconds, rate, False)
            go = tmp / "go"
            flood_seconds = 2 * seconds + 4 if load else seconds + 3
            floods = [subprocess.Popen([sys.executable, "-m", "bench.fairness_bench", "--role", ep["orders"], str(k),
                                        str(flood_seconds), str(batch), str(window), str(go)],
                                       stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).parent.parent))
                      for k in range(FLOODERS)]
            deadline = time.monotonic() + 120
            while not all(go.with_suffix(f".flood{k}").exists() for k in range(FLOODERS)):
                if time.monotonic() > deadline:
                    raise SystemExit("the flooders did not log on")
                time.sleep(0.05)
            cpu0 = cpu_seconds(venue.pid)
            go.write_text("go")
            time.sleep(1.0)  # the floods reach their pace first
            flooded = latency(load, tmp, ep["orders"], seconds, rate, False)
            # the same load on the machine, but round trips to zmq_load's C echo, not to the venue:
            # what the flood's CPU load alone does to a round trip (the floor under it)
            echo = c_floor(load, rate, seconds) if load else None
            results = []
            for p in floods:
                out, _ = p.communicate(timeout=flood_seconds + 60)
                results.append(json.loads(out.strip().splitlines()[-1]))
            cpu = cpu_seconds(venue.pid) - cpu0
        finally:
            venue.terminate()
            venue.wait(timeout=30)
    commands = sum(r["commands"] for r in results)
    return {"baseline": base, "flooded": flooded, "echo_under_flood": echo, "floods": results,
            "flood_per_s": sum(r["per_s"] for r in results), "flood_min_per_s": min(r["per_s"] for r in results),
            "flood_max_per_s": max(r["per_s"] for r in results), "cpu_us": cpu / max(commands, 1) * 1e6}


def table(r: dict, rate: float, batch: int, window: int, fsync: str, serve: list[str] = ()) -> list[str]:
    """The figures as a fixed-width table (ratios against the no-flood baseline of the same run)."""
    cut = next((o.split("=", 1)[1] for o in serve if o.startswith("--batch-target=")),
               "4096 (default)" if fsync == "always" else "256 (default)")
    b, f = r["baseline"], r["flooded"]
    rows = [(f"lone order round trip p50 us at {rate:.0f}/s", f["p50"], b["p50"], ""),
            ("lone order round trip p99 us", f["p99"], b["p99"], "<= 2000"),
            ("lone order round trip max us", f["max"], b["max"], ""),
            *([("floor: C client to C echo during the flood, p50 us", e["p50"], None, ""),
               ("floor: the same, p99 us", e["p99"], None, "")] if (e := r.get("echo_under_flood")) else []),
            ("flood: commands answered per second, 4 sessions", r["flood_per_s"], None, ""),
            ("flood: slowest / fastest session, commands/s", r["flood_min_per_s"], r["flood_max_per_s"], ""),
            ("venue CPU per flood command, us", r["cpu_us"], None, "")]
    out = [f"{'measure':52} {'flooded':>10} {'baseline':>10} {'ratio':>7}  target",
           f"(4 flooders: frames of {batch} new orders then their {batch} cancels, {window} frames in flight each; "
           f"journal: {JOURNALS[fsync]}; batch cut {cut}; "
           f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
           f"lone orders answered {f['answered']}/{f['orders']}; baseline: same run, no flood)"]
    for name, v, base, target in rows:
        ratio = f"{v / base:7.2f}" if base else "      -"
        bs = f"{base:10.1f}" if base is not None else f"{'-':>10}"
        out.append(f"{name:52} {v:10.1f} {bs} {ratio}  {target}")
    return out


def main(quick: bool = False) -> list[str]:
    """The bench section: one run without journal (the default batch cut, 256), one with serve's default
    `--fsync always` (batch cut 4096)."""
    seconds = 3.0 if quick else 5.0
    lines = []
    for fsync in ("none", "always"):
        r = run(seconds, 200.0, 100, 4, fsync)
        lines += ["```"] + table(r, 200.0, 100, 4, fsync) + ["```", ""]
    return lines


def cli() -> int:
    """Command line: one run, the table printed (and the figures as JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each lone-order run")
    ap.add_argument("--rate", type=float, default=200.0, help="lone orders per second")
    ap.add_argument("--batch", type=int, default=100, help="commands per flood frame")
    ap.add_argument("--window", type=int, default=4, help="flood frames in flight per session")
    ap.add_argument("--fsync", default="always", choices=("always", "off", "none"),
                    help="the venue's journal: fsync always (serve's default), no fsync, no journal")
    ap.add_argument("--serve", nargs="+", default=[], metavar="OPTION",
                    help="more `kabuto serve` options (e.g. --serve=--batch-target=256)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        ep, k, secs, batch, window, ready = args.role
        print(json.dumps(role_flood(ep, int(k), float(secs), int(batch), int(window), ready)))
        return 0
    r = run(args.seconds, args.rate, args.batch, args.window, args.fsync, args.serve)
    print("\n".join(table(r, args.rate, args.batch, args.window, args.fsync, args.serve)))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
