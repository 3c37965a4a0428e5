"""On-chain mapping benchmark: gas per batch and per fill, proof verification gas, matching with the batcher on/off.

    python bench/chain_bench.py [--quick]

Gas is measured on a real EVM (eth-tester on py-evm, in process) running FillRegistry.vy as compiled by
the vyper package; fills come from the numba engine. Throughput runs the same mixed workload through the
engine with no sink and with a FillBatcher publishing to a local ledger, in the same process and run.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kabuto.chain.batch import build_batch  # noqa: E402
from kabuto.chain.fills import account_names, fill_rows  # noqa: E402
from kabuto.chain.merkle import ZERO  # noqa: E402
from kabuto.chain.settlement import SymbolInfo  # noqa: E402
from kabuto.engine.codes import Op, OrdType, Stp, Tif  # noqa: E402
from kabuto.engine.engine import Engine  # noqa: E402
from kabuto.engine.records import COMMAND_DTYPE  # noqa: E402

from bench.workload import MID, bench_instruments, mixed_workload  # noqa: E402

CHUNK = 8192  # commands per engine call, as a replay or a busy gateway batches them
INSTRUMENTS = bench_instruments(4)
SYMBOLS = [SymbolInfo(i.symbol, str(i.tick_size), str(i.lot_size)) for i in INSTRUMENTS]


def account_name(a: int) -> str:
    """Bench account names."""
    return f"acct-{a:04d}"


def crossing_orders(n: int, seed: int = 1, accounts: int = 1000) -> np.ndarray:
    """n GTC limit orders within 5 ticks of the mid, random sides: about 0.6 fills per order."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, COMMAND_DTYPE)
    out["op"], out["otype"], out["tif"], out["stp"] = Op.NEW, OrdType.LIMIT, Tif.GTC, Stp.CANCEL_NEWEST
    out["sym"] = rng.integers(0, len(INSTRUMENTS), n)
    out["side"] = rng.integers(0, 2, n)
    out["oid"] = np.arange(1, n + 1)
    out["acct"] = rng.integers(0, accounts, n)
    out["px"] = MID + rng.integers(-5, 6, n)
    out["pexp"] = -2
    out["qty"] = rng.integers(1, 100, n)
    return out


def engine_fills(n_fills: int) -> np.ndarray:
    """At least n_fills FILL_DTYPE rows produced by the engine (the first n_fills of them)."""
    eng = Engine(INSTRUMENTS)
    cmds = crossing_orders(int(n_fills * 1.8) + 10_000)
    parts, got = [], 0
    for i in range(0, len(cmds), 65_536):
        first = eng.seq + 1
        rows = fill_rows(eng.process(cmds[i:i + 65_536]), first)
        parts.append(rows)
        got += len(rows)
        if got >= n_fills:
            break
    return np.concatenate(parts)[:n_fills]


def make_batches(rows: np.ndarray, size: int, count: int) -> tuple[list, float]:
    """count consecutive chained batches of `size` fills; and the seconds spent building one."""
    out, prev, first, spent = [], ZERO, 1, []
    for n in range(count):
        chunk = rows[n * size:(n + 1) * size]
        t = time.perf_counter()
        b = build_batch(n, prev, first, chunk, SYMBOLS, account_names(chunk, account_name))
        spent.append(time.perf_counter() - t)
        out.append(b)
        prev, first = b.record.hash, b.record.last_seq + 1
    return out, min(spent)


class Chain:
    """An in-process EVM with a freshly deployed FillRegistry."""

    def __init__(self):
        from eth_account import Account
        from eth_tester import EthereumTester, PyEVMBackend
        from kabuto.chain.contract import Registry, deploy
        from web3 import EthereumTesterProvider, Web3
        tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(tester))
        key = tester.backend.account_keys[0].to_hex()
        self.account = Account.from_key(key)
        self.registry = Registry(self.w3, deploy(self.w3, key))

    def commit(self, record) -> int:
        """Gas used by committing one record."""
        from kabuto.chain.contract import send
        return send(self.w3, self.account, self.registry.functions.commit(*record.values()))["gasUsed"]


def gas_rows(rows: np.ndarray, sizes: list[int], count: int = 4) -> list[dict]:
    """Gas of the first and of later commits, per batch size, and the Merkle build rate."""
    out = []
    for size in sizes:
        batches, build_s = make_batches(rows, size, count)
        chain = Chain()
        gas = [chain.commit(b.record) for b in batches]
        steady = statistics.mean(gas[1:])
        out.append({"size": size, "first": gas[0], "steady": steady, "per_fill": steady / size,
                    "build_s": build_s})
    return out


def proof_gas(rows: np.ndarray, samples: int = 5) -> dict:
    """verify_fill gas (eth_estimateGas of a transaction) for random fills of one committed batch."""
    t = time.perf_counter()
    (batch,), _ = make_batches(rows, len(rows), 1)
    build_s = time.perf_counter() - t
    tree = batch.fill_tree()
    chain = Chain()
    chain.commit(batch.record)
    gas, depth = [], 0
    for i in np.random.default_rng(2).choice(len(rows), samples, replace=False):
        proof = tree.proof(int(i))
        depth = len(proof)
        call = chain.registry.functions.verify_fill(0, tree.leaf(int(i)), proof)
        assert call.call() is True
        gas.append(call.estimate_gas())
    return {"fills": len(rows), "depth": depth, "gas": max(gas), "build_s": build_s}


def throughput(n: int, rounds: int = 5) -> dict:
    """Matching throughput of the mixed workload without and with a FillBatcher: alternating runs, best of each
    (the machine is shared: the best run is the one least disturbed by others)."""
    from kabuto.chain.batcher import FillBatcher
    from kabuto.chain.ledger import Ledger, LedgerPublisher
    prefill, steady = mixed_workload(n, nsym=len(INSTRUMENTS))
    best = {"off": 0.0, "on": 0.0}
    info = {}
    for _ in range(rounds):
        for mode in ("off", "on"):
            eng = Engine(INSTRUMENTS)
            for i in range(0, len(prefill), CHUNK):
                eng.process(prefill[i:i + CHUNK])
            tmp = tempfile.TemporaryDirectory()
            sink = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp.name)) if mode == "on" else None
            t = time.perf_counter()
            for i in range(0, n, CHUNK):
                first = eng.seq + 1
                events = eng.process(steady[i:i + CHUNK])
                if sink:
                    sink.handle(events, first)
            elapsed = time.perf_counter() - t
            best[mode] = max(best[mode], n / elapsed)
            if sink:
                t = time.perf_counter()
                sink.close()
                ledger = Ledger(tmp.name)
                info = {"drain_s": time.perf_counter() - t, "batches": ledger.count, "cpu_s": sink.cpu_s,
                        "fills": sum(e.record.fill_count for e in ledger.entries), "run_s": elapsed}
                ledger.close()
            tmp.cleanup()
    return {"n": n, **best, **info}


def main(quick: bool = False) -> list[str]:
    """Run the chain benchmarks and return the report lines (markdown)."""
    sizes = [100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 100_000]
    big = 100_000 if quick else 1_000_000
    rows = engine_fills(max(big, sizes[-1] * 4))
    lines = ["| fills per batch | gas, first batch | gas per batch | gas per fill "
             "| Merkle build (fills + settlement) |",
             "|---:|---:|---:|---:|---:|"]
    for r in gas_rows(rows, sizes):
        lines.append(f"| {r['size']:,} | {r['first']:,} | {r['steady']:,.0f} | {r['per_fill']:,.1f} "
                     f"| {r['build_s'] * 1e3:,.1f} ms ({r['size'] / r['build_s'] / 1e3:,.0f}k fills/s) |")
    p = proof_gas(rows[:big])
    lines += ["", f"Proof verification for a batch of {p['fills']:,} fills: proof of {p['depth']} hashes, "
                  f"verify_fill {p['gas']:,} gas (whole transaction incl. 21,000 base and calldata; eth_estimateGas). "
                  f"Building that batch's trees: {p['build_s']:.1f} s."]
    t = throughput(400_000 if quick else 2_000_000)
    lines += ["", "| matching, mixed workload | commands | cmd/s | ratio |", "|---|---:|---:|---:|",
              f"| batcher off | {t['n']:,} | {t['off'] / 1e6:.2f}M | 1.00 |",
              f"| batcher on (ledger, 10,000 fills or 1 s per batch) | {t['n']:,} | {t['on'] / 1e6:.2f}M "
              f"| {t['on'] / t['off']:.2f} |",
              "", f"With the batcher on: {t['fills']:,} fills in {t['batches']} batches; its background thread "
                  f"used {t['cpu_s'] * 1e3:.0f} ms of CPU ({t['cpu_s'] / t['fills'] * 1e6:.1f} us per fill) over "
                  f"a {t['run_s'] * 1e3:.0f} ms run; close() drained the rest in {t['drain_s'] * 1e3:.0f} ms. "
                  f"The matching thread only copies fill rows; on a loaded machine the two threads share cores."]
    return lines


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
