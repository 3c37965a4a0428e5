"""Hypothesis strategies for random order logs that mix every command, fault and symbol."""
import json
import os

from hypothesis import strategies as st
from kabuto.engine.instruments import load_instruments

HERE = os.path.dirname(os.path.abspath(__file__))
INSTRUMENTS = load_instruments(os.path.join(HERE, "instruments_test.toml"))

# per symbol: (a mid price in ticks, tick text, lot text)
PRICE_GRID = {"TSLAx-USD": (10000, "0.01", "0.001"), "AMZNx-USD": (3600, "0.05", "1"), "BTC-USD": (200, "0.5", "0.01")}
ACCOUNTS = ["a", "b", "c", 7, "7"]
OIDS = st.integers(0, 40)


def _num(ticks: int, step: str) -> str:
    from decimal import Decimal
    return str(Decimal(ticks) * Decimal(step))


@st.composite
def price(draw, sym):
    mid, tick, _ = PRICE_GRID.get(sym, (100, "0.01", "1"))
    kind = draw(st.integers(0, 30))
    if kind == 0:
        return draw(st.sampled_from(["abc", None, -1, 0, "1e2", "0.0001", "1.", [1], "99999999999999"]))
    ticks = mid + draw(st.integers(-12, 12)) * (3 if sym == "AMZNx-USD" and kind == 1 else 1)
    if kind == 2:
        return float(_num(ticks, tick)) if "." in tick else int(_num(ticks, tick))
    if kind == 3:  # band killer: far away
        ticks = mid * 2
    return _num(ticks, tick)


@st.composite
def quantity(draw, sym):
    _, _, lot = PRICE_GRID.get(sym, (100, "0.01", "1"))
    kind = draw(st.integers(0, 25))
    if kind == 0:
        return draw(st.sampled_from(["0", "-1", None, "x", "0.0000001", "2000000000000", 0]))
    lots = draw(st.integers(1, 60)) if sym != "AMZNx-USD" else draw(st.integers(1, 6))
    if sym == "TSLAx-USD":
        lots *= 10
    return _num(lots, lot)


@st.composite
def command(draw):
    kind = draw(st.sampled_from(["new"] * 10 + ["cancel"] * 3 + ["amend"] * 3 + ["ref", "bad", "halt"]))
    sym = draw(st.sampled_from(list(PRICE_GRID) + (["NOPE"] if draw(st.integers(0, 40)) == 0 else [])))
    ts = {"ts": draw(st.integers(0, 10**18))} if draw(st.booleans()) and draw(st.booleans()) else {}
    if kind == "new":
        d = {"op": "new", "oid": draw(OIDS), "acct": draw(st.sampled_from(ACCOUNTS)), "sym": sym,
             "side": draw(st.sampled_from(["buy", "sell"])),
             "type": draw(st.sampled_from(["limit"] * 5 + ["market"]))}
        d["px"] = draw(price(sym))
        d["qty"] = draw(quantity(sym))
        if draw(st.integers(0, 2)) == 0:
            d["tif"] = draw(st.sampled_from(["GTC", "IOC", "FOK", "POST", "POST", "GTD", 7]))
        if draw(st.integers(0, 2)) == 0:
            d["stp"] = draw(st.sampled_from(["cancel_oldest", "cancel_newest", "cancel_both", "decrement",
                                             "decrement", None]))
        if d["type"] == "market" and draw(st.booleans()):
            del d["px"]
        return json.dumps({**d, **ts})
    if kind == "cancel":
        return json.dumps({"op": "cancel", "oid": draw(OIDS), **ts})
    if kind == "amend":
        d = {"op": "amend", "oid": draw(OIDS)}
        which = draw(st.integers(0, 2))
        if which != 1:
            d["px"] = draw(price(sym))
        if which != 0:
            d["qty"] = draw(quantity(sym))
        return json.dumps({**d, **ts})
    if kind == "ref":
        mid, tick, _ = PRICE_GRID.get(sym, (100, "0.01", "1"))
        ref = draw(st.sampled_from([_num(mid + draw(st.integers(-15, 15)), tick), "123.4567", "abc", None]))
        return json.dumps({"op": "ref", "sym": sym, "px": ref, **ts})
    if kind == "halt":
        op = draw(st.sampled_from(["halt", "resume", "resume", "halt_all", "resume_all", "tick"]))
        d = {"op": op, "sym": sym} if op in ("halt", "resume") else {"op": op}
        return json.dumps({**d, **ts})
    return draw(st.sampled_from(["", "not json", "[1]", '{"op":"new"}', '{"op":"cancel","oid":-1}',
                                 '{"op":"fly"}', '{"op":"cancel","oid":1,"ts":-5}', "\udcff", '{"op":"halt"}',
                                 '{"op":"resume","sym":7}']))


def order_logs(min_size: int = 1, max_size: int = 120):
    """A whole order log as bytes."""
    return st.lists(command(), min_size=min_size, max_size=max_size).map(
        lambda lines: "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")


def random_log(seed: int, n: int) -> bytes:
    """A long random order log drawn from the same command strategy, deterministically from a seed."""
    import random
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        lines.append(_random_command(rng))
    return "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"


def _random_command(rng) -> str:
    sym = rng.choice(list(PRICE_GRID)) if rng.random() > 0.02 else "NOPE"
    mid, tick, lot = PRICE_GRID.get(sym, (100, "0.01", "1"))
    ts = {"ts": rng.randrange(10**18)} if rng.random() < 0.2 else {}

    def px():
        r = rng.random()
        if r < 0.03:
            return rng.choice(["abc", None, -1, 0, "1e2", "0.0001", "1.", [1]])
        if r < 0.06:
            return _num(mid * 2, tick)
        return _num(mid + rng.randint(-12, 12), tick)

    def qty():
        if rng.random() < 0.03:
            return rng.choice(["0", "-1", None, "x", "0.0000001", "2000000000000", 0])
        lots = rng.randint(1, 6) if sym == "AMZNx-USD" else rng.randint(1, 60) * (10 if sym == "TSLAx-USD" else 1)
        return _num(lots, lot)

    kind = rng.choices(["new", "cancel", "amend", "ref", "bad", "halt", "resume", "halt_all", "resume_all", "tick"],
                       [60, 20, 14, 2, 4, 0.6, 0.8, 0.1, 0.2, 0.5])[0]
    if kind == "new":
        d = {"op": "new", "oid": rng.randrange(200), "acct": rng.choice(ACCOUNTS), "sym": sym,
             "side": rng.choice(["buy", "sell"]), "type": "market" if rng.random() < 0.1 else "limit",
             "px": px(), "qty": qty()}
        if rng.random() < 0.3:
            d["tif"] = rng.choice(["GTC", "IOC", "FOK", "POST", "GTD"])
        if rng.random() < 0.3:
            d["stp"] = rng.choice(["cancel_oldest", "cancel_newest", "cancel_both", "decrement", "x"])
        return json.dumps({**d, **ts})
    if kind == "cancel":
        return json.dumps({"op": "cancel", "oid": rng.randrange(80), **ts})
    if kind == "amend":
        d = {"op": "amend", "oid": rng.randrange(80)}
        w = rng.randint(0, 2)
        if w != 1:
            d["px"] = px()
        if w != 0:
            d["qty"] = qty()
        return json.dumps({**d, **ts})
    if kind == "ref":
        return json.dumps({"op": "ref", "sym": sym, "px": _num(mid + rng.randint(-15, 15), tick), **ts})
    if kind in ("halt", "resume"):
        return json.dumps({"op": kind, "sym": sym, **ts})
    if kind in ("halt_all", "resume_all", "tick"):
        return json.dumps({"op": kind, **ts})
    return rng.choice(["", "not json", "[1]", '{"op":"new"}', '{"op":"fly"}', "\udcff"])


ORACLE_INSTRUMENTS = load_instruments(os.path.join(HERE, "instruments_oracle.toml"))
# per symbol: (starting share price in ticks, tick text, lot text, largest lots of an order)
ORACLE_GRID = {"TSLAx-USD": (24000, "0.01", "0.001", 3000), "PENNY-USD": (6000, "0.0001", "1", 900),
               "BTC-USD": (200, "0.5", "0.01", 50)}
REG_OPEN = 1767364200000000000  # 2026-01-02 09:30 New York
REG_CLOSE = REG_OPEN + 390 * 60 * 10**9
MARKETS = ["unknown", "pre_market", "regular", "post_market", "overnight", "weekend", "holiday"]


def oracle_log(seed: int, n: int) -> bytes:
    """A random log for oracle instruments: a clock that mostly moves forward across the regular
    session's open, oracle updates with jumps, gaps, splits and every market status, and orders around
    the oracle price, at the band edges and beyond them."""
    import random
    rng = random.Random(seed)
    now = REG_OPEN - rng.choice([60, 600, 1200]) * 10**9
    if rng.random() < 0.3:
        now = REG_CLOSE - 1800 * 10**9
    share = {s: g[0] for s, g in ORACLE_GRID.items()}  # the stock's price in ticks
    mult = {s: 1 for s in ORACLE_GRID}
    split: dict[str, tuple[int, int]] = {}  # sym -> (next_mult, mult_at)
    ots = {s: 0 for s in ORACLE_GRID}
    lines = []
    for _ in range(n):
        now += rng.choice([0, 10**6, 10**7, 10**8, 3 * 10**8, 10**9, 10**9, 2 * 10**9, 4 * 10**9])
        if rng.random() < 0.005:
            now += 10**11  # a quiet minute and more: oracles go stale
        if rng.random() < 0.01:
            now -= 10**10  # a command stamped in the past
        ts = {} if rng.random() < 0.08 else {"ts": now}
        sym = rng.choice(list(ORACLE_GRID)) if rng.random() > 0.01 else "NOPE"
        _, tick, lot, most = ORACLE_GRID.get(sym, (100, "0.01", "1", 5))
        ref = share.get(sym, 100) * mult.get(sym, 1)
        r = rng.random()
        if r < 0.22:
            if rng.random() < 0.9:
                sym = rng.choice(["TSLAx-USD", "PENNY-USD"])
            lines.append(json.dumps({**_oracle_update(rng, sym, now, share, mult, split, ots), **ts}))
            continue
        if r < 0.25:
            op = rng.choice(["halt", "resume", "resume", "halt_all", "resume_all", "resume_all", "resume_all", "tick",
                             "tick", "ref"])
            d = {"op": op}
            if op in ("halt", "resume", "ref"):
                d["sym"] = sym
            if op == "ref":
                d["px"] = _num(ref, tick)
            lines.append(json.dumps({**d, **ts}))
            continue
        if r < 0.34:
            lines.append(json.dumps({"op": "cancel", "oid": rng.randrange(120), **ts}))
            continue
        pct = rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 25, 60]) * rng.choice([-1, 1])
        px = max(1, ref + ref * pct // 100 + rng.randint(-3, 3))
        if rng.random() < 0.15:  # at a band edge, or one tick past it, of the commonest widths
            px = max(1, ref + rng.choice([-1, 1]) * (ref * rng.choice([5, 10, 20, 3]) // 100 + rng.randint(-1, 1)))
        qty = _num(rng.choice([1, 2, 5, rng.randint(1, most)]), lot)
        if r < 0.43:
            d = {"op": "amend", "oid": rng.randrange(120)}
            if rng.random() < 0.7:
                d["px"] = _num(px, tick)
            if rng.random() < 0.5 or "px" not in d:
                d["qty"] = qty
            lines.append(json.dumps({**d, **ts}))
            continue
        d = {"op": "new", "oid": rng.randrange(150), "acct": rng.choice(ACCOUNTS), "sym": sym,
             "side": rng.choice(["buy", "sell"]), "type": "market" if rng.random() < 0.12 else "limit",
             "px": _num(px, tick), "qty": qty}
        if rng.random() < 0.25:
            d["tif"] = rng.choice(["GTC", "IOC", "FOK", "POST"])
            if d["type"] == "market" and d["tif"] == "POST":
                d["tif"] = "IOC"
        lines.append(json.dumps({**d, **ts}))
    return ("\n".join(lines) + "\n").encode()


def _oracle_update(rng, sym, now, share, mult, split, ots) -> dict:
    """One oracle line: the stock's price walks, sometimes jumps or prints once far away; splits are
    announced and applied; the oracle's clock lags the venue's, sometimes by minutes."""
    if sym not in ORACLE_GRID or rng.random() < 0.02:
        return {"op": "oracle", "sym": sym, "px": "1.00", "mult": "1", "market": "regular", "ots": now,
                "reg_open": REG_OPEN, "reg_close": REG_CLOSE}
    tick = ORACLE_GRID[sym][1]
    t = max(ots[sym] + 1, now - rng.choice([0, 10**6, 10**8, 10**9, 10**9, 4 * 10**9] * 5 + [3 * 10**10]))
    if rng.random() < 0.03:
        t = max(0, ots[sym] - 1)  # not after the last update: bad_oracle_ts
    ots[sym] = max(ots[sym], t)
    r = rng.random()
    px = share[sym]
    if r < 0.6:
        share[sym] = max(10, px + px * rng.randint(-8, 8) // 1000)
    elif r < 0.68:
        share[sym] = max(10, px + px * rng.choice([-12, -4, 3, 7, 15]) // 100)  # a gap
    px = share[sym]
    if r > 0.95:
        px = px * 10  # one bad print
    d = {"op": "oracle", "sym": sym}
    if sym in split and t >= split[sym][1]:
        nxt, at = split.pop(sym)
        mult[sym] = nxt
        share[sym] = max(10, share[sym] // nxt)
        px = share[sym]
    if sym not in split and rng.random() < 0.02:
        split[sym] = (rng.choice([2, 3]), t + rng.choice([10**9, 10**10]))
    d["px"] = _num(px, tick) if rng.random() > 0.02 else rng.choice(["0", "-1", "abc", "1e30"])
    d["mult"] = str(mult[sym]) if rng.random() > 0.01 else "0"
    if sym in split:
        d["next_mult"], d["mult_at"] = str(split[sym][0]), split[sym][1]
    if REG_OPEN <= now < REG_CLOSE:
        market = "regular" if rng.random() < 0.9 else rng.choice(MARKETS)
    else:
        market = rng.choice(["pre_market"] * 6 + ["post_market"] * 3 + MARKETS)
    d["market"] = market
    d["ots"] = t
    if market == "regular":
        d["reg_open"], d["reg_close"] = REG_OPEN, REG_CLOSE
    return d
