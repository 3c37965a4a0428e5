"""A venue started with `kabuto serve` commits its fills to the embedded chain ledger, and they verify."""
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kabuto.durability.snapshot import snapshot_seq
from kabuto.gateway.client import Client

from tests.datadir import committed_point
from tests.polling import wait_until

KABUTO = str(Path(sys.executable).with_name("kabuto"))


def start_venue(data_dir: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([KABUTO, "serve", "--data-dir", str(data_dir), "--orders", "tcp://127.0.0.1:0",
                             "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0",
                             "--batch-ms", "50", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.started = []  # what it printed up to "ready:"
    for line in proc.stdout:
        proc.started.append(line)
        if "ready:" in line:
            return proc
    raise AssertionError("kabuto serve did not start")


def trade(data_dir: Path, fills: int) -> list[int]:
    """mm1 rests `fills` sells, mm2 takes each with an IOC buy; the engine seqs of the fills."""
    seqs = []
    with Client.from_data_dir(data_dir, "mm1") as maker, Client.from_data_dir(data_dir, "mm2") as taker:
        for _ in range(fills):
            maker.new("TSLAx-USD", "sell", "0.100", "250.00")
            maker.wait_report(lambda r: r.ev == "accepted", timeout=10)
            taker.new("TSLAx-USD", "buy", "0.100", "250.00", tif="IOC")
            seqs.append(taker.wait_report(lambda r: r.ev == "fill", timeout=10).seq)
    return seqs


def ledger_fills(data_dir: Path) -> int:
    """How many fills `kabuto chain verify` finds in the venue's ledger (it must verify)."""
    verify = subprocess.run([KABUTO, "chain", "verify", "--ledger", str(data_dir / "chain")], capture_output=True,
                            text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return int(verify.stdout.split(" fills")[0].rsplit(" ", 1)[1])


def provable(data_dir: Path, seq: int) -> bool:
    """Whether the ledger holds the fill of engine seq `seq` (with a Merkle proof)."""
    return subprocess.run([KABUTO, "chain", "proof", str(seq), "--ledger", str(data_dir / "chain")],
                          capture_output=True, text=True).returncode == 0


def snapshots(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "snapshots").glob("*.snap"))


def kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_fills_of_a_live_venue_are_committed_to_its_ledger_and_verify(tmp_path):
    venue = start_venue(tmp_path)
    try:
        with Client.from_data_dir(tmp_path, "mm1") as maker, Client.from_data_dir(tmp_path, "mm2") as taker:
            maker.new("TSLAx-USD", "sell", "1.000", "250.00")
            maker.wait_report(lambda r: r.ev == "accepted", timeout=10)
            taker.new("TSLAx-USD", "buy", "0.400", "250.00", tif="IOC")
            fill = taker.wait_report(lambda r: r.ev == "fill", timeout=10)
            assert fill.qty in ("0.400", "0.4")
    finally:
        venue.send_signal(signal.SIGINT)
        venue.wait(timeout=60)
    ledger = str(tmp_path / "chain")
    verify = subprocess.run([KABUTO, "chain", "verify", "--ledger", ledger], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "1 fills" in verify.stdout or "1 fill" in verify.stdout
    proof = json.loads(subprocess.run([KABUTO, "chain", "proof", str(fill.seq), "--ledger", ledger],
                                      capture_output=True, text=True, check=True).stdout)
    assert proof["fill"]["maker_acct"] == "mm1" and proof["fill"]["taker_acct"] == "mm2"


def test_fills_not_yet_committed_at_a_kill9_are_committed_after_the_restart(tmp_path):
    venue = start_venue(tmp_path, "--batch-ms", "600000")  # no batch closes before the crash
    seqs = trade(tmp_path, 3)
    kill9(venue)
    assert ledger_fills(tmp_path) == 0
    stop(start_venue(tmp_path))
    assert ledger_fills(tmp_path) == 3
    assert all(provable(tmp_path, seq) for seq in seqs)


def test_the_restart_replays_from_before_a_snapshot_taken_after_the_last_committed_fill(tmp_path):
    venue = start_venue(tmp_path, "--batch-ms", "600000", "--snapshot-every", "2")
    seqs = trade(tmp_path, 3)
    wait_until(lambda: snapshots(tmp_path))  # snapshots are written by a thread of their own
    kill9(venue)
    assert snapshots(tmp_path)  # a snapshot stands after the uncommitted fills
    stop(start_venue(tmp_path))
    assert ledger_fills(tmp_path) == 3
    assert all(provable(tmp_path, seq) for seq in seqs)


def test_fills_committed_before_a_kill9_are_not_committed_twice(tmp_path):
    venue = start_venue(tmp_path, "--batch-ms", "300", "--snapshot-every", "2")
    first = trade(tmp_path, 2)
    wait_until(lambda: ledger_fills(tmp_path) >= 2, step=0.2)
    later = trade(tmp_path, 1)  # killed before its batch closes, 300 ms after its fill
    kill9(venue)
    stop(start_venue(tmp_path))
    assert ledger_fills(tmp_path) == 3
    assert all(provable(tmp_path, seq) for seq in first + later)


def test_a_restart_after_committed_fills_and_quiet_trading_starts_from_the_newest_snapshot(tmp_path):
    venue = start_venue(tmp_path, "--snapshot-every", "0")
    trade(tmp_path, 2)
    wait_until(lambda: ledger_fills(tmp_path) >= 2, step=0.2)
    with Client.from_data_dir(tmp_path, "mm1") as maker:  # resting orders: events without a fill
        for i in range(5):
            maker.new("TSLAx-USD", "buy", "0.100", f"24{i}.00")
            maker.wait_report(lambda r: r.ev == "accepted", timeout=10)
        venue.send_signal(signal.SIGUSR1)  # a snapshot after the batch being run (its report is out) or the next
        maker.new("TSLAx-USD", "buy", "0.100", "230.00")
        maker.wait_report(lambda r: r.ev == "accepted", timeout=10)
    wait_until(lambda: snapshots(tmp_path), timeout=60)
    newest = snapshots(tmp_path)[-1]
    # the batcher saves its committed point about once a second when idle: wait until it is past the snapshot
    wait_until(lambda: committed_point(tmp_path) >= snapshot_seq(newest), timeout=60)
    kill9(venue)
    again = start_venue(tmp_path)
    stop(again)
    recovered = "".join(again.started)
    assert f"recovered snapshot {newest.name} + " in recovered, recovered
    assert ledger_fills(tmp_path) == 2


def committed_seqs(data_dir: Path) -> list[int]:
    """Engine seqs of every fill in the venue's ledger, in ledger order."""
    from kabuto.chain.ledger import Ledger
    ledger = Ledger(data_dir / "chain")
    try:
        return [int(s) for n in range(ledger.count) for s in ledger.batch(n).fills["seq"]]
    finally:
        ledger.close()


def cut_100_bytes(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(f.seek(0, 2) - 100)


def flip_last_frames_checksum(path: Path) -> None:
    from kabuto.chain.ledger import Ledger
    ledger = Ledger(path.parent)
    at = ledger.entries[-1].offset + 12  # the payload checksum in the frame header
    ledger.close()
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x01]))


def flip_a_byte_of_the_last_fills(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(-50, 2)
        byte = f.read(1)
        f.seek(-50, 2)
        f.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("damage", [cut_100_bytes, flip_last_frames_checksum, flip_a_byte_of_the_last_fills])
def test_fills_of_a_damaged_last_ledger_frame_are_batched_again_from_the_journal_at_restart(tmp_path, damage):
    venue = start_venue(tmp_path)
    seqs = trade(tmp_path, 60)
    venue.send_signal(signal.SIGTERM)  # every fill is committed at a clean stop
    assert venue.wait(timeout=60) == 0
    assert committed_seqs(tmp_path) == seqs
    damage(tmp_path / "chain" / "ledger.kbl")
    stop(start_venue(tmp_path))
    assert committed_seqs(tmp_path) == seqs
    assert ledger_fills(tmp_path) == 60


def audit(ledger: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([KABUTO, "chain", "verify", "--ledger", str(ledger), *extra], capture_output=True, text=True)


def test_the_audit_against_the_journal_finds_a_batch_whose_seq_range_misses_a_fill(tmp_path):
    import numpy as np
    from kabuto.chain.batch import build_batch
    from kabuto.chain.ledger import Ledger, LedgerPublisher
    from kabuto.chain.merkle import ZERO
    venue = start_venue(tmp_path, "--batch-ms", "600000")  # one batch, closed at the stop
    trade(tmp_path, 5)
    stop(venue)
    honest = audit(tmp_path / "chain", "--data-dir", str(tmp_path))
    assert honest.returncode == 0 and f"the same fills as the journal in {tmp_path}" in honest.stdout
    whole = Ledger(tmp_path / "chain").batch(0)
    forged = LedgerPublisher(tmp_path / "forged")  # the same seq range, the third fill left out
    forged.publish(build_batch(0, ZERO, whole.record.first_seq, np.delete(whole.fills, 2), whole.symbols,
                               whole.accounts))
    forged.close()
    assert audit(tmp_path / "forged").returncode == 0  # the ledger alone cannot tell
    found = audit(tmp_path / "forged", "--data-dir", str(tmp_path))
    assert found.returncode == 1
    a, b = map(int, found.stdout.split("fills of seqs ")[1].split(" ")[0].split(".."))
    assert a <= whole.fills["seq"][2] <= b and found.stdout.endswith("0 in the ledger, 1 in the journal\n")
