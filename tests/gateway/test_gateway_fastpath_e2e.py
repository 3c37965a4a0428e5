"""The fast path of order entry end to end: a batch of new orders gives the same execution reports
whether the venue reads it with the numba fast path or with the Python decoder.

Trades TSLAx-USD and AMZNx-USD with the accounts victor (the batches) and walter (a maker), every
fill at 250.00 so TSLAx-USD's band stays where it was.
"""
import msgpack
import numpy as np
import pytest
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.fastentry import FALLBACK, N_FIELDS, parse, word_table

from tests.polling import wait_until

TSLA, AMZN = "TSLAx-USD", "AMZNx-USD"

# (client order id name, command without it); batch_of() gives the names their wire ids
ORDERS = [
    ("take", ["new", 1, TSLA, "buy", "limit", "250.00", "0.4"]),                # fills part of the maker
    ("rest-bid", ["new", 2, TSLA, "buy", "limit", "240.5", "0.5"]),             # rests
    ("ioc", ["new", 3, TSLA, "buy", "limit", "250", "1", "IOC"]),               # fills the rest, IOC cancel
    ("mkt", ["new", 4, TSLA, "sell", "market", None, "0.3", None, "cancel_newest"]),  # meets its own bid: STP
    ("post", ["new", 5, TSLA, "sell", "limit", "260", "1", "POST"]),            # rests
    ("band", ["new", 6, TSLA, "buy", "limit", "300", "1"]),                     # outside_band
    ("tick", ["new", 7, TSLA, "buy", "limit", "250.001", "1"]),                 # bad_price
    ("lot", ["new", 8, TSLA, "buy", "limit", "250", "0.0001"]),                 # bad_qty (lot)
    ("amzn-small", ["new", 9, AMZN, "buy", "limit", "100", "0.009"]),           # bad_qty (min_qty)
    ("amzn-fok", ["new", 10, AMZN, "buy", "limit", "100", "1", "FOK"]),         # nothing to fill: FOK cancel
    ("rest-bid", ["new", 11, TSLA, "buy", "limit", "240.5", "0.5"]),            # duplicate_oid
    ("post2", ["new", 12, TSLA, "sell", "limit", "259", "1", "POST", "decrement"]),  # rests
    ("mkt2", ["new", 13, TSLA, "buy", "market", "ignored", "1", "GTC"]),        # meets its own asks: STP
    ("ints", ["new", 14, TSLA, "buy", "limit", 249, 2]),                        # integer price and quantity
]
NAMES = list(dict.fromkeys(name for name, _ in ORDERS))


def batch_of(kind: str) -> list[list]:
    """The batch with integer client order ids ("int"), text ones ("str") or both, alternating ("mixed")."""
    def wire(name):
        i = NAMES.index(name)
        return i + 1 if kind == "int" or (kind == "mixed" and i % 2 == 0) else name
    return [[cmd[0], cmd[1], wire(name), *cmd[2:]] for name, cmd in ORDERS]


# an extra command the fast path does not take, so the whole frame goes to the Python decoder
NOT_FAST = ["cancel", 99, "no-such-order"]


@pytest.fixture
def victor(venue):
    return venue.client("victor", cod=True)


@pytest.fixture
def walter(venue):
    return venue.client("walter", cod=True)


@pytest.fixture
def fast_path(venue):
    """parse() with the venue's instruments: the count of rows a payload gives, or FALLBACK."""
    instruments = load_instruments(str(venue.data_dir / "instruments.toml"))
    words, off = word_table(instruments)
    rows = np.zeros((100, N_FIELDS), np.int64)

    def count(payload: bytes) -> int:
        b = np.frombuffer(payload, np.uint8)
        return parse(b, len(b), words, off, len(instruments), len(rows), rows)[0]
    return count


def without_ids(reports):
    return [r._replace(seq=None, ts=None, oid=None) for r in reports]


def run(victor, walter, commands, check_path) -> tuple[list, list]:
    """Rest walter's maker, send the batch as one frame, and collect both accounts' reports; then clean up."""
    walter.new(TSLA, "sell", "1", "250.00", cl_oid="maker")
    assert walter.wait_report(lambda r: r.cl_oid == "maker").ev == "accepted"
    payload = msgpack.packb(["batch", victor.next_req(), commands])
    check_path(payload)
    victor.send_raw(payload)
    assert wait_until(lambda: victor.reports, poll=[victor])
    mine = victor.drain(0.5)
    theirs = walter.drain(0.3)
    victor.wait_reply(victor.mass_cancel())
    walter.wait_reply(walter.mass_cancel(TSLA))
    victor.drain(0.3)
    walter.drain(0.3)
    assert victor.orders() == [] and walter.orders(TSLA) == []
    return without_ids(mine), without_ids(theirs)


def same_reports_on_both_paths(victor, walter, fast_path, commands):
    def takes_fast_path(payload):
        assert fast_path(payload) == len(commands)

    def falls_back(payload):
        assert fast_path(payload) == FALLBACK

    fast_mine, fast_theirs = run(victor, walter, commands, takes_fast_path)
    slow_mine, slow_theirs = run(victor, walter, commands + [NOT_FAST], falls_back)
    assert [(r.ev, r.cl_oid, r.reason) for r in slow_mine[-1:]] == [("rejected", "no-such-order", "unknown_order")]
    assert fast_mine == slow_mine[:-1]
    assert fast_theirs == slow_theirs
    assert {r.ev for r in fast_mine} == {"accepted", "fill", "canceled", "rejected"}
    assert [(r.ev, r.role, r.px, r.qty) for r in fast_theirs] == [("fill", "maker", "250.00", "0.400"),
                                                                  ("fill", "maker", "250.00", "0.600")]


@pytest.mark.parametrize("ids", ["int", "str", "mixed"])
def test_a_batch_gives_the_same_reports_on_the_fast_path_and_on_the_python_path(victor, walter, fast_path, ids):
    same_reports_on_both_paths(victor, walter, fast_path, batch_of(ids))


def test_a_text_client_order_id_batched_with_integer_ones_on_the_fast_path_names_its_order(victor, fast_path):
    commands = [["new", 1, 1, TSLA, "buy", "limit", "240.00", "0.1"],
                ["new", 2, "text-id", TSLA, "buy", "limit", "240.01", "0.1"]]
    payload = msgpack.packb(["batch", victor.next_req(), commands])
    assert fast_path(payload) == 2
    victor.send_raw(payload)
    assert [r.ev for r in victor.wait_reports(2)] == ["accepted", "accepted"]
    assert sorted(o[0] for o in victor.orders(TSLA) if type(o[0]) is str) == ["text-id"]
    victor.cancel("text-id")
    assert victor.wait_report(lambda r: r.cl_oid == "text-id").ev == "canceled"
