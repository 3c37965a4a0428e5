"""The fill batcher's committed point: every fill at or before it is committed (queued or published)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from chainkit import INSTRUMENTS, account_name, engine_run
from kabuto.chain.batcher import FillBatcher
from kabuto.chain.errors import ChainError
from kabuto.chain.ledger import FILE, Ledger, LedgerPublisher
from kabuto.engine.codes import Ev
from kabuto.engine.records import EVENT_DTYPE

FILL = int(Ev.FILL)


def batcher(path, **kw) -> FillBatcher:
    return FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), max_ms=60_000, max_fills=10**6,
                       poll_s=0.05, **kw)


def saved(b: FillBatcher, seq: int) -> bool:
    """Whether the batcher's thread saved committed point seq within a few seconds (it saves after
    each round, every poll_s when idle)."""
    deadline = time.monotonic() + 10
    while b.committed_seq() != seq and time.monotonic() < deadline:
        time.sleep(0.01)
    return b.committed_seq() == seq


def committed_fills(path) -> list:
    """Every fill row in the ledger at path, as tuples in ledger order."""
    ledger = Ledger(path)
    return [tuple(r) for n in range(ledger.count) for r in ledger.batch(n).fills.tolist()]


def quiet_events(n: int) -> np.ndarray:
    """n events without a fill (accepted orders)."""
    ev = np.zeros(n, EVENT_DTYPE)
    ev["kind"] = int(Ev.ACCEPTED)
    return ev


def test_with_fills_pending_the_committed_point_stops_before_the_first_of_them(tmp_path):
    b = batcher(tmp_path)
    stream = engine_run(600, seed=3)
    events, first = stream[0]
    fills = first + np.flatnonzero(events["kind"] == FILL)
    assert len(fills)
    b.handle(events, first)
    assert saved(b, fills[0] - 1)
    time.sleep(0.2)
    assert b.committed_seq() == fills[0] - 1  # and no further while they wait
    b.close()


def test_once_everything_is_committed_the_point_reaches_the_last_event_seen(tmp_path):
    b = batcher(tmp_path)
    for events, first in engine_run(600, seed=4):
        b.handle(events, first)
    last = b._seen
    b.handle(quiet_events(50), last + 1)  # later events without a fill
    assert b.flush(timeout=30)
    assert saved(b, last + 50)
    b.close()


def test_a_restarted_batcher_starts_from_the_saved_point_not_the_last_fill(tmp_path):
    b = batcher(tmp_path)
    stream = engine_run(600, seed=5)
    for events, first in stream:
        b.handle(events, first)
    last = b._seen
    b.handle(quiet_events(1000), last + 1)
    b.close()
    again = batcher(tmp_path)
    assert again.committed_seq() == last + 1000
    assert again._last_seq < last + 1000  # the ledger's own last fill is earlier
    again.close()


def feed_after(b: FillBatcher, stream, committed: int) -> None:
    """Hand b the events after seq `committed`, as a venue's recovery does."""
    for events, first in stream:
        i = max(0, committed + 1 - first)
        if i < len(events):
            b.handle(events[i:], first + i)


def test_a_saved_point_beyond_a_batch_the_ledger_lost_falls_back_to_the_ledgers_end(tmp_path):
    stream = engine_run(3000, seed=6)
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=300)
    for events, first in stream:
        b.handle(events, first)
    b.close()
    every = committed_fills(tmp_path)
    with open(tmp_path / FILE, "r+b") as f:  # the last batch's frame damaged: it is cut at the next start
        f.truncate(f.seek(0, 2) - 100)
    again = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=300)
    assert again.committed_seq() == Ledger(tmp_path).record(Ledger(tmp_path).count - 1).last_seq
    feed_after(again, stream, again.committed_seq())
    again.close()
    assert committed_fills(tmp_path) == every
    assert Ledger(tmp_path).verify() == []


def test_a_stream_starting_after_the_committed_point_is_refused(tmp_path):
    stream = engine_run(1000, seed=6)
    b = batcher(tmp_path)
    b.handle(*stream[0])
    b.close()
    again = batcher(tmp_path)
    events, first = stream[1]
    assert first == again.committed_seq() + 1
    with pytest.raises(ChainError, match=f"the fills of seqs {first}..{first} are neither committed nor replayed"):
        again.handle(events[1:], first + 1)
    again.close()


def test_a_stream_that_skips_events_is_refused(tmp_path):
    stream = engine_run(1000, seed=6)
    b = batcher(tmp_path)
    b.handle(*stream[0])
    events, first = stream[1]
    with pytest.raises(ChainError, match=f"jumps from seq {first - 1} to {first + 1}"):
        b.handle(events[1:], first + 1)
    b.close()
