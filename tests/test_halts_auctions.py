"""Halts, reopening calls and their auction (docs/market-integrity.md 5, 8, 9, 11, 12), in both engines."""
import json

import pytest
from kabuto.engine.instruments import parse_instruments
from kabuto.replay.replay import replay_text

INSTRUMENTS = parse_instruments({"instrument": [
    {"symbol": "X", "tick_size": "0.01", "lot_size": "1"},
    {"symbol": "Y", "tick_size": "0.01", "lot_size": "1", "band_pct": "10", "reference_price": "100.00"},
]})
S = 1_000_000_000  # one second in ns
REOPEN = 300 * S


def run(*lines: dict) -> list[dict]:
    """The events of a log, after checking that the kernel and the reference model print the same."""
    log = "".join(json.dumps(d) + "\n" for d in lines).encode()
    events, book = replay_text(log, INSTRUMENTS, "numba")
    ref_events, ref_book = replay_text(log, INSTRUMENTS, "reference")
    assert (events, book) == (ref_events, ref_book)
    return [json.loads(x) for x in events.splitlines()]


def new(oid: int, side: str, px: str | None, qty: int, ts: int, acct: str = "a", sym: str = "X", **kw) -> dict:
    d = {"op": "new", "oid": oid, "acct": acct, "sym": sym, "side": side, "type": "limit" if px else "market",
         "qty": str(qty), "ts": ts, **kw}
    if px:
        d["px"] = px
    return d


def halt(ts: int, sym: str = "X") -> dict:
    return {"op": "halt", "sym": sym, "ts": ts}


def resume(ts: int, sym: str = "X") -> dict:
    return {"op": "resume", "sym": sym, "ts": ts}


def kinds(events: list[dict]) -> list[str]:
    return [e["ev"] for e in events]


def test_a_halted_instrument_rejects_new_orders_and_amends_but_takes_cancels():
    ev = run(new(1, "buy", "10.00", 5, 1), halt(2), new(2, "sell", "9.00", 1, 3),
             {"op": "amend", "oid": 1, "qty": "3", "ts": 4}, {"op": "cancel", "oid": 1, "ts": 5})
    assert ev[1] == {"seq": 2, "ev": "status", "sym": "X", "status": "halted", "reason": "operator", "until": None,
                     "ts": 2}
    assert [(e["ev"], e.get("reason")) for e in ev[2:]] == [("rejected", "halted"), ("rejected", "halted"),
                                                             ("canceled", "user")]


def test_halting_a_halted_instrument_and_resuming_a_running_one_are_rejected():
    ev = run(resume(1), halt(2), halt(3))
    assert [(e["ev"], e.get("reason")) for e in ev] == [("rejected", "not_halted"), ("status", "operator"),
                                                        ("rejected", "halted")]
    assert "oid" not in ev[0]


def test_a_halt_command_naming_no_known_symbol_is_rejected():
    ev = run({"op": "halt", "sym": "NOPE", "ts": 1}, {"op": "halt", "ts": 2})
    assert [(e["ev"], e["reason"]) for e in ev] == [("rejected", "unknown_symbol"), ("rejected", "malformed")]


def test_resume_starts_a_reopening_call_with_its_first_indicative():
    ev = run(halt(1), resume(10))
    assert ev[1] == {"seq": 2, "ev": "status", "sym": "X", "status": "call", "reason": "reopen",
                     "until": 10 + REOPEN, "ts": 10}
    assert ev[2] == {"seq": 3, "ev": "indicative", "sym": "X", "px": None, "matched": "0", "imbalance": "0",
                     "imb_side": None, "lo": None, "hi": None, "until": 10 + REOPEN, "ts": 10}


@pytest.mark.parametrize("order", [{"type": "market"}, {"tif": "IOC"}, {"tif": "FOK"}, {"tif": "POST"}])
def test_a_call_takes_only_limit_gtc_orders(order):
    d = new(1, "buy", "10.00", 1, 20, **order)
    if order.get("type") == "market":
        del d["px"]
    ev = run(halt(1), resume(10), d)
    assert ev[-1] == {"seq": 4, "ev": "rejected", "reason": "auction_only", "oid": 1, "ts": 20}


def test_crossing_orders_rest_in_a_call_and_the_indicative_prints_only_when_it_changes():
    ev = run(halt(1), resume(10), new(1, "buy", "10.00", 5, 20), new(2, "sell", "9.00", 3, 30),
             new(3, "buy", "8.00", 1, 40))
    assert kinds(ev[3:]) == ["accepted", "accepted", "indicative", "accepted"]  # the lone bid changes nothing
    # every price from 9.00 to 10.00 matches 3 with 2 bought left over: market pressure takes the highest
    assert (ev[5]["px"], ev[5]["matched"], ev[5]["imbalance"], ev[5]["imb_side"]) == ("10.00", "3", "2", "buy")


def test_the_indicative_repeats_every_second_of_command_time_stamped_with_its_deadline():
    ev = run(halt(1), resume(10), {"op": "tick", "ts": 10 + 3 * S})
    assert [(e["ev"], e["ts"]) for e in ev[3:]] == [("indicative", 10 + S), ("indicative", 10 + 2 * S),
                                                     ("indicative", 10 + 3 * S)]


def test_ticks_between_commands_change_no_event():
    base = [halt(1), resume(10), new(1, "buy", "10.00", 5, 20), new(2, "sell", "9.00", 3, 7 * S),
            new(3, "sell", "9.50", 1, REOPEN + 30)]
    ticked = base[:3] + [{"op": "tick", "ts": 2 * S + 5}, {"op": "tick", "ts": 6 * S}] + base[3:]
    assert run(*base) == run(*ticked)


def test_the_call_ends_with_an_uncross_at_maximum_volume_and_each_fill_names_the_earlier_order_maker():
    ev = run(new(1, "buy", "10.00", 2, 1, acct="early"), halt(2), resume(10), new(2, "sell", "9.00", 5, 20),
             new(3, "buy", "9.50", 1, 30), {"op": "tick", "ts": 10 + REOPEN})
    end = [e for e in ev if e["ts"] == 10 + REOPEN and e["ev"] != "indicative"]
    assert end[0] == {"seq": end[0]["seq"], "ev": "uncross", "sym": "X", "px": "9.00", "qty": "3",
                      "ts": 10 + REOPEN}
    assert [(e["maker"], e["taker"], e["taker_side"], e["qty"]) for e in end[1:3]] == [(1, 2, "sell", "2"),
                                                                                      (2, 3, "buy", "1")]
    assert end[3] == {"seq": end[3]["seq"], "ev": "status", "sym": "X", "status": "continuous",
                      "reason": "call_end", "until": None, "ts": 10 + REOPEN}


def test_a_timer_fires_before_the_command_whose_ts_reaches_it():
    ev = run(halt(1), resume(10), new(1, "buy", "10.00", 1, 10 + REOPEN))
    assert kinds(ev[-2:]) == ["status", "accepted"]
    assert ev[-2]["reason"] == "call_end"


def test_the_auction_price_is_nearest_the_reference_when_volume_and_imbalance_tie():
    # bids 10.00 x1, asks 9.00 x1: every price from 9.00 to 10.00 matches 1 with no imbalance
    ev = run(halt(1, "Y"), resume(2, "Y"), new(1, "buy", "102.00", 1, 3, sym="Y"),
             new(2, "sell", "98.00", 1, 4, sym="Y"))
    assert ev[-1]["px"] == "100.00"  # the instrument's reference_price


def test_without_a_reference_the_auction_price_is_the_midpoint_rounded_down():
    ev = run(halt(1), resume(2), new(1, "buy", "10.01", 1, 3), new(2, "sell", "9.00", 1, 4))
    assert ev[-1]["px"] == "9.50"


def test_market_pressure_takes_the_highest_price_when_buyers_are_left_over_everywhere():
    ev = run(halt(1), resume(2), new(1, "buy", "10.00", 5, 3), new(2, "sell", "9.00", 2, 4))
    assert (ev[-1]["px"], ev[-1]["imb_side"]) == ("10.00", "buy")


def test_a_halt_abandons_a_call_without_an_uncross_and_the_next_resume_starts_a_new_one():
    ev = run(halt(1), resume(10), new(1, "buy", "10.00", 1, 20), new(2, "sell", "9.00", 1, 30), halt(40),
             resume(50), {"op": "tick", "ts": 10 + REOPEN + 1})
    assert "uncross" not in kinds([e for e in ev if e["ts"] <= 10 + REOPEN + 1])
    assert [(e["status"], e["reason"]) for e in ev if e["ev"] == "status"] == [
        ("halted", "operator"), ("call", "reopen"), ("halted", "operator"), ("call", "reopen")]


def test_halt_all_halts_every_instrument_and_resume_all_reopens_each_in_file_order():
    ev = run({"op": "halt_all", "ts": 1}, {"op": "halt_all", "ts": 2}, {"op": "resume_all", "ts": 3},
             {"op": "resume_all", "ts": 4})
    assert [(e["ev"], e.get("sym"), e.get("reason")) for e in ev] == [
        ("status", "X", "market_wide"), ("status", "Y", "market_wide"), ("rejected", None, "halted"),
        ("status", "X", "reopen"), ("indicative", "X", None), ("status", "Y", "reopen"), ("indicative", "Y", None),
        ("rejected", None, "not_halted")]


def test_the_market_wide_halt_is_the_reason_shown_over_an_operator_halt():
    ev = run(halt(1), {"op": "halt_all", "ts": 2}, resume(3), {"op": "resume_all", "ts": 4})
    assert [(e["sym"], e["status"], e["reason"]) for e in ev if e["ev"] == "status"] == [
        ("X", "halted", "operator"), ("X", "halted", "market_wide"), ("Y", "halted", "market_wide"),
        ("X", "call", "reopen"), ("Y", "call", "reopen")]
