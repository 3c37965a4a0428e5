"""Engine facade: capacity, growth and deep sweeps."""
import numpy as np
from kabuto.engine.codes import Ev, Op, OrdType, Tif
from kabuto.engine.engine import Engine
from kabuto.engine.records import empty_commands

from bench.workload import bench_instruments, resting_orders


def market(oid: int, side: int, lots: int) -> np.ndarray:
    c = empty_commands(1)
    c["op"], c["oid"], c["side"], c["otype"], c["tif"], c["qty"], c["acct"] = (
        Op.NEW, oid, side, OrdType.MARKET, Tif.IOC, lots, 999)
    return c


def test_books_hold_a_million_resting_orders_in_under_200_mb():
    engine = Engine(bench_instruments(1))
    cmds = resting_orders(1_000_000)
    for i in range(0, len(cmds), 1 << 16):
        engine.process(cmds[i:i + (1 << 16)])
    assert engine.live_orders == 1_000_000
    state_bytes = sum(a.nbytes for a in engine.state)
    assert state_bytes < 200 * 2**20


def test_a_sweep_through_a_deep_book_prints_every_fill_with_a_tiny_event_buffer():
    engine = Engine(bench_instruments(1), orders=16, levels=4, book_levels=2, events=4)
    asks = resting_orders(6000)
    asks = asks[asks["side"] == 1]
    engine.process(asks)
    events = engine.process(market(10**9, 0, int(asks["qty"].sum())))
    fills = events[events["kind"] == Ev.FILL]
    assert len(fills) == len(asks)
    assert fills["qty"].sum() == asks["qty"].sum()
    assert engine.live_orders == 0
    assert engine.seq == len(asks) + len(events)


def test_out_of_range_codes_are_rejected_not_crashes():
    engine = Engine(bench_instruments(1))
    c = empty_commands(5)
    c["op"] = Op.NEW
    c["oid"] = [1, 2, 3, 4, 5]
    c["qty"] = 1
    c["px"] = 100
    c["sym"] = [7, -1, 0, 0, 0]
    c["side"] = [0, 0, 2, 0, 0]
    c["tif"] = [0, 0, 0, 9, 0]
    c["stp"] = [0, 0, 0, 0, -3]
    events = engine.process(c)
    assert events["kind"].tolist() == [Ev.REJECTED] * 5
    assert events["reason"].tolist() == [2, 2, 1, 4, 5]  # unknown_symbol x2, malformed, bad_tif, bad_stp
    assert engine.live_orders == 0


def test_a_cancel_prints_the_reason_its_driver_gives():
    engine = Engine(bench_instruments(1))
    c = resting_orders(2)
    engine.process(c)
    cancels = empty_commands(2)
    cancels["op"] = Op.CANCEL
    cancels["oid"] = [1, 2]
    cancels["reason"] = [0, 20]  # none given: user; mass_cancel
    events = engine.process(cancels)
    assert events["reason"].tolist() == [11, 20]
