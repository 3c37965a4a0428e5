"""The local ledger: an append-only, hash-chained, fsynced file of batches (records and fills)."""
from __future__ import annotations

import bisect
import fcntl
import json
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kabuto.chain.batch import MAGIC as BATCH_MAGIC
from kabuto.chain.batch import Batch, BatchRecord
from kabuto.chain.defaults import DEFAULT_DIR
from kabuto.chain.errors import LedgerError
from kabuto.chain.fills import FILL_DTYPE
from kabuto.chain.merkle import ZERO
from kabuto.chain.publisher import Head

log = logging.getLogger(__name__)

FILE = "ledger.kbl"
FRAME_MAGIC = b"KBL2"
OLD_MAGICS = (b"KBL1",)  # formats before frame headers had a checksum: refused, not read
# magic, payload length, payload crc32, crc32 of the 16 bytes before it; then the payload
_HEAD = struct.Struct("<4sQII")
CUT_SUFFIX = ".cut-"  # a writer keeps the bytes of a torn last frame it cuts in ledger.kbl.cut-<byte>


@dataclass(frozen=True)
class Entry:
    """Where one batch sits in the ledger file."""
    offset: int
    length: int  # payload bytes
    record: BatchRecord


class Ledger:
    """A ledger directory. Writers hold an exclusive lock; readers see every complete frame."""

    def __init__(self, path: str | os.PathLike, writable: bool = False):
        self.dir = Path(path)
        self.file = self.dir / FILE
        self.writable = writable
        self.entries: list[Entry] = []
        self._last_seqs: list[int] = []
        self.torn: tuple[int, int] | None = None  # (byte, length) of a torn last frame a reader skipped
        if writable:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._f = open(self.file, "a+b")
            except OSError as e:
                raise LedgerError(f"cannot open ledger {self.file}: {e.strerror}") from None
            try:
                fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._f.close()
                raise LedgerError(f"ledger {self.dir} is in use by another process") from None
            _fsync_dir(self.dir)
        else:
            try:
                self._f = open(self.file, "rb")
            except FileNotFoundError:
                raise LedgerError(f"no ledger in {self.dir}") from None
            except OSError as e:
                raise LedgerError(f"cannot open ledger {self.file}: {e.strerror}") from None
        try:
            self._scan()
        except BaseException:
            self._f.close()
            raise

    def _scan(self) -> None:
        """Read and check every frame; a torn last frame is cut off (writer) or skipped (reader).

        Torn means what an interrupted append leaves: a header or payload shorter than announced,
        a last frame whose payload fails its checksum, or an unreadable header with no valid frame
        after it. Anything else that fails a check is corruption: LedgerError with the byte."""
        fd = self._f.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        prev = None
        while pos < size:
            head = os.pread(fd, _HEAD.size, pos)
            if pos == 0 and head[:4] in OLD_MAGICS:
                raise LedgerError(f"ledger {self.file} is in an old format ({head[:4].decode()}) this version "
                                  f"does not read: move it away and start a new ledger")
            if len(head) < _HEAD.size:
                break
            magic, length, crc, head_crc = _HEAD.unpack(head)
            if magic != FRAME_MAGIC or zlib.crc32(head[:16]) != head_crc:
                if self._frame_after(pos + 1, size):
                    raise LedgerError(f"ledger {self.file}: corrupt frame header at byte {pos}")
                break
            end = pos + _HEAD.size + length
            if end > size:
                break
            payload = os.pread(fd, length, pos + _HEAD.size)
            if zlib.crc32(payload) != crc:
                if end == size:
                    break
                raise LedgerError(f"ledger {self.file}: the frame at byte {pos} (batch "
                                  f"{len(self.entries)}) fails its checksum")
            record = _record_of(payload, self.file, pos)
            problem = _follows(prev, record)
            if problem:
                raise LedgerError(f"ledger {self.file}: byte {pos}: {problem}")
            self.entries.append(Entry(pos, length, record))
            self._last_seqs.append(record.last_seq)
            prev = record
            pos = end
        if pos < size:
            if self.writable:
                self._cut(pos, size)
            else:
                self.torn = (pos, size - pos)
        self._end = pos

    def _frame_after(self, start: int, size: int) -> bool:
        """Whether a frame header with a valid checksum starts anywhere in start..size."""
        if size - start < _HEAD.size:
            return False
        with mmap.mmap(self._f.fileno(), size, access=mmap.ACCESS_READ) as m:
            at = m.find(FRAME_MAGIC, start)
            while at != -1 and at + _HEAD.size <= size:
                if zlib.crc32(m[at:at + 16]) == struct.unpack_from("<I", m, at + 16)[0]:
                    return True
                at = m.find(FRAME_MAGIC, at + 1)
        return False

    def _cut(self, pos: int, size: int) -> None:
        """Cut a torn last frame, keeping its bytes beside the ledger for whoever wants to look."""
        f = self._f
        torn = os.pread(f.fileno(), size - pos, pos)
        keep = self.file.with_name(f"{FILE}{CUT_SUFFIX}{pos}")
        try:
            with open(keep, "wb") as k:
                k.write(torn)
                k.flush()
                os.fsync(k.fileno())
            _fsync_dir(self.dir)
        except OSError as e:
            raise LedgerError(f"ledger {self.file}: cannot keep the torn last frame in {keep}: "
                              f"{e.strerror}") from None
        log.warning("ledger %s: cut a torn last frame at byte %d (%d bytes, kept in %s); its fills are batched "
                    "again from the replayed event stream", self.file, pos, size - pos, keep.name)
        f.truncate(pos)
        os.fsync(f.fileno())

    @property
    def count(self) -> int:
        """How many batches the ledger holds."""
        return len(self.entries)

    def head(self) -> Head:
        """Next batch number, last record hash and last seq."""
        if not self.entries:
            return Head()
        r = self.entries[-1].record
        return Head(r.batch + 1, r.hash, r.last_seq)

    def record(self, n: int) -> BatchRecord:
        """The record of batch n."""
        return self.entries[n].record

    def batch(self, n: int) -> Batch:
        """Batch n with its fills, its frame checksum verified."""
        e = self.entries[n]  # pread: a replay compares batches while the batcher's thread appends
        head = os.pread(self._f.fileno(), _HEAD.size + e.length, e.offset)
        crc = _HEAD.unpack_from(head)[2]
        payload = head[_HEAD.size:]
        if zlib.crc32(payload) != crc:
            raise LedgerError(f"ledger {self.file}: the frame at byte {e.offset} (batch {n}) fails its checksum")
        return Batch.decode(payload)

    def index(self, seq: int) -> int:
        """Number of the first batch whose seq range ends at or after seq (count when none does)."""
        return bisect.bisect_left(self._last_seqs, seq)

    def find(self, seq: int) -> int | None:
        """Number of the batch covering engine seq, or None."""
        n = self.index(seq)
        if n < len(self.entries) and self.entries[n].record.first_seq <= seq:
            return n
        return None

    def append(self, batch: Batch) -> None:
        """Append the next batch and fsync; LedgerError when it does not follow the last one."""
        if not self.writable:
            raise LedgerError("ledger opened read-only")
        r = batch.record
        problem = _follows(self.entries[-1].record if self.entries else None, r)
        if problem:
            raise LedgerError(f"ledger {self.file}: cannot append: {problem}")
        payload = batch.encode()
        head = _HEAD.pack(FRAME_MAGIC, len(payload), zlib.crc32(payload), 0)[:16]
        frame = head + struct.pack("<I", zlib.crc32(head)) + payload
        f = self._f  # opened for appending: the frame goes to the end
        f.write(frame)
        f.flush()
        os.fsync(f.fileno())
        self.entries.append(Entry(self._end, len(payload), r))
        self._last_seqs.append(r.last_seq)
        self._end += len(frame)

    def verify(self) -> list[str]:
        """Every problem found by re-reading all batches and recomputing their roots (empty: all good)."""
        problems = []
        for n in range(self.count):
            try:
                b = self.batch(n)
            except LedgerError as e:
                problems.append(str(e))
                continue
            if b.record != self.entries[n].record:
                problems.append(f"batch {n}: record differs from the index")
            problems += b.check()
        if self.torn is not None and not self.in_use():
            pos, n = self.torn
            problems.append(f"ledger {self.file}: a torn last frame at byte {pos} ({n} bytes), left by a crash: "
                            f"the next writer cuts it and batches its fills again")
        return problems

    def in_use(self) -> bool:
        """Whether a writer holds the ledger now (its last frame may be half-written, not torn)."""
        try:
            fcntl.flock(self._f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(self._f, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        """Close the file (and release the writer's lock)."""
        self._f.close()


class CommittedFills:
    """The fill rows of a ledger's batches (and of queued batches after them) by seq range, read in
    order: what a replayed event stream is compared with."""

    def __init__(self, ledger: Ledger, queued: Callable[[int], Batch] | None = None, end: int | None = None):
        self.ledger = ledger
        self.queued = queued  # batch n >= ledger.count, when queued batches count too
        self.end = ledger.count if end is None else end  # batches numbered below end
        self._batch: Batch | None = None  # the batch read last

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Committed fill rows of seqs lo..hi."""
        n = self.ledger.index(lo)  # ledger.count: lo lies in a queued batch
        parts = []
        while n < self.end:
            b = self._batch
            if b is None or b.number != n:
                b = self._batch = self.ledger.batch(n) if n < self.ledger.count else self.queued(n)
            if b.record.first_seq > hi:
                break
            f = b.fills
            parts.append(f[(f["seq"] >= lo) & (f["seq"] <= hi)])
            n += 1
        return np.concatenate(parts) if parts else np.empty(0, FILL_DTYPE)


class LedgerPublisher:
    """The embedded default publisher: batches go to a local ledger; needs no node."""

    def __init__(self, path: str | os.PathLike = DEFAULT_DIR):
        self.ledger = Ledger(path, writable=True)
        self.queue_dir = self.ledger.dir / "queue"

    def head(self) -> Head:
        """Where the ledger ends."""
        return self.ledger.head()

    def last_batch(self) -> Batch | None:
        """The ledger's last batch."""
        return self.ledger.batch(self.ledger.count - 1) if self.ledger.count else None

    def publish(self, batch: Batch) -> None:
        """Append the batch; one already in the ledger with the same hash is a no-op."""
        n = batch.number
        if n < self.ledger.count:
            if self.ledger.record(n).hash != batch.record.hash:
                raise LedgerError(f"batch {n} is already in the ledger with a different hash")
            return
        self.ledger.append(batch)

    def poll(self) -> None:
        """Nothing to do: a local file has no reorgs."""

    def status(self) -> dict:
        """Ledger summary."""
        return ledger_status(self.ledger)

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()


def ledger_status(ledger: Ledger) -> dict:
    """Batches, fills and the last record of a ledger, and where a torn last frame starts (if a reader saw one)."""
    last = ledger.entries[-1].record.as_json() if ledger.entries else None
    return {"ledger": str(ledger.dir), "batches": ledger.count,
            "fills": sum(e.record.fill_count for e in ledger.entries), "last": last,
            "torn_tail": None if ledger.torn is None else {"byte": ledger.torn[0], "bytes": ledger.torn[1]}}


def _record_of(payload: bytes, where: Path, pos: int) -> BatchRecord:
    """The record in the header of an encoded batch, without decoding its fills."""
    try:
        if payload[:4] != BATCH_MAGIC:
            raise ValueError("bad batch magic")
        (n,) = struct.unpack_from("<I", payload, 4)
        return BatchRecord.from_json(json.loads(payload[8:8 + n])["record"])
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise LedgerError(f"ledger {where}: unreadable batch at byte {pos}: {e}") from None


def _follows(prev: BatchRecord | None, r: BatchRecord) -> str | None:
    """Why batch record r cannot come right after prev (None: it can): numbers, hashes and seq ranges chain."""
    if prev is None:
        if r.batch != 0 or r.prev_hash != ZERO:
            return f"batch {r.batch} cannot be the first batch"
        return None
    if r.batch != prev.batch + 1 or r.prev_hash != prev.hash:
        return f"batch {r.batch} does not follow batch {prev.batch}"
    if r.first_seq != prev.last_seq + 1:
        return (f"batch {r.batch} covers seqs {r.first_seq}..{r.last_seq}, not from {prev.last_seq + 1} "
                f"where batch {prev.batch} ends")
    return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
