"""Random order logs with risk on (docs/balances.md): the order-log commands of orderlogs.py, market
orders with `protect`, and deposits, withdrawals, fee changes and tier moves, valid and faulty."""
import json
import os
import random

from hypothesis import strategies as st
from kabuto.engine.instruments import load_config
from orderlogs import ACCOUNTS, HERE, PRICE_GRID, _num, _random_command, command

INSTRUMENTS, RISK = load_config(os.path.join(HERE, "instruments_test.toml"), risk=True)
ASSETS = [a.name for a in RISK.assets]  # TSLAx (3), AMZNx (0), BTC (2), USD (5: BTC-USD's 0.5 x 0.01)
BAD_AMOUNTS = ["0", "-1", None, "1e3", "+1", ".5", " 1", "1.", -5, 0, "0.0000000000000000001", "4611686018427387904",
               4611686018427387904, "4611686018427387903", 1e400, True, [1], {"a": 1}, "12.3456789", 1.5e-30]
BAD_RATES = ["0.001", "1e1", "+1", "abc", None, True, "5.", "-", 1e5, "2000", 0.125, "-0.001", [1], "1000.001"]


def _amount(rng_choice, rng_int, rng_bool) -> object:
    """A valid amount in one of its written forms, or a faulty one."""
    if rng_int(0, 9) == 0:
        return rng_choice(BAD_AMOUNTS)
    whole = rng_int(0, 100_000)
    frac = str(rng_int(0, 999)).rjust(3, "0")
    form = rng_int(0, 4)
    if form == 0:
        return whole + 1
    if form == 1:
        return f"{whole}.{frac}"
    if form == 2:
        return json.loads(f"{whole}.{frac}1")  # a float in Python, printed back as a JSON number by dumps
    if form == 3:
        return f"{whole}.{frac}000"
    return str(whole + 1)


def _rate(rng_choice, rng_int) -> object:
    if rng_int(0, 9) == 0:
        return rng_choice(BAD_RATES)
    bp = rng_int(-100, 500)
    form = rng_int(0, 3)
    if form == 0:
        return bp // 100
    if form == 1:
        return f"{bp / 100:.2f}"
    if form == 2:
        return str(bp // 100)
    return f"{bp // 100}.{abs(bp) % 10}0"


def balance_command(rng_choice, rng_int, rng_bool) -> dict:
    """One deposit, withdraw, fees or tier command (a dict), sometimes faulty."""
    kind = rng_choice(["deposit"] * 4 + ["withdraw"] * 2 + ["fees", "tier"])
    acct = rng_choice(ACCOUNTS + ["@fees"])
    asset = rng_choice(ASSETS + ["NOPE", 7, None]) if rng_int(0, 9) == 0 else rng_choice(ASSETS)
    if kind == "deposit":
        d = {"op": "deposit", "dep": rng_choice([rng_int(1, 60)] * 8 + [0, -1, "1", 1.5, None, 2 ** 63]),
             "acct": acct, "asset": asset, "amount": _amount(rng_choice, rng_int, rng_bool)}
    elif kind == "withdraw":
        d = {"op": "withdraw", "acct": acct, "asset": asset, "amount": _amount(rng_choice, rng_int, rng_bool)}
    elif kind == "fees":
        d = {"op": "fees", "tier": rng_choice([0, 1, 2, 3, 255, 256, -1, "1", None]),
             "maker_bps": _rate(rng_choice, rng_int), "taker_bps": _rate(rng_choice, rng_int)}
    else:
        d = {"op": "tier", "acct": acct, "tier": rng_choice([0, 1, 2, 3, 200, 256, -1, "1", None])}
    if rng_int(0, 15) == 0:
        del d[rng_choice(list(d)[1:])]
    if rng_int(0, 5) == 0:
        d["ts"] = rng_int(0, 10 ** 18)
    return d


def _with_protect(text: str, rng_choice, rng_int) -> str:
    try:
        d = json.loads(text)
    except ValueError:
        return text
    if not isinstance(d, dict) or d.get("op") != "new" or rng_int(0, 2) == 0:
        return text
    mid, tick, _ = PRICE_GRID.get(d.get("sym"), (100, "0.01", "1"))
    d["protect"] = rng_choice([_num(mid + rng_int(-12, 12), tick)] * 6 + [None, "abc", -1, "0.0001", 0])
    return json.dumps(d)


@st.composite
def risk_command(draw) -> str:
    """One line of a risk-on log."""
    def choice(xs):
        return draw(st.sampled_from(xs))

    def integer(lo, hi):
        return draw(st.integers(lo, hi))

    if draw(st.integers(0, 2)) == 0:
        return json.dumps(balance_command(choice, integer, lambda: draw(st.booleans())))
    return _with_protect(draw(command()), choice, integer)


def random_risk_log(seed: int, n: int) -> bytes:
    """A long random risk-on log, deterministically from a seed: mostly funded accounts trading."""
    rng = random.Random(seed)
    lines = []
    dep = 0
    for acct in ACCOUNTS + ["@fees"]:
        for asset in ASSETS:
            dep += 1
            lines.append(json.dumps({"op": "deposit", "dep": dep, "acct": acct, "asset": asset,
                                     "amount": str(rng.randint(10 ** 5, 10 ** 7))}))
    lines.append('{"op":"fees","tier":1,"maker_bps":"-0.5","taker_bps":"2.5"}')
    lines.append('{"op":"tier","acct":"b","tier":1}')
    for _ in range(n):
        if rng.random() < 0.1:
            d = balance_command(rng.choice, rng.randint, lambda: rng.random() < 0.5)
            if d.get("op") == "deposit" and rng.random() < 0.7:
                dep += 1
                d["dep"] = dep
            lines.append(json.dumps(d))
        else:
            lines.append(_with_protect(_random_command(rng), rng.choice, rng.randint))
    return "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
