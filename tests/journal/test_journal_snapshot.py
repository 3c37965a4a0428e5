"""Snapshots and deterministic replay over the journal of a venue killed while trading."""
from __future__ import annotations

import shutil
import signal
import threading
from argparse import Namespace

import pytest
from journalkit import Serve, Trader, events
from kabuto.durability.journal import JournalError, JournalReader
from kabuto.durability.recovery import recover_state, replay_journal
from kabuto.durability.snapshot import decode, encode, load_newest
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.client import Client
from kabuto.replay.eventlog import book_json

from tests.polling import wait_until

INSTRUMENTS = load_instruments(None)


@pytest.fixture(scope="module")
def venue_dir(tmp_path_factory):
    """The data directory of a venue killed with -9 while trading, after two snapshots (asked for with SIGUSR1)."""
    data = tmp_path_factory.mktemp("snap") / "venue"
    serve = Serve(data, ["--snapshot-every", "0"])
    stop = threading.Event()
    traders = [Trader(data, name, i, stop) for i, name in enumerate(("alice", "bob"))]
    for t in traders:
        t.start()
    try:
        for n in (1, 2):
            assert wait_until(lambda n=n: last_record(data) > 50 * n)
            serve.proc.send_signal(signal.SIGUSR1)
            assert wait_until(lambda n=n: len(list((data / "snapshots").glob("*.snap"))) == n)
        newest = int(sorted((data / "snapshots").glob("*.snap"))[-1].stem)
        assert wait_until(lambda: last_record(data) > newest + 5)  # a journal tail after the newest snapshot
        serve.kill9()
    finally:
        stop.set()
        for t in traders:
            t.join(timeout=10)
            t.client.close(logout=False)
        serve.proc.kill()
    return data


def last_record(data) -> int:
    r = JournalReader(data / "journal")
    for _ in r.scan():
        pass
    return r.last_seq


def copy(venue_dir, tmp_path):
    dst = tmp_path / "venue"
    shutil.copytree(venue_dir, dst)
    return dst


def test_snapshot_plus_journal_tail_gives_the_state_of_a_full_replay(venue_dir):
    fast = recover_state(venue_dir, INSTRUMENTS)
    full = recover_state(venue_dir, INSTRUMENTS, use_snapshot=False)
    assert fast.snapshot is not None and 0 < fast.records < full.records
    assert fast.digest() == full.digest()
    assert fast.event_hash == full.event_hash
    assert fast.names == full.names


def test_a_snapshot_loads_without_the_journal_before_it(venue_dir, tmp_path):
    d = copy(venue_dir, tmp_path)
    snap = load_newest(d / "snapshots")
    shutil.rmtree(d / "journal")
    again = decode(encode(snap))
    assert again.journal_seq == snap.journal_seq and again.seq == snap.seq
    assert all((a == b).all() for a, b in zip(again.state, snap.state))


def test_a_damaged_newest_snapshot_is_skipped_for_an_older_one(venue_dir, tmp_path, caplog):
    d = copy(venue_dir, tmp_path)
    newest = sorted((d / "snapshots").glob("*.snap"))[-1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    r = recover_state(d, INSTRUMENTS)
    assert r.snapshot is not None and r.snapshot != newest
    warnings = [r.getMessage() for r in caplog.records if r.name == "kabuto.durability.snapshot"]
    assert "checksum" in warnings[0]
    assert r.digest() == recover_state(d, INSTRUMENTS, use_snapshot=False).digest()


def test_a_snapshot_whose_event_hash_differs_from_the_journal_is_refused(venue_dir, tmp_path):
    d = copy(venue_dir, tmp_path)
    newest = sorted((d / "snapshots").glob("*.snap"))[-1]
    snap = decode(newest.read_bytes())
    snap.event_hash = bytes(16)
    newest.write_bytes(encode(snap))
    with pytest.raises(JournalError, match="event hash mismatch"):
        recover_state(d, INSTRUMENTS)


def test_replay_of_the_journal_prints_every_event_and_the_recovered_book(venue_dir, tmp_path):
    out, book = tmp_path / "events.jsonl", tmp_path / "book.json"
    assert replay_journal(Namespace(orders=str(venue_dir), events=str(out), book_out=str(book),
                                    instruments=None)) == 0
    full = recover_state(venue_dir, INSTRUMENTS, use_snapshot=False)
    evs = events(out)
    assert [e["seq"] for e in evs] == list(range(1, full.engine.seq + 1))
    assert book.read_text() == book_json(full.engine, INSTRUMENTS) + "\n"


def test_replay_twice_is_byte_for_byte_the_same(venue_dir, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        replay_journal(Namespace(orders=str(venue_dir / "journal"), events=str(out), book_out=None, instruments=None))
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0]


def test_a_graceful_stop_snapshots_so_a_restart_replays_no_journal(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data)
    with Client.from_data_dir(data, "alice") as c:
        c.new("BTC-USD", "sell", "0.5", "60000.00", cl_oid="ask")
        c.wait_report(lambda r: r.ev == "accepted")
    assert serve.stop() == 0
    restarted = Serve(data)
    try:
        assert "+ 0 journal records" in restarted.text() and "1 live orders" in restarted.text()
        with Client.from_data_dir(data, "alice") as c:
            assert [o[0] for o in c.orders()] == ["ask"]
    finally:
        assert restarted.stop() == 0


def started_durability(tmp_path, **kw):
    """A journaled venue in this process (no sockets needed): its Durability, recovered and open."""
    from kabuto.durability.recovery import Durability
    from kabuto.gateway.config import GatewayConfig
    from kabuto.gateway.server import Server
    server = Server(GatewayConfig(data_dir=tmp_path, insecure=True), INSTRUMENTS)
    d = Durability(tmp_path, INSTRUMENTS, **kw)
    server.journal = d
    d.recover(server)
    return server, d


def test_a_background_snapshot_holds_the_state_of_the_moment_it_was_taken(tmp_path):
    server, d = started_durability(tmp_path)
    st = server.engine.state
    st.o_qty[:5] = [1, 2, 3, 4, 5]
    before = encode(_snap(d, server))
    path = d.snapshot(background=True)
    st.o_qty[:5] = 99  # the engine goes on while the file is written
    d.wait_snapshot()
    assert encode(decode(path.read_bytes())) == before
    d.close()


def _snap(d, server):
    from kabuto.durability.snapshot import Snapshot
    return Snapshot(d.last_seq, server.engine.seq, d.event_hash, [i.symbol for i in INSTRUMENTS],
                    server.engine.state, {"accounts": [], "next_oid": server.entry.next_oid, "last_ts": d.last_ts,
                                          "orders": []})


def test_a_failed_background_snapshot_is_reported_and_the_journal_goes_on(tmp_path, caplog):
    server, d = started_durability(tmp_path)
    shutil.rmtree(d.sdir, ignore_errors=True)
    d.sdir.write_text("not a directory")
    d.snapshot(background=True)
    d.wait_snapshot()
    said = [r.getMessage() for r in caplog.records if r.name == "kabuto.durability.recovery"]
    assert any("snapshot at journal record" in line and "failed" in line for line in said), said
    from kabuto.engine.records import empty_commands
    before = d.last_seq
    d.append(empty_commands(1))  # still journaling
    assert d.last_seq == before + 1
    d.sdir.unlink()
    d.close()


def test_a_snapshot_is_written_only_once_the_journal_up_to_its_record_is_synced(tmp_path):
    from kabuto.engine.records import empty_commands
    server, d = started_durability(tmp_path, fsync="off")
    cmds = empty_commands(1)
    d.append(cmds)
    d.handle(server.engine.process(cmds), 1)
    assert d.writer.syncs == 0  # under fsync off only the operating system writes
    d.snapshot()
    assert d.writer.syncs == 1  # a crash can never leave the snapshot ahead of the journal on disk
    d.close()


def test_a_start_removes_the_temporary_file_of_a_snapshot_a_crash_interrupted(tmp_path):
    (tmp_path / "snapshots").mkdir()
    tmp = tmp_path / "snapshots" / "00000000000000000007.tmp"
    tmp.write_bytes(b"half a snapshot")
    _, d = started_durability(tmp_path)
    assert not tmp.exists()
    d.close()
