"""CustodyBatcher: the batcher of a venue or replay with risk on (docs/balances.md 13.3).

It is the FillBatcher (same background thread, on-disk queue, publishers, restart and replay rules)
with three changes: a batch holds whole commands (it is cut only between the event batches the engine
hands in, each of which ends a command), any event opens a batch (a withdrawal reaches the chain when
nothing trades), and after `heartbeat_s` without a batch it commits an empty one. Each batch also
carries the whole state of balances after its last command, built from the `balance` events (absolute
values), the batch's `withdrawn` events, the settlement deltas of its fills (fees included: the change
of each total less the batch's deposits plus its withdrawals) and the last deposit id consumed.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from kabuto.chain.batch import Batch, build_custody_batch
from kabuto.chain.batcher import FillBatcher
from kabuto.chain.custody import (
    BALANCE,
    DEPOSITED,
    REJECTED,
    ROW_DTYPE,
    WITHDRAWN,
    Balance,
    Custody,
    Withdrawal,
    custody_rows,
)
from kabuto.chain.errors import ChainError
from kabuto.chain.fills import FILL_DTYPE, account_names, fill_rows
from kabuto.chain.publisher import Publisher
from kabuto.chain.settlement import Delta
from kabuto.engine.assets import Risk
from kabuto.engine.instruments import Instrument

DEFAULT_HEARTBEAT_S = 3600.0
_HEARTBEAT = "heartbeat"  # a cut item: the empty batch of a heartbeat


@dataclass
class _Chunk:
    """The events of one handle() call not committed yet: seqs first..last (last ends a command)."""
    first: int
    last: int
    fills: np.ndarray  # FILL_DTYPE
    rows: np.ndarray  # custody.ROW_DTYPE


class CustodyBatcher(FillBatcher):
    """Event sink committing every event of a risk-on stream in numbered batches of whole commands."""

    def __init__(self, instruments: Sequence[Instrument], account_name: Callable[[int], str] | None,
                 publisher: Publisher, risk: Risk, heartbeat_s: float = DEFAULT_HEARTBEAT_S, **kw):
        if risk is None or not risk.enabled:
            raise ChainError("the custody batcher needs a venue with risk on")
        if not heartbeat_s > 0:
            raise ChainError("batcher: heartbeat_s must be positive")
        self.assets = [a.name for a in risk.assets]
        self.decimals = [a.decimals for a in risk.assets]
        self.heartbeat_s = heartbeat_s
        self._last_built = time.monotonic()
        self._beat = False  # an empty batch was asked for (heartbeat())
        self._pending_fills = 0
        super().__init__(instruments, account_name, publisher, **kw)

    def _resume(self) -> None:
        """Continue after the last batch, with its balances and deposit count."""
        super()._resume()
        last = self.queue.last() or self.publisher.last_batch()
        self.book: dict[tuple[str, str], int] = {}
        self.deposit_count = 0
        if last is not None:
            if last.custody is None:
                raise ChainError(f"{self.queue.dir.parent} holds batches of a venue with risk off: "
                                 f"use a new ledger for a venue with risk on")
            self.book = {(b.account, b.asset): b.total for b in last.custody.balances}
            self.deposit_count = last.custody.deposit_count

    # -- engine thread -------------------------------------------------------------------------------

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Take the fills and custody events of one engine batch (whole commands; event i has seq
        first_seq + i). Never blocks on I/O; ChainError on a gap (see FillBatcher.handle)."""
        if self._stream_first is None:
            if first_seq > self._clear0 + 1:
                raise ChainError(f"the event stream starts at seq {first_seq}, but {self.queue.dir.parent} "
                                 f"commits events only up to seq {self._clear0}")
        elif first_seq != self._seen + 1:
            raise ChainError(f"the event stream jumps from seq {self._seen} to {first_seq}")
        last = first_seq + len(events) - 1
        fills = fill_rows(events, first_seq)
        rows = custody_rows(events, first_seq)
        if first_seq <= self._skip_upto:  # a replay of a stream whose start is already committed
            self._check_replay(fills, first_seq, min(last, self._skip_upto))
            fills = fills[fills["seq"] > self._skip_upto]
            rows = rows[rows["seq"] > self._skip_upto]
        with self._cond:
            if self._stream_first is None:
                self._stream_first = first_seq
            self._seen = max(self._seen, last)
            if len(events) and last > self._skip_upto:
                self._pending.append(_Chunk(max(first_seq, self._skip_upto + 1), last, fills, rows))
                self._times.append(time.monotonic())
                self._pending_n += 1
                self._pending_fills += len(fills)
                if self._pending_fills >= self.max_fills or len(self._pending) == 1:
                    self._cond.notify()

    def heartbeat(self, timeout: float | None = None) -> bool:
        """Commit an empty batch now if nothing is pending (what the timer does after heartbeat_s; else
        the pending events make the batch), and wait until it is published; False on timeout."""
        with self._cond:
            self._beat = True
            self._cond.notify_all()
            while (self._beat or self._busy) and not self._stop:
                self._cond.wait()
        return self.flush(timeout)

    # -- background thread ---------------------------------------------------------------------------

    def _clear(self) -> int:
        if self._inflight is not None:
            upto = self._inflight - 1
        elif self._pending:
            upto = self._pending[0].first - 1
        else:
            upto = self._seen
        return max(upto, self._clear0)

    def _sleep(self, now: float, retry_at: float, polled: float) -> float:
        t = super()._sleep(now, retry_at, polled)
        if not self._pending and not self._closing:
            t = min(t, max(self._last_built + self.heartbeat_s - now, 0.001))
        return t

    def _first_seq(self, item) -> int:
        if item == _HEARTBEAT:
            return (self._last_seq if self._last_seq is not None else 0) + 1
        return item[0].first

    def _cut(self, now: float) -> list:
        """Groups of whole chunks due now, each one batch (lock held)."""
        free = self.queue.free
        if free <= 0:
            return []
        if not self._pending:
            if self._beat or (not self._closing and now - self._last_built >= self.heartbeat_s):
                self._beat = False
                return [_HEARTBEAT]
            return []
        timed = self._force > 0 or self._closing or now - self._times[0] >= self.max_s
        if not (timed or self._pending_fills >= self.max_fills):
            return []
        groups, cur, n = [], [], 0
        for chunk in self._pending:
            cur.append(chunk)
            n += len(chunk.fills)
            if n >= self.max_fills and free > 1:
                groups.append(cur)
                cur, n = [], 0
                free -= 1
        if cur and (timed or free == 1):  # the last free slot takes everything pending
            groups.append(cur)
            cur = []
        self._times = self._times[len(self._times) - len(cur):] if cur else []
        self._pending = cur
        self._pending_n = len(cur)
        self._pending_fills = sum(len(c.fills) for c in cur)
        self._beat = False
        return groups

    def _build(self, item) -> None:
        """Make the next batch of a group of chunks (or an empty one) and queue it durably."""
        if item == _HEARTBEAT:
            first = (self._last_seq if self._last_seq is not None else 0) + 1
            last, fills, rows = first - 1, np.empty(0, FILL_DTYPE), np.empty(0, ROW_DTYPE)
        else:
            first = self._last_seq + 1 if self._last_seq is not None else self._stream_first
            last = item[-1].last
            fills = np.concatenate([c.fills for c in item]) if len(item) > 1 else item[0].fills
            rows = np.concatenate([c.rows for c in item]) if len(item) > 1 else item[0].rows
        custody = self._apply(rows)
        batch = build_custody_batch(self._next, self._prev, first, last, fills, self.symbols,
                                    account_names(fills, self.account_name), custody)
        self.queue.put(batch)
        self._next, self._prev, self._last_seq = batch.number + 1, batch.record.hash, batch.record.last_seq
        self._last_built = time.monotonic()

    def _apply(self, rows: np.ndarray) -> Custody:
        """Apply a batch's custody events to the balances; the batch's custody data."""
        book = self.book
        before: dict[tuple[str, str], int] = {}
        moved: dict[tuple[str, str], int] = defaultdict(int)  # deposits less withdrawals, per pair
        withdrawals = []
        dep = self.deposit_count
        names: dict[int, str] = {}

        def key(acct: int, asset: int) -> tuple[str, str]:
            name = names.get(acct)
            if name is None:
                name = names[acct] = self.account_name(acct)
            return name, self.assets[asset]

        for kind, acct, asset, id_, qty in zip(rows["kind"].tolist(), rows["acct"].tolist(), rows["asset"].tolist(),
                                               rows["id"].tolist(), rows["qty"].tolist()):
            if kind == BALANCE:
                k = key(acct, asset)
                if k not in before:
                    before[k] = book.get(k, 0)
                if qty:
                    book[k] = qty
                else:
                    book.pop(k, None)
            elif kind == WITHDRAWN:
                k = key(acct, asset)
                moved[k] -= qty
                withdrawals.append(Withdrawal(id_, k[0], k[1], qty))
            elif kind == DEPOSITED:
                moved[key(acct, asset)] += qty
                dep = max(dep, id_)
            elif kind == REJECTED:  # a rejected deposit that consumed its id
                dep = max(dep, id_)
        index = {a: i for i, a in enumerate(self.assets)}
        deltas = []
        for k in sorted(before):
            d = book.get(k, 0) - before[k] - moved.get(k, 0)
            if d:
                deltas.append(Delta(k[0], k[1], d, self.decimals[index[k[1]]]))
        self.deposit_count = dep
        balances = [Balance(a, s, t) for (a, s), t in sorted(book.items())]
        withdrawals.sort(key=lambda w: w.wid)
        return Custody(balances, withdrawals, deltas, dep)

    def last_batch(self) -> Batch | None:
        """The last batch built (queued or published)."""
        return self.queue.last() or self.publisher.last_batch()
