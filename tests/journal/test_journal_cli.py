"""`kabuto journal inspect|export` and `kabuto replay`'s journal function, through the real command."""
from __future__ import annotations

import subprocess
from argparse import Namespace

import pytest
from journalkit import KABUTO, Serve, unseal, write_journal
from kabuto.durability.recovery import replay_journal
from kabuto.engine.codes import Op
from kabuto.gateway.client import Client

NEW, CANCEL, AMEND = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND)
# TSLAx-USD: tick 0.01 (px in hundredths with pexp -2), lot 0.001 (qexp -3)
BUY = dict(op=NEW, side=0, sym=0, acct=0, px=10000, pexp=-2, qty=2000, qexp=-3)
SELL = dict(op=NEW, side=1, sym=0, acct=1, px=10000, pexp=-2, qty=500, qexp=-3)
BATCHES = [
    [dict(BUY, oid=1, ts=10), dict(BUY, oid=2, px=9990, ts=11)],
    [dict(SELL, oid=3, ts=20)],
    [dict(op=AMEND, oid=2, sym=0, px=9980, pexp=-2, flags=2, ts=30), dict(op=CANCEL, oid=1, sym=0, ts=31)],
]


def kabuto(*args) -> subprocess.CompletedProcess:
    return subprocess.run([KABUTO, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def venue(tmp_path):
    write_journal(tmp_path, BATCHES, ["alice", "bob"], segment_bytes=100)
    return tmp_path


def test_inspect_reports_records_ranges_and_commands(venue):
    p = kabuto("journal", "inspect", venue)
    assert p.returncode == 0, p.stderr
    assert "records     3 (sequence 1..3, no gaps)" in p.stdout
    assert "commands    new 3, cancel 1, amend 1" in p.stdout
    assert "torn tail   none" in p.stdout
    assert p.stdout.count("  sealed (records ") == 3 and "00000000000000000002.wal  " in p.stdout


def test_inspect_reports_a_corrupt_end_and_exits_1(venue):
    last = sorted((venue / "journal").glob("*.wal"))[-1]
    end = last.stat().st_size
    last.write_bytes(last.read_bytes() + b"\xff" * 300)
    p = kabuto("journal", "inspect", venue)
    assert p.returncode == 1 and f"ERROR       {last} byte {end}: 300 unreadable bytes after record 3" in p.stdout


def test_inspect_reports_a_torn_tail_and_exits_0(venue):
    last = sorted((venue / "journal").glob("*.wal"))[-1]
    unseal(last)
    last.write_bytes(last.read_bytes()[:-5])
    p = kabuto("journal", "inspect", venue)
    assert p.returncode == 0
    assert f"{last.name}  {last.stat().st_size} bytes  open (no seal" in p.stdout
    assert "records     2" in p.stdout and "incomplete body" in p.stdout


def test_inspect_exits_1_on_corruption_in_the_middle(venue):
    first = sorted((venue / "journal").glob("*.wal"))[0]
    data = bytearray(first.read_bytes())
    data[30] ^= 0xFF
    first.write_bytes(bytes(data))
    p = kabuto("journal", "inspect", venue)
    assert p.returncode == 1 and "ERROR" in p.stdout and "middle of the journal" in p.stdout


def test_export_replays_to_the_same_events_as_the_journal(venue, tmp_path):
    log = tmp_path / "orders.jsonl"
    p = kabuto("journal", "export", venue, "-o", log)
    assert p.returncode == 0, p.stderr
    replayed = kabuto("replay", log)
    assert replayed.returncode == 0, replayed.stderr
    direct = tmp_path / "direct.jsonl"
    replay_journal(Namespace(orders=str(venue), events=str(direct), book_out=None, instruments=None))
    assert replayed.stdout == direct.read_text()
    assert '"ev":"fill"' in replayed.stdout and '"ev":"amended"' in replayed.stdout


def test_a_directory_without_a_journal_is_a_clear_error(tmp_path):
    p = kabuto("journal", "inspect", tmp_path)
    assert p.returncode == 2 and "not a Kabuto journal" in p.stderr


def test_serve_refuses_an_unknown_fsync_policy(tmp_path):
    p = kabuto("serve", "--data-dir", tmp_path, "--insecure", "--fsync", "sometimes")
    assert p.returncode == 2 and "--fsync sometimes: use always, off or batch-ms N" in p.stderr


def test_kabuto_replay_of_a_journal_directory_prints_its_events_and_book(venue, tmp_path):
    book = tmp_path / "book.json"
    p = kabuto("replay", venue, "--book-out", book)
    assert p.returncode == 0, p.stderr
    direct = tmp_path / "direct.jsonl"
    replay_journal(Namespace(orders=str(venue / "journal"), events=str(direct), book_out=None, instruments=None))
    assert p.stdout == direct.read_text()
    assert '"TSLAx-USD": {"bids": [["99.80", "2.000"]], "asks": []}' in book.read_text()


def torn(venue):
    last = sorted((venue / "journal").glob("*.wal"))[-1]
    unseal(last)
    last.write_bytes(last.read_bytes()[:-5])
    return venue


def test_replay_of_a_torn_journal_logs_the_torn_tail_as_a_warning_line(venue):
    p = kabuto("replay", torn(venue))
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kabuto replay: journal: ") and lines[0].endswith("(ignored)")


def test_log_level_error_hides_warnings_and_leaves_the_output_alone(venue):
    shown = kabuto("replay", torn(venue))
    quiet = kabuto("replay", "--log-level", "error", venue)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == shown.stdout and '"ev":"fill"' in quiet.stdout


def test_an_unknown_log_level_is_a_usage_error(venue):
    p = kabuto("replay", "--log-level", "chatty", venue)
    assert p.returncode == 2 and "--log-level" in p.stderr


def test_export_writes_halts_and_the_venues_ticks_as_order_log_lines(tmp_path):
    halts = [dict(op=int(Op.HALT), sym=0, ts=40), dict(op=int(Op.RESUME), sym=0, ts=41),
             dict(op=int(Op.TICK), sym=-1, ts=42), dict(op=int(Op.HALT_ALL), sym=-1, ts=43)]
    write_journal(tmp_path, BATCHES + [halts], ["alice", "bob"])
    p = kabuto("journal", "export", tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-4:] == ['{"op":"halt","sym":"TSLAx-USD","ts":40}',
                                          '{"op":"resume","sym":"TSLAx-USD","ts":41}', '{"op":"tick","ts":42}',
                                          '{"op":"halt_all","ts":43}']


def test_export_writes_the_operators_reference_prices_as_ref_lines_that_give_the_same_bands(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data, ["--operators", "op"])
    try:
        with Client.from_data_dir(data, "op") as op, Client.from_data_dir(data, "alice") as a:
            # 100.005: the reference is 100.01 (half up), but the band is 10% of 100.005, up to 110.00 (not 110.01)
            assert op.wait_reply(op.ref("TSLAx-USD", "100.005"))[4:] == ["90.01", "110.00"]
            op.wait_reply(op.ref("BTC-USD", "123.4567"))  # no band: only the rounded reference
            for px in ("110.00", "110.01", "89.99"):
                cl = a.new("TSLAx-USD", "buy", "1", px)
                a.wait_report(lambda r, cl=cl: r.cl_oid == cl)
            op.wait_reply(op.ref("TSLAx-USD", "99.994"))  # 90.00..109.99: cancels the bid at 110.00
    finally:
        assert serve.stop() == 0, serve.text()
    p = kabuto("journal", "export", data)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    refs = [line for line in p.stdout.splitlines() if '"op":"ref"' in line]
    assert [r.split(',"ts"')[0] for r in refs] == ['{"op":"ref","sym":"TSLAx-USD","px":"100.005"',
                                                   '{"op":"ref","sym":"BTC-USD","px":"123.46"',
                                                   '{"op":"ref","sym":"TSLAx-USD","px":"99.991"']
    log = tmp_path / "orders.jsonl"
    log.write_text(p.stdout)
    replayed, journaled = kabuto("replay", log), kabuto("replay", data)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == journaled.stdout
    assert '"reason":"outside_band"' in replayed.stdout and '"reason":"band"' in replayed.stdout
