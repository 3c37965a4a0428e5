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
