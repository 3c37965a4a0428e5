"""FillBatcher: the event sink that groups fills into batches and publishes them off the matching thread.

The engine thread only copies the fill rows of each event batch (handle). A background thread cuts
batches (every max_fills fills or max_ms after a batch's first fill), builds their records and Merkle
trees, stores them in a bounded on-disk queue and hands them to the publisher, retrying with backoff.
When the queue is full (publisher down), the last free slot takes every pending fill as one bigger
batch, so matching never waits, no fill is dropped and the backlog stays bounded in batches.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from kabuto.chain.batch import Batch, build_batch
from kabuto.chain.errors import ChainError
from kabuto.chain.fills import account_names, default_account_name, fill_rows
from kabuto.chain.ledger import CommittedFills
from kabuto.chain.publisher import Publisher
from kabuto.chain.queue import BatchQueue
from kabuto.chain.settlement import SymbolInfo
from kabuto.engine.instruments import Instrument

log = logging.getLogger(__name__)

NICE = 10  # scheduling niceness of the batcher thread
# Beside the queue directory: "SEQ BATCH HASH", every fill at or before engine seq SEQ is committed,
# saved when batch BATCH (record hash HASH) was the last one built. A restart trusts SEQ only while
# that batch is still the last of the ledger and queue: the ledger, not this file, decides.
CLEAR_FILE = "committed"


class FillBatcher:
    """Event sink (handle/close) committing every fill of the stream exactly once, in numbered batches."""

    def __init__(self, instruments: Sequence[Instrument], account_name: Callable[[int], str] | None,
                 publisher: Publisher, max_fills: int = 10_000, max_ms: float = 1_000, max_queue: int = 1_000,
                 retry_s: tuple[float, float] = (0.05, 5.0), poll_s: float = 1.0, close_timeout_s: float = 60.0):
        if max_fills < 1 or max_ms <= 0 or max_queue < 1:
            raise ChainError("batcher: max_fills, max_ms and max_queue must be positive")
        self.symbols = [SymbolInfo(i.symbol, str(i.tick_size), str(i.lot_size)) for i in instruments]
        self.account_name = account_name or default_account_name
        self.publisher = publisher
        self.max_fills = max_fills
        self.max_s = max_ms / 1000
        self.retry_s = retry_s
        self.poll_s = poll_s
        self.close_timeout_s = close_timeout_s
        self.queue = BatchQueue(publisher.queue_dir, max_queue)
        self._resume()
        self._skip_upto = -1 if self._last_seq is None else self._last_seq
        # every fill at or before this seq is committed: the last committed fill, or later where the
        # events after it held no fill (saved by the thread, so a restart can start from a snapshot)
        self._clear_file = Path(self.queue.dir).parent / CLEAR_FILE  # the ledger directory
        self._clear0 = self._saved_clear = max(self._skip_upto, self._read_clear(), 0)
        # what a replay of the stream's start is compared with: the batches there are now
        self._committed = CommittedFills(publisher.ledger, self.queue.get, self._next)
        self._seen = 0  # seq of the last event handed to handle()
        self._inflight: int | None = None  # seq of the first fill taken into batches not yet queued
        self.published = 0  # batches published by this batcher
        self.cpu_s = 0.0  # CPU time the background thread spent building and publishing
        self.last_error: str | None = None  # the latest publish failure (cleared by a success)
        self.error: str | None = None  # a failure that stopped the batcher
        self._cond = threading.Condition()
        self._pending: list[np.ndarray] = []  # fill rows from the engine thread, oldest first
        self._times: list[float] = []  # when each of those arrived
        self._pending_n = 0
        self._stream_first: int | None = None  # seq of the first event ever handed to us
        self._queued = len(self.queue)
        self._busy = False
        self._force = 0  # > 0: cut whatever is pending now (flush, close)
        self._closing = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="kabuto-fill-batcher", daemon=True)
        self._thread.start()

    def _resume(self) -> None:
        """Continue after what is published and queued; fills up to the last committed seq are skipped."""
        head = self.publisher.head()
        self._next, self._prev, self._last_seq = head.next_batch, head.last_hash, head.last_seq
        last = self.queue.last()
        if last is None:
            last = self.publisher.last_batch()
        elif not (self.queue.first().number <= head.next_batch <= last.number + 1):
            raise ChainError(f"queue {self.queue.dir} holds batches {self.queue.first().number}..{last.number}, "
                             f"which do not continue the published batch {head.next_batch - 1}")
        if last is not None:
            r = last.record
            self._next, self._prev, self._last_seq = r.batch + 1, r.hash, r.last_seq

    def committed_seq(self) -> int:
        """The engine seq up to which every fill is committed (published or queued on disk), as
        saved for the next start: a restarted venue replays its journal's later events into
        handle(), and journal pruning keeps what that replay needs (so it must not use a point
        newer than the one a restart will read)."""
        return self._saved_clear

    def _clear(self) -> int:
        """Every fill up to this seq is committed now (lock held); committed_seq() once saved."""
        if self._inflight is not None:
            upto = self._inflight - 1
        elif self._pending_n:
            upto = int(self._pending[0]["seq"][0]) - 1
        else:
            upto = self._seen
        return max(upto, self._clear0)

    def _read_clear(self) -> int:
        """The saved committed point, if it was saved with the ledger's and queue's last batch as it is now."""
        try:
            seq, batch, hash_hex = self._clear_file.read_text().split()
            if int(batch) == self._next - 1 and bytes.fromhex(hash_hex) == self._prev:
                return int(seq)
        except (OSError, ValueError):  # none yet, or cut short by a power loss
            pass
        return 0  # or saved before a batch that is gone now (a damaged ledger): the ledger's own point

    def _save_clear(self, upto: int) -> None:
        """Keep the committed point for the next start (no fsync: an older value is only slower).

        Called by the background thread (or close, after it): the last batch built is still the last."""
        if upto > self._saved_clear:
            tmp = self._clear_file.with_name(CLEAR_FILE + ".new")
            tmp.write_text(f"{upto} {self._next - 1} {self._prev.hex()}")
            os.replace(tmp, self._clear_file)
            self._saved_clear = upto

    # -- engine thread -------------------------------------------------------------------------------

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Take the fills of one engine batch (event i has seq first_seq + i); never blocks on I/O
        (but compares a replay of fills already committed with the ledger).

        ChainError when the stream has a gap: the first events handed in must start at or before
        the committed point + 1 (else the fills in between are in neither the ledger nor the
        stream), and each later call must continue the previous one."""
        if self._stream_first is None:
            if first_seq > self._clear0 + 1:
                raise ChainError(f"the event stream starts at seq {first_seq}, but {self.queue.dir.parent} "
                                 f"commits fills only up to seq {self._clear0}: the fills of seqs "
                                 f"{self._clear0 + 1}..{first_seq - 1} are neither committed nor replayed "
                                 f"(a damaged ledger with a pruned journal?)")
        elif first_seq != self._seen + 1:
            raise ChainError(f"the event stream jumps from seq {self._seen} to {first_seq}")
        rows = fill_rows(events, first_seq)
        if first_seq <= self._skip_upto:  # a replay of a stream whose start is already committed
            self._check_replay(rows, first_seq, min(first_seq + len(events) - 1, self._skip_upto))
            rows = rows[rows["seq"] > self._skip_upto]
        with self._cond:
            if self._stream_first is None:
                self._stream_first = first_seq
            self._seen = max(self._seen, first_seq + len(events) - 1)
            if len(rows):
                self._pending.append(rows)
                self._times.append(time.monotonic())
                self._pending_n += len(rows)
                if self._pending_n >= self.max_fills or len(self._pending) == 1:
                    self._cond.notify()

    def _check_replay(self, rows: np.ndarray, lo: int, hi: int) -> None:
        """The fills committed for seqs lo..hi (every one at or before the last committed fill) must be
        exactly the stream's fills there."""
        old = self._committed.rows(lo, hi)
        new = rows[rows["seq"] <= hi]
        if len(old) != len(new) or (old != new).any():
            raise ChainError(f"this event stream differs from the fills already committed in "
                             f"{self.queue.dir.parent} (engine seqs {lo}..{hi}): use a new ledger for a new log")

    def flush(self, timeout: float | None = None) -> bool:
        """Close the open batch now and wait until everything is published; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._force += 1
            self._cond.notify_all()
            try:
                while (self._pending_n or self._queued or self._busy) and not self._stop:
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                return not (self._pending_n or self._queued)
            finally:
                self._force -= 1

    def close(self) -> None:
        """Publish everything pending (waiting up to close_timeout_s), stop the thread, close the publisher.

        ChainError when the batcher stopped on a failure, or when the stream replayed fills already
        committed but ended before the last of them (a shorter or different log)."""
        short = None
        if self._stream_first is not None and self._stream_first <= self._skip_upto and self._seen < self._skip_upto:
            short = (f"this event stream ends at seq {self._seen}, but {self.queue.dir.parent} already commits "
                     f"fills up to seq {self._skip_upto}: a shorter or different log (use a new ledger for a new log)")
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(self.close_timeout_s)
        if self._thread.is_alive():
            self.abort()
            log.warning("chain: %d batches left in %s (%s); they are published at the next start",
                        self._queued, self.queue.dir, self.last_error)
        elif not self.error:
            try:
                with self._cond:
                    clear = self._clear()
                self._save_clear(clear)
            except OSError:
                pass  # the next start replays a little more journal
        self.publisher.close()
        if self.error or short:
            raise ChainError(self.error or short)

    def abort(self) -> None:
        """Stop the background thread at once, as a crash would: pending fills are dropped from memory,
        queued batches stay on disk. The publisher stays open."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()

    def status(self) -> dict:
        """Counters for `kabuto chain status` and the benchmarks."""
        with self._cond:
            return {"next_batch": self._next, "pending_fills": self._pending_n, "queued_batches": self._queued,
                    "published": self.published, "cpu_s": round(self.cpu_s, 3), "last_error": self.last_error,
                    "error": self.error}

    # -- background thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:  # on Linux this lowers only this thread: under CPU contention matching goes first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        except (AttributeError, OSError):
            pass
        backoff = 0.0
        retry_at = 0.0
        polled = time.monotonic()
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    now = time.monotonic()
                    cut = self._cut(now)
                    if cut:
                        self._inflight = self._first_seq(cut[0])
                        break
                    if self._queued and now >= retry_at:
                        break
                    if self._closing and not self._queued and not self._pending_n:
                        return
                    if not self._queued and now - polled >= self.poll_s:
                        break
                    self._cond.wait(self._sleep(now, retry_at, polled))
                self._busy = True
            started = time.thread_time()
            try:
                for rows in cut:
                    self._build(rows)
                now = time.monotonic()
                if len(self.queue) and now >= retry_at:
                    ok = self._publish()
                    backoff = 0.0 if ok else min(max(backoff * 2, self.retry_s[0]), self.retry_s[1])
                    retry_at = 0.0 if ok else time.monotonic() + backoff
                elif not len(self.queue) and now - polled >= self.poll_s:
                    polled = now
                    try:
                        self.publisher.poll()
                    except Exception as e:  # a node that is down; retried at the next poll
                        self.last_error = f"poll: {e}"
            except Exception as e:  # a bug or a full disk: stop rather than commit with a gap
                with self._cond:
                    self.error = f"chain batcher stopped: {type(e).__name__}: {e}"
                    self._stop = True
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self.cpu_s += time.thread_time() - started
                self._queued = len(self.queue)
                self._busy = False
                self._inflight = None
                clear = self._clear()
                self._cond.notify_all()
            try:
                self._save_clear(clear)
            except OSError as e:  # the next start replays a little more journal
                self.last_error = f"saving the committed point: {e}"

    def _sleep(self, now: float, retry_at: float, polled: float) -> float:
        """How long the thread may wait before something falls due."""
        t = polled + self.poll_s
        if self._queued:
            t = min(t, retry_at)
        if self._pending_n and self.queue.free > 0:
            t = min(t, self._times[0] + self.max_s)
        return max(t - now, 0.001)

    def _cut(self, now: float) -> list[np.ndarray]:
        """Take the fill rows of every batch due now (called with the lock held)."""
        if not self._pending_n:
            return []
        timed = self._force > 0 or self._closing or now - self._times[0] >= self.max_s
        free = self.queue.free  # the queue is only touched by this thread
        if not (timed or self._pending_n >= self.max_fills) or free <= 0:
            return []
        rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        arrived = np.repeat(self._times, [len(p) for p in self._pending])
        out = []
        start = 0
        n = len(rows)
        while n - start >= self.max_fills and free > 1:
            out.append(rows[start:start + self.max_fills])
            start += self.max_fills
            free -= 1
        rest = n - start
        if rest and (timed or free == 1):  # the last free slot takes everything pending
            out.append(rows[start:])
            start = n
        self._pending = [rows[start:]] if start < n else []
        self._times = [float(arrived[start])] if start < n else []
        self._pending_n = n - start
        return out

    def _first_seq(self, rows: np.ndarray) -> int:
        """The first seq a cut item of _cut takes (rows of fills here)."""
        return int(rows["seq"][0])

    def _build(self, rows: np.ndarray) -> None:
        """Make the next batch of these rows and queue it durably."""
        first = self._last_seq + 1 if self._last_seq is not None else self._stream_first
        batch = build_batch(self._next, self._prev, first, rows, self.symbols,
                            account_names(rows, self.account_name))
        self.queue.put(batch)
        self._next, self._prev, self._last_seq = batch.number + 1, batch.record.hash, batch.record.last_seq

    def _publish(self) -> bool:
        """Publish queued batches oldest first; False when the publisher failed (retry later)."""
        while len(self.queue) and not self._stop:
            batch: Batch = self.queue.first()
            try:
                self.publisher.publish(batch)
            except Exception as e:  # node down, dropped or reverted transaction: keep it queued
                self.last_error = f"{type(e).__name__}: {e}"
                return False
            self.queue.pop(batch.number)
            self.published += 1
            self.last_error = None
            with self._cond:
                self._queued = len(self.queue)
        return True
