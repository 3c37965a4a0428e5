"""The oracle instruments of docs/market-integrity.md (sections 6, 7, 9, 10, 11, 12) on the replay plumbing.

The worked examples of section 15, then one behaviour per test. ENGINES names the engines the tests
run on: the reference model today; add "numba" once the kernel implements oracle instruments.
"""
import json

import pytest
from kabuto.engine.instruments import parse_instruments
from kabuto.replay.replay import replay_text

ENGINES = ["reference"]  # add "numba" here to run every test on the kernel too

SYM = "AMZNx-USD"
S = 1_000_000_000  # one second in ns
MS = 1_000_000
MINUTE = 60 * S
T0 = 1767358800000000000  # 2026-01-02 08:00 New York, pre-market
TR = 1767366000000000000  # 10:00 New York, regular session
REG_OPEN, REG_CLOSE = 1767364200000000000, 1767387600000000000  # 09:30 and 16:00 New York


def instruments(**keys):
    """One oracle instrument (tick 0.01, lot 0.001, tier 1) with extra keys."""
    return parse_instruments({"instrument": [{"symbol": SYM, "tick_size": "0.01", "lot_size": "0.001",
                                              "luld_tier": 1, **keys}]})


EXAMPLE = instruments(stale_ms=60000, halt_ms=120000, pause_ms=3000, reopen_ms=3000)  # section 15's file
LONG_LIVED = instruments(stale_ms=3_600_000, halt_ms=7_200_000, pause_ms=3000, reopen_ms=3000)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def replay_lines(engine: str, lines, ins=EXAMPLE) -> list[str]:
    """The event lines of a log given as JSON texts or dicts."""
    log = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    events, _ = replay_text(log, ins, engine)
    return events.splitlines()


def run(engine: str, lines, ins=EXAMPLE) -> list[dict]:
    return [json.loads(x) for x in replay_lines(engine, lines, ins)]


def oracle(px: str, ots: int, market: str = "regular", ts: int | None = None, mult: str = "1", **kw) -> dict:
    """An oracle update, its ts 1 ms after its ots unless told; a regular one carries the day's session."""
    d = {"op": "oracle", "sym": SYM, "px": px, "mult": mult, "market": market, "ots": ots, **kw}
    if market == "regular":
        d.setdefault("reg_open", REG_OPEN)
        d.setdefault("reg_close", REG_CLOSE)
    d["ts"] = ots + MS if ts is None else ts
    return d


def new(oid: int, side: str, px: str | None, qty: str, ts: int, acct: str = "a", **kw) -> dict:
    d = {"op": "new", "oid": oid, "acct": acct, "sym": SYM, "side": side, "type": "limit" if px else "market",
         "qty": qty, "ts": ts, **kw}
    if px:
        d["px"] = px
    return d


def tick(ts: int) -> dict:
    return {"op": "tick", "ts": ts}


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["ev"] == kind]


def statuses(events: list[dict]) -> list[tuple]:
    return [(e["status"], e["reason"], e["until"], e["ts"]) for e in of(events, "status")]


def bands(events: list[dict]) -> list[tuple]:
    return [(e["ref"], e["lo"], e["hi"], e["source"], e["ts"]) for e in of(events, "band")]


def lines(text: str) -> list[str]:
    return text.splitlines()


# ---------------------------------------------------------------- section 15, literally

LOG_15_1 = """\
{"op":"new","oid":1,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"231.00","qty":"1","ts":1767358799000000000}
{"op":"oracle","sym":"AMZNx-USD","px":"230.00","mult":"1","market":"pre_market","ots":1767358800000000000,"ts":1767358800001000000}
{"op":"new","oid":2,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"market","qty":"1","ts":1767358801000000000}
{"op":"new","oid":3,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"254.00","qty":"1","ts":1767358802000000000}
{"op":"new","oid":4,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"231.00","qty":"1","ts":1767358803000000000}
"""

EVENTS_15_1 = """\
{"seq":1,"ev":"rejected","reason":"halted","oid":1,"ts":1767358799000000000}
{"seq":2,"ev":"oracle","sym":"AMZNx-USD","ref":"230.00","mult":"1","market":"pre_market","ots":1767358800000000000,"state":"trusted","ts":1767358800001000000}
{"seq":3,"ev":"status","sym":"AMZNx-USD","status":"continuous","reason":"reference","until":null,"ts":1767358800001000000}
{"seq":4,"ev":"band","sym":"AMZNx-USD","ref":"230.00","lo":"207.00","hi":"253.00","source":"oracle","ts":1767358800001000000}
{"seq":5,"ev":"rejected","reason":"market_orders_not_allowed","oid":2,"ts":1767358801000000000}
{"seq":6,"ev":"rejected","reason":"outside_band","oid":3,"ts":1767358802000000000}
{"seq":7,"ev":"accepted","oid":4,"sym":"AMZNx-USD","side":"sell","px":"231.00","qty":"1.000","ts":1767358803000000000}
"""

LOG_15_2 = """\
{"op":"oracle","sym":"AMZNx-USD","px":"2300.00","mult":"1","market":"pre_market","ots":1767358805000000000,"ts":1767358805001000000}
{"op":"oracle","sym":"AMZNx-USD","px":"230.50","mult":"1","market":"pre_market","ots":1767358806000000000,"ts":1767358806001000000}
{"op":"oracle","sym":"AMZNx-USD","px":"236.00","mult":"1","market":"pre_market","ots":1767358807000000000,"ts":1767358807001000000}
{"op":"oracle","sym":"AMZNx-USD","px":"236.10","mult":"1","market":"pre_market","ots":1767358808000000000,"ts":1767358808001000000}
"""

EVENTS_15_2 = """\
{"seq":8,"ev":"oracle","sym":"AMZNx-USD","ref":"2300.00","mult":"1","market":"pre_market","ots":1767358805000000000,"state":"pending","ts":1767358805001000000}
{"seq":9,"ev":"oracle","sym":"AMZNx-USD","ref":"230.50","mult":"1","market":"pre_market","ots":1767358806000000000,"state":"trusted","ts":1767358806001000000}
{"seq":10,"ev":"oracle","sym":"AMZNx-USD","ref":"236.00","mult":"1","market":"pre_market","ots":1767358807000000000,"state":"pending","ts":1767358807001000000}
{"seq":11,"ev":"oracle","sym":"AMZNx-USD","ref":"236.10","mult":"1","market":"pre_market","ots":1767358808000000000,"state":"confirmed","ts":1767358808001000000}
{"seq":12,"ev":"band","sym":"AMZNx-USD","ref":"236.10","lo":"212.49","hi":"259.71","source":"oracle","ts":1767358808001000000}
"""

LOG_15_3 = """\
{"op":"oracle","sym":"AMZNx-USD","px":"236.10","mult":"1","next_mult":"3","mult_at":1767358810000000000,"market":"pre_market","ots":1767358809000000000,"ts":1767358809001000000}
{"op":"oracle","sym":"AMZNx-USD","px":"78.70","mult":"1","next_mult":"3","mult_at":1767358810000000000,"market":"pre_market","ots":1767358810000000000,"ts":1767358810001000000}
"""

EVENTS_15_3 = """\
{"seq":13,"ev":"oracle","sym":"AMZNx-USD","ref":"236.10","mult":"1","market":"pre_market","ots":1767358809000000000,"state":"trusted","ts":1767358809001000000}
{"seq":14,"ev":"oracle","sym":"AMZNx-USD","ref":"236.10","mult":"3","market":"pre_market","ots":1767358810000000000,"state":"trusted","ts":1767358810001000000}
"""

LOG_15_4 = """\
{"op":"tick","ts":1767358875000000000}
{"op":"new","oid":5,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"market","qty":"1","ts":1767358876000000000}
{"op":"tick","ts":1767358931000000000}
{"op":"new","oid":6,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"limit","px":"236.00","qty":"1","ts":1767358932000000000}
{"op":"oracle","sym":"AMZNx-USD","px":"78.80","mult":"3","market":"pre_market","ots":1767358933000000000,"ts":1767358933001000000}
{"op":"new","oid":7,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"limit","px":"240.00","qty":"1","ts":1767358933500000000}
{"op":"tick","ts":1767358937000000000}
"""

EVENTS_15_4 = """\
{"seq":15,"ev":"oracle","sym":"AMZNx-USD","ref":"236.10","mult":"3","market":"pre_market","ots":1767358810000000000,"state":"stale","ts":1767358870000000000}
{"seq":16,"ev":"rejected","reason":"stale_oracle","oid":5,"ts":1767358876000000000}
{"seq":17,"ev":"status","sym":"AMZNx-USD","status":"halted","reason":"stale_oracle","until":null,"ts":1767358930000000000}
{"seq":18,"ev":"rejected","reason":"halted","oid":6,"ts":1767358932000000000}
{"seq":19,"ev":"oracle","sym":"AMZNx-USD","ref":"236.40","mult":"3","market":"pre_market","ots":1767358933000000000,"state":"trusted","ts":1767358933001000000}
{"seq":20,"ev":"status","sym":"AMZNx-USD","status":"call","reason":"reopen","until":1767358936001000000,"ts":1767358933001000000}
{"seq":21,"ev":"indicative","sym":"AMZNx-USD","px":null,"matched":"0.000","imbalance":"0.000","imb_side":null,"lo":"212.76","hi":"260.04","until":1767358936001000000,"ts":1767358933001000000}
{"seq":22,"ev":"accepted","oid":7,"sym":"AMZNx-USD","side":"buy","px":"240.00","qty":"1.000","ts":1767358933500000000}
{"seq":23,"ev":"indicative","sym":"AMZNx-USD","px":"236.40","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"212.76","hi":"260.04","until":1767358936001000000,"ts":1767358933500000000}
{"seq":24,"ev":"indicative","sym":"AMZNx-USD","px":"236.40","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"212.76","hi":"260.04","until":1767358936001000000,"ts":1767358934500000000}
{"seq":25,"ev":"indicative","sym":"AMZNx-USD","px":"236.40","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"212.76","hi":"260.04","until":1767358936001000000,"ts":1767358935500000000}
{"seq":26,"ev":"uncross","sym":"AMZNx-USD","px":"236.40","qty":"1.000","ts":1767358936001000000}
{"seq":27,"ev":"fill","sym":"AMZNx-USD","px":"236.40","qty":"1.000","maker":4,"taker":7,"taker_side":"buy","maker_acct":"mm","taker_acct":"bob","ts":1767358936001000000}
{"seq":28,"ev":"status","sym":"AMZNx-USD","status":"continuous","reason":"call_end","until":null,"ts":1767358936001000000}
{"seq":29,"ev":"band","sym":"AMZNx-USD","ref":"236.40","lo":"212.76","hi":"260.04","source":"oracle","ts":1767358936001000000}
"""

LOG_15_5 = """\
{"op":"oracle","sym":"AMZNx-USD","px":"230.00","mult":"1","market":"regular","ots":1767366000000000000,"reg_open":1767364200000000000,"reg_close":1767387600000000000,"ts":1767366000001000000}
{"op":"new","oid":1,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"230.50","qty":"0.5","ts":1767366001000000000}
{"op":"new","oid":2,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"231.00","qty":"0.5","ts":1767366001100000000}
{"op":"new","oid":3,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"23781.00","qty":"1","ts":1767366001200000000}
{"op":"new","oid":4,"acct":"retail","sym":"AMZNx-USD","side":"buy","type":"market","qty":"2.1","ts":1767366002000000000}
{"op":"new","oid":5,"acct":"retail","sym":"AMZNx-USD","side":"buy","type":"limit","px":"241.50","qty":"1","ts":1767366003000000000}
{"op":"tick","ts":1767366020000000000}
{"op":"new","oid":6,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"233.00","qty":"1","ts":1767366020500000000}
{"op":"tick","ts":1767366022000000000}
"""

EVENTS_15_5 = """\
{"seq":1,"ev":"oracle","sym":"AMZNx-USD","ref":"230.00","mult":"1","market":"regular","ots":1767366000000000000,"state":"trusted","ts":1767366000001000000}
{"seq":2,"ev":"status","sym":"AMZNx-USD","status":"continuous","reason":"reference","until":null,"ts":1767366000001000000}
{"seq":3,"ev":"band","sym":"AMZNx-USD","ref":"230.00","lo":"218.50","hi":"241.50","source":"oracle","ts":1767366000001000000}
{"seq":4,"ev":"accepted","oid":1,"sym":"AMZNx-USD","side":"sell","px":"230.50","qty":"0.500","ts":1767366001000000000}
{"seq":5,"ev":"accepted","oid":2,"sym":"AMZNx-USD","side":"sell","px":"231.00","qty":"0.500","ts":1767366001100000000}
{"seq":6,"ev":"rejected","reason":"outside_band","oid":3,"ts":1767366001200000000}
{"seq":7,"ev":"accepted","oid":4,"sym":"AMZNx-USD","side":"buy","px":null,"qty":"2.100","ts":1767366002000000000}
{"seq":8,"ev":"fill","sym":"AMZNx-USD","px":"230.50","qty":"0.500","maker":1,"taker":4,"taker_side":"buy","maker_acct":"mm","taker_acct":"retail","ts":1767366002000000000}
{"seq":9,"ev":"fill","sym":"AMZNx-USD","px":"231.00","qty":"0.500","maker":2,"taker":4,"taker_side":"buy","maker_acct":"mm","taker_acct":"retail","ts":1767366002000000000}
{"seq":10,"ev":"canceled","oid":4,"qty":"1.100","open":"0.000","reason":"ioc","ts":1767366002000000000}
{"seq":11,"ev":"accepted","oid":5,"sym":"AMZNx-USD","side":"buy","px":"241.50","qty":"1.000","ts":1767366003000000000}
{"seq":12,"ev":"status","sym":"AMZNx-USD","status":"limit_up","reason":"pinned","until":1767366018000000000,"ts":1767366003000000000}
{"seq":13,"ev":"status","sym":"AMZNx-USD","status":"call","reason":"pause","until":1767366021000000000,"ts":1767366018000000000}
{"seq":14,"ev":"indicative","sym":"AMZNx-USD","px":null,"matched":"0.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366021000000000,"ts":1767366018000000000}
{"seq":15,"ev":"indicative","sym":"AMZNx-USD","px":null,"matched":"0.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366021000000000,"ts":1767366019000000000}
{"seq":16,"ev":"indicative","sym":"AMZNx-USD","px":null,"matched":"0.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366021000000000,"ts":1767366020000000000}
{"seq":17,"ev":"accepted","oid":6,"sym":"AMZNx-USD","side":"sell","px":"233.00","qty":"1.000","ts":1767366020500000000}
{"seq":18,"ev":"indicative","sym":"AMZNx-USD","px":"233.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366021000000000,"ts":1767366020500000000}
{"seq":19,"ev":"uncross","sym":"AMZNx-USD","px":"233.00","qty":"1.000","ts":1767366021000000000}
{"seq":20,"ev":"fill","sym":"AMZNx-USD","px":"233.00","qty":"1.000","maker":5,"taker":6,"taker_side":"sell","maker_acct":"retail","taker_acct":"mm","ts":1767366021000000000}
{"seq":21,"ev":"status","sym":"AMZNx-USD","status":"continuous","reason":"call_end","until":null,"ts":1767366021000000000}
"""

LOG_15_6 = """\
{"op":"halt","sym":"AMZNx-USD","ts":1767366023000000000}
{"op":"resume","sym":"AMZNx-USD","ts":1767366024000000000}
{"op":"resume","sym":"AMZNx-USD","ts":1767366024100000000}
{"op":"new","oid":7,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"limit","px":"250.00","qty":"1","ts":1767366024500000000}
{"op":"new","oid":8,"acct":"mm","sym":"AMZNx-USD","side":"sell","type":"limit","px":"245.00","qty":"1","ts":1767366024600000000}
{"op":"new","oid":9,"acct":"bob","sym":"AMZNx-USD","side":"buy","type":"market","qty":"1","ts":1767366024700000000}
{"op":"tick","ts":1767366028000000000}
{"op":"tick","ts":1767366031000000000}
"""

EVENTS_15_6 = """\
{"seq":22,"ev":"status","sym":"AMZNx-USD","status":"halted","reason":"operator","until":null,"ts":1767366023000000000}
{"seq":23,"ev":"status","sym":"AMZNx-USD","status":"call","reason":"reopen","until":1767366027000000000,"ts":1767366024000000000}
{"seq":24,"ev":"indicative","sym":"AMZNx-USD","px":null,"matched":"0.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366027000000000,"ts":1767366024000000000}
{"seq":25,"ev":"rejected","reason":"not_halted","ts":1767366024100000000}
{"seq":26,"ev":"accepted","oid":7,"sym":"AMZNx-USD","side":"buy","px":"250.00","qty":"1.000","ts":1767366024500000000}
{"seq":27,"ev":"accepted","oid":8,"sym":"AMZNx-USD","side":"sell","px":"245.00","qty":"1.000","ts":1767366024600000000}
{"seq":28,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366027000000000,"ts":1767366024600000000}
{"seq":29,"ev":"rejected","reason":"auction_only","oid":9,"ts":1767366024700000000}
{"seq":30,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366027000000000,"ts":1767366025600000000}
{"seq":31,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"241.50","until":1767366027000000000,"ts":1767366026600000000}
{"seq":32,"ev":"status","sym":"AMZNx-USD","status":"call","reason":"extended","until":1767366030000000000,"ts":1767366027000000000}
{"seq":33,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"253.00","until":1767366030000000000,"ts":1767366027000000000}
{"seq":34,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"253.00","until":1767366030000000000,"ts":1767366028000000000}
{"seq":35,"ev":"indicative","sym":"AMZNx-USD","px":"245.00","matched":"1.000","imbalance":"0.000","imb_side":null,"lo":"218.50","hi":"253.00","until":1767366030000000000,"ts":1767366029000000000}
{"seq":36,"ev":"uncross","sym":"AMZNx-USD","px":"245.00","qty":"1.000","ts":1767366030000000000}
{"seq":37,"ev":"fill","sym":"AMZNx-USD","px":"245.00","qty":"1.000","maker":7,"taker":8,"taker_side":"sell","maker_acct":"bob","taker_acct":"mm","ts":1767366030000000000}
{"seq":38,"ev":"status","sym":"AMZNx-USD","status":"continuous","reason":"call_end","until":null,"ts":1767366030000000000}
"""

FIRST_LOG = [(LOG_15_1, EVENTS_15_1), (LOG_15_2, EVENTS_15_2), (LOG_15_3, EVENTS_15_3), (LOG_15_4, EVENTS_15_4)]
SECOND_LOG = [(LOG_15_5, EVENTS_15_5), (LOG_15_6, EVENTS_15_6)]


@pytest.mark.parametrize("upto", [1, 2, 3, 4], ids=["15.1", "15.2", "15.3", "15.4"])
def test_worked_examples_15_1_to_15_4_one_log(engine, upto):
    """First update in pre-market, step guard, a 3-for-1 split, stale, stale halt and reopening auction."""
    log = [x for text, _ in FIRST_LOG[:upto] for x in lines(text)]
    expected = [x for _, text in FIRST_LOG[:upto] for x in lines(text)]
    assert replay_lines(engine, log) == expected


@pytest.mark.parametrize("upto", [1, 2], ids=["15.5", "15.6"])
def test_worked_examples_15_5_and_15_6_one_log(engine, upto):
    """The incident: market buy on a thin book, limit state, pause; then operator halt and collar extension."""
    log = [x for text, _ in SECOND_LOG[:upto] for x in lines(text)]
    expected = [x for _, text in SECOND_LOG[:upto] for x in lines(text)]
    assert replay_lines(engine, log) == expected


def test_the_worked_examples_are_tick_invariant(engine):
    """Section 5: ticks between commands change no event (here one before every command of 15.5 and 15.6)."""
    log = [json.loads(x) for text, _ in SECOND_LOG for x in lines(text)]
    ticked = []
    for d in log:
        ticked += [tick(d["ts"] - 1), d]
    assert replay_lines(engine, ticked) == replay_lines(engine, log)


# ---------------------------------------------------------------- one behaviour each


def test_step_guard_pending_confirmed_and_a_dropped_pending_update(engine):
    ev = run(engine, [
        oracle("230.00", T0, "pre_market"),
        oracle("240.00", T0 + 1 * S, "pre_market"),  # 4.3% from the trusted 230.00: pending
        oracle("240.10", T0 + 2 * S, "pre_market"),  # within 1% of the pending, 1 s later: confirmed
        oracle("300.00", T0 + 3 * S, "pre_market"),  # pending
        oracle("240.20", T0 + 4 * S, "pre_market"),  # within 1% of the trusted: trusted, the pending is dropped
        oracle("300.10", T0 + 5 * S, "pre_market"),  # near the dropped 300.00, but nothing is pending: pending
        oracle("250.00", T0 + 6 * S, "pre_market"),  # replaces the pending 300.10
        oracle("252.00", T0 + 16 * S + 1, "pre_market"),  # near 250.00 but 1 ns too late: pending again
        oracle("252.10", T0 + 26 * S + 1, "pre_market"),  # near 252.00, exactly confirm_ms later: confirmed
    ])
    assert [(e["ref"], e["state"]) for e in of(ev, "oracle")] == [
        ("230.00", "trusted"), ("240.00", "pending"), ("240.10", "confirmed"), ("300.00", "pending"),
        ("240.20", "trusted"), ("300.10", "pending"), ("250.00", "pending"), ("252.00", "pending"),
        ("252.10", "confirmed")]
    # pre-market, factor 2: h = 10% of the reference; 240.20 moved 0.04% from 240.10: no band event
    assert [b[:4] for b in bands(ev)] == [("230.00", "207.00", "253.00", "oracle"),
                                         ("240.10", "216.09", "264.11", "oracle"),
                                         ("252.10", "226.89", "277.31", "oracle")]


def test_a_split_moves_neither_the_reference_nor_the_band_and_an_inconsistent_feed_is_pending(engine):
    at = T0 + 2 * S
    ev = run(engine, [
        oracle("240.00", T0, "pre_market"),
        oracle("240.00", T0 + 1 * S, "pre_market", next_mult="3", mult_at=at),  # announced, pre-split price
        oracle("80.00", at, "pre_market", next_mult="3", mult_at=at),  # post-split: 80.00 x 3 = 240.00
        oracle("80.00", at + S, "pre_market"),  # a post-split price with the pre-split multiplier
        oracle("480.40", at + 2 * S, "pre_market", mult="0.5"),  # half a share per token: 240.20
    ])
    assert [(e["ref"], e["mult"], e["state"]) for e in of(ev, "oracle")] == [
        ("240.00", "1", "trusted"), ("240.00", "1", "trusted"), ("240.00", "3", "trusted"),
        ("80.00", "1", "pending"), ("240.20", "0.5", "trusted")]
    assert len(of(ev, "band")) == 1 and of(ev, "status") == of(ev, "status")[:1]


def test_a_stale_oracle_rejects_market_orders_and_freezes_the_band(engine):
    ev = run(engine, [
        oracle("230.00", TR),
        tick(TR + 60 * S),  # ref_grid at +30 s changes nothing; stale at Tt + 60 s
        new(1, "buy", None, "1", TR + 61 * S),
        new(2, "buy", "230.00", "1", TR + 62 * S),
        oracle("240.00", TR + 63 * S, "weekend"),  # pending: a wider policy, but the band does not move
    ])
    assert ev[3] == {"seq": 4, "ev": "oracle", "sym": SYM, "ref": "230.00", "mult": "1", "market": "regular",
                     "ots": TR, "state": "stale", "ts": TR + 60 * S}
    assert ev[4] == {"seq": 5, "ev": "rejected", "reason": "stale_oracle", "oid": 1, "ts": TR + 61 * S}
    assert [e["ev"] for e in ev[5:]] == ["accepted", "oracle"]
    assert ev[6]["state"] == "pending" and len(of(ev, "band")) == 1


def test_stale_halt_then_a_trusted_update_reopens_with_a_call_and_a_pending_one_does_not(engine):
    ev = run(engine, [
        oracle("230.00", TR),
        tick(TR + 120 * S),  # stale at +60 s, stale_halt at +120 s
        oracle("260.00", TR + 121 * S),  # a jump: pending, still halted
        oracle("230.50", TR + 122 * S),  # trusted and fresh: the cause stale_oracle goes
        tick(TR + 126 * S),
    ])
    reopen = TR + 122 * S + MS
    assert statuses(ev) == [("continuous", "reference", None, TR + MS),
                            ("halted", "stale_oracle", None, TR + 120 * S),
                            ("call", "reopen", reopen + 3 * S, reopen),
                            ("continuous", "call_end", None, reopen + 3 * S)]
    assert [e["state"] for e in of(ev, "oracle")] == ["trusted", "stale", "pending", "trusted"]
    # collar around Rc = 230.50 with h0 = 5% = 11.525: [218.98, 242.02], inward
    assert (of(ev, "indicative")[0]["lo"], of(ev, "indicative")[0]["hi"]) == ("218.98", "242.02")
    # the forced reference point after the call recentres the band on the oracle
    assert bands(ev)[-1] == ("230.50", "218.98", "242.02", "oracle", reopen + 3 * S)


def test_a_trusted_update_that_is_already_old_neither_freshens_nor_reopens(engine):
    ev = run(engine, [
        oracle("230.00", TR),
        oracle("230.10", TR + S, ts=TR + 200 * S),  # its stale and stale_halt deadlines are long past
    ])
    assert [(e["ev"], e.get("state") or e.get("status")) for e in ev[3:]] == [
        ("oracle", "stale"), ("status", "halted"), ("oracle", "trusted")]


def test_a_first_update_that_arrives_stale_opens_trading_sets_the_band_then_goes_stale(engine):
    """Clarification 1: already reached deadlines take effect at the end of the command, after the
    reference point, stamped with the command's ts. The oracle is not fresh (6.4: now >= Tt + stale_ms),
    so the candidate of that reference point is the last oracle (7.1, case 3)."""
    ev = run(engine, [
        oracle("230.00", TR, ts=TR + 61 * S),
        new(1, "buy", None, "1", TR + 62 * S),
        tick(TR + 120 * S),
    ])
    late = TR + 61 * S
    assert [(e["ev"], e.get("state") or e.get("status") or e.get("source") or e.get("reason"), e["ts"])
            for e in ev] == [("oracle", "trusted", late), ("status", "continuous", late),
                             ("band", "last_oracle", late), ("oracle", "stale", late),
                             ("rejected", "stale_oracle", TR + 62 * S), ("status", "halted", TR + 120 * S)]


def test_an_oracle_time_not_after_the_last_accepted_update_is_rejected(engine):
    ev = run(engine, [
        oracle("230.00", T0, "pre_market"),
        oracle("230.00", T0, "pre_market", ts=T0 + S),
        oracle("300.00", T0 + 2 * S, "pre_market"),  # pending, still accepted: its ots counts
        oracle("230.00", T0 + S, "pre_market", ts=T0 + 3 * S),
    ])
    assert ev[3] == {"seq": 4, "ev": "rejected", "reason": "bad_oracle_ts", "ts": T0 + S}
    assert ev[5] == {"seq": 6, "ev": "rejected", "reason": "bad_oracle_ts", "ts": T0 + 3 * S}


VWAP_INSTRUMENTS = instruments(stale_ms=600_000, halt_ms=1_200_000, ref_window_ms=60_000)
VWAP_LOG = [
    oracle("230.00", TR),
    new(1, "sell", "230.00", "1", TR + S, "mm"), new(2, "buy", "230.00", "1", TR + S + 1, "bob"),
    new(3, "sell", "234.00", "3", TR + 2 * S, "mm"), new(4, "buy", "234.00", "3", TR + 2 * S + 1, "bob"),
    oracle("230.00", TR + 5 * S, "weekend"),  # closed: C = (230 x 1 + 234 x 3) / 4 = 233.00, moved 1.3%
    tick(TR + 91 * S),  # ref_grid at +30 s and +60 s: the fills are in the window; at +90 s they are not
]
FIRST_15_LOG = [oracle("230.00", REG_OPEN + MINUTE), tick(REG_OPEN + 15 * MINUTE)]
LAST_25_LOG = [oracle("230.00", REG_CLOSE - 26 * MINUTE), tick(REG_CLOSE)]


def test_vwap_fallback_when_the_market_is_closed_then_last_oracle_once_the_window_is_empty(engine):
    ev = run(engine, VWAP_LOG, VWAP_INSTRUMENTS)
    assert len(of(ev, "fill")) == 2
    assert bands(ev) == [("230.00", "218.50", "241.50", "oracle", TR + MS),
                         ("233.00", "209.70", "256.30", "vwap", TR + 5 * S + MS),
                         ("230.00", "207.00", "253.00", "last_oracle", TR + 90 * S)]


def test_a_band_that_moves_only_by_its_width_keeps_the_source_in_force(engine):
    """Clarification 5: B' = B (the vwap 233.00 is 0.43% from B = 232.00), only the width changes (weekend,
    factor 2): the band event shows the source in force, not the candidate's."""
    ins = instruments(stale_ms=600_000, halt_ms=1_200_000)
    ev = run(engine, [
        oracle("232.00", TR),
        new(1, "sell", "233.00", "1", TR + S, "mm"), new(2, "buy", "233.00", "1", TR + S + 1, "bob"),
        oracle("232.00", TR + 5 * S, "weekend"),
    ], ins)
    assert bands(ev)[-1] == ("232.00", "208.80", "255.20", "oracle", TR + 5 * S + MS)


def test_the_band_doubles_in_the_first_15_minutes_of_the_regular_session(engine):
    ev = run(engine, FIRST_15_LOG, LONG_LIVED)
    assert bands(ev) == [("230.00", "207.00", "253.00", "oracle", REG_OPEN + MINUTE + MS),
                         ("230.00", "218.50", "241.50", "oracle", REG_OPEN + 15 * MINUTE)]


def test_the_band_doubles_in_the_last_25_minutes_of_the_regular_session(engine):
    ev = run(engine, LAST_25_LOG, LONG_LIVED)
    assert [b[1:3] + b[4:] for b in bands(ev)] == [("218.50", "241.50", REG_CLOSE - 26 * MINUTE + MS),
                                                  ("207.00", "253.00", REG_CLOSE - 25 * MINUTE),
                                                  ("218.50", "241.50", REG_CLOSE)]


def test_a_policy_band_pct_is_a_fixed_half_width_never_doubled(engine):
    ins = instruments(policy={"weekend": {"band_pct": "3"}, "regular": {"band_pct": "2"}})
    ev = run(engine, [oracle("230.00", T0, "weekend")], ins)
    assert bands(ev)[0][:3] == ("230.00", "223.10", "236.90")
    ev = run(engine, [oracle("230.00", REG_OPEN + MINUTE)], ins)  # first 15 minutes: still 2%
    assert bands(ev)[0][:3] == ("230.00", "225.40", "234.60")


def test_max_notional_rejects_new_orders_amends_and_market_orders_priced_at_the_upper_edge(engine):
    ins = instruments(policy={"weekend": {"band_pct": "3", "max_notional": "25000", "market_orders": True}})
    # M = 25000 / (0.01 x 0.001) = 2.5e9 tick-lots; band [223.10, 236.90]
    ev = run(engine, [
        oracle("230.00", T0, "weekend"),
        new(1, "buy", "230.00", "108.696", T0 + 1 * S),  # 25000.08
        new(2, "buy", "230.00", "108.695", T0 + 2 * S),  # 24999.85
        {"op": "amend", "oid": 2, "qty": "108.696", "ts": T0 + 3 * S},
        new(3, "sell", None, "105.530", T0 + 4 * S, "mm"),  # at hi = 236.90: 25000.06
        new(4, "sell", None, "105.529", T0 + 5 * S, "mm"),  # at hi: 24999.82
        new(5, "buy", "240.00", "200", T0 + 6 * S),  # outside_band comes first
    ], ins)
    assert [(e["ev"], e.get("reason"), e.get("oid")) for e in ev[3:]] == [
        ("rejected", "notional_too_large", 1), ("accepted", None, 2), ("rejected", "notional_too_large", 2),
        ("rejected", "notional_too_large", 3), ("accepted", None, 4), ("fill", None, None),
        ("rejected", "outside_band", 5)]


def test_limit_up_then_unpinned_by_a_cancel(engine):
    ev = run(engine, [
        oracle("230.00", TR),
        new(1, "buy", "241.50", "1", TR + S),  # the bid at hi pins the book
        {"op": "cancel", "oid": 1, "ts": TR + 2 * S},
        tick(TR + 20 * S),  # the limit timer was cleared: no pause
    ])
    assert statuses(ev)[1:] == [("limit_up", "pinned", TR + 16 * S, TR + S),
                                ("continuous", "unpinned", None, TR + 2 * S)]
    assert ev[-1]["ev"] == "status"


def test_limit_down_then_the_pause_and_its_reopening_auction(engine):
    ev = run(engine, [
        oracle("230.00", TR),
        new(1, "sell", "218.50", "1", TR + S, "mm"),  # the ask at lo pins the book
        tick(TR + 16 * S),  # the limit timer fires at its deadline
        new(2, "buy", "220.00", "1", TR + 17 * S, "bob"),
        tick(TR + 20 * S),
    ])
    assert statuses(ev)[1:] == [("limit_down", "pinned", TR + 16 * S, TR + S),
                                ("call", "pause", TR + 19 * S, TR + 16 * S),
                                ("continuous", "call_end", None, TR + 19 * S)]
    first = of(ev, "indicative")[0]
    assert (first["px"], first["lo"], first["hi"], first["ts"]) == (None, "218.50", "241.50", TR + 16 * S)
    # the crossing range 218.50 to 220.00: the price nearest Rc = 230.00
    assert of(ev, "uncross") == [{"seq": of(ev, "uncross")[0]["seq"], "ev": "uncross", "sym": SYM,
                                  "px": "220.00", "qty": "1.000", "ts": TR + 19 * S}]


def test_the_opening_auction_on_the_first_regular_update_after_pre_market(engine):
    ev = run(engine, [
        oracle("230.00", REG_OPEN - 10 * S, "pre_market"),
        new(1, "sell", "231.00", "1", REG_OPEN - 5 * S, "mm"),
        oracle("230.00", REG_OPEN),
        new(2, "buy", "232.00", "1", REG_OPEN + 2 * S, "bob"),
        tick(REG_OPEN + 62 * S),
    ], LONG_LIVED)
    until = REG_OPEN + MS + 60 * S
    assert statuses(ev)[1:] == [("call", "open", until, REG_OPEN + MS), ("continuous", "call_end", None, until)]
    first = of(ev, "indicative")[0]  # collar: first 15 minutes, doubled
    assert (first["px"], first["lo"], first["hi"]) == (None, "207.00", "253.00")
    assert [(e["px"], e["qty"]) for e in of(ev, "uncross")] == [("231.00", "1.000")]
    assert len(of(ev, "band")) == 1  # the forced reference point finds the same band


def test_no_opening_auction_when_open_auction_ms_is_zero_or_on_the_first_update(engine):
    ins = instruments(open_auction_ms=0)
    ev = run(engine, [oracle("230.00", REG_OPEN - 10 * S, "pre_market"), oracle("230.00", REG_OPEN)], ins)
    assert [s[:2] for s in statuses(ev)] == [("continuous", "reference")]
    ev = run(engine, [oracle("230.00", REG_OPEN)])
    assert [s[:2] for s in statuses(ev)] == [("continuous", "reference")]


def test_the_collar_widens_downwards_by_h0_when_the_price_is_below_it(engine):
    ins = instruments(stale_ms=60000, halt_ms=120000, pause_ms=3000, reopen_ms=3000, collar_pct="2")
    ev = run(engine, [
        oracle("230.00", TR),
        {"op": "halt", "sym": SYM, "ts": TR + S}, {"op": "resume", "sym": SYM, "ts": TR + 2 * S},
        new(1, "sell", "220.00", "1", TR + 2 * S + 1, "mm"), new(2, "buy", "224.00", "1", TR + 2 * S + 2, "bob"),
        tick(TR + 9 * S),
    ], ins)
    assert statuses(ev)[1:] == [("halted", "operator", None, TR + S), ("call", "reopen", TR + 5 * S, TR + 2 * S),
                                ("call", "extended", TR + 8 * S, TR + 5 * S),
                                ("continuous", "call_end", None, TR + 8 * S)]
    # h0 = 2% of 230.00 = 4.60: [225.40, 234.60]; 224.00 is below it: the lower edge moves down by h0
    assert sorted({(e["lo"], e["hi"]) for e in of(ev, "indicative")}) == [("220.80", "234.60"),
                                                                          ("225.40", "234.60")]
    assert [e["px"] for e in of(ev, "uncross")] == ["224.00"]


@pytest.mark.parametrize("eng", ["reference", "numba"])
def test_a_collar_below_a_tick_is_a_tick_wide_and_widens_a_tick_at_a_time(eng):
    """12.4: at 5.00 (500 ticks) a 0.01% collar is 0.05 tick; h0 has a floor of one tick, so 4.98, two ticks
    below, is reached by one extension (a 0.05-tick step would take 39)."""
    ins = instruments(stale_ms=600000, halt_ms=1200000, pause_ms=3000, reopen_ms=3000, collar_pct="0.01")
    ev = run(eng, [
        oracle("5.00", TR),
        {"op": "halt", "sym": SYM, "ts": TR + S}, {"op": "resume", "sym": SYM, "ts": TR + 2 * S},
        new(1, "sell", "4.97", "1", TR + 2 * S + 1, "mm"), new(2, "buy", "4.98", "1", TR + 2 * S + 2, "bob"),
        tick(TR + 60 * S),
    ], ins)
    assert [s[1] for s in statuses(ev)[1:]] == ["operator", "reopen", "extended", "call_end"]
    assert sorted({(e["lo"], e["hi"]) for e in of(ev, "indicative")}) == [("4.98", "5.01"), ("4.99", "5.01")]
    assert [e["px"] for e in of(ev, "uncross")] == ["4.98"]


def test_orders_outside_the_band_left_after_a_call_are_canceled_by_the_forced_reference_point(engine):
    """CHOICE (12.6): the call takes orders outside the band; the forced reference point after it cancels
    them even when the band does not move."""
    ev = run(engine, [
        oracle("230.00", TR),
        {"op": "halt", "sym": SYM, "ts": TR + S}, {"op": "resume", "sym": SYM, "ts": TR + 2 * S},
        new(1, "buy", "250.00", "1", TR + 3 * S),  # above hi = 241.50: accepted in a call
        tick(TR + 6 * S),
    ])
    assert [(e["ev"], e.get("reason")) for e in ev[-2:]] == [("status", "call_end"), ("canceled", "band")]
    assert len(of(ev, "band")) == 1


def test_a_market_wide_halt_shows_over_no_reference_and_resume_all_shows_no_reference_again(engine):
    ev = run(engine, [{"op": "halt_all", "ts": 1}, {"op": "resume_all", "ts": 2}, oracle("230.00", T0, "pre_market")])
    assert [s[:2] for s in statuses(ev)] == [("halted", "market_wide"), ("halted", "no_reference"),
                                            ("continuous", "reference")]


def test_a_forced_reference_point_while_stale_does_not_move_the_band(engine):
    """CHOICE (6.4, 7.1: "the band does not move at all" while stale, "no reference point of section 7.2
    changes it"): the forced reference point after a call changes nothing while the oracle is stale,
    even though the uncross gave the candidate a new vwap."""
    ev = run(engine, [
        oracle("230.00", REG_OPEN - 10 * S, "pre_market"),
        new(1, "sell", "231.00", "1", REG_OPEN - 5 * S, "mm"),
        oracle("230.00", REG_OPEN),  # the opening call, 60 s; the oracle goes stale 60 s after its ots
        new(2, "buy", "232.00", "1", REG_OPEN + 2 * S, "bob"),
        tick(REG_OPEN + 62 * S),
    ])
    assert [e["state"] for e in of(ev, "oracle")] == ["trusted", "trusted", "stale"]
    assert [(e["px"], e["ts"]) for e in of(ev, "uncross")] == [("231.00", REG_OPEN + MS + 60 * S)]
    assert len(of(ev, "band")) == 1


def test_the_models_skip_of_idle_grid_points_changes_no_event(monkeypatch):
    """The reference model jumps over ref_grid firings that cannot change anything (an optimisation, see
    ReferenceEngine._skip_idle_ref_grid); firing every grid point prints the same events."""
    import kabuto.engine.reference as reference

    first = [x for text, _ in FIRST_LOG for x in lines(text)]
    logs = [(VWAP_LOG, VWAP_INSTRUMENTS), (FIRST_15_LOG, LONG_LIVED), (LAST_25_LOG, LONG_LIVED), (first, EXAMPLE),
            ([oracle("230.00", REG_OPEN - 40 * MINUTE, "pre_market"), tick(REG_OPEN + 30 * MINUTE)], LONG_LIVED)]
    skipping = [replay_lines("reference", log, ins) for log, ins in logs]

    class EveryGridPoint(reference.ReferenceEngine):
        def __init__(self, ins):
            super().__init__(ins)
            self.fast_forward = False

    monkeypatch.setattr(reference, "ReferenceEngine", EveryGridPoint)
    assert [replay_lines("reference", log, ins) for log, ins in logs] == skipping
