"""Book invariants hold after every single command of long random logs."""
import json

import pytest
from kabuto.engine.codes import Status
from kabuto.engine.engine import Engine
from kabuto.replay.eventlog import Encoder
from kabuto.replay.orderlog import Decoder, split_lines
from orderlogs import INSTRUMENTS, random_log


def run_checked(log: bytes):
    """Yield (engine, events as dicts, model of open qty per oid) after every command."""
    decoder = Decoder(INSTRUMENTS)
    encoder = Encoder(INSTRUMENTS, decoder.accounts)
    engine = Engine(INSTRUMENTS, orders=64, levels=16, book_levels=4, events=8)  # tiny: growth is exercised
    model: dict[int, int] = {}
    for n, line in enumerate(split_lines(log), 1):
        cmds = decoder.decode([line], n)
        seq0 = engine.seq + 1
        events = [json.loads(x) for x in encoder.encode(engine.process(cmds), seq0).splitlines()]
        for e in events:
            if e["ev"] in ("accepted", "amended"):
                model[e["oid"]] = e["qty"]
            elif e["ev"] == "fill":
                model[e["maker"]] = _sub(model[e["maker"]], e["qty"])
                model[e["taker"]] = _sub(model[e["taker"]], e["qty"])
            elif e["ev"] == "canceled":
                model[e["oid"]] = _sub(model[e["oid"]], e["qty"])
        yield engine, events, seq0, model


def _sub(a: str, b: str) -> str:
    from decimal import Decimal
    return str(Decimal(a) - Decimal(b))


@pytest.mark.parametrize("seed", range(4))
def test_book_never_crossed_after_any_command_outside_a_call(seed):
    calls = 0
    for engine, *_ in run_checked(random_log(seed, 1500)):
        for sym in range(len(INSTRUMENTS)):
            bids, asks = engine.book(sym)
            # a call takes crossing orders until its uncross; a halt abandons a call as it is
            if engine.state.i_status[sym] in (Status.CALL, Status.HALTED):
                calls += 1
                continue
            assert not bids or not asks or bids[0][0] < asks[0][0]
    assert calls > 0


@pytest.mark.parametrize("seed", range(4))
def test_each_level_size_is_the_sum_of_its_orders(seed):
    for engine, *_ in run_checked(random_log(seed, 1500)):
        for sym in range(len(INSTRUMENTS)):
            for side, levels in enumerate(engine.book(sym)):
                sums: dict[int, int] = {}
                for _, _, px, q in engine.orders(sym, side):
                    assert q > 0
                    sums[px] = sums.get(px, 0) + q
                assert levels == sorted(sums.items(), reverse=(side == 0))


@pytest.mark.parametrize("seed", range(4))
def test_no_order_is_lost_or_duplicated(seed):
    from decimal import Decimal
    for engine, _, _, model in run_checked(random_log(seed, 1500)):
        live = {}
        for sym, ins in enumerate(INSTRUMENTS):
            for side in (0, 1):
                for oid, _, _, q in engine.orders(sym, side):
                    assert oid not in live
                    live[oid] = Decimal(ins.qty.text(q))
        expected = {oid: Decimal(q) for oid, q in model.items() if Decimal(q) != 0}
        assert live == expected
        assert engine.live_orders == len(live)


@pytest.mark.parametrize("seed", range(2))
def test_event_seq_is_gapless(seed):
    last = 0
    for _, events, seq0, _ in run_checked(random_log(seed, 1500)):
        for i, e in enumerate(events):
            assert e["seq"] == seq0 + i == last + 1
            last = e["seq"]
    assert last > 1000
