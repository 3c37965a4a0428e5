"""The fan-out pass's live order table: orders filed by engine order id are found, forgotten and kept through growth."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from kabuto.venue.orderrows import CL_INT, CL_NONE, CL_TEXT_KIND
from kabuto.venue.ordertable import (
    N_FREE,
    N_LIVE,
    O_ACCOUNT,
    O_CL_KIND,
    O_CL_LEN,
    O_OID,
    add_order,
    encode_cl,
    find_order,
    forget_order,
    new_order_table,
    px_open,
    restore_order,
    with_room,
)


def test_an_added_order_is_found_in_its_slot():
    table = new_order_table(8)
    slot = add_order(table, 42)
    assert find_order(table, 42) == slot


def test_an_oid_never_added_is_not_found():
    table = new_order_table(8)
    add_order(table, 42)
    assert find_order(table, 43) == -1


def test_every_added_order_gets_its_own_slot():
    table = new_order_table(8)
    slots = [add_order(table, oid) for oid in range(100, 108)]
    assert sorted(slots) == list(range(8))


def test_adding_an_order_counts_it_live_and_takes_a_free_slot():
    table = new_order_table(8)
    add_order(table, 1)
    assert (table.counts[N_LIVE], table.counts[N_FREE]) == (1, 7)


def test_a_forgotten_order_is_not_found():
    table = new_order_table(8)
    add_order(table, 7)
    forget_order(table, 7)
    assert find_order(table, 7) == -1


def test_forgetting_returns_the_slot_and_frees_it_for_the_next_order():
    table = new_order_table(8)
    slot = add_order(table, 7)
    assert forget_order(table, 7) == slot
    assert add_order(table, 8) == slot
    assert (table.counts[N_LIVE], table.counts[N_FREE]) == (1, 7)


def test_forgetting_an_order_keeps_the_others_found():
    table = new_order_table(64)
    slots = {oid: add_order(table, oid) for oid in range(1, 41)}
    for oid in range(1, 41, 3):
        forget_order(table, oid)
        del slots[oid]
    assert {oid: find_order(table, oid) for oid in slots} == slots


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=200))
def test_any_sequence_of_adds_and_forgets_finds_what_a_dict_would(ops):
    table = new_order_table(64)
    live: dict[int, int] = {}
    for add, oid in ops:
        if add and oid not in live:
            live[oid] = add_order(table, oid)
        elif not add and oid in live:
            assert forget_order(table, oid) == live.pop(oid)
    assert {oid: find_order(table, oid) for oid in range(61)} == {oid: live.get(oid, -1) for oid in range(61)}


def test_a_table_with_room_is_returned_as_it_is():
    table = new_order_table(8)
    assert with_room(table, 2) is table


def test_growing_the_slots_keeps_every_order_its_slot_and_row():
    table = new_order_table(4)
    slots = {}
    for oid in (11, 12, 13, 14):
        slots[oid] = slot = add_order(table, oid)
        table.rows[slot, O_OID] = oid
    grown = with_room(table, 3)
    assert len(grown.rows) >= 7
    assert {oid: find_order(grown, oid) for oid in slots} == slots
    assert [grown.rows[slots[oid], O_OID] for oid in slots] == list(slots)


def test_growing_the_slots_makes_room_for_the_new_orders():
    table = with_room(new_order_table(4), 20)
    new = [add_order(table, oid) for oid in range(20)]
    assert len(set(new)) == 20
    assert [find_order(table, oid) for oid in range(20)] == new


def test_a_rehash_keeps_every_entry():
    table = new_order_table(64)
    slots = {oid * 7919: add_order(table, oid * 7919) for oid in range(60)}
    before = len(table.hash_keys)
    grown = with_room(table, 64)
    assert len(grown.hash_keys) > before
    assert {oid: find_order(grown, oid) for oid in slots} == slots


def test_the_hash_stays_at_most_half_full_for_the_orders_reserved():
    table = new_order_table(16)
    for oid in range(16):
        add_order(table, oid)
    grown = with_room(table, 100)
    assert 2 * (16 + 100) <= len(grown.hash_keys)


def test_a_restored_order_is_found_with_its_row():
    table = new_order_table(8)
    slot = restore_order(table, 99, 3, 1, 0, 2450, 5, "abc")
    assert find_order(table, 99) == slot
    assert table.rows[slot, O_ACCOUNT] == 3
    assert bytes(table.cl_text[slot, :table.rows[slot, O_CL_LEN]]) == b"abc"


def test_px_open_of_a_limit_order_is_its_price_and_open_lots():
    table = new_order_table(8)
    slot = restore_order(table, 1, 0, 0, 0, 2450, 5, 7)
    assert px_open(table, slot) == (2450, 5)


def test_px_open_of_an_order_without_price_is_none():
    table = new_order_table(8)
    slot = restore_order(table, 1, 0, 0, 0, None, 5, 7)
    assert px_open(table, slot) == (None, 5)


def test_encode_cl_tells_integer_text_and_missing_client_order_ids_apart():
    assert encode_cl(5) == (CL_INT, 5, b"")
    assert encode_cl("5") == (CL_TEXT_KIND, 0, b"5")
    assert encode_cl(None) == (CL_NONE, 0, b"")


def test_a_restored_integer_client_order_id_is_kind_int():
    table = new_order_table(8)
    slot = restore_order(table, 1, 0, 0, 0, 1, 1, 12)
    assert table.rows[slot, O_CL_KIND] == CL_INT
    assert np.all(table.cl_text[slot] == 0)
