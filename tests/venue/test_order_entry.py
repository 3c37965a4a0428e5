"""The venue core's session stage alone: no sockets, no wire format, only its calls and the command records."""
from __future__ import annotations

import pytest
from kabuto.engine.codes import Op, Reason
from kabuto.engine.instruments import load_instruments
from kabuto.venue.accounts import CL, OID, SLOT
from kabuto.venue.commands import C_CANCEL, C_MASS, C_NEW, GTC, IOC, LIMIT
from kabuto.venue.config import VenueConfig
from kabuto.venue.entry import OrderEntry
from kabuto.venue.errors import Refused
from kabuto.venue.sequencer import MassCancel, ReferenceSet, Sequencer

INSTRUMENTS = load_instruments()
NOW = 100.0


def venue(**options) -> tuple[OrderEntry, Sequencer]:
    seq = Sequencer(16)
    return OrderEntry(VenueConfig(**options), INSTRUMENTS, seq), seq


def new(req: int, cl, tif: int = GTC, side: int = 0) -> tuple:
    """A decoded new order of 1 lot at price mantissa 100 of instrument 0."""
    return (C_NEW, req, cl, 0, side, LIMIT, tif, 0, 100, 0, 1, 0, 0, 0)


def test_logon_opens_a_session_of_the_named_account():
    entry, _ = venue()
    s = entry.logon(b"r1", None, 1, "mm", True, NOW)
    assert (s.account.name, s.cod, entry.session_for(b"r1", None)) == ("mm", True, s)


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, None])
def test_logon_without_a_valid_account_name_is_refused_as_malformed(name):
    entry, _ = venue()
    with pytest.raises(Refused) as e:
        entry.logon(b"r1", None, 7, name, False, NOW)
    assert (e.value.reason, e.value.req) == (Reason.MALFORMED, 7)


def test_a_key_decides_the_account_and_cannot_trade_for_another():
    entry, _ = venue()
    entry.keys = {b"KEY": "alice"}
    assert entry.logon(b"r1", "KEY", 1, None, False, NOW).account.name == "alice"
    with pytest.raises(Refused) as e:
        entry.logon(b"r2", "KEY", 2, "bob", False, NOW)
    assert e.value.reason == Reason.NOT_AUTHORIZED


def test_new_orders_become_new_command_records_with_fresh_engine_ids():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [new(1, "a"), new(2, "b")], NOW)
    batch = seq.take()
    assert batch.cmds["op"].tolist() == [Op.NEW, Op.NEW]
    assert batch.cmds["oid"].tolist() == [1, 2]
    assert [m[4] for m in batch.meta] == ["a", "b"]


def test_a_cancel_names_the_engine_id_behind_the_client_order_id():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [new(1, "a"), (C_CANCEL, 2, "a", -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)], NOW)
    cmds = seq.take().cmds
    assert cmds["op"].tolist() == [Op.NEW, Op.CANCEL]
    assert cmds["oid"].tolist() == [1, 1]


def test_a_cancel_of_an_unknown_client_order_id_is_sequenced_as_a_reject():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [(C_CANCEL, 2, "nope", -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)], NOW)
    cmds = seq.take().cmds
    assert (cmds["op"][0], cmds["reason"][0]) == (Op.REJECT, Reason.UNKNOWN_ORDER)


def test_the_live_order_cap_counts_only_orders_that_can_rest():
    entry, seq = venue(max_live_orders=1)
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [new(1, "a"), new(2, "b", tif=IOC), new(3, "c")], NOW)
    cmds = seq.take().cmds
    assert cmds["op"].tolist() == [Op.NEW, Op.NEW, Op.REJECT]
    assert cmds["reason"][2] == Reason.TOO_MANY_ORDERS


def test_a_mass_cancel_cancels_every_live_order_of_the_account_and_is_acknowledged_after_its_batch():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [new(1, "a"), new(2, "b")], NOW)
    seq.take()  # (no engine here: the account tables still list both as live)
    entry.commands(s, [(C_MASS, 3, None, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0)], NOW)
    batch = seq.take()
    assert batch.cmds["op"].tolist() == [Op.CANCEL, Op.CANCEL]
    assert batch.cmds["reason"].tolist() == [Reason.MASS_CANCEL] * 2
    assert len(set(batch.cmds["ts"].tolist())) == 1  # one client command, one ts
    assert [type(a) for a in batch.acks] == [MassCancel]


def test_only_an_operator_sets_a_reference_price():
    entry, _ = venue(operators=("op",))
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    with pytest.raises(Refused) as e:
        entry.ref(s, 2, INSTRUMENTS[0].symbol, 100, 0, "100")
    assert e.value.reason == Reason.NOT_AUTHORIZED


def test_a_reference_price_is_a_ref_command_acknowledged_with_its_band_after_the_batch():
    entry, seq = venue(operators=("op",))
    s = entry.logon(b"r1", None, 1, "op", False, NOW)
    entry.ref(s, 2, INSTRUMENTS[0].symbol, 100, 0, "100")
    batch = seq.take()
    assert batch.cmds["op"].tolist() == [Op.REF]
    (ack,) = batch.acks
    assert type(ack) is ReferenceSet and (ack.symbol, ack.price) == (INSTRUMENTS[0].symbol, "100")


def test_a_cod_session_dropped_cancels_the_orders_it_entered_with_reason_disconnect():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", True, NOW)
    entry.commands(s, [new(1, "a")], NOW)
    seq.take()
    entry.drop(s, cancel=True)
    cmds = seq.take().cmds
    assert (cmds["op"].tolist(), cmds["reason"].tolist()) == ([Op.CANCEL], [Reason.DISCONNECT])


def test_a_revoked_key_ends_its_sessions_and_names_them():
    entry, _ = venue()
    entry.keys = {b"K1": "alice", b"K2": "bob"}
    a = entry.logon(b"r1", "K1", 1, None, False, NOW)
    entry.logon(b"r2", "K2", 1, None, False, NOW)
    assert entry.rekey({b"K2": "bob"}) == [a]
    assert entry.session_for(b"r1", "K1") is None


def test_open_orders_lists_only_orders_the_engine_accepted():
    entry, seq = venue()
    s = entry.logon(b"r1", None, 1, "mm", False, NOW)
    entry.commands(s, [new(1, "a")], NOW)
    seq.take()
    assert entry.open_orders(s, 2, None) == []  # reserved, not yet resting (no slot)
    rec = s.account.live["a"]
    rec[SLOT] = 0  # the live order table gave it a slot
    assert [(o[CL], o[OID]) for o in entry.open_orders(s, 2, None)] == [("a", 1)]
    with pytest.raises(Refused) as e:
        entry.open_orders(s, 3, "NOPE-USD")
    assert e.value.reason == Reason.UNKNOWN_SYMBOL
