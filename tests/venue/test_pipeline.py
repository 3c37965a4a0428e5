"""The venue's batch pipeline: journal before the engine, wire stages before sinks, orders filed by the todo list."""
from __future__ import annotations

from kabuto.engine.engine import Engine
from kabuto.engine.instruments import load_instruments
from kabuto.venue.accounts import SLOT, new_order
from kabuto.venue.commands import C_MASS, C_NEW, GTC, LIMIT
from kabuto.venue.config import VenueConfig
from kabuto.venue.entry import OrderEntry
from kabuto.venue.ordertable import TODO_ACCEPTED, TODO_FINISHED, TODO_RELEASE, TODO_SLOT_SHIFT, file_todo
from kabuto.venue.pipeline import Pipeline
from kabuto.venue.sequencer import Sequencer

INSTRUMENTS = load_instruments()


class Recorder:
    """Journal, wire stage and sink at once: notes what it saw, in order."""

    def __init__(self, log: list, name: str, engine: Engine):
        self.log, self.name, self.engine = log, name, engine

    def append(self, cmds, meta=None):
        self.log.append((self.name, "append", len(cmds), self.engine.seq))

    def deliver(self, batch, events, first):
        self.log.append((self.name, "deliver", None if events is None else len(events), first, len(batch.acks)))

    def handle(self, events, first):
        self.log.append((self.name, "handle", len(events), first))

    def close(self):
        self.log.append((self.name, "close"))


def venue():
    engine = Engine(INSTRUMENTS)
    seq = Sequencer(16)
    log: list = []
    pipe = Pipeline(engine, seq, Recorder(log, "journal", engine), [Recorder(log, "sink", engine)],
                    [Recorder(log, "wire", engine)])
    return OrderEntry(VenueConfig(), INSTRUMENTS, seq), pipe, log


def test_a_batch_is_journaled_before_the_engine_matches_it_and_delivered_before_the_sinks_see_it():
    entry, pipe, log = venue()
    s = entry.logon(b"r", None, 1, "mm", False, 1.0)
    entry.commands(s, [(C_NEW, 2, "a", 0, 0, LIMIT, GTC, 0, 100, 0, 1, 0, 0, 0)], 1.0)
    pipe.run_batch()
    assert log == [("journal", "append", 1, 0), ("wire", "deliver", 1, 1, 0), ("sink", "handle", 1, 1)]


def test_a_batch_of_only_acknowledgements_reaches_the_wire_but_not_the_journal_or_the_sinks():
    entry, pipe, log = venue()
    s = entry.logon(b"r", None, 1, "mm", False, 1.0)
    entry.commands(s, [(C_MASS, 3, None, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0)], 1.0)
    pipe.run_batch()
    assert log == [("wire", "deliver", None, 1, 1)]


def test_close_closes_every_sink_and_then_the_journal():
    _, pipe, log = venue()
    pipe.close()
    assert log == [("sink", "close"), ("journal", "close")]


def test_file_todo_files_accepted_orders_and_forgets_finished_and_released_ones():
    entry, _, _ = venue()
    s = entry.logon(b"r", None, 1, "mm", False, 1.0)
    a, b = new_order(1, "a", s.account, s, 0, 0), new_order(2, "b", s.account, s, 0, 0)
    s.account.live["a"], s.account.live["b"] = a, b
    meta = [(s, 1, C_NEW, a, "a"), (s, 2, C_NEW, b, "b")]
    recs = [None] * 8
    file_todo(recs, [TODO_ACCEPTED | (0 << 2) | (5 << TODO_SLOT_SHIFT), TODO_RELEASE | (1 << 2)], meta)
    assert (a[SLOT], recs[5], sorted(s.account.live)) == (5, a, ["a"])
    file_todo(recs, [TODO_FINISHED | (5 << TODO_SLOT_SHIFT)], meta)
    assert (recs[5], s.account.live) == (None, {})
