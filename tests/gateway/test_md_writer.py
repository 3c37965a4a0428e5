"""Market data as the wire carries it (docs/protocol.md, Market data): md and l3 messages from the writers."""
from decimal import Decimal

import msgpack
import numpy as np
from kabuto.engine.instruments import Instrument
from kabuto.gateway.frames import F_COLS, F_END, F_KIND, F_START, F_TARGET, FRAME_L3, FRAME_MD
from kabuto.gateway.mdwrite import (
    L3_ADD,
    L3_AMEND,
    L3_CANCEL,
    L3_DELETE,
    L3_FILL,
    add_op,
    add_trade,
    change_level,
    clear_market_data,
    new_md_scratch,
    write_market_data,
)
from kabuto.gateway.wiretables import wire_tables

INSTRUMENTS = [Instrument("TSLAx-USD", Decimal("0.01"), Decimal("0.001"), Decimal("0.010")),
               Instrument("AMZNx-USD", Decimal("0.05"), Decimal("1"), Decimal("1"))]
WIRE = wire_tables(INSTRUMENTS)
TSLA, AMZN = 0, 1
BUY, SELL = 0, 1
NOW = 1_700_000_000_000_000_000
BATCH = 1


class Book:
    """The engine's books as the writer reads them: per book (2 * sym + side) its levels, worst price first."""

    def __init__(self, levels: dict[tuple[int, int], dict[int, int]]):
        n_books = 2 * len(INSTRUMENTS)
        self.b_lv = np.zeros((n_books, 16), np.int32)
        self.b_n = np.zeros(n_books, np.int32)
        px, qty = [], []
        for (sym, side), by_px in levels.items():
            book = 2 * sym + side
            for k, price in enumerate(sorted(by_px, reverse=side == SELL)):  # bids ascend, asks descend
                self.b_lv[book, k] = len(px)
                px.append(price)
                qty.append(by_px[price])
            self.b_n[book] = len(by_px)
        self.l_px = np.array(px or [0], np.int64)
        self.l_qty = np.array(qty or [0], np.int64)


def _scratch():
    md = new_md_scratch(16, len(INSTRUMENTS))
    clear_market_data(md)
    return md


def _written(md, book=None, md_seq=None, l3_seq=None):
    """[(kind, symbol, decoded message)] of every frame write_market_data writes."""
    book = book or Book({})
    md_seq = np.zeros(len(INSTRUMENTS), np.int64) if md_seq is None else md_seq
    l3_seq = np.zeros(len(INSTRUMENTS), np.int64) if l3_seq is None else l3_seq
    out = np.zeros(4096, np.uint8)
    frames = np.zeros((8, F_COLS), np.int64)
    end, n = write_market_data(md, WIRE, md_seq, l3_seq, out, 5, frames, 0, NOW, book.b_lv, book.b_n, book.l_px,
                               book.l_qty)
    assert n == 0 or frames[n - 1, F_END] == end
    return [(f[F_KIND], f[F_TARGET], msgpack.unpackb(bytes(out[f[F_START]:f[F_END]]))) for f in frames[:n]]


def test_a_trade_is_an_md_message_with_its_trade():
    md = _scratch()
    add_trade(md, BATCH, TSLA, 41, 24510, 1500, BUY, NOW - 9)
    change_level(md, BATCH, TSLA, SELL, 24510, -1500)
    book = Book({(TSLA, SELL): {24510: 500}})
    [(kind, sym, msg)] = _written(md, book)
    assert (kind, sym) == (FRAME_MD, TSLA)
    assert msg == ["md", "TSLAx-USD", 1, NOW, [[41, "245.10", "1.500", "buy", NOW - 9]], [["sell", "245.10", "0.500"]]]


def test_a_changed_level_carries_the_quantity_now_in_the_book():
    md = _scratch()
    change_level(md, BATCH, AMZN, BUY, 3600, 7)
    [(_, _, msg)] = _written(md, Book({(AMZN, BUY): {3500: 1, 3600: 10, 3700: 2}}))
    assert msg[5] == [["buy", "180.00", "10"]]


def test_a_level_gone_from_the_book_is_zero_with_the_lot_places():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, -5)
    [(_, _, msg)] = _written(md)
    assert msg[5] == [["buy", "1.00", "0.000"]]


def test_changes_to_one_level_are_summed():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 5)
    change_level(md, BATCH, TSLA, BUY, 100, 3)
    [(_, _, msg)] = _written(md, Book({(TSLA, BUY): {100: 8}}))
    assert msg[5] == [["buy", "1.00", "0.008"]]


def test_a_level_that_ends_as_it_began_is_left_out():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 5)
    change_level(md, BATCH, TSLA, BUY, 100, -5)
    change_level(md, BATCH, TSLA, SELL, 200, 1)
    [(_, _, msg)] = _written(md, Book({(TSLA, SELL): {200: 1}}))
    assert msg[5] == [["sell", "2.00", "0.001"]]


def test_a_symbol_whose_levels_all_end_as_they_began_publishes_nothing_and_spends_no_seq():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 5)
    change_level(md, BATCH, TSLA, BUY, 100, -5)
    md_seq = np.array([4, 0], np.int64)
    assert _written(md, md_seq=md_seq) == []
    assert md_seq.tolist() == [4, 0]


def test_the_same_price_on_both_sides_is_two_levels():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 1)
    change_level(md, BATCH, TSLA, SELL, 100, 2)
    [(_, _, msg)] = _written(md, Book({(TSLA, BUY): {100: 1}, (TSLA, SELL): {100: 2}}))
    assert msg[5] == [["buy", "1.00", "0.001"], ["sell", "1.00", "0.002"]]


def test_each_md_message_takes_the_next_sequence_number_of_its_symbol():
    md = _scratch()
    add_trade(md, BATCH, AMZN, 1, 3600, 1, SELL, NOW)
    md_seq = np.array([0, 41], np.int64)
    [(_, _, msg)] = _written(md, md_seq=md_seq)
    assert msg[2] == 42 and md_seq.tolist() == [0, 42]


def test_symbols_are_written_in_symbol_order():
    md = _scratch()
    add_trade(md, BATCH, AMZN, 1, 3600, 1, SELL, NOW)
    add_trade(md, BATCH, TSLA, 2, 100, 1, SELL, NOW)
    assert [sym for _, sym, _ in _written(md)] == [TSLA, AMZN]


def test_trades_are_listed_in_the_order_they_happened():
    md = _scratch()
    for seq in (7, 8, 9):
        add_trade(md, BATCH, TSLA, seq, 100, 1, BUY, NOW)
    [(_, _, msg)] = _written(md)
    assert [t[0] for t in msg[4]] == [7, 8, 9]


def test_l3_ops_are_one_l3_message_in_the_order_they_happened():
    md = _scratch()
    add_op(md, BATCH, TSLA, L3_ADD, 11, BUY, 24510, 3000, 3000)
    add_op(md, BATCH, TSLA, L3_FILL, 11, BUY, 24510, 1000, 2000)
    add_op(md, BATCH, TSLA, L3_CANCEL, 11, BUY, 24510, 500, 1500)
    add_op(md, BATCH, TSLA, L3_AMEND, 11, BUY, 24510, 1000, 1000)
    add_op(md, BATCH, TSLA, L3_DELETE, 11, BUY, 24510, 0, 0)
    l3_seq = np.array([6, 0], np.int64)
    [(kind, sym, msg)] = _written(md, l3_seq=l3_seq)
    assert (kind, sym) == (FRAME_L3, TSLA)
    assert msg == ["l3", "TSLAx-USD", 7, NOW, [["add", 11, "buy", "245.10", "3.000"], ["fill", 11, "1.000", "2.000"],
                                                ["cancel", 11, "0.500", "1.500"], ["amend", 11, "1.000"],
                                                ["delete", 11]]]


def test_a_symbol_with_book_changes_and_ops_gets_its_md_message_then_its_l3_message():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 1)
    add_op(md, BATCH, TSLA, L3_ADD, 11, BUY, 100, 1, 1)
    assert [(kind, sym) for kind, sym, _ in _written(md, Book({(TSLA, BUY): {100: 1}}))] == [(FRAME_MD, TSLA),
                                                                                            (FRAME_L3, TSLA)]


def test_an_l3_op_alone_writes_no_md_message():
    md = _scratch()
    add_op(md, BATCH, TSLA, L3_DELETE, 11, BUY, 100, 0, 0)
    assert [kind for kind, _, _ in _written(md)] == [FRAME_L3]


def test_marks_of_an_earlier_batch_are_not_this_batchs():
    md = _scratch()
    change_level(md, BATCH, TSLA, BUY, 100, 5)
    clear_market_data(md)
    change_level(md, BATCH + 1, TSLA, BUY, 100, 2)
    [(_, _, msg)] = _written(md, Book({(TSLA, BUY): {100: 7}}))
    assert msg[5] == [["buy", "1.00", "0.007"]] and msg[4] == []
