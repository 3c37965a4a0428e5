"""Helpers for the journal tests: a `kabuto serve` subprocess with a journal, and trading client threads."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kabuto.gateway.client import Client

KABUTO = str(Path(sys.executable).with_name("kabuto"))


class Serve:
    """`kabuto serve --insecure` on free ports in data_dir (chain batches to its ledger every 50 ms
    when chain, else --no-chain), its output collected; started and ready unless ready is False
    (then wait_started() tells). preexec_fn runs in the child before kabuto (resource limits)."""

    def __init__(self, data_dir: Path, extra: list[str] = (), chain: bool = False, ready: bool = True,
                 preexec_fn=None):
        args = [KABUTO, "serve", "--data-dir", str(data_dir), "--insecure",
                *(["--batch-ms", "50"] if chain else ["--no-chain"]),
                "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                "--snapshots", "tcp://127.0.0.1:0", "--rate-limit", "0", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=preexec_fn)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if ready and not self.wait_started():
            raise RuntimeError("kabuto serve did not start:\n" + self.text())

    def wait_started(self) -> bool:
        """True once it is ready to trade, False when it exited before (its output then complete)."""
        deadline = time.monotonic() + 120
        while not any("ready" in line for line in self.lines):
            if self.proc.poll() is not None:
                self._reader.join(timeout=10)
                return False
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("kabuto serve neither started nor exited:\n" + self.text())
            time.sleep(0.05)
        return True

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def text(self) -> str:
        """Everything it printed so far."""
        return "".join(self.lines)

    def kill9(self) -> None:
        """SIGKILL: no handler, no flush, no snapshot."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return rc


class Trader(threading.Thread):
    """One account trading TSLAx-USD around 100 until stopped; keeps every report it received."""

    def __init__(self, data_dir: Path, account: str, seed: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.client = Client.from_data_dir(data_dir, account, heartbeat=0.3)
        self.rng = random.Random(seed)
        self.stop_event = stop
        self.received: list = []

    def run(self) -> None:
        c, rng = self.client, self.rng
        acked: list = []
        while not self.stop_event.is_set():
            for _ in range(rng.randint(1, 8)):
                if acked and rng.random() < 0.2:
                    c.cancel(acked.pop(rng.randrange(len(acked))))
                else:
                    px = f"{rng.randint(9990, 10010) / 100:.2f}"
                    c.new("TSLAx-USD", rng.choice(("buy", "sell")), str(rng.randint(1, 5)), px)
            c.poll(0.005)
            while c.reports:
                r = c.reports.popleft()
                self.received.append(r)
                if r.ev == "accepted" and r.req is not None:
                    acked.append(r.cl_oid)


def events(path: Path) -> list[dict]:
    """The JSON lines of an events file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def refused(data_dir: Path, extra: list[str] = ()) -> tuple[int, str]:
    """Start `kabuto serve` on data_dir expecting it to refuse: its exit status and output."""
    serve = Serve(data_dir, extra, ready=False)
    if serve.wait_started():
        serve.stop()
        raise AssertionError("kabuto serve started:\n" + serve.text())
    return serve.proc.returncode, serve.text()


def unseal(path: Path) -> None:
    """Take the seal off a closed segment: the segment as a crash (kill -9) leaves it."""
    from kabuto.durability.journal import SEAL_BYTES, read_seal
    size = path.stat().st_size
    assert read_seal(path, size) is not None, f"{path.name} is not sealed"
    with open(path, "r+b") as f:
        f.truncate(size - SEAL_BYTES)


def write_journal(data_dir: Path, batches: list[list[dict]], names: list[str], segment_bytes: int = 64 << 20) -> None:
    """A journal as `kabuto serve` writes it, of hand-made command batches (fields of COMMAND_DTYPE)."""
    import msgpack
    from kabuto.durability.journal import JournalWriter
    from kabuto.durability.recovery import ZERO_HASH, Durability, chain_hash
    from kabuto.engine.codes import Flag, Op
    from kabuto.engine.engine import Engine
    from kabuto.engine.instruments import load_instruments
    from kabuto.engine.records import empty_commands
    instruments = load_instruments(None)
    Durability(data_dir, instruments)._check_meta()
    writer = JournalWriter(data_dir / "journal", fsync="off", segment_bytes=segment_bytes)
    engine, h = Engine(instruments), ZERO_HASH
    for i, batch in enumerate(batches):
        cmds = empty_commands(len(batch))
        for row, fields in zip(cmds, batch):
            for k, v in fields.items():
                row[k] = v
            row["flags"] |= int(Flag.HAS_TS)
        new = cmds["op"] == int(Op.NEW)
        cls = [f"c{oid}" for oid in cmds["oid"][new].tolist()]
        writer.append(msgpack.packb([engine.seq + 1, h, cmds.tobytes(), 0, names if i == 0 else None, cls,
                                     bytes(len(cls))]))
        h = chain_hash(h, engine.process(cmds))
    writer.close()


