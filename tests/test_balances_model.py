"""Balances, holds, fees, deposits, withdrawals and fee tiers (docs/balances.md) in the reference model.

The model is driven with command records (the decoder's output, docs in engine/records.py) and its
event records are read back field by field: the worked example of section 11, the rounding table,
then one behaviour per test, and the invariants of section 9 after every command of random logs.
"""
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kabuto.engine.assets import Asset, Risk
from kabuto.engine.codes import Ev, Flag, Op, OrdType, Reason, Side, Stp, Tif
from kabuto.engine.instruments import parse_instruments
from kabuto.engine.records import empty_commands
from kabuto.engine.reference import ReferenceEngine

BUY, SELL = int(Side.BUY), int(Side.SELL)
FEES, ALICE, BOB, CAROL = 0, 1, 2, 3  # account ids; @fees is 0
MAX = (1 << 62) - 1

# section 11's instruments file: assets AMZNx, TSLAx, USD (ids 0, 1, 2, by name)
EXAMPLE_INSTRUMENTS = parse_instruments({"instrument": [
    {"symbol": "TSLAx-USD", "tick_size": "0.01", "lot_size": "0.001", "band_pct": "10", "reference_price": "250.00"},
    {"symbol": "AMZNx-USD", "tick_size": "0.01", "lot_size": "0.001"},
]})
AMZN, TSLA, USD = 0, 1, 2
TS, AM = 0, 1  # instrument ids


def example_risk(tiers=((0, 0, 500),)) -> Risk:
    return Risk(True, (Asset("AMZNx", 3), Asset("TSLAx", 3), Asset("USD", 6)), base=(TSLA, AMZN), quote=(USD, USD),
                bf=(1, 1), qf=(10, 10), tiers=tiers)


def engine(risk: Risk | None = None, instruments=EXAMPLE_INSTRUMENTS) -> ReferenceEngine:
    return ReferenceEngine(instruments, example_risk() if risk is None else risk, fee_acct=FEES)


# ------------------------------------------------------------ command records


def dec(text: str) -> tuple[int, int]:
    """(mantissa, exponent) of decimal text."""
    _, digits, exp = Decimal(text).as_tuple()
    return int("".join(map(str, digits))), exp


def record(op: int, **fields) -> dict:
    return {"op": int(op), **fields}


def new(oid, acct, side, px=None, qty="1", sym=TS, tif=None, stp=Stp.CANCEL_OLDEST, protect=None) -> dict:
    market = px is None
    f = {"oid": oid, "acct": acct, "sym": sym, "side": side, "stp": int(stp),
         "otype": int(OrdType.MARKET if market else OrdType.LIMIT),
         "tif": int(tif if tif is not None else (Tif.IOC if market else Tif.GTC)), "flags": 0}
    f["qty"], f["qexp"] = dec(qty)
    if px is not None:
        f["px"], f["pexp"] = dec(px)
    elif protect is not None:
        f["px"], f["pexp"] = dec(protect)
        f["flags"] = int(Flag.PROTECT)
    return record(Op.NEW, **f)


def amend(oid, px=None, qty=None) -> dict:
    f = {"oid": oid, "flags": 0}
    if px is not None:
        f["px"], f["pexp"] = dec(px)
        f["flags"] |= int(Flag.HAS_PX)
    if qty is not None:
        f["qty"], f["qexp"] = dec(qty)
        f["flags"] |= int(Flag.HAS_QTY)
    return record(Op.AMEND, **f)


def cancel(oid) -> dict:
    return record(Op.CANCEL, oid=oid)


def deposit(dep, acct, asset, amount, reason=0) -> dict:
    return record(Op.DEPOSIT, oid=dep, acct=acct, sym=asset, qty=amount, reason=int(reason))


def withdraw(acct, asset, amount) -> dict:
    return record(Op.WITHDRAW, acct=acct, sym=asset, qty=amount)


def fees(tier, maker, taker) -> dict:
    return record(Op.FEES, oid=tier, px=maker, qty=taker)


def tier(acct, t) -> dict:
    return record(Op.TIER, acct=acct, oid=t)


def commands(recs) -> np.ndarray:
    out = empty_commands(len(recs))
    for i, r in enumerate(recs):
        for k, v in r.items():
            out[i][k] = v
    return out


def show(e) -> tuple:
    """An event record as a readable tuple of the fields its kind uses."""
    k, fl = int(e["kind"]), int(e["flags"])
    f = {n: int(e[n]) for n in e.dtype.names}
    if k == Ev.FEES:
        return ("fees", f["oid"], f["px"], f["qty"])
    if k == Ev.TIER:
        return ("tier", f["acct"], f["oid"])
    if k == Ev.DEPOSITED:
        return ("deposited", f["oid"], f["acct"], f["sym"], f["qty"])
    if k == Ev.WITHDRAWN:
        return ("withdrawn", f["oid"], f["acct"], f["sym"], f["qty"])
    if k == Ev.BALANCE:
        return ("balance", f["acct"], f["sym"], f["qty"], f["open"])
    if k == Ev.REJECTED:
        key = "dep" if fl & Flag.DEP else "oid" if fl & Flag.HAS_OID else None
        return ("rejected", Reason(f["reason"]).name.lower(), key and f["oid"])
    if k == Ev.ACCEPTED:
        return ("accepted", f["oid"], f["sym"], f["side"], f["px"] if fl & Flag.HAS_PX else None, f["qty"])
    if k == Ev.FILL:
        fee = (f["open"], f["line"]) if fl & Flag.FEES else ()
        return ("fill", f["sym"], f["px"], f["qty"], f["maker"], f["oid"], f["side"], f["maker_acct"], f["acct"],
                *fee)
    if k == Ev.CANCELED:
        return ("canceled", f["oid"], f["qty"], f["open"], Reason(f["reason"]).name.lower())
    if k == Ev.AMENDED:
        return ("amended", f["oid"], f["px"], f["qty"])
    return (Ev(k).name.lower(), f)


def run(eng: ReferenceEngine, recs) -> list[tuple]:
    return [show(e) for e in eng.process(commands(recs))]


# ------------------------------------------------------------ section 11

EXAMPLE_LOG = [
    fees(1, -100, 500),  # 1
    tier(BOB, 1),  # 2
    deposit(1, ALICE, USD, 1_000_000_000),  # 3
    deposit(2, BOB, TSLA, 3000),  # 4
    deposit(2, BOB, TSLA, 3000),  # 5
    new(1, BOB, SELL, "249.50", "2"),  # 6
    new(2, ALICE, BUY, "250.00", "3"),  # 7
    amend(2, qty="5"),  # 8
    amend(2, px="249.00"),  # 9
    new(3, ALICE, BUY, None, "1", sym=AM),  # 10
    new(4, BOB, SELL, "250.00", "1.5"),  # 11
    new(5, BOB, SELL, "251.00", "1"),  # 12
    new(6, ALICE, BUY, None, "0.5"),  # 13
    cancel(2),  # 14
    new(7, ALICE, BUY, None, "0.8", protect="251.00"),  # 15
    withdraw(ALICE, USD, 249_625_000),  # 16
    withdraw(BOB, USD, 800_000_000),  # 17
]

EXAMPLE_EVENTS = [
    ("fees", 1, -100, 500),
    ("tier", BOB, 1),
    ("deposited", 1, ALICE, USD, 1_000_000_000),
    ("balance", ALICE, USD, 1_000_000_000, 0),
    ("deposited", 2, BOB, TSLA, 3000),
    ("balance", BOB, TSLA, 3000, 0),
    ("rejected", "duplicate_deposit", 2),
    ("accepted", 1, TS, SELL, 24950, 2000),
    ("balance", BOB, TSLA, 3000, 2000),
    ("accepted", 2, TS, BUY, 25000, 3000),
    ("fill", TS, 24950, 2000, 1, 2, BUY, BOB, ALICE, -49900, 249500),
    ("balance", FEES, USD, 199600, 0),
    ("balance", ALICE, TSLA, 2000, 0),
    ("balance", ALICE, USD, 500_750_500, 250_125_000),
    ("balance", BOB, TSLA, 1000, 0),
    ("balance", BOB, USD, 499_049_900, 0),
    ("rejected", "insufficient_funds", 2),
    ("amended", 2, 24900, 1000),
    ("balance", ALICE, USD, 500_750_500, 249_124_500),
    ("rejected", "no_protection", 3),
    ("rejected", "insufficient_funds", 4),
    ("accepted", 5, TS, SELL, 25100, 1000),
    ("balance", BOB, TSLA, 1000, 1000),
    ("accepted", 6, TS, BUY, None, 500),
    ("fill", TS, 25100, 500, 5, 6, BUY, BOB, ALICE, -12550, 62750),
    ("balance", FEES, USD, 249800, 0),
    ("balance", ALICE, TSLA, 2500, 0),
    ("balance", ALICE, USD, 375_187_750, 249_124_500),
    ("balance", BOB, TSLA, 500, 500),
    ("balance", BOB, USD, 624_562_450, 0),
    ("canceled", 2, 1000, 0, "user"),
    ("balance", ALICE, USD, 375_187_750, 0),
    ("accepted", 7, TS, BUY, None, 800),
    ("fill", TS, 25100, 500, 5, 7, BUY, BOB, ALICE, -12550, 62750),
    ("canceled", 7, 300, 0, "ioc"),
    ("balance", FEES, USD, 300000, 0),
    ("balance", ALICE, TSLA, 3000, 0),
    ("balance", ALICE, USD, 249_625_000, 0),
    ("balance", BOB, TSLA, 0, 0),
    ("balance", BOB, USD, 750_075_000, 0),
    ("withdrawn", 1, ALICE, USD, 249_625_000),
    ("balance", ALICE, USD, 0, 0),
    ("rejected", "insufficient_funds", None),
]


def test_worked_example_of_section_11_prints_every_event_with_its_numbers():
    assert run(engine(), EXAMPLE_LOG) == EXAMPLE_EVENTS


def test_worked_example_of_section_11_ends_with_its_balances_and_asset_sums():
    eng = engine()
    run(eng, EXAMPLE_LOG)
    assert eng.balances() == {(FEES, USD): (300000, 0), (ALICE, TSLA): (3000, 0), (BOB, USD): (750_075_000, 0)}
    assert eng.asset_sums() == [(0, 0), (3000, 0), (1_000_000_000, 249_625_000)]
    assert eng.book(TS) == ([], []) and eng.book(AM) == ([], [])


def test_worked_example_one_command_at_a_time_prints_the_same_events():
    eng = engine()
    assert [e for r in EXAMPLE_LOG for e in run(eng, [r])] == EXAMPLE_EVENTS


# ------------------------------------------------------------ section 7


def test_rounding_over_fills_rounds_the_taker_fee_up_once_and_each_rebate_down():
    """Section 11's table: three fills of 0.001 AMZNx at 1.00, taker 5 bp, maker -1 bp."""
    eng = engine(example_risk(((0, -100, 500),)))
    run(eng, [deposit(1, BOB, AMZN, 3), deposit(2, ALICE, USD, 10_000)])
    for oid in (1, 2, 3):
        run(eng, [new(oid, BOB, SELL, "1.00", "0.001", sym=AM)])
    out = run(eng, [new(9, ALICE, BUY, "1.00", "0.003", sym=AM)])
    fills = [e for e in out if e[0] == "fill"]
    assert [(e[2], e[3], e[-2], e[-1]) for e in fills] == [(100, 1, 0, 1), (100, 1, 0, 0), (100, 1, 0, 1)]
    assert eng.balances()[(ALICE, USD)] == (10_000 - 3000 - 2, 0)  # 2 units for an exact fee of 1.5
    assert eng.balances()[(BOB, USD)] == (3000, 0)  # the exact rebate of 0.3 rounds down to 0
    assert eng.balances()[(FEES, USD)] == (2, 0)


def test_a_buy_holds_its_value_at_its_limit_plus_the_taker_fee_rounded_up():
    eng = engine(example_risk(((0, 0, 7),)))
    run(eng, [deposit(1, ALICE, USD, 10**9)])
    run(eng, [new(1, ALICE, BUY, "1.01", "0.003", sym=AM)])  # L = 101 x 3 x 10 = 3030; fee 7 x 3030 / 10^6 -> 1
    assert eng.balances()[(ALICE, USD)] == (10**9, 3031)


def test_rates_are_fixed_at_acceptance():
    eng = engine(example_risk(((0, 0, 500),)))
    run(eng, [deposit(1, ALICE, USD, 10**9), deposit(2, BOB, TSLA, 5000)])
    run(eng, [new(1, ALICE, BUY, "250.00", "2")])  # accepted at taker 5 bp, maker 0
    run(eng, [fees(0, 100, 1000)])  # tier 0 is now maker 1 bp, taker 10 bp
    out = run(eng, [new(2, BOB, SELL, "250.00", "1")])  # bob's order takes tier 0's new taker rate
    fill = next(e for e in out if e[0] == "fill")
    # alice's maker rate is still 0; bob pays 10 bp of 250 USD
    assert fill[-2:] == (0, 250_000)
    # alice's open 1.000 still holds at her own taker rate (5 bp)
    assert eng.balances()[(ALICE, USD)] == (10**9 - 250_000_000, 250_000_000 + 125_000)


# ------------------------------------------------------------ section 6: market orders


def test_market_buy_protection_is_the_lower_of_band_edge_and_protect():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 2 * 10**9), deposit(2, BOB, TSLA, 5000)])
    run(eng, [new(1, BOB, SELL, "251.00", "1"), new(2, BOB, SELL, "252.00", "1")])
    out = run(eng, [new(3, ALICE, BUY, None, "2", protect="300.00")])  # band 275.00 is lower: P = 275.00
    assert [e[0] for e in out[:4]] == ["accepted", "fill", "fill", "balance"]
    out = run(eng, [new(4, BOB, SELL, "251.00", "1"), new(5, BOB, SELL, "252.00", "1")])
    out = run(eng, [new(6, ALICE, BUY, None, "2", protect="251.50")])  # stops before 252.00
    assert [e for e in out if e[0] in ("fill", "canceled")] == [
        ("fill", TS, 25100, 1000, 4, 6, BUY, BOB, ALICE, 0, 125_500), ("canceled", 6, 1000, 0, "ioc")]
    assert eng.book(TS) == ([], [(25200, 1000)])


def test_market_buy_without_band_or_protect_is_rejected_no_protection():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9)])
    assert run(eng, [new(1, ALICE, BUY, None, "1", sym=AM)]) == [("rejected", "no_protection", 1)]


def test_market_buy_holds_at_its_protection_price():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 1_000_000)])  # 1.00 USD
    # 1.000 at protect 1.00 holds 1000000 + 500: too much; 0.999 holds 999000 + ceil(499.5) = 999500
    out = run(eng, [new(1, ALICE, BUY, None, "1", sym=AM, protect="1.00")])
    assert out == [("rejected", "insufficient_funds", 1)]
    out = run(eng, [new(2, ALICE, BUY, None, "0.999", sym=AM, protect="1.00")])
    assert out == [("accepted", 2, AM, BUY, None, 999), ("canceled", 2, 999, 0, "ioc")]  # held and released


def test_market_sell_with_protect_executes_only_at_or_above_it():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9), deposit(2, BOB, TSLA, 5000)])
    run(eng, [new(1, ALICE, BUY, "250.00", "1"), new(2, ALICE, BUY, "249.00", "1")])
    out = run(eng, [new(3, BOB, SELL, None, "2", protect="249.50")])
    assert [e for e in out if e[0] in ("fill", "canceled")] == [
        ("fill", TS, 25000, 1000, 1, 3, SELL, ALICE, BOB, 0, 125_000), ("canceled", 3, 1000, 0, "ioc")]
    assert eng.balances()[(BOB, TSLA)] == (4000, 0)


def test_protect_that_is_not_a_price_is_bad_price():
    eng = engine()
    r = new(1, ALICE, BUY, None, "1", protect="250.005")
    assert run(eng, [r]) == [("rejected", "bad_price", 1)]


# ------------------------------------------------------------ section 6: holds


def test_every_new_is_rejected_insufficient_funds_in_a_log_that_never_deposits():
    eng = engine()
    assert run(eng, [new(1, ALICE, BUY, "250.00", "1"), new(2, BOB, SELL, "250.00", "1")]) == [
        ("rejected", "insufficient_funds", 1), ("rejected", "insufficient_funds", 2)]


def test_funds_check_comes_after_duplicate_oid_and_before_would_take():
    eng = engine()
    run(eng, [deposit(1, BOB, TSLA, 1000)])
    run(eng, [new(1, BOB, SELL, "250.00", "1")])
    assert run(eng, [new(1, ALICE, BUY, "250.00", "1")]) == [("rejected", "duplicate_oid", 1)]
    assert run(eng, [new(2, ALICE, BUY, "251.00", "1", tif=Tif.POST)]) == [("rejected", "insufficient_funds", 2)]
    assert run(eng, [new(3, ALICE, BUY, "300.00", "1")]) == [("rejected", "outside_band", 3)]


def test_fok_that_cannot_fill_changes_no_balance():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9), deposit(2, BOB, TSLA, 1000)])
    run(eng, [new(1, BOB, SELL, "250.00", "1")])
    before = eng.balances()
    out = run(eng, [new(2, ALICE, BUY, "250.00", "2", tif=Tif.FOK)])
    assert out == [("accepted", 2, TS, BUY, 25000, 2000), ("canceled", 2, 2000, 0, "fok")]
    assert eng.balances() == before


def test_stp_decrement_releases_the_removed_quantity_of_both_orders():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9), deposit(2, ALICE, TSLA, 1000)])
    run(eng, [new(1, ALICE, SELL, "250.00", "0.4")])
    assert eng.balances()[(ALICE, TSLA)] == (1000, 400)
    out = run(eng, [new(2, ALICE, BUY, "250.00", "1", stp=Stp.DECREMENT)])
    # the resting sell is gone (its 0.400 released); the buy rests with 0.600: 150 USD + 5 bp
    assert out == [("accepted", 2, TS, BUY, 25000, 1000),
                   ("canceled", 1, 400, 0, "stp"), ("canceled", 2, 400, 600, "stp"),
                   ("balance", ALICE, TSLA, 1000, 0),
                   ("balance", ALICE, USD, 10**9, 150_000_000 + 75_000)]


def test_amend_rejected_insufficient_funds_keeps_the_order_its_priority_and_hold():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 600_000_000), deposit(2, BOB, USD, 10**9)])
    run(eng, [new(1, ALICE, BUY, "250.00", "1"), new(2, BOB, BUY, "250.00", "1")])
    held = eng.balances()[(ALICE, USD)]
    assert run(eng, [amend(1, qty="3")]) == [("rejected", "insufficient_funds", 1)]
    assert eng.balances()[(ALICE, USD)] == held == (600_000_000, 250_125_000)
    assert eng.orders(TS, BUY) == [(1, ALICE, 25000, 1000), (2, BOB, 25000, 1000)]


def test_amend_that_lowers_the_hold_passes_and_releases():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 300_000_000)])
    run(eng, [new(1, ALICE, BUY, "250.00", "1")])
    assert run(eng, [amend(1, qty="0.5")]) == [("amended", 1, 25000, 500),
                                                ("balance", ALICE, USD, 300_000_000, 125_000_000 + 62_500)]


def test_amend_that_crosses_pays_at_most_its_new_hold():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9), deposit(2, BOB, TSLA, 1000)])
    run(eng, [new(1, BOB, SELL, "251.00", "1"), new(2, ALICE, BUY, "250.00", "1")])
    out = run(eng, [amend(2, px="252.00")])
    assert out[:2] == [("amended", 2, 25200, 1000), ("fill", TS, 25100, 1000, 1, 2, BUY, BOB, ALICE, 0, 125_500)]
    assert eng.balances()[(ALICE, USD)] == (10**9 - 251_000_000 - 125_500, 0)


def test_band_cancel_by_ref_releases_the_hold():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10**9)])
    run(eng, [new(1, ALICE, BUY, "230.00", "1")])
    ins = EXAMPLE_INSTRUMENTS[TS]
    lo, hi = ins.band_edges(Fraction(260))
    out = run(eng, [record(Op.REF, sym=TS, oid=26000, px=lo, qty=hi, flags=int(Flag.BAND_ON))])
    assert out == [("canceled", 1, 1000, 0, "band"), ("balance", ALICE, USD, 10**9, 0)]


def at(ts: int, r: dict) -> dict:
    """A command with a ts (nanoseconds)."""
    return {**r, "ts": ts, "flags": r.get("flags", 0) | int(Flag.HAS_TS)}


def test_uncross_in_a_timer_step_charges_fees_and_prints_its_balance_events_at_the_end_of_that_step():
    s = 10**9
    eng = engine(example_risk(((0, 100, 500),)))
    run(eng, [at(s, deposit(1, ALICE, USD, 10**9)), at(s, deposit(2, BOB, TSLA, 1000)),
              at(s, record(Op.HALT, sym=TS)), at(2 * s, record(Op.RESUME, sym=TS))])  # a call until 302 s
    run(eng, [at(3 * s, new(1, BOB, SELL, "249.00", "1")), at(4 * s, new(2, ALICE, BUY, "251.00", "1"))])
    assert eng.balances()[(ALICE, USD)] == (10**9, 251_000_000 + 125_500)
    events = eng.process(commands([at(400 * s, record(Op.TICK))]))
    assert all(int(e["flags"]) & Flag.TIMER for e in events)  # indicatives each second, then the call's end
    shown = [show(e) for e in events if int(e["ts"]) == 302 * s]  # the step of the timer call_end
    assert [e[0] for e in shown[:3]] == ["uncross", "fill", "status"]
    fill = next(e for e in shown if e[0] == "fill")
    px = fill[2]
    value = px * 1000 * 10
    # bob's order rested first: the maker, at 1 bp; alice's the taker at 5 bp, both rounded up
    assert fill[4:6] == (1, 2) and fill[-2:] == (-(-value // 10**4), -(-value * 5 // 10**4))
    tail = [e for e in shown if e[0] == "balance"]
    assert shown[-len(tail):] == tail and [e[1:3] for e in tail] == [
        (FEES, USD), (ALICE, TSLA), (ALICE, USD), (BOB, TSLA), (BOB, USD)]
    assert eng.balances()[(ALICE, USD)] == (10**9 - value - fill[-1], 0)
    assert eng.balances()[(BOB, USD)] == (value - fill[-2], 0)


# ------------------------------------------------------------ section 4: deposits, withdrawals, fees, tiers


def test_withdraw_more_than_available_is_insufficient_funds_and_changes_nothing():
    eng = engine()
    run(eng, [deposit(1, BOB, TSLA, 3000), new(1, BOB, SELL, "250.00", "2")])
    assert run(eng, [withdraw(BOB, TSLA, 1001)]) == [("rejected", "insufficient_funds", None)]
    assert eng.balances()[(BOB, TSLA)] == (3000, 2000)
    assert run(eng, [withdraw(BOB, TSLA, 1000)]) == [("withdrawn", 1, BOB, TSLA, 1000),
                                                     ("balance", BOB, TSLA, 2000, 2000)]
    assert run(eng, [withdraw(ALICE, USD, 1)]) == [("rejected", "insufficient_funds", None)]
    assert eng.asset_sums()[TSLA] == (3000, 1000)


def test_withdrawal_ids_count_accepted_withdrawals_only():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 10)])
    out = run(eng, [withdraw(ALICE, USD, 4), withdraw(ALICE, USD, 7), withdraw(ALICE, USD, 6)])
    assert [e for e in out if e[0] != "balance"] == [("withdrawn", 1, ALICE, USD, 4),
                                                    ("rejected", "insufficient_funds", None),
                                                    ("withdrawn", 2, ALICE, USD, 6)]


def test_deposit_gap_rejects_without_consuming_the_id():
    eng = engine()
    assert run(eng, [deposit(2, ALICE, USD, 5)]) == [("rejected", "deposit_gap", 2)]
    assert run(eng, [deposit(1, ALICE, USD, 5)])[0] == ("deposited", 1, ALICE, USD, 5)
    assert run(eng, [deposit(2, ALICE, USD, 5)])[0] == ("deposited", 2, ALICE, USD, 5)


def test_duplicate_deposit_rejects_and_changes_nothing():
    eng = engine()
    run(eng, [deposit(1, ALICE, USD, 5)])
    assert run(eng, [deposit(1, BOB, USD, 5)]) == [("rejected", "duplicate_deposit", 1)]
    assert eng.balances() == {(ALICE, USD): (5, 0)}


def test_deposit_id_checks_rank_before_the_decoders_fault_which_still_consumes_the_id():
    eng = engine()
    assert run(eng, [deposit(3, ALICE, -1, 5, Reason.UNKNOWN_ASSET)]) == [("rejected", "deposit_gap", 3)]
    assert run(eng, [deposit(1, ALICE, -1, 5, Reason.UNKNOWN_ASSET)]) == [("rejected", "unknown_asset", 1)]
    assert run(eng, [deposit(1, ALICE, USD, 5)]) == [("rejected", "duplicate_deposit", 1)]  # consumed
    assert run(eng, [deposit(2, ALICE, USD, 0, Reason.BAD_AMOUNT)]) == [("rejected", "bad_amount", 2)]
    assert run(eng, [deposit(3, ALICE, USD, 5)])[0] == ("deposited", 3, ALICE, USD, 5)
    assert eng.asset_sums()[USD] == (5, 0)


def test_deposit_that_takes_deposited_minus_withdrawn_over_2_62_is_bad_amount():
    eng = engine()
    assert run(eng, [deposit(1, ALICE, USD, MAX)])[0] == ("deposited", 1, ALICE, USD, MAX)
    assert run(eng, [deposit(2, BOB, USD, 1)]) == [("rejected", "bad_amount", 2)]  # id 2 consumed
    assert run(eng, [deposit(3, BOB, TSLA, MAX)])[0][0] == "deposited"  # another asset has its own cap
    run(eng, [withdraw(ALICE, USD, 10)])
    assert run(eng, [deposit(4, BOB, USD, 11)]) == [("rejected", "bad_amount", 4)]
    assert run(eng, [deposit(5, BOB, USD, 10)])[0] == ("deposited", 5, BOB, USD, 10)
    assert eng.asset_sums()[USD] == (MAX + 10, 10)


def test_bad_fee_schedule_is_rejected_and_changes_nothing():
    eng = engine()  # tier 0: maker 0, taker 5 bp
    for maker, taker in [(0, 100_001), (0, -1), (600, 500), (-100_001, 0),
                         (-600, 1000)]:  # the last: min taker 5 bp + min maker -6 bp < 0
        assert run(eng, [fees(1, maker, taker)]) == [("rejected", "bad_fee", None)]
    assert run(eng, [tier(ALICE, 1)]) == [("rejected", "unknown_tier", None)]  # tier 1 never defined
    assert run(eng, [fees(1, -500, 1000)]) == [("fees", 1, -500, 1000)]
    assert run(eng, [fees(0, 0, 400)]) == [("rejected", "bad_fee", None)]  # tier 0's taker under tier 1's rebate
    assert run(eng, [fees(2, -100_000, 100_000)]) == [("rejected", "bad_fee", None)]
    assert run(eng, [fees(1, 1000, 1000)]) == [("fees", 1, 1000, 1000)]  # a tier's rates may change


def test_unknown_tier_is_rejected_and_a_defined_one_is_assigned():
    eng = engine()
    assert run(eng, [tier(ALICE, 7)]) == [("rejected", "unknown_tier", None)]
    assert run(eng, [tier(ALICE, 0)]) == [("tier", ALICE, 0)]
    run(eng, [fees(7, 0, 500)])
    assert run(eng, [tier(ALICE, 7)]) == [("tier", ALICE, 7)]


# ------------------------------------------------------------ risk off


def test_risk_off_prints_todays_events_without_fees_or_balances():
    log = [new(1, BOB, SELL, "249.50", "2"), new(2, ALICE, BUY, "250.00", "3"), amend(2, qty="5"),
           new(3, ALICE, BUY, None, "1", sym=AM), new(6, ALICE, BUY, None, "0.5"), cancel(2),
           new(7, ALICE, BUY, None, "0.8"), new(8, BOB, SELL, "250.00", "1", stp=Stp.DECREMENT)]
    off = ReferenceEngine(EXAMPLE_INSTRUMENTS)
    disabled = ReferenceEngine(EXAMPLE_INSTRUMENTS, Risk(False, (), (), (), (), (), ((0, 0, 500),)), fee_acct=FEES)
    a, b = off.process(commands(log)), disabled.process(commands(log))
    assert a.tolist() == b.tolist()
    kinds = {int(k) for k in a["kind"]}
    assert Ev.FILL in kinds and not kinds & {Ev.BALANCE, Ev.DEPOSITED, Ev.WITHDRAWN, Ev.FEES, Ev.TIER}
    assert not any(int(e["flags"]) & Flag.FEES or int(e["open"]) or int(e["line"]) for e in a if e["kind"] == Ev.FILL)
    assert off.balances() == {} and off.asset_sums() == []


# ------------------------------------------------------------ section 9: invariants on random logs

RANDOM_INSTRUMENTS = parse_instruments({"instrument": [
    {"symbol": "TSLAx-USD", "tick_size": "0.01", "lot_size": "0.001", "band_pct": "10",
     "reference_price": "250.00", "reopen_ms": 1000},
    {"symbol": "ETHx-USD", "tick_size": "0.5", "lot_size": "0.01", "reopen_ms": 1000},
]})
ETH, R_TSLA, R_USD = 0, 1, 2  # assets ETHx (4 decimals), TSLAx (3), USD (6)
RANDOM_RISK = Risk(True, (Asset("ETHx", 4), Asset("TSLAx", 3), Asset("USD", 6)), base=(R_TSLA, ETH),
                   quote=(R_USD, R_USD), bf=(1, 100), qf=(10, 5000), tiers=((0, -100, 500), (1, 300, 700)))
ACCTS = [FEES, ALICE, BOB, CAROL]
GRID = [(25000, "0.01", 3000), (4000, "0.5", 100)]  # per instrument: mid ticks, tick, largest lots


@st.composite
def random_command(draw) -> dict:
    kind = draw(st.sampled_from(["new"] * 14 + ["cancel"] * 2 + ["amend"] * 3 + ["deposit"] * 2 + ["withdraw"]
                                + ["fees", "tier", "ref", "halt"]))
    acct = draw(st.sampled_from(ACCTS))
    sym = draw(st.integers(0, 1))
    mid, tick, most = GRID[sym]
    lot = RANDOM_INSTRUMENTS[sym].lot_size

    def price() -> str:
        return str(Decimal(mid + draw(st.integers(-40, 40)) * (1 if sym else 5)) * Decimal(tick))

    def qty() -> str:
        return str(Decimal(draw(st.integers(1, most))) * Decimal(lot))

    if kind == "new":
        market = draw(st.integers(0, 5)) == 0
        protect = price() if market and draw(st.booleans()) else None
        tif = draw(st.sampled_from([Tif.GTC, Tif.GTC, Tif.IOC, Tif.FOK, Tif.POST]))
        if market:
            tif = Tif.FOK if tif == Tif.FOK else Tif.IOC
        return new(draw(st.integers(0, 30)), acct, draw(st.sampled_from([BUY, SELL])), None if market else price(),
                   qty(), sym=sym, tif=tif, stp=draw(st.sampled_from(list(Stp))), protect=protect)
    if kind == "cancel":
        return cancel(draw(st.integers(0, 30)))
    if kind == "amend":
        which = draw(st.integers(0, 2))
        return amend(draw(st.integers(0, 30)), px=price() if which != 1 else None, qty=qty() if which else None)
    if kind == "deposit":
        return {"op": "deposit", "acct": acct, "asset": draw(st.integers(0, 2)),
                "amount": draw(st.sampled_from([10**4, 10**6, 10**8, 10**9, 5 * 10**9, 10**11])),
                "dep": draw(st.sampled_from([1, 1, 1, 1, 0, 2]))}  # the next id, a repeat, a gap
    if kind == "withdraw":
        return withdraw(acct, draw(st.integers(0, 2)), draw(st.sampled_from([1, 10**6, 10**8, 10**9])))
    if kind == "fees":
        return fees(draw(st.integers(0, 3)), draw(st.integers(-800, 800)), draw(st.integers(0, 1500)))
    if kind == "tier":
        return tier(acct, draw(st.integers(0, 3)))
    if kind == "ref":
        ref = Fraction(mid + draw(st.integers(-3000, 3000)), 100)
        lo, hi = RANDOM_INSTRUMENTS[0].band_edges(ref)
        return record(Op.REF, sym=0, oid=RANDOM_INSTRUMENTS[0].reference_round(ref), px=lo, qty=hi,
                      flags=int(Flag.BAND_ON))
    return record(draw(st.sampled_from([Op.HALT, Op.RESUME, Op.RESUME, Op.RESUME])), sym=sym)


def order_hold(o) -> tuple[int, int]:
    """(asset, hold) of a live order, section 6's formula written out again."""
    risk = RANDOM_RISK
    if o.side == SELL:
        return risk.base[o.sym], o.qty * risk.bf[o.sym]
    value = o.px * o.qty * risk.qf[o.sym]
    return risk.quote[o.sym], value + -(-(o.acc + o.rt * value) // 10**6) - -(-o.acc // 10**6)


def check_invariants(eng: ReferenceEngine) -> None:
    bal = eng.balances()
    for a, (dep, wd) in enumerate(eng.asset_sums()):  # 1. conservation
        assert sum(t for (_, asset), (t, _) in bal.items() if asset == a) + wd == dep
    for t, h in bal.values():  # 2.
        assert 0 <= h <= t <= MAX
    holds: dict[tuple[int, int], int] = {}
    for o in eng.live.values():  # 3. held is the sum of the live orders' holds
        asset, h = order_hold(o)
        holds[(o.acct, asset)] = holds.get((o.acct, asset), 0) + h
    assert {k: h for k, (_, h) in bal.items() if h} == {k: h for k, h in holds.items() if h}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(random_command(), min_size=50, max_size=300), st.lists(st.integers(0, 1500), min_size=300,
                                                                       max_size=300))
def test_conservation_and_holds_hold_after_every_command_of_random_logs(cmds, gaps_ms):
    eng = ReferenceEngine(RANDOM_INSTRUMENTS, RANDOM_RISK, fee_acct=FEES)
    seen: dict[tuple[int, int], tuple[int, int]] = {}  # balances as the events tell them
    now = 10**18
    rich = ((ETH, 10**6), (R_TSLA, 10**5), (R_USD, 10**12))
    poor = ((ETH, 10**4), (R_TSLA, 3000), (R_USD, 10**9))  # carol runs short
    funding = [deposit(i + 1, acct, asset, amount) for i, (acct, (asset, amount)) in enumerate(
        (acct, x) for acct in ACCTS for x in (poor if acct == CAROL else rich))]
    for c, gap in zip(funding + cmds, [0] * len(funding) + gaps_ms):
        if c["op"] == "deposit":  # ids relative to the last one consumed
            c = deposit(max(1, eng.last_dep + c["dep"]), c["acct"], c["asset"], c["amount"])
        now += gap * 10**6
        c = {**c, "ts": now, "flags": c.get("flags", 0) | int(Flag.HAS_TS)}
        events = eng.process(commands([c]))
        shown = [show(e) for e in events]
        own = [e for e, r in zip(shown, events) if not int(r["flags"]) & Flag.TIMER]
        tail = [e for e in own if e[0] == "balance"]
        assert own[len(own) - len(tail):] == tail  # a command's balance events come after all its others
        assert [e[1:3] for e in tail] == sorted({e[1:3] for e in tail})  # one per pair, by (acct, asset)
        for e in shown:
            if e[0] == "fill":
                assert e[-2] + e[-1] >= 0  # 9.5: a fill's fees never lower @fees
            if e[0] == "balance":
                assert seen.get(e[1:3], (0, 0)) != e[3:]  # only pairs that changed
                seen[e[1:3]] = e[3:]
        check_invariants(eng)
    assert {k: v for k, v in seen.items() if v != (0, 0)} == eng.balances()
