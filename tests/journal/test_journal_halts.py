"""Halts and reopening calls survive a crash: the journal replays the operator's commands and the
venue's own ticks, and a call cut short by kill -9 still ends in its uncross after the restart."""
import time

from journalkit import Serve
from kabuto.gateway.client import Client

INSTRUMENTS = """
[[instrument]]
symbol = "HALT-USD"
tick_size = "0.01"
lot_size = "0.001"
reopen_ms = 3000
"""
SYM = "HALT-USD"


def start(data, instruments):
    return Serve(data, ["--operators", "op", "--instruments", str(instruments)])


def test_a_halt_is_still_in_force_after_kill_9(tmp_path):
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    serve = start(data, inst)
    with Client.from_data_dir(data, "op") as op:
        op.wait_reply(op.halt(SYM))
    serve.kill9()
    serve = start(data, inst)
    try:
        with Client.from_data_dir(data, "alice") as c:
            cl = c.new(SYM, "buy", "1", "10.00")
            r = c.wait_report(lambda r: r.cl_oid == cl)
            assert (r.ev, r.reason) == ("rejected", "halted")
    finally:
        assert serve.stop() == 0, serve.text()


def test_a_reopening_call_cut_by_kill_9_ends_in_its_uncross_after_the_restart(tmp_path):
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    serve = start(data, inst)
    with Client.from_data_dir(data, "op") as op, Client.from_data_dir(data, "alice") as a, \
            Client.from_data_dir(data, "bob") as b:
        buy = a.new(SYM, "buy", "2", "10.00")
        a.wait_report(lambda r: r.cl_oid == buy)
        op.wait_reply(op.halt(SYM))
        op.wait_reply(op.resume(SYM))  # a 3 s call
        sell = b.new(SYM, "sell", "1", "9.00")
        assert b.wait_report(lambda r: r.cl_oid == sell).ev == "accepted"
    serve.kill9()
    serve = start(data, inst)
    try:
        with Client.from_data_dir(data, "alice") as a:
            deadline = time.monotonic() + 60
            while a.orders(SYM)[0][5] != "1.000":  # [cl_oid, oid, sym, side, px, open]
                assert time.monotonic() < deadline, "the call never ended"
                time.sleep(0.2)
        with Client.from_data_dir(data, "bob") as b:
            assert b.orders(SYM) == []
    finally:
        assert serve.stop() == 0, serve.text()
