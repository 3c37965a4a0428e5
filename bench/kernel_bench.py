"""Kernel throughput: numba engine vs the reference model and a floor kernel, on our mix and the peer logs.

Times are the benchmark process's CPU time (time.process_time): the same as wall time on an idle
machine, and much less disturbed by other processes on a shared 2-core box. The peer logs also run on
the engine as a user creates it (default sizing, grown as the book fills), alternated with the presized one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from kabuto.engine import kernel
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import load_instruments
from kabuto.engine.jit import njit
from kabuto.engine.records import EVENT_DTYPE
from kabuto.engine.reference import ReferenceEngine
from kabuto.replay.orderlog import Decoder

from bench.workload import bench_instruments, mixed_workload, resting_orders

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_BENCH = os.path.join(HERE, "..", "..", "shared", "bench")
CACHE = os.path.join(HERE, ".cache")
BATCH = 1 << 16
# figures from ../shared/bench/README.md: same kind of machine, core loop only, median of 3
PEERS = {"mixed": {"hroptatyr/clob (C)": 3.20e6, "Liquibook (C++)": 2.01e6},
         "lbpt": {"hroptatyr/clob (C)": 4.58e6, "Liquibook (C++)": 5.19e6}}


@njit(cache=True, _nrt=False)
def floor_kernel(cmds, ev):
    """The least a kernel can do: read each command, write one event."""
    for i in range(len(cmds)):
        c = cmds[i]
        e = ev[i]
        e.kind = c.op
        e.oid = c.oid
        e.sym = c.sym
        e.side = c.side
        e.px = c.px
        e.qty = c.qty
        e.acct = c.acct
        e.ts = c.ts
    return len(cmds)


def _run_batches(engine, cmds: np.ndarray) -> int:
    n = 0
    for i in range(0, len(cmds), BATCH):
        n += len(engine.process(cmds[i:i + BATCH]))
    return n


def time_numba(instruments, prefill: np.ndarray, steady: np.ndarray, repeats: int = 3,
               orders: int = 1 << 16) -> tuple[float, int]:
    """Best seconds for the steady commands after an untimed prefill, and the events they printed."""
    best, events = float("inf"), 0
    for _ in range(repeats):
        engine = Engine(instruments, orders=orders, events=4 * BATCH)
        _run_batches(engine, prefill)
        t = time.process_time()
        events = _run_batches(engine, steady)
        best = min(best, time.process_time() - t)
    return best, events


def time_reference(instruments, prefill: np.ndarray, steady: np.ndarray) -> float:
    """Seconds the reference model takes for the steady commands after an untimed prefill."""
    ref = ReferenceEngine(instruments)
    ref.process(prefill)
    t = time.process_time()
    ref.process(steady)
    return time.process_time() - t


def time_floor(cmds: np.ndarray, repeats: int = 3) -> float:
    """Best seconds of the floor kernel over cmds."""
    ev = np.zeros(len(cmds), EVENT_DTYPE)
    floor_kernel(cmds[:10], ev)
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        floor_kernel(cmds, ev)
        best = min(best, time.process_time() - t)
    return best


def peer_log(workload: str, n: int) -> tuple[str, str, dict]:
    """(log path, instruments path, expected counts) of a peer workload, generated once and cached."""
    os.makedirs(CACHE, exist_ok=True)
    base = os.path.join(CACHE, f"{workload}-{n}")
    if not os.path.exists(base + ".expect.json"):
        gen = os.path.join(SHARED_BENCH, "gen_workload.py")
        subprocess.run([sys.executable, gen, workload, "--n", str(n), "-o", base + ".jsonl"], check=True)
    with open(base + ".expect.json") as f:
        return base + ".jsonl", base + ".instruments.toml", json.load(f)


def check_expect(engine: Engine, events: np.ndarray, expect: dict) -> None:
    """Raise when the engine's result differs from the generator's expected counts."""
    fills = events[events["kind"] == 1]
    bids, asks = engine.book(0)
    got = {"fills": len(fills), "fill_qty": int(fills["qty"].sum()), "resting_orders": engine.live_orders,
           "best_bid": bids[0][0] if bids else None, "best_ask": asks[0][0] if asks else None}
    for k, v in got.items():
        if expect[k] != v:
            raise AssertionError(f"peer log {expect['workload']}: {k} = {v}, generator expects {expect[k]}")


def bench_peer(workload: str, n: int) -> dict:
    """Kernel time on a peer log, checked against the generator's expected counts."""
    path, inst_path, expect = peer_log(workload, n)
    instruments = load_instruments(inst_path)
    with open(path, "rb") as f:
        cmds = Decoder(instruments).decode_chunk(f.read(), 1)
    orders = 1 << 21 if workload == "lbpt" else 1 << 15
    best = float("inf")
    for _ in range(3):
        engine = Engine(instruments, orders=orders, events=len(cmds) + 1024)
        t = time.process_time()
        events = engine.process(cmds)
        best = min(best, time.process_time() - t)
    check_expect(engine, events, expect)
    floor = time_floor(cmds)
    return {"workload": workload, "commands": len(cmds), "seconds": best, "floor_seconds": floor,
            "resting": engine.live_orders}


GROW_NAMES = {kernel.NEED_ORDERS: "orders", kernel.NEED_LEVELS: "levels", kernel.NEED_HASH: "oid hash",
              kernel.NEED_BOOK_LEVELS: "book levels", kernel.NEED_EVENTS: "events"}


def _timed_default_run(instruments, cmds: np.ndarray) -> tuple[float, list[tuple[str, int, float]]]:
    """Seconds of one batch on Engine(instruments) as a user creates it, and (pool, size before, seconds)
    of each growth step inside it."""
    engine = Engine(instruments)
    steps = []
    grow = engine._grow

    def timed(status: int) -> None:
        st = engine.state
        size = {kernel.NEED_ORDERS: len(st.o_oid), kernel.NEED_LEVELS: len(st.l_px), kernel.NEED_HASH: len(st.h_key),
                kernel.NEED_BOOK_LEVELS: st.b_lv.shape[1], kernel.NEED_EVENTS: len(engine._events)}[status]
        t = time.process_time()
        grow(status)
        steps.append((GROW_NAMES[status], size, time.process_time() - t))

    engine._grow = timed
    t = time.process_time()
    engine.process(cmds)
    return time.process_time() - t, steps


def bench_growth(workload: str, n: int, rounds: int = 3) -> dict:
    """Presized engine vs the default one on a peer log, runs alternated; the default run's growth steps."""
    path, inst_path, expect = peer_log(workload, n)
    instruments = load_instruments(inst_path)
    with open(path, "rb") as f:
        cmds = Decoder(instruments).decode_chunk(f.read(), 1)
    orders = 1 << 21 if workload == "lbpt" else 1 << 15
    presized, default, ratios, steps = [], [], [], []
    for _ in range(rounds):
        t = time.process_time()
        engine = Engine(instruments, orders=orders, events=len(cmds) + 1024)
        build = time.process_time() - t
        t = time.process_time()
        engine.process(cmds)
        presized.append((time.process_time() - t, build))
        seconds, steps = _timed_default_run(instruments, cmds)
        default.append(seconds)
        ratios.append(seconds / presized[-1][0])
    return {"workload": workload, "commands": len(cmds), "presized": min(p[0] for p in presized),
            "build": min(p[1] for p in presized), "default": min(default), "ratio": float(np.median(ratios)),
            "steps": steps}


def growth_lines(runs: list[dict]) -> list[str]:
    """Markdown: presized vs default engine per peer log, and the cost of each growth step."""
    lines = ["| peer log | presized engine | its construction | default `Engine(instruments)` | default / presized "
             "(median of alternated pairs) |", "|---|---:|---:|---:|---:|"]
    for r in runs:
        n = r["commands"]
        lines.append(f"| `{r['workload']}` | {n / r['presized'] / 1e6:.2f}M cmd/s | {r['build'] * 1e3:.0f} ms "
                     f"| {n / r['default'] / 1e6:.2f}M cmd/s | {r['ratio']:.2f} |")
    for r in runs:
        if r["steps"]:
            lines += ["", f"Growth steps of the default engine on `{r['workload']}` "
                      f"({sum(s[2] for s in r['steps']) * 1e3:.0f} ms in all):", "",
                      "| pool | size before | ms |", "|---|---:|---:|"]
            lines += [f"| {name} | {size:,} | {s * 1e3:.1f} |" for name, size, s in r["steps"]]
    return lines


def bench_mixed(n: int, reference_n: int) -> dict:
    """Our mixed workload: numba, floor and reference (on a prefix) in one run."""
    instruments = bench_instruments()
    prefill, steady = mixed_workload(n)
    Engine(instruments).process(steady[:100])  # compile or load the cache outside the timing
    numba_s, events = time_numba(instruments, prefill, steady)
    sub_numba, _ = time_numba(instruments, prefill, steady[:reference_n])
    ref_s = time_reference(instruments, prefill, steady[:reference_n])
    return {"workload": "kabuto-mixed", "commands": n, "seconds": numba_s, "events": events,
            "floor_seconds": time_floor(steady), "reference_n": reference_n, "reference_seconds": ref_s,
            "numba_on_reference_n": sub_numba}


def memory_for(n: int) -> dict:
    """Engine state bytes with n resting orders."""
    instruments = bench_instruments(1)
    engine = Engine(instruments, orders=n, events=BATCH)
    cmds = resting_orders(n)
    _run_batches(engine, cmds)
    return {"resting": engine.live_orders, "bytes": engine.memory_bytes()}


def command_latency(n: int) -> dict[str, np.ndarray]:
    """Microseconds of single-command kernel calls (Python dispatch included), and of the floor kernel."""
    instruments = bench_instruments()
    prefill, steady = mixed_workload(n)
    engine = Engine(instruments)
    _run_batches(engine, prefill)
    ev = np.zeros(1, EVENT_DTYPE)
    out = {"kabuto kernel, one command per call": np.empty(n), "floor kernel, one command per call": np.empty(n)}
    clock = time.perf_counter_ns
    a, b = out.values()
    for i in range(n):
        t = clock()
        engine.process(steady[i:i + 1])
        a[i] = (clock() - t) / 1e3
    for i in range(n):
        t = clock()
        floor_kernel(steady[i:i + 1], ev)
        b[i] = (clock() - t) / 1e3
    return out


def latency_lines(series: dict[str, np.ndarray]) -> list[str]:
    """A markdown table of latency percentiles (HdrHistogram, microseconds)."""
    from hdrh.histogram import HdrHistogram
    lines = ["| per-call latency | p50 us | p99 us | p99.9 us | max us |", "|---|---:|---:|---:|---:|"]
    for name, us in series.items():
        h = HdrHistogram(1, 60_000_000, 3)
        for v in (us * 1000).astype(np.int64):
            h.record_value(max(1, int(v)))
        p = [h.get_value_at_percentile(q) / 1000 for q in (50, 99, 99.9)]
        lines.append(f"| {name} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {h.get_max_value() / 1000:.1f} |")
    return lines


def main(quick: bool = False, plots: str | None = None) -> list[str]:
    """Run the kernel benchmarks and return the report lines (a markdown table)."""
    n = 400_000 if quick else 2_000_000
    mixed = bench_mixed(n, 20_000 if quick else 50_000)
    bars = [("kabuto, kabuto mixed", n / mixed["seconds"], "kabuto"),
            ("reference model, kabuto mixed", mixed["reference_n"] / mixed["reference_seconds"], "baseline")]
    ns = mixed["seconds"] / n * 1e9
    floor_ns = mixed["floor_seconds"] / n * 1e9
    ref_ns = mixed["reference_seconds"] / mixed["reference_n"] * 1e9
    sub_ns = mixed["numba_on_reference_n"] / mixed["reference_n"] * 1e9
    lines = ["| workload | commands | kabuto numba | ns/cmd | floor kernel ns/cmd | baseline | ratio |",
             "|---|---:|---:|---:|---:|---|---:|",
             f"| kabuto mixed (4 books, 40k resting, 60/30/5/5) | {n:,} | {n / mixed['seconds'] / 1e6:.2f}M cmd/s "
             f"| {ns:.0f} | {floor_ns:.1f} | reference model {1e9 / ref_ns / 1e3:.1f}k cmd/s "
             f"(first {mixed['reference_n']:,}) | {ref_ns / sub_ns:.0f}x |"]
    for workload, count in (("mixed", 200_000 if quick else 2_000_000), ("lbpt", 300_000 if quick else 3_000_000)):
        r = bench_peer(workload, count)
        rate = r["commands"] / r["seconds"]
        best_peer = max(PEERS[workload].values())
        peers = ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in PEERS[workload].items())
        lines.append(f"| peer log `{workload}` | {r['commands']:,} | {rate / 1e6:.2f}M cmd/s "
                     f"| {r['seconds'] / r['commands'] * 1e9:.0f} | {r['floor_seconds'] / r['commands'] * 1e9:.1f} "
                     f"| {peers} (their machine) | {rate / best_peer:.2f}x best peer |")
        bars.append((f"kabuto, peer log {workload}", rate, "kabuto"))
        bars += [(f"{k}, {workload}", v, "peer") for k, v in PEERS[workload].items()]
    lines += [""] + growth_lines([bench_growth("lbpt", 300_000 if quick else 3_000_000),
                                  bench_growth("mixed", 200_000 if quick else 2_000_000)])
    mem = memory_for(1_000_000)
    lines.append("")
    lines.append(f"Engine state with {mem['resting']:,} resting orders: {mem['bytes'] / 2**20:.0f} MiB.")
    latency = command_latency(20_000 if quick else 100_000)
    lines += [""] + latency_lines(latency)
    if plots:
        from bench import plots as p
        p.throughput_bars(bars, p.png(plots, "throughput.png"))
        p.latency_cdf(latency, p.png(plots, "latency.png"), "Kernel call latency, one command per call")
        lines += ["", "![throughput by workload](throughput.png)", "", "![latency CDF](latency.png)"]
    return lines


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
