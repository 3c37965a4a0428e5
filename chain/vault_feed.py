"""The venue's vault feed: a thread polling the vault for confirmed deposits and for its freeze.

The venue's engine thread never waits on a node: this thread reads the chain (DepositWatcher, each
deposit once its block has N confirmations, in id order) and queues what it found; the engine thread
takes the queue at its housekeeping rounds and sequences the deposits as `deposit` commands
(docs/balances.md 13.2). The feed starts after the last deposit id the engine consumed (recovered from
the journal), and goes on from the last id it queued, so each deposit is queued once per run and
credited once across restarts (the engine rejects a repeat `duplicate_deposit`).
"""
from __future__ import annotations

import logging
import queue
import threading

from kabuto.chain.vault import DepositWatcher, VaultDeposit

log = logging.getLogger(__name__)


class VaultFeed:
    """Deposits and the freeze of one vault, read on a thread of its own every interval_s seconds."""

    def __init__(self, watcher: DepositWatcher, consumed: int, interval_s: float = 1.0):
        self.watcher = watcher
        self.interval_s = interval_s
        self.frozen = False  # set once the vault says it is frozen (for good)
        self._queued = consumed  # the last deposit id queued (or consumed before this run)
        watcher.consumed = lambda: self._queued
        self._deposits: queue.SimpleQueue[VaultDeposit] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kabuto-vault-feed", daemon=True)
        self._failing = False

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def poll(self) -> None:
        """One round: the freeze first (a frozen vault's deposits are never credited), then the deposits."""
        if self.frozen:
            return
        if self.watcher.vault.frozen():
            self.frozen = True
            log.warning(f"vault {self.watcher.vault.address} is frozen: every command is now rejected `frozen`")
            return
        for d in self.watcher.poll():
            self._deposits.put(d)
            self._queued = d.id

    def take(self) -> list[VaultDeposit]:
        """The deposits queued since the last take, in id order (the engine thread's call)."""
        out = []
        while True:
            try:
                out.append(self._deposits.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
                if self._failing:
                    log.info("vault feed: the node answers again")
                self._failing = False
            except Exception as e:  # a node that is down or slow: try again next round, say so once
                if not self._failing:
                    log.warning(f"vault feed: cannot read the vault ({type(e).__name__}: {e}); retrying")
                self._failing = True
