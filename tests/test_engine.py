"""Engine facade: capacity, growth and deep sweeps."""
import numpy as np
import pytest
from kabuto.engine.codes import Ev, Op, OrdType, Tif
from kabuto.engine.engine import Engine
from kabuto.engine.oidhash import EMPTY, hash_find
from kabuto.engine.records import EVENT_DTYPE, empty_commands
from kabuto.engine.state import LEVEL_FIELDS, M_FREE_ORDER, ORDER_FIELDS, grow_orders, new_state, rebuild_hash
from kabuto.replay.orderlog import Decoder
from orderlogs import INSTRUMENTS, random_log

from bench.workload import bench_instruments, mixed_workload, resting_orders


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


def test_a_batch_that_outgrows_the_event_buffer_returns_records_with_zero_padding():
    engine = Engine(bench_instruments(1), events=4)  # room for 2 x 3001 + 1024 events: the sweep needs more
    asks = resting_orders(6000)
    asks = asks[asks["side"] == 1]
    events = engine.process(np.concatenate([asks, market(10**9, 0, int(asks["qty"].sum()))]))
    assert not np.shares_memory(events, engine._events)  # the batch's events were gathered from full buffers
    padding = np.ones(EVENT_DTYPE.itemsize, bool)  # the bytes no field covers: journal hashes read them
    for name in EVENT_DTYPE.names:
        dt, at = EVENT_DTYPE.fields[name][:2]
        padding[at:at + dt.itemsize] = False
    assert padding.any()
    assert not events.view(np.uint8).reshape(len(events), -1)[:, padding].any()


def test_read_only_and_strided_batches_run_through_the_one_compiled_kernel():
    from kabuto.engine import kernel
    cmds = resting_orders(200)
    ro = np.frombuffer(cmds.tobytes(), cmds.dtype)  # as a journal's records are read back
    assert not ro.flags.writeable
    a, b, c = Engine(bench_instruments(1)), Engine(bench_instruments(1)), Engine(bench_instruments(1))
    expected = a.process(cmds).copy()
    before = len(kernel.run.signatures)  # the one the writable batch loaded
    assert (b.process(ro) == expected).all()
    assert (c.process(cmds[:100]).tolist() + c.process(cmds[100::1][::-1][::-1]).tolist()) == expected.tolist()
    assert len(kernel.run.signatures) == before  # no new specialization: a copy, not minutes of compiling


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


def _log(kind: str, seed: int) -> tuple[list, np.ndarray]:
    if kind == "random log":  # every command and fault, few orders resting
        return INSTRUMENTS, Decoder(INSTRUMENTS).decode_chunk(random_log(seed, 6000), 1)
    prefill, steady = mixed_workload(20000, n_prefill=3000, seed=seed)  # thousands resting on 4 books
    return bench_instruments(), np.concatenate([prefill, steady])


@pytest.mark.parametrize("kind", ["random log", "bench mix"])
@pytest.mark.parametrize("seed", range(2))
def test_an_engine_started_tiny_grows_into_the_books_and_events_of_a_presized_one(kind, seed):
    instruments, cmds = _log(kind, seed)
    tiny = Engine(instruments, orders=16, levels=4, book_levels=2, events=4)
    big = Engine(instruments, orders=1 << 14, levels=1 << 12, book_levels=1 << 10)
    for i in range(0, len(cmds), 997):
        assert np.array_equal(tiny.process(cmds[i:i + 997]), big.process(cmds[i:i + 997]))
    st, ref = tiny.state, big.state
    assert len(st.o_oid) > 16 and len(st.l_px) > 4 and st.b_lv.shape[1] > 2 and len(st.h_key) > 32
    for sym in range(len(instruments)):
        assert tiny.book(sym) == big.book(sym)
        assert tiny.orders(sym, 0) == big.orders(sym, 0) and tiny.orders(sym, 1) == big.orders(sym, 1)
    keys = ref.h_key[ref.h_key != EMPTY]
    assert tiny.live_orders == big.live_orders == len(keys) > 20
    fields = ("o_oid", "o_acct", "o_px", "o_qty", "o_book", "o_stp", "o_tif")
    for key in keys:
        o, r = st.h_val[hash_find(st.h_key, key)], ref.h_val[hash_find(ref.h_key, key)]
        assert [getattr(st, f)[o] for f in fields] == [getattr(ref, f)[r] for f in fields]
    for group in (ORDER_FIELDS, LEVEL_FIELDS):  # grown in place: the next growth can be in place too
        assert getattr(st, group[0]).base.flags.owndata


def test_growing_the_order_pool_keeps_every_row_and_threads_the_new_ones_onto_the_free_list():
    st = new_state(1, orders=1 << 10)
    rows = st.o_oid.base
    rows[:] = np.arange(rows.size).reshape(rows.shape)
    before = rows.copy()
    st.meta[M_FREE_ORDER] = 5
    st = grow_orders(st)
    assert np.array_equal(st.o_oid.base[:1 << 10], before)
    assert st.o_next[1 << 10:].tolist() == list(range((1 << 10) + 1, 1 << 11)) + [5]
    assert (st.o_prev[1 << 10:] == EMPTY).all() and (st.o_level[1 << 10:] == EMPTY).all()
    assert (st.o_oid[1 << 10:] == 0).all() and st.meta[M_FREE_ORDER] == 1 << 10


def test_an_oid_table_laid_out_by_another_hash_function_is_rebuilt_findable_and_a_valid_one_unchanged():
    st = new_state(1, orders=1 << 10)
    keys = np.arange(1, 700) * 7919
    st.h_key[:len(keys)] = keys  # packed from entry 0: where no probe chain of this hash function puts them
    st.h_val[:len(keys)] = np.arange(len(keys))
    assert sum(hash_find(st.h_key, k) < 0 for k in keys) > 0
    st = rebuild_hash(st)
    assert [st.h_val[hash_find(st.h_key, k)] for k in keys] == list(range(len(keys)))
    again = rebuild_hash(st)
    assert np.array_equal(again.h_key, st.h_key) and np.array_equal(again.h_val, st.h_val)


def test_risk_on_and_off_states_have_the_same_types_so_one_compiled_kernel_serves_both():
    import numba
    from risklogs import INSTRUMENTS as RISK_INSTRUMENTS
    from risklogs import RISK
    off = Engine(RISK_INSTRUMENTS)
    on = Engine(RISK_INSTRUMENTS, risk=RISK, fee_acct=0)
    assert numba.typeof(on.state) == numba.typeof(off.state)
