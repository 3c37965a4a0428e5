"""The venue's batch pipeline: journal, match, hand the events to the wire stages, then to the sinks.

    Sequencer.take -> journal.append -> Engine.process -> each wire stage -> each event sink

Transport-neutral: a wire stage (the ZeroMQ gateway's fan-out today; FIX or WebSocket beside it)
is any object with deliver(batch, events, first_seq); an event sink (durability's event hash and
snapshots, the chain batcher) any object with handle(events, first_seq) and close().
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from kabuto.engine.engine import Engine
from kabuto.venue.sequencer import Batch, Sequencer


class Journal(Protocol):
    """Where a batch is recorded before the engine sees it (durability/journal.py)."""

    def append(self, cmds: np.ndarray, meta: list | None = None) -> None: ...
    def close(self) -> None: ...


class WireStage(Protocol):
    """A transport's view of each batch: answers and reports to its sessions, market data."""

    def deliver(self, batch: Batch, events: np.ndarray, first_seq: int) -> None: ...


class NullJournal:
    """Keeps nothing: the journal of a venue run without durability (tests, benchmarks)."""

    def append(self, cmds: np.ndarray, meta: list | None = None) -> None:
        """Record a batch before it is processed (cmds is only valid during the call: copy or write it)."""

    def close(self) -> None:
        """Flush and release whatever the journal holds."""


class Pipeline:
    """Runs the sequencer's batch through journal, engine, wire stages and sinks, in that order."""

    def __init__(self, engine: Engine, sequencer: Sequencer, journal: Journal | None = None,
                 sinks: Iterable = (), stages: Iterable[WireStage] = ()):
        self.engine = engine
        self.sequencer = sequencer
        self.journal: Journal = journal if journal is not None else NullJournal()
        self.sinks = list(sinks)
        self.stages = list(stages)

    def run_batch(self) -> None:
        """Journal, match and deliver everything the sequencer holds (a batch of only acks has no events)."""
        batch = self.sequencer.take()
        cmds = batch.cmds
        if len(cmds):
            self.journal.append(cmds, batch.meta)
            first = self.engine.seq + 1
            events = self.engine.process(cmds)
        else:
            first, events = self.engine.seq + 1, None
        for stage in self.stages:
            stage.deliver(batch, events, first)
        if events is not None:
            for sink in self.sinks:
                sink.handle(events, first)

    def close(self) -> None:
        """Close sinks and journal, every one even when one fails; then raise the first failure."""
        errors = []
        for close in [sink.close for sink in self.sinks] + [self.journal.close]:
            try:
                close()
            except Exception as e:  # a full disk failing one sink must not leave the journal unsynced
                errors.append(e)
        if errors:
            raise errors[0]
