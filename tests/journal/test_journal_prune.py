"""`kabuto serve --prune-journal`: segments the kept snapshots cover are deleted, recovery still works."""
from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from journalkit import KABUTO, Serve, Trader
from kabuto.durability.journal import JournalError, JournalReader, JournalWriter, segments
from kabuto.durability.recovery import recover_state
from kabuto.engine.instruments import load_instruments
from kabuto.engine.records import empty_commands
from kabuto.gateway.client import Client

from tests.datadir import committed_point
from tests.polling import wait_until

INSTRUMENTS = load_instruments(None)
ACCOUNTS = ("alice", "bob")
SMALL = ["--segment-bytes", "3000"]  # a few trader batches per segment


def firsts(data: Path) -> list[int]:
    return [first for first, _ in segments(data / "journal")]


def snapshot_seqs(data: Path) -> list[int]:
    return sorted(int(p.stem) for p in (data / "snapshots").glob("*.snap"))


def fully_pruned(data: Path) -> bool:
    """Every segment whose records the oldest kept snapshot covers is gone, and no other one."""
    fs, snaps = firsts(data), snapshot_seqs(data)
    return len(fs) >= 2 and bool(snaps) and fs[0] <= snaps[0] + 1 < fs[1]


def trade_and_snapshot(serve: Serve, data: Path, snapshots: int) -> dict:
    """Two traders, `snapshots` SIGUSR1 snapshots with journal segments between them, a journal tail
    after the last; then the traders stop; each account's live orders, as the venue lists them."""
    stop = threading.Event()
    traders = [Trader(data, name, i, stop) for i, name in enumerate(ACCOUNTS)]
    for t in traders:
        t.start()
    try:
        for _ in range(snapshots):
            mark = firsts(data)[-1]
            assert wait_until(lambda mark=mark: firsts(data)[-1] > mark + 10), "the journal does not grow"
            before = snapshot_seqs(data)[-1:]
            serve.proc.send_signal(signal.SIGUSR1)
            assert wait_until(lambda before=before: snapshot_seqs(data)[-1:] != before), "no snapshot"
        newest = snapshot_seqs(data)[-1]
        assert wait_until(lambda: firsts(data)[-1] > newest + 1)  # records after the newest snapshot
    finally:
        stop.set()
        for t in traders:
            t.join(timeout=60)
            assert not t.is_alive()
            t.client.orders()  # answered in order on its connection: its last commands have run
            t.client.close(logout=False)
    listed = {}
    for name in ACCOUNTS:
        with Client.from_data_dir(data, name) as c:
            listed[name] = sorted(c.orders())
    return listed


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A venue run with --prune-journal, killed with -9 after five snapshots and a journal tail."""
    data = tmp_path_factory.mktemp("prune") / "venue"
    serve = Serve(data, ["--snapshot-every", "0", "--prune-journal", *SMALL])
    try:
        listed = trade_and_snapshot(serve, data, 5)
        wait_until(lambda: fully_pruned(data))  # the newest snapshot's pruning runs on its thread
        serve.kill9()
    finally:
        serve.proc.kill()
    return data, listed


def test_segments_the_oldest_kept_snapshot_covers_are_deleted_with_prune_journal(pruned):
    data, _ = pruned
    assert len(snapshot_seqs(data)) == 3
    assert firsts(data)[0] > 1
    assert fully_pruned(data), (firsts(data)[:3], snapshot_seqs(data))


def test_with_the_chain_on_segments_whose_fills_are_committed_are_deleted_in_the_same_run(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data, ["--snapshot-every", "0", "--prune-journal", *SMALL], chain=True)
    try:
        trade_and_snapshot(serve, data, 4)
        # pruning runs after a snapshot and keeps what the batcher has not committed yet: once the
        # committed point it saved is past every event, one more snapshot prunes
        with Client.from_data_dir(data, "alice") as c:
            c.new("TSLAx-USD", "buy", "1", "1.00")
            last = c.wait_report(lambda r: r.ev == "accepted").seq
            assert wait_until(lambda: committed_point(data) >= last), committed_point(data)
            serve.proc.send_signal(signal.SIGUSR1)
            c.new("TSLAx-USD", "buy", "1", "1.00")  # a batch: the snapshot follows it
            c.wait_report(lambda r: r.ev == "accepted")
        assert wait_until(lambda: fully_pruned(data)), (firsts(data)[:3], snapshot_seqs(data))
    finally:
        assert serve.stop() == 0, serve.text()
    assert firsts(data)[0] > 1


def test_without_prune_journal_every_segment_is_kept(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data, ["--snapshot-every", "0", *SMALL])
    try:
        trade_and_snapshot(serve, data, 4)
    finally:
        assert serve.stop() == 0, serve.text()
    fs, snaps = firsts(data), snapshot_seqs(data)
    assert len(snaps) == 3 and fs[1] - 1 <= snaps[0]  # pruning would have deleted the first segment
    assert fs[0] == 1
    assert recover_state(data, INSTRUMENTS, use_snapshot=False).digest() == recover_state(data, INSTRUMENTS).digest()


def test_a_venue_restarted_after_pruning_recovers_the_same_books(pruned, tmp_path):
    data = tmp_path / "venue"
    shutil.copytree(pruned[0], data)
    restarted = Serve(data, ["--prune-journal", *SMALL])
    try:
        assert "recovered snapshot" in restarted.text(), restarted.text()
        for name in ACCOUNTS:
            with Client.from_data_dir(data, name) as c:
                assert sorted(c.orders()) == pruned[1][name]
    finally:
        assert restarted.stop() == 0, restarted.text()


def test_recovery_from_the_oldest_kept_snapshot_replays_the_kept_segments_to_the_same_state(pruned):
    data, _ = pruned
    newest = recover_state(data, INSTRUMENTS)
    oldest = recover_state(data, INSTRUMENTS, max_snapshot_seq=oldest_snapshot(data).seq)  # a lagging batcher's
    assert oldest.snapshot.name < newest.snapshot.name and oldest.records > newest.records
    assert oldest.digest() == newest.digest() and oldest.event_hash == newest.event_hash


def oldest_snapshot(data: Path):
    from kabuto.durability.snapshot import decode
    path = sorted((data / "snapshots").glob("*.snap"))[0]
    return decode(path.read_bytes(), path)


def test_a_full_replay_of_a_pruned_journal_is_refused_with_a_clear_message(pruned, tmp_path):
    data, _ = pruned
    start = firsts(data)[0]
    p = subprocess.run([KABUTO, "replay", str(data), "--events", str(tmp_path / "events.jsonl")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert f"was pruned: it starts at record {start}, not 1" in p.stderr
    with pytest.raises(JournalError, match=f"pruned: it starts at record {start}"):
        recover_state(data, INSTRUMENTS, use_snapshot=False)


def test_a_journal_starting_after_the_state_it_continues_is_refused(tmp_path):
    w = JournalWriter(tmp_path, fsync="off", segment_bytes=100)
    for _ in range(20):
        w.append(bytes(60))
    w.close()
    segs = segments(tmp_path)
    segs[0][1].unlink()
    start = segs[1][0]
    with pytest.raises(JournalError, match=f"starts at record {start}, not 1"):
        list(JournalReader(tmp_path).scan())
    with pytest.raises(JournalError, match=f"records {start - 1}..{start - 1} are gone"):
        list(JournalReader(tmp_path).scan(start - 2))
    assert [seq for seq, _ in JournalReader(tmp_path).scan(start - 1)] == list(range(start, 21))


class LaggingSink:
    """A sink like the chain fill batcher that has committed events up to `committed` only."""

    def __init__(self, committed: int):
        self.committed = committed

    def committed_seq(self) -> int:
        return self.committed

    def handle(self, events, first_seq: int) -> None:
        pass


def journaled_venue(tmp_path, sink):
    """A journaled venue in this process with small segments and pruning on, recovered and open."""
    from kabuto.durability.recovery import Durability
    from kabuto.gateway.config import GatewayConfig
    from kabuto.gateway.server import Server
    server = Server(GatewayConfig(data_dir=tmp_path, insecure=True), INSTRUMENTS, sinks=[sink])
    d = Durability(tmp_path, INSTRUMENTS, fsync="off", snapshot_every=0, segment_bytes=400, prune_journal=True)
    server.journal = d
    d.recover(server)
    return server, d


def run_batches(server, d, n: int) -> None:
    """n journaled batches of 4 commands through the engine, as the server runs them."""
    for _ in range(n):
        cmds = empty_commands(4)
        d.append(cmds)
        first = server.engine.seq + 1
        d.handle(server.engine.process(cmds), first)


def test_segments_a_lagging_chain_batcher_still_needs_are_kept(tmp_path):
    sink = LaggingSink(committed=6)
    server, d = journaled_venue(tmp_path, sink)
    for _ in range(5):
        run_batches(server, d, 10)
        d.snapshot()
    assert firsts(tmp_path)[0] == 1 and len(firsts(tmp_path)) > 5  # every kept snapshot is past event 6
    sink.committed = server.engine.seq  # the batcher catches up
    run_batches(server, d, 10)
    d.snapshot()
    assert fully_pruned(tmp_path)
    assert d.writer.path.exists()
    d.close()


def test_segments_are_deleted_only_once_the_batcher_has_committed_the_oldest_kept_snapshot(tmp_path):
    sink = LaggingSink(committed=0)
    server, d = journaled_venue(tmp_path, sink)
    for _ in range(3):
        run_batches(server, d, 10)
        d.snapshot()
    sink.committed = oldest_snapshot(tmp_path).seq
    run_batches(server, d, 10)
    d.snapshot()  # drops that oldest snapshot: the new oldest is past what the batcher committed
    assert firsts(tmp_path)[0] == 1
    sink.committed = oldest_snapshot(tmp_path).seq
    d.snapshot()
    assert fully_pruned(tmp_path)
    r = recover_state(tmp_path, INSTRUMENTS, max_snapshot_seq=sink.committed)  # what a restart would load
    assert r.snapshot.name == sorted((tmp_path / "snapshots").glob("*.snap"))[0].name
    assert r.digest() == recover_state(tmp_path, INSTRUMENTS).digest()
    d.close()


def test_a_segment_that_cannot_be_deleted_is_reported_and_journaling_goes_on(tmp_path, monkeypatch, caplog):
    server, d = journaled_venue(tmp_path, LaggingSink(committed=10 ** 9))
    for _ in range(3):
        run_batches(server, d, 10)
        d.snapshot()

    unlink = Path.unlink

    def refuse(self, missing_ok=False):
        if self.suffix == ".wal":
            raise PermissionError(13, "Permission denied", str(self))
        unlink(self, missing_ok)
    monkeypatch.setattr(Path, "unlink", refuse)
    run_batches(server, d, 10)
    d.snapshot(background=True)
    d.wait_snapshot()
    said = [r.getMessage() for r in caplog.records if r.name == "kabuto.durability.recovery"]
    assert any("journal pruning failed" in line and "Permission denied" in line for line in said), said
    monkeypatch.undo()
    before = d.last_seq
    run_batches(server, d, 1)
    assert d.last_seq == before + 1
    d.close()


def test_inspect_reads_a_pruned_journal_from_its_first_record(pruned):
    data, _ = pruned
    p = subprocess.run([KABUTO, "journal", "inspect", str(data)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"pruned: records before {firsts(data)[0]} were deleted" in p.stdout
    assert "ERROR" not in p.stdout
