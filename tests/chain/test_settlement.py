"""Net settlement deltas: exact decimal amounts per (account, asset), netted across instruments."""
from collections import defaultdict
from decimal import Decimal

import numpy as np
from chainkit import INSTRUMENTS, account_name
from kabuto.chain.fills import FILL_DTYPE, fill_rows
from kabuto.chain.settlement import SymbolInfo, net_deltas, split_symbol
from kabuto.engine.codes import Side

SYMBOLS = [SymbolInfo(i.symbol, str(i.tick_size), str(i.lot_size)) for i in INSTRUMENTS]
SYM = {s.symbol: k for k, s in enumerate(SYMBOLS)}
NAMES = {0: "alice", 1: "bob", 2: "carol"}


def one_fill(sym: str, px: int, qty: int, taker_side: int, maker_acct: int = 0, taker_acct: int = 1, seq: int = 1):
    r = np.zeros(1, FILL_DTYPE)
    r["seq"], r["sym"], r["px"], r["qty"], r["side"] = seq, SYM[sym], px, qty, taker_side
    r["maker_acct"], r["taker_acct"] = maker_acct, taker_acct
    return r


def decimal_value(deltas):
    return {(d.account, d.asset): Decimal(d.amount).scaleb(-d.decimals) for d in deltas}


def test_the_buyer_receives_the_base_and_pays_the_quote_exactly():
    # bob buys 1.500 TSLAx at 250.00 from alice (taker buy)
    deltas = decimal_value(net_deltas(one_fill("TSLAx-USD", 25_000, 1_500, Side.BUY), SYMBOLS, NAMES))
    assert deltas == {("alice", "TSLAx"): Decimal("-1.5"), ("alice", "USD"): Decimal("375"),
                      ("bob", "TSLAx"): Decimal("1.5"), ("bob", "USD"): Decimal("-375")}


def test_a_taker_sell_moves_the_base_from_taker_to_maker():
    deltas = decimal_value(net_deltas(one_fill("BTC-USD", 9_500_000, 3, Side.SELL), SYMBOLS, NAMES))
    assert deltas[("bob", "BTC")] == Decimal("-0.00003")
    assert deltas[("alice", "BTC")] == Decimal("0.00003")
    assert deltas[("bob", "USD")] == Decimal("95000.00") * Decimal("0.00003")


def test_one_quote_asset_nets_across_instruments_with_different_lot_sizes():
    rows = np.concatenate([one_fill("TSLAx-USD", 25_000, 1_000, Side.BUY, 0, 1, 1),  # bob pays 250 USD
                           one_fill("BTC-USD", 9_500_000, 1, Side.SELL, 0, 1, 2)])    # bob gets 0.95 USD
    deltas = net_deltas(rows, SYMBOLS, NAMES)
    usd = [d for d in deltas if d.asset == "USD"]
    assert {d.decimals for d in usd} == {7}  # 2 tick places + 5 lot places (BTC-USD)
    assert decimal_value(usd) == {("alice", "USD"): Decimal("249.05"), ("bob", "USD"): Decimal("-249.05")}


def test_every_asset_nets_to_zero_over_a_real_stream_and_matches_decimal_arithmetic(stream):
    rows = np.concatenate([fill_rows(e, f) for e, f in stream])
    names = {a: account_name(a) for a in range(8)}
    deltas = net_deltas(rows, SYMBOLS, names)
    per_asset = defaultdict(int)
    for d in deltas:
        per_asset[d.asset] += d.amount
    assert per_asset and all(v == 0 for v in per_asset.values())
    expected = defaultdict(Decimal)
    for r in rows:
        ins = INSTRUMENTS[r["sym"]]
        base, quote = split_symbol(ins.symbol)
        qty = Decimal(int(r["qty"])) * ins.lot_size
        cash = Decimal(int(r["px"])) * ins.tick_size * qty
        buyer, seller = ((r["taker_acct"], r["maker_acct"]) if r["side"] == Side.BUY
                         else (r["maker_acct"], r["taker_acct"]))
        expected[(names[int(buyer)], base)] += qty
        expected[(names[int(seller)], base)] -= qty
        expected[(names[int(buyer)], quote)] -= cash
        expected[(names[int(seller)], quote)] += cash
    assert decimal_value(deltas) == {k: v for k, v in expected.items() if v}


def test_amounts_beyond_64_bits_stay_exact():
    deltas = decimal_value(net_deltas(one_fill("TSLAx-USD", 2**40, 2**40, Side.BUY), SYMBOLS, NAMES))
    assert deltas[("bob", "USD")] == -Decimal(2**40) * Decimal("0.01") * Decimal(2**40) * Decimal("0.001")


def test_an_account_whose_trades_cancel_out_has_no_delta():
    rows = np.concatenate([one_fill("ETH-USD", 350_000, 10, Side.BUY, 0, 1, 1),
                           one_fill("ETH-USD", 350_000, 10, Side.SELL, 0, 1, 2)])
    assert net_deltas(rows, SYMBOLS, NAMES) == []


def test_symbols_split_into_base_and_quote_assets():
    assert split_symbol("TSLAx-USD") == ("TSLAx", "USD")
    assert split_symbol("ETH/USDC") == ("ETH", "USDC")
    assert split_symbol("SPOT") == ("SPOT.base", "SPOT.quote")
    assert split_symbol("-X") == ("-X.base", "-X.quote")
