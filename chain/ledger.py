"""The local ledger: an append-only, hash-chained, fsynced file of batches (records and fills)."""
from __future__ import annotations

import bisect
import fcntl
import json
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from chain.batch import MAGIC as BATCH_MAGIC, Batch, BatchRecord
from chain.errors import LedgerError
from chain.merkle import ZERO
from chain.publisher import Head

FILE = "ledger.kbl"
FRAME_MAGIC = b"KBL1"
_HEAD = struct.Struct("<4sQ")  # magic, payload length; then the payload and its crc32 (<I)
DEFAULT_DIR = "kabuto-data/chain"


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
        self._scan()

    def _scan(self) -> None:
        """Index every frame from its header; a torn last frame is cut off (writer) or ignored (reader)."""
        f = self._f
        size = os.fstat(f.fileno()).st_size
        pos = 0
        prev = None
        while pos < size:
            f.seek(pos)
            head = f.read(_HEAD.size)
            if len(head) < _HEAD.size:
                break
            magic, length = _HEAD.unpack(head)
            if magic != FRAME_MAGIC:
                raise LedgerError(f"ledger {self.file}: bad frame at byte {pos}")
            end = pos + _HEAD.size + length + 4
            if end > size:
                break
            if end == size:  # only the newest frame can be half-written: check its sum
                payload = f.read(length)
                if zlib.crc32(payload) != struct.unpack("<I", f.read(4))[0]:
                    break
                record = _record_of(payload, self.file, pos)
            else:
                start = f.read(min(length, 8))
                hlen = struct.unpack_from("<I", start, 4)[0] if len(start) == 8 else 0
                record = _record_of(start + f.read(min(hlen, length - len(start))), self.file, pos)
            if prev is None and (record.batch != 0 or record.prev_hash != ZERO):
                raise LedgerError(f"ledger {self.file}: does not start at batch 0")
            if prev is not None and (record.batch != prev.batch + 1 or record.prev_hash != prev.hash):
                raise LedgerError(f"ledger {self.file}: batch {record.batch} does not follow batch {prev.batch}")
            self.entries.append(Entry(pos, length, record))
            self._last_seqs.append(record.last_seq)
            prev = record
            pos = end
        if pos < size and self.writable:
            print(f"kabuto: ledger {self.file}: cut a torn last frame ({size - pos} bytes)", file=sys.stderr)
            f.truncate(pos)
            os.fsync(f.fileno())
        self._end = pos

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
        e = self.entries[n]
        self._f.seek(e.offset + _HEAD.size)
        payload = self._f.read(e.length)
        (crc,) = struct.unpack("<I", self._f.read(4))
        if zlib.crc32(payload) != crc:
            raise LedgerError(f"ledger {self.file}: batch {n} fails its checksum")
        return Batch.decode(payload)

    def find(self, seq: int) -> int | None:
        """Number of the batch covering engine seq, or None."""
        n = bisect.bisect_left(self._last_seqs, seq)
        if n < len(self.entries) and self.entries[n].record.first_seq <= seq:
            return n
        return None

    def append(self, batch: Batch) -> None:
        """Append the next batch and fsync; LedgerError when it does not follow the last one."""
        if not self.writable:
            raise LedgerError("ledger opened read-only")
        r = batch.record
        h = self.head()
        if r.batch != h.next_batch or r.prev_hash != h.last_hash:
            raise LedgerError(f"batch {r.batch} does not follow the ledger's batch {h.next_batch - 1}")
        payload = batch.encode()
        frame = _HEAD.pack(FRAME_MAGIC, len(payload)) + payload + struct.pack("<I", zlib.crc32(payload))
        f = self._f
        f.seek(self._end)
        f.write(frame)
        f.flush()
        os.fsync(f.fileno())
        self.entries.append(Entry(self._end, len(payload), r))
        self._last_seqs.append(r.last_seq)
        self._end += len(frame)

    def verify(self) -> list[str]:
        """Every problem found by re-reading all batches and recomputing their roots (empty: all good)."""
        problems = []
        prev_last = None
        for n in range(self.count):
            try:
                b = self.batch(n)
            except LedgerError as e:
                problems.append(str(e))
                continue
            if b.record != self.entries[n].record:
                problems.append(f"batch {n}: record differs from the index")
            problems += b.check()
            if prev_last is not None and b.record.first_seq <= prev_last:
                problems.append(f"batch {n}: seq range overlaps batch {n - 1}")
            prev_last = b.record.last_seq
        return problems

    def close(self) -> None:
        """Close the file (and release the writer's lock)."""
        self._f.close()


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
    """Batches, fills and the last record of a ledger."""
    last = ledger.entries[-1].record.as_json() if ledger.entries else None
    return {"ledger": str(ledger.dir), "batches": ledger.count,
            "fills": sum(e.record.fill_count for e in ledger.entries), "last": last}


def _record_of(payload: bytes, where: Path, pos: int) -> BatchRecord:
    """The record in the header of an encoded batch, without decoding its fills."""
    try:
        if payload[:4] != BATCH_MAGIC:
            raise ValueError("bad batch magic")
        (n,) = struct.unpack_from("<I", payload, 4)
        return BatchRecord.from_json(json.loads(payload[8:8 + n])["record"])
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise LedgerError(f"ledger {where}: unreadable batch at byte {pos}: {e}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
