"""Oracle instruments (docs/market-integrity.md 6-12) on the numba kernel: invariants after every command of
long random oracle logs, an independent check of the volume-weighted reference, tick invariance."""
import json
from decimal import Decimal
from fractions import Fraction

import pytest
from kabuto.engine.codes import Status
from kabuto.engine.engine import Engine
from kabuto.engine.state import OS_RC
from kabuto.replay.eventlog import Encoder
from kabuto.replay.orderlog import Decoder, split_lines
from kabuto.replay.replay import replay_text
from orderlogs import ORACLE_INSTRUMENTS, oracle_log

INS = ORACLE_INSTRUMENTS
SYMS = [i.symbol for i in INS]


def run_checked(log: bytes):
    """Yield (engine, the command's events as dicts) after every command, on a tiny engine that must grow."""
    decoder = Decoder(INS)
    encoder = Encoder(INS, decoder.accounts)
    engine = Engine(INS, orders=64, levels=16, book_levels=4, events=8)
    for n, line in enumerate(split_lines(log), 1):
        cmds = decoder.decode([line], n)
        seq0 = engine.seq + 1
        yield engine, [json.loads(x) for x in encoder.encode(engine.process(cmds), seq0).splitlines()]


def ticks(sym: str, text: str) -> int:
    """Price text of an instrument in ticks."""
    return int(Fraction(Decimal(text)) / Fraction(INS[SYMS.index(sym)].tick_size))


@pytest.mark.parametrize("seed", range(3))
def test_every_continuous_fill_of_an_oracle_instrument_is_inside_its_band(seed):
    band: dict[str, tuple[int, int]] = {}
    fills = 0
    for _, events in run_checked(oracle_log(seed, 2500)):
        uncrossing = False
        for e in events:
            if e["ev"] == "band":
                band[e["sym"]] = (ticks(e["sym"], e["lo"]), ticks(e["sym"], e["hi"]))
            elif e["ev"] == "uncross":
                uncrossing = True
            elif e["ev"] == "fill" and e["sym"] in band and not uncrossing:
                lo, hi = band[e["sym"]]
                assert lo <= ticks(e["sym"], e["px"]) <= hi
                fills += 1
    assert fills > 20


@pytest.mark.parametrize("seed", range(3))
def test_every_uncross_of_an_oracle_instrument_is_inside_the_collar_of_its_call(seed):
    collar: dict[str, tuple[str, str]] = {}
    uncrosses = 0
    for _, events in run_checked(oracle_log(seed, 2500)):
        for e in events:
            if e["ev"] == "indicative" and e["lo"] is not None:
                collar[e["sym"]] = (e["lo"], e["hi"])
            elif e["ev"] == "uncross" and e["sym"] != "BTC-USD":
                lo, hi = collar[e["sym"]]
                assert Decimal(lo) <= Decimal(e["px"]) <= Decimal(hi)
                uncrosses += 1
    assert uncrosses > 0


@pytest.mark.parametrize("seed", range(3))
def test_resting_orders_stay_inside_the_band_and_the_book_uncrossed_while_trading(seed):
    checked = 0
    for engine, _ in run_checked(oracle_log(seed, 2500)):
        st = engine.state
        for sym in range(len(INS)):
            if st.i_status[sym] in (Status.CALL, Status.HALTED) or not st.i_band[sym]:
                continue
            bids, asks = engine.book(sym)
            assert not bids or not asks or bids[0][0] < asks[0][0]
            for px, _ in bids + asks:
                assert st.i_lo[sym] <= px <= st.i_hi[sym]
            checked += 1
    assert checked > 1000


def _every_command(seeds, n):
    for seed in seeds:
        yield from run_checked(oracle_log(seed, n))


def test_a_limit_state_means_the_book_is_pinned_at_that_band_edge():
    pinned = 0
    for engine, _ in _every_command(range(4), 2500):
        st = engine.state
        for sym in range(len(INS)):
            bids, asks = engine.book(sym)
            up = bool(bids) and bids[0][0] == st.i_hi[sym]
            down = bool(asks) and asks[0][0] == st.i_lo[sym]
            if st.i_status[sym] == Status.LIMIT_UP:
                assert up
                pinned += 1
            elif st.i_status[sym] == Status.LIMIT_DOWN:
                assert down
                pinned += 1
            elif st.i_status[sym] == Status.CONTINUOUS and INS[sym].oracle is not None:
                assert not up and not down
    assert pinned > 0


def test_a_vwap_band_is_the_volume_weighted_mean_of_the_fills_of_the_window():
    windows = {i.symbol: i.oracle.ref_window_ms * 10**6 for i in INS if i.oracle is not None}
    seen = 0
    for seed in range(6):
        fills: dict[str, list[tuple[int, int, int]]] = {s: [] for s in windows}
        now = 0
        for _, events in run_checked(oracle_log(seed, 2500)):
            for e in events:
                now = max(now, e.get("ts", now))
                if e["ev"] == "fill" and e["sym"] in fills:
                    lots = int(Decimal(e["qty"]) / INS[SYMS.index(e["sym"])].lot_size)
                    fills[e["sym"]].append((now, ticks(e["sym"], e["px"]), lots))
                elif e["ev"] == "band" and e["source"] == "vwap":
                    window = [(p, q) for t, p, q in fills[e["sym"]] if now - windows[e["sym"]] < t <= now]
                    mean = Fraction(sum(p * q for p, q in window), sum(q for _, q in window)) + Fraction(1, 2)
                    assert ticks(e["sym"], e["ref"]) == mean.numerator // mean.denominator
                    seen += 1
    assert seen > 5


def test_an_oracle_instrument_that_uncrosses_has_a_collar_reference():
    log = oracle_log(0, 2500)
    for engine, events in run_checked(log):
        for e in events:
            if e["ev"] == "uncross" and e["sym"] != "BTC-USD":
                sym = SYMS.index(e["sym"])
                assert engine.state.i_os[sym, OS_RC] > 0


def _with_ticks(log: bytes) -> bytes:
    """The log with a tick between every two neighbouring commands whose ts do not go back."""
    out = []
    last = None
    for line in split_lines(log):
        ts = json.loads(line).get("ts")
        if last is not None and ts is not None and ts > last + 1:
            out.append(json.dumps({"op": "tick", "ts": (last + ts) // 2}).encode())
        out.append(line)
        if ts is not None:
            last = ts if last is None else max(last, ts)
    return b"\n".join(out) + b"\n"


@pytest.mark.parametrize("seed", range(3))
def test_ticks_between_commands_change_no_event(seed):
    log = oracle_log(seed, 2000)
    events, book = replay_text(log, INS, "numba")
    tick_events, tick_book = replay_text(_with_ticks(log), INS, "numba")
    assert [json.loads(x) | {"line": None} for x in events.splitlines()] == \
        [json.loads(x) | {"line": None} for x in tick_events.splitlines()]
    assert book == tick_book


def test_the_incident_example_never_prints_far_from_the_stock():
    from pathlib import Path

    from kabuto.engine.instruments import load_instruments
    root = Path(__file__).resolve().parent.parent / "examples"
    ins = load_instruments(str(root / "oracle-instruments.toml"))
    events, _ = replay_text((root / "incident.jsonl").read_bytes(), ins, "numba")
    evs = [json.loads(x) for x in events.splitlines()]
    assert {"ev": "rejected", "reason": "outside_band", "oid": 3} == {k: evs[5][k] for k in ("ev", "reason", "oid")}
    fills = [e for e in evs if e["ev"] == "fill"]
    assert max(Decimal(e["px"]) for e in fills) <= Decimal("241.50")
    assert [e["status"] for e in evs if e["ev"] == "status"] == ["continuous", "limit_up", "call", "continuous"]
    assert [e["px"] for e in evs if e["ev"] == "uncross"] == ["233.00"]


def test_the_incident_example_prints_a_hundred_times_the_stock_without_protection():
    from pathlib import Path

    from kabuto.engine.instruments import parse_instruments
    log = (Path(__file__).resolve().parent.parent / "examples" / "incident.jsonl").read_bytes()
    plain = parse_instruments({"instrument": [{"symbol": "AMZNx-USD", "tick_size": "0.01", "lot_size": "0.001"}]})
    events, _ = replay_text(log, plain, "numba")
    prints = [Decimal(e["px"]) for e in map(json.loads, events.splitlines()) if e["ev"] == "fill"]
    assert max(prints) == Decimal("23781.00")
