"""Helpers of the chain tests: real engine event streams with many fills, test account names."""
from __future__ import annotations

import random

import numpy as np
from kabuto.engine.codes import Op, OrdType, Side, Stp, Tif
from kabuto.engine.engine import Engine, decimal_parts
from kabuto.engine.instruments import load_instruments
from kabuto.engine.records import empty_commands

INSTRUMENTS = load_instruments()  # the built-in set: TSLAx-USD, AMZNx-USD, ..., BTC-USD, ETH-USD
ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank", "günther", "0xdeadbeef-🐢"]
MIDS = {"TSLAx-USD": 25_000, "AMZNx-USD": 18_000, "AAPLx-USD": 22_000, "NVDAx-USD": 13_000,
        "BTC-USD": 9_500_000, "ETH-USD": 350_000}


def account_name(i: int) -> str:
    """Test account names by engine id (unicode included: leaves ABI-encode UTF-8)."""
    return ACCOUNTS[i]


def random_commands(n: int, seed: int, first_oid: int = 0) -> np.ndarray:
    """n limit orders around each instrument's mid, crossing often: a stream rich in fills."""
    rnd = random.Random(seed)
    cmds = empty_commands(n)
    steps = [(decimal_parts(i.tick_size), decimal_parts(i.lot_size)) for i in INSTRUMENTS]
    for k in range(n):
        s = rnd.randrange(len(INSTRUMENTS))
        (tm, te), (lm, le) = steps[s]
        c = cmds[k]
        c["op"] = Op.NEW
        c["side"] = rnd.choice((Side.BUY, Side.SELL))
        c["otype"] = OrdType.LIMIT
        c["tif"] = rnd.choice((Tif.GTC, Tif.GTC, Tif.IOC))
        c["stp"] = Stp.CANCEL_NEWEST
        c["sym"] = s
        c["oid"] = first_oid + k
        c["acct"] = rnd.randrange(len(ACCOUNTS))
        c["px"] = (MIDS[INSTRUMENTS[s].symbol] + rnd.randint(-5, 5)) * tm
        c["pexp"] = te
        c["qty"] = rnd.randint(1, 500) * lm
        c["qexp"] = le
    return cmds


def engine_run(n_cmds: int, seed: int, chunk: int = 500) -> list[tuple[np.ndarray, int]]:
    """Run random commands through a real Engine in chunks: [(events copy, first seq)]."""
    eng = Engine(INSTRUMENTS)
    cmds = random_commands(n_cmds, seed)
    out = []
    for i in range(0, n_cmds, chunk):
        first = eng.seq + 1
        out.append((eng.process(cmds[i:i + chunk]).copy(), first))
    return out


def feed(sink, stream) -> None:
    """Hand every (events, first_seq) of a stream to an event sink."""
    for events, first in stream:
        sink.handle(events, first)
