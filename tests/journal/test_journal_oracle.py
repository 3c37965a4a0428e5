"""Oracle instruments survive a crash: after kill -9 the journal gives back the oracle state, the band and
the volume-weighted window, and `kabuto journal export` writes oracle lines that replay to the same events."""
import json
import subprocess
import time
from pathlib import Path

from journalkit import KABUTO, Serve
from kabuto.durability.journal import JournalReader
from kabuto.durability.recovery import ZERO_HASH, apply_records, live_orders, recover_state
from kabuto.engine.codes import Ev
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.client import Client, MarketDataClient
from recording_sink import runs

INSTRUMENTS = """
[[instrument]]
symbol = "ORC-USD"
tick_size = "0.01"
lot_size = "0.001"
luld_tier = 1
stale_ms = 600000
halt_ms = 1200000
"""
SYM = "ORC-USD"


def start(data, instruments):
    return Serve(data, ["--oracles", "orc", "--instruments", str(instruments)])


def test_the_oracle_band_is_still_in_force_after_kill_9(tmp_path):
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    serve = start(data, inst)
    with Client.from_data_dir(data, "orc") as o:
        o.wait_reply(o.oracle(SYM, "50.00", "2", "weekend", time.time_ns()))  # 100.00 a token, band 90..110
    serve.kill9()
    serve = start(data, inst)
    try:
        with Client.from_data_dir(data, "alice") as c:
            out = c.new(SYM, "buy", "1", "89.99")
            assert c.wait_report(lambda r: r.cl_oid == out).reason == "outside_band"
            inside = c.new(SYM, "buy", "1", "90.00")
            assert c.wait_report(lambda r: r.cl_oid == inside).ev == "accepted"
    finally:
        assert serve.stop() == 0, serve.text()


def test_an_exported_journal_with_oracle_updates_replays_to_the_journaled_events(tmp_path):
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    serve = start(data, inst)
    try:
        with Client.from_data_dir(data, "orc") as o, Client.from_data_dir(data, "alice") as a:
            o.wait_reply(o.oracle(SYM, "33.33", "3", "weekend", time.time_ns()))  # 99.99 a token
            o.wait_reply(o.oracle(SYM, "34.00", "3", "weekend", time.time_ns()))  # a 2% jump: pending
            cl = a.new(SYM, "sell", "1", "95.00")
            a.wait_report(lambda r: r.cl_oid == cl)
    finally:
        assert serve.stop() == 0, serve.text()
    kabuto = KABUTO
    log = tmp_path / "log.jsonl"
    subprocess.run([kabuto, "journal", "export", str(data), "-o", str(log)], check=True)
    replayed = subprocess.run([kabuto, "replay", "--instruments", str(inst), str(log)], check=True,
                              capture_output=True, text=True).stdout
    journaled = subprocess.run([kabuto, "replay", "--instruments", str(inst), str(data)], check=True,
                               capture_output=True, text=True).stdout
    events = [json.loads(x) for x in replayed.splitlines()]
    assert [e["ev"] for e in events if e["ev"] in ("oracle", "band")] == ["oracle", "band", "oracle"]
    assert [e for e in events if e["ev"] == "oracle"][1]["state"] == "pending"
    assert replayed == journaled


def test_an_exported_journal_replays_a_split_announced_and_activated_to_the_journaled_events(tmp_path):
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    serve = start(data, inst)
    try:
        with Client.from_data_dir(data, "orc") as o, Client.from_data_dir(data, "alice") as a:
            t = time.time_ns()
            split = {"next_mult": "3", "mult_at": t + 10**9}  # 3-for-1 from oracle time t + 1 s (section 15.3)
            o.wait_reply(o.oracle(SYM, "240.00", "1", "weekend", t, **split))  # pre-split: 1 share, 240.00
            cl = a.new(SYM, "sell", "1", "250.00")
            a.wait_report(lambda r: r.cl_oid == cl)
            o.wait_reply(o.oracle(SYM, "80.00", "1", "weekend", t + 10**9, **split))  # post-split: 3 x 80.00
            o.wait_reply(o.oracle(SYM, "80.10", "3", "weekend", t + 2 * 10**9))  # the split done, no announcement
    finally:
        assert serve.stop() == 0, serve.text()
    log = tmp_path / "log.jsonl"
    subprocess.run([KABUTO, "journal", "export", str(data), "-o", str(log)], check=True)
    replayed = subprocess.run([KABUTO, "replay", "--instruments", str(inst), str(log)], check=True,
                              capture_output=True, text=True).stdout
    journaled = subprocess.run([KABUTO, "replay", "--instruments", str(inst), str(data)], check=True,
                               capture_output=True, text=True).stdout
    oracle = [e for e in map(json.loads, replayed.splitlines()) if e["ev"] == "oracle"]
    assert [(e["ref"], e["mult"], e["state"]) for e in oracle] == [
        ("240.00", "1", "trusted"), ("240.00", "3", "trusted"), ("240.30", "3", "trusted")]
    assert replayed == journaled


PAUSING = """
[[instrument]]
symbol = "ORC-USD"
tick_size = "0.01"
lot_size = "0.001"
luld_tier = 1
stale_ms = 600000
halt_ms = 1200000
limit_state_ms = 1
pause_ms = 20000  # the orders, the kill and the restart all fit in the call, even on a loaded machine
"""


def test_a_pause_auction_cut_by_kill_9_uncrosses_after_the_restart_as_the_journal_replays(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the venue loads recording_sink
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(PAUSING)
    data.mkdir()
    args = ["--oracles", "orc", "--instruments", str(inst), "--sink", "recording_sink:make"]
    accounts = ("alice", "bob", "carol")

    def book():
        out = {}
        for name in accounts:
            with Client.from_data_dir(data, name) as c:
                out[name] = sorted(c.orders(SYM))
        return out

    def status():  # from a snapshot taken now: [status, reason, until, indicative]
        with MarketDataClient.from_data_dir(data, None, [SYM]) as md:
            md.wait_synced()
            return md.status(SYM)

    serve = Serve(data, args)
    with Client.from_data_dir(data, "orc") as o, Client.from_data_dir(data, "alice") as a, \
            Client.from_data_dir(data, "bob") as b, Client.from_data_dir(data, "carol") as c, \
            MarketDataClient.from_data_dir(data, None, [SYM]) as md:
        o.wait_reply(o.oracle(SYM, "50.00", "2", "weekend", time.time_ns()))  # 100.00 a token, band 90..110
        pin = a.new(SYM, "buy", "2", "110.00")  # the bid at the upper edge: limit_up, then at once a pause
        assert a.wait_report(lambda r: r.cl_oid == pin).ev == "accepted"
        md.wait_synced(15.0, until=lambda: (md.status(SYM) or [None])[0] == "call")
        assert md.status(SYM)[:2] == ["call", "pause"]
        for client, side, qty, px in ((b, "sell", "1", "100.00"), (b, "sell", "2", "107.00"),
                                      (c, "buy", "2", "108.00"), (c, "buy", "1", "95.00")):
            cl = client.new(SYM, side, qty, px)  # crossing orders rest: nothing matches during a call
            assert client.wait_report(lambda r, cl=cl: r.cl_oid == cl).ev == "accepted"
        gone = c.new(SYM, "sell", "1", "120.00")
        c.wait_report(lambda r: r.cl_oid == gone)
        c.cancel(gone)
        assert c.wait_report(lambda r: r.cl_oid == gone and r.ev == "canceled").open == "0.000"
    before, resting = status(), book()
    serve.kill9()  # the call ends `until` (command time): the venue is gone before that

    serve = Serve(data, args)
    try:
        assert status() == before  # still the same call: status, reason, until, indicative
        assert book() == resting
        with MarketDataClient.from_data_dir(data, None, [SYM]) as md:
            md.wait_synced(60.0, until=lambda: md.status(SYM)[0] == "continuous")  # the uncross, on the ticks
            assert md.status(SYM)[:2] == ["continuous", "call_end"]
        after = book()
    finally:
        assert serve.stop() == 0, serve.text()

    # what the venue printed, before the crash and after the restart, is a replay of its journal
    instruments = load_instruments(str(inst))
    replayed = {}

    def keep(events, first, _names):
        replayed.update(enumerate(events.copy(), first))  # events: a view of the engine's buffer
    apply_records(JournalReader(data / "journal").scan(), Engine(instruments), [], None, ZERO_HASH, keep)
    first_run, second_run = runs(data)
    assert first_run and second_run
    for printed in (first_run, second_run):
        assert all(printed[s] == replayed[s] for s in printed), "the venue printed other events than its replay"
    assert max(first_run) < min(second_run)
    kinds = [int(e["kind"]) for e in first_run.values()], [int(e["kind"]) for e in second_run.values()]
    assert int(Ev.UNCROSS) not in kinds[0] and kinds[1].count(int(Ev.UNCROSS)) == 1
    assert int(Ev.FILL) not in kinds[0]  # nothing matched before the crash: the call took the crossing orders

    # its books after the uncross are those of a clean replay of the journal
    clean = recover_state(data, instruments, use_snapshot=False)
    ins = instruments[0]
    expect = {name: [] for name in accounts}
    for oid, acct, _sym, _side, px, q in live_orders(clean.engine):
        expect[clean.names[acct]].append((oid, ins.px.text(px), ins.qty.text(q)))
    assert {k: sorted((o[1], o[4], o[5]) for o in v) for k, v in after.items()} == \
        {k: sorted(v) for k, v in expect.items()}
    assert after != resting

    # and an export of the journal replays to the same events
    log = tmp_path / "log.jsonl"
    subprocess.run([KABUTO, "journal", "export", str(data), "-o", str(log)], check=True)
    exported = subprocess.run([KABUTO, "replay", "--instruments", str(inst), str(log)], check=True,
                              capture_output=True, text=True).stdout
    journaled = subprocess.run([KABUTO, "replay", "--instruments", str(inst), str(data)], check=True,
                               capture_output=True, text=True).stdout
    assert exported == journaled
    assert [json.loads(x)["ev"] for x in journaled.splitlines()].count("uncross") == 1
