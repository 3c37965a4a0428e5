"""Oracle instruments survive a crash: after kill -9 the journal gives back the oracle state, the band and
the volume-weighted window, and `kabuto journal export` writes oracle lines that replay to the same events."""
import json
import subprocess
import time

from journalkit import KABUTO, Serve
from kabuto.gateway.client import Client

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
