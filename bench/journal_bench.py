"""Journal benchmark: gateway throughput under each fsync policy, fsync cost per batch, recovery speed.

    .venv/bin/python bench/journal_bench.py [--quick]

Throughput runs `kabuto serve --insecure` with `--fsync always`, `batch-ms 5`, `off` and
`--no-journal` (the baseline, same run) and drives it with the gateway benchmark's throughput
load (two sessions sending batch frames of crossing orders). The fsync cost is fdatasync after
appending one record of the mean batch size of the `always` run. Recovery replays the `always`
run's journal from an empty book (read, CRC, unpack, match, event hash); its baseline is the
engine alone running the same command batches from memory.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np

from bench.gateway_bench import _child, _result, start_venue

POLICIES = (("always", ["--fsync", "always"]), ("batch-ms 5", ["--fsync", "batch-ms", "5"]),
            ("off", ["--fsync", "off"]), ("no journal (baseline)", ["--no-journal"]))


def throughput(data: Path, extra: list[str], seconds: float) -> float:
    """Orders answered per second by a venue started with extra options (its state in data/venue)."""
    p, ep, _ = start_venue(data, False, extra + ["--snapshot-every", "0"])
    try:
        return _result(_child("throughput", ep["orders"], str(seconds), "200", "8", "venue", "-"))["per_s"]
    finally:
        p.terminate()
        p.wait(timeout=60)


def journal_batches(data: Path) -> list[bytes]:
    """The command bytes of every record of a venue's journal."""
    from kabuto.durability.journal import JournalReader
    return [msgpack.unpackb(body)[2] for _, body in JournalReader(data / "journal").scan()]


def fsync_cost(directory: Path, record_bytes: int, n: int) -> tuple[float, float]:
    """(mean, p99) microseconds of append + fdatasync of one record of record_bytes."""
    from kabuto.durability.journal import JournalWriter
    w = JournalWriter(directory, fsync="always")
    body = os.urandom(record_bytes)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        w.append(body)
        times.append(time.perf_counter() - t)
    w.close()
    times.sort()
    return 1e6 * sum(times) / n, 1e6 * times[int(n * 0.99) - 1]


def recovery(data: Path, batches: list[bytes]) -> tuple[float, float, int, int]:
    """(seconds to recover from the journal alone, seconds for the engine alone, records, commands)."""
    from kabuto.durability.recovery import recover_state
    from kabuto.engine.engine import Engine
    from kabuto.engine.instruments import load_instruments
    from kabuto.engine.records import COMMAND_DTYPE, empty_commands
    instruments = load_instruments(None)
    Engine(instruments).process(empty_commands(0))
    t_rec = float("inf")
    for _ in range(2):  # the first run also loads (or compiles) the kernel's growth helpers
        t = time.perf_counter()
        r = recover_state(data, instruments, use_snapshot=False)
        t_rec = min(t_rec, time.perf_counter() - t)
    arrays = [np.frombuffer(b, COMMAND_DTYPE) for b in batches]
    e = Engine(instruments)
    t = time.perf_counter()
    for a in arrays:
        e.process(a)
    t_eng = time.perf_counter() - t
    assert e.seq == r.engine.seq
    return t_rec, t_eng, r.records, r.commands


def snapshot_pause(data: Path, orders: int) -> tuple[float, float, float]:
    """(ms the engine thread pauses for a background snapshot, ms for one written on the engine
    thread (the baseline), MB of the file) with an order pool of `orders` slots."""
    from kabuto.durability.recovery import Durability
    from kabuto.engine.instruments import load_instruments
    from kabuto.gateway.config import GatewayConfig
    from kabuto.gateway.server import Server
    instruments = load_instruments(None)
    server = Server(GatewayConfig(data_dir=data, insecure=True), instruments)
    server.engine = type(server.engine)(instruments, orders=orders)
    d = Durability(data, instruments, fsync="off")
    server.journal = d
    d.recover(server)
    best_bg = best_fg = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        path = d.snapshot(background=True)
        best_bg = min(best_bg, time.perf_counter() - t)
        d.wait_snapshot()
        t = time.perf_counter()
        d.snapshot()
        best_fg = min(best_fg, time.perf_counter() - t)
    size = path.stat().st_size / 1e6
    d.close()
    return best_bg * 1e3, best_fg * 1e3, size


def main(quick: bool = False) -> list[str]:
    """Run every measurement; markdown table lines."""
    seconds = 1.5 if quick else 3.0
    lines = ["| measurement | value | baseline | ratio |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rates = {}
        for name, extra in POLICIES:
            rates[name] = throughput(tmp / name.split()[0], extra, seconds)
        base = rates["no journal (baseline)"]
        for name, _ in POLICIES[:-1]:
            lines.append(f"| gateway orders/s, --fsync {name} | {rates[name]:,.0f} | {base:,.0f} | "
                         f"{rates[name] / base:.2f} |")
        always = tmp / "always" / "venue"
        batches = journal_batches(always)
        commands = sum(len(b) for b in batches) // 64
        per_batch = commands / max(len(batches), 1)
        lines.append(f"| group commit: commands per journal record (fsync always) | {per_batch:,.0f} | | |")
        mean, p99 = fsync_cost(tmp / "fsync", int(per_batch * 64) + 64, 100 if quick else 300)
        lines.append(f"| append + fdatasync per batch of {per_batch:,.0f} commands, mean / p99 us | "
                     f"{mean:,.0f} / {p99:,.0f} | | |")
        mean, p99 = fsync_cost(tmp / "fsync1", 200, 100 if quick else 300)
        lines.append(f"| append + fdatasync per batch of 1 command (a lone order's added latency), mean / p99 us | "
                     f"{mean:,.0f} / {p99:,.0f} | | |")
        t_rec, t_eng, records, cmds = recovery(always, batches)
        lines.append(f"| recovery: journal commands replayed/s ({records:,} records, {cmds:,} commands) | "
                     f"{cmds / t_rec:,.0f} | {cmds / t_eng:,.0f} | {t_eng / t_rec:.2f} |")
        lines.append(f"| recovery: journal records (batches) replayed/s | {records / t_rec:,.0f} | | |")
        for orders in (1 << 16, 1 << 20):
            bg, fg, mb = snapshot_pause(tmp / f"snap{orders}", orders)
            lines.append(f"| engine-thread pause per snapshot, ms ({orders:,}-order pool, {mb:,.0f} MB file; baseline: "
                         f"written on the engine thread) | {bg:,.1f} | {fg:,.1f} | {bg / fg:.2f} |")
    return lines


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
