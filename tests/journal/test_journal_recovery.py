"""Recovery from a journal whose last write was torn, and journals that do not belong to the venue."""
from __future__ import annotations

import pytest
from journalkit import unseal, write_journal
from kabuto.durability.journal import JournalError, segments
from kabuto.durability.recovery import Durability, recover_state
from kabuto.engine.codes import Op
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import load_instruments, parse_instruments

NEW, CANCEL = int(Op.NEW), int(Op.CANCEL)
INSTRUMENTS = load_instruments(None)
ORDER = dict(op=NEW, sym=0, acct=0, px=10000, pexp=-2, qty=1000, qexp=-3)
BATCHES = [[dict(ORDER, oid=i * 3 + k, side=k % 2, acct=k % 2, px=10000 + k, ts=i * 10 + k) for k in range(3)]
           for i in range(4)]


def test_recovery_after_a_torn_last_write_at_every_byte_offset_keeps_every_earlier_batch(tmp_path):
    full, before = tmp_path / "full", tmp_path / "before"
    write_journal(full, BATCHES, ["alice", "bob"])
    write_journal(before, BATCHES[:-1], ["alice", "bob"])
    expect = recover_state(before, INSTRUMENTS, engine=small_engine()).digest()
    (seg,) = [p for _, p in segments(full / "journal")]
    unseal(seg)  # as a crash leaves it
    unseal(before / "journal" / seg.name)
    data = seg.read_bytes()
    start = (before / "journal" / seg.name).stat().st_size
    for cut in range(start, len(data)):
        seg.write_bytes(data[:cut])
        r = recover_state(full, INSTRUMENTS, engine=small_engine())
        assert (r.records, r.digest()) == (3, expect), cut
        assert (r.torn is None) == (cut == start), cut


def small_engine() -> Engine:
    return Engine(INSTRUMENTS, orders=16, levels=16, book_levels=4, events=64)


def test_a_journal_written_with_other_instruments_is_refused(tmp_path):
    write_journal(tmp_path, BATCHES, ["alice", "bob"])
    other = parse_instruments({"instrument": [{"symbol": "X-USD", "tick_size": "0.01", "lot_size": "1"}]})
    with pytest.raises(JournalError, match="other instruments"):
        Durability(tmp_path, other)._check_meta()
