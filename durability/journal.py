"""The write-ahead journal: framed, checksummed, sequenced records in sealed segment files, with group commit.

A record is a 20-byte header and a body:

    u32 body length | u64 sequence number | u32 CRC32 of the body | u32 CRC32 of the 16 bytes before

all little-endian. Sequence numbers start at 1 and have no gaps. A segment file is named after the
sequence number of its first record (`00000000000000000001.wal`) and rolls once it holds
`segment_bytes`. The journal never appends records to a segment it did not create: every start
opens a new one. A pruned journal (`kabuto serve --prune-journal`) has lost the segments its oldest
kept snapshot covers, so it starts at a later record and is read from a snapshot only.

Format 2 (journal.json "version": 2) seals a segment when it rolls or the journal closes, and on
start the segment a crash left open (after its torn record is cut): a last record with sequence
number 0 whose 36-byte body is

    8-byte magic | u64 first record | u64 last record | u64 bytes before the seal | u32 CRC32 of them

so that start-up checks a segment a snapshot covers by one streaming CRC32 of the file, not record
by record. Format 1 segments (no seal) are read record by record and sealed by the next start.

fsync policies: `always` (fdatasync after every record, before the batch it holds is matched or
answered), `batch` (a background thread syncs every `batch_ms` milliseconds: a power loss can take
the last interval of acknowledged orders; a process crash loses nothing, the page cache survives
it), `off` (the operating system writes when it likes).
"""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kabuto.durability.errors import JournalError

HEADER = struct.Struct("<IQII")
HEAD = HEADER.size  # 20
MAX_BODY = 1 << 30
SUFFIX = ".wal"
POLICIES = ("always", "batch", "off")
FORMAT = 2  # journal.json "version": 2 seals segments; 1 did not
SEAL = struct.Struct("<8sQQQI")
SEAL_MAGIC = b"KBSEAL\x00\x02"
SEAL_BYTES = HEAD + SEAL.size  # 56: a seal record, header and body
CHUNK = 1 << 20


def frame(seq: int, body: bytes) -> bytes:
    """One record: header and body."""
    head = struct.pack("<IQI", len(body), seq, zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


@dataclass
class Seal:
    """What a sealed segment holds: records first..last in its first `size` bytes, whose CRC32 is crc."""
    first: int
    last: int
    size: int
    crc: int

    def record(self) -> bytes:
        """The seal record that ends the segment."""
        return frame(0, SEAL.pack(SEAL_MAGIC, self.first, self.last, self.size, self.crc))


def parse_seal(body) -> Seal | None:
    """The seal in a record body of sequence number 0, or None when it is not one."""
    if len(body) != SEAL.size:
        return None
    magic, first, last, size, crc = SEAL.unpack(body)
    return Seal(first, last, size, crc) if magic == SEAL_MAGIC else None


def read_seal(path: Path, size: int) -> Seal | None:
    """The seal at the end of a segment file of `size` bytes, if it ends with a whole, valid one."""
    if size < SEAL_BYTES:
        return None
    with open(path, "rb") as f:
        f.seek(size - SEAL_BYTES)
        tail = f.read(SEAL_BYTES)
    length, seq, bcrc, hcrc = HEADER.unpack_from(tail)
    if seq != 0 or length != SEAL.size or zlib.crc32(tail[:16]) != hcrc or zlib.crc32(tail[HEAD:]) != bcrc:
        return None
    seal = parse_seal(tail[HEAD:])
    return seal if seal is not None and seal.size == size - SEAL_BYTES else None


def file_crc(path: Path, size: int) -> int:
    """CRC32 of the first `size` bytes of a file, read in 1 MiB chunks."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    crc = 0
    with open(path, "rb", buffering=0) as f:
        while size > 0:
            n = f.readinto(view[:min(CHUNK, size)])
            if not n:
                break
            crc = zlib.crc32(view[:n], crc)
            size -= n
    return crc


def segment_name(first_seq: int) -> str:
    """The file name of a segment whose first record is first_seq."""
    return f"{first_seq:020d}{SUFFIX}"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """(first sequence number, path) of every segment, in order."""
    out = []
    for p in directory.glob("*" + SUFFIX):
        if p.stem.isdigit():
            out.append((int(p.stem), p))
    return sorted(out)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (new, renamed files) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriter:
    """Appends records to segment files under one fsync policy; one writer per directory at a time.

    A segment is sealed when it rolls and when the writer closes; after a failed write the segment's
    end is unknown, so every later append fails and close() leaves it unsealed (the next start cuts
    what the failed write left)."""

    def __init__(self, directory: Path, next_seq: int = 1, fsync: str = "always", batch_ms: float = 0.0,
                 segment_bytes: int = 64 << 20):
        if fsync not in POLICIES:
            raise JournalError(f"unknown fsync policy {fsync!r}")
        self.directory = Path(directory)
        self.next_seq = next_seq
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.syncs = 0  # fdatasync calls made, for the benchmark
        self.observe_sync: Callable[[float], None] | None = None  # told each record sync's seconds (metrics)
        self._lock = threading.Lock()
        self._dirty = False
        self._fd = -1
        self._size = 0
        self._crc = 0      # CRC32 of the current segment's bytes, for its seal
        self._first = next_seq
        self.failed: str | None = None  # why a write or sync failed: the segment's end is unknown since
        self.path: Path | None = None  # the segment being appended to
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._open_segment()
        except OSError as e:
            raise JournalError(f"cannot write journal in {self.directory}: {e.strerror}") from None
        self._stop = threading.Event()
        self._thread = None
        if fsync == "batch":
            self._thread = threading.Thread(target=self._sync_loop, args=(max(batch_ms, 0.1) / 1000,),
                                            name="journal-fsync", daemon=True)
            self._thread.start()

    def _open_segment(self) -> None:
        path = self.directory / segment_name(self.next_seq)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if path.exists() and path.stat().st_size == 0:
            flags |= os.O_TRUNC  # left empty by a crash right after it was made, or by cutting a torn record
        else:
            flags |= os.O_EXCL
        fd = os.open(path, flags, 0o644)
        old, self._fd, self._size, self._crc, self._first = self._fd, fd, 0, 0, self.next_seq
        self.path = path
        if old >= 0:
            if self.fsync != "off":
                os.fdatasync(old)
            os.close(old)
        if self.fsync != "off":
            fsync_dir(self.directory)

    def _seal(self, fd: int) -> None:
        """Write the current segment's seal (when it holds records and every write to it succeeded)."""
        if self._size and self.failed is None:
            _write_all(fd, Seal(self._first, self.next_seq - 1, self._size, self._crc).record())

    def append(self, body: bytes) -> int:
        """Write one record (durable on return under `always`); returns its sequence number."""
        seq = self.next_seq
        data = frame(seq, body)
        with self._lock:
            if self.failed is not None:
                raise JournalError(f"cannot write journal record {seq} in {self.directory}: an earlier write "
                                   f"failed ({self.failed})")
            try:
                if self._size >= self.segment_bytes:
                    self._seal(self._fd)
                    self._open_segment()
                _write_all(self._fd, data)
                self._size += len(data)
                self._crc = zlib.crc32(data, self._crc)
                if self.fsync == "always":
                    self._fdatasync()
                else:
                    self._dirty = True
            except OSError as e:
                self.failed = e.strerror
                raise JournalError(f"cannot write journal record {seq} in {self.directory}: {e.strerror}") from None
        self.next_seq = seq + 1
        return seq

    def sync(self) -> None:
        """Make everything written so far durable."""
        with self._lock:
            if self._fd >= 0 and self._dirty:
                try:
                    self._fdatasync()
                except OSError as e:  # what was written may be lost: nothing more may be acknowledged
                    self.failed = e.strerror
                    raise JournalError(f"cannot sync the journal in {self.directory}: {e.strerror}") from None
                self._dirty = False

    def _fdatasync(self) -> None:
        """Sync the current segment's records (lock held), timed for observe_sync."""
        t = time.perf_counter()
        os.fdatasync(self._fd)
        self.syncs += 1
        if self.observe_sync is not None:
            self.observe_sync(time.perf_counter() - t)

    def _sync_loop(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.sync()
            except JournalError:
                pass  # the next append reports it

    def close(self) -> None:
        """Seal the segment, sync it (unless the policy is off) and close it; after a failed write only
        close it (the failure was reported by the append that met it)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                try:
                    self._seal(fd)
                    if self.fsync != "off":
                        os.fdatasync(fd)
                except OSError as e:
                    if self.failed is None:
                        raise JournalError(f"cannot close journal segment {self.path}: {e.strerror}") from None
                finally:
                    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass
class Torn:
    """A bad end of the last segment to cut: where it starts and why it is bad.

    corrupt: not a torn write (the bytes are all there but do not check), cut only on the operator's
    word (`kabuto serve --truncate-corrupt-tail`)."""
    path: Path
    offset: int
    size: int
    why: str
    corrupt: bool = False

    def __str__(self) -> str:
        if self.corrupt:
            return (f"{self.path.name}: corrupt end of the journal at byte {self.offset} ({self.why}); "
                    f"{self.size - self.offset} bytes cut (--truncate-corrupt-tail)")
        return (f"{self.path.name}: torn last record at byte {self.offset} ({self.why}); "
                f"{self.size - self.offset} bytes cut")


CUT_HINT = "restore the file, or start `kabuto serve --truncate-corrupt-tail` to cut the journal there"


class JournalReader:
    """Reads every record of a journal directory, checking checksums, seals and sequence numbers.

    Every segment is checked, also those a snapshot covers: a sealed one by the CRC32 of its bytes
    against its seal (one streaming pass), an unsealed one record by record. At the end of the last
    segment, a record the file ends inside of (or a header followed by nothing but zeros) is a torn
    write: `torn` says where, and `cut()` truncates it. Bytes that are all there but do not check (a
    complete record failing its checksum, garbage after the last record) are a JournalError, or, with
    cut_corrupt_tail, cut like a torn write. A bad record anywhere else is a JournalError, as is a
    journal ending before the record `scan(after)` continues from."""

    def __init__(self, directory: Path, cut_corrupt_tail: bool = False):
        self.directory = Path(directory)
        self.cut_corrupt_tail = cut_corrupt_tail
        self.torn: Torn | None = None
        self.last_seq = 0
        self.records = 0
        self.unsealed: list[tuple[Path, int, int]] = []  # (segment, first, last record): records, no seal

    def scan(self, after: int = 0) -> Iterator[tuple[int, memoryview]]:
        """Yield (seq, body) of every record with seq > after, in order.

        Segments wholly at or before `after` may be missing (pruned); a journal starting later than
        record after + 1, or ending before record `after`, is a JournalError."""
        segs = []
        for first, path in segments(self.directory):
            try:
                size = path.stat().st_size
            except OSError as e:
                raise JournalError(f"cannot read {path}: {e.strerror}") from None
            if size:  # an empty segment holds nothing (a crash right after it was made)
                segs.append((first, path, size))
        expect = None
        for i, (first, path, size) in enumerate(segs):
            last_segment = i == len(segs) - 1
            if expect is not None and first != expect:
                raise JournalError(f"{path.name}: segment starts at record {first}, expected {expect}: a gap "
                                   f"(records {expect}..{first - 1} are missing: a segment was deleted or cut short)")
            if expect is None and first > after + 1:
                raise self._pruned(first, after)
            try:
                seal = read_seal(path, size)
                if seal is not None and seal.first == first and seal.last <= after and \
                        file_crc(path, seal.size) == seal.crc:
                    self.records += seal.last - first + 1  # covered and intact: no record needed
                    self.last_seq = seal.last
                    expect = seal.last + 1
                    continue
                data = path.read_bytes()
            except OSError as e:
                raise JournalError(f"cannot read {path}: {e.strerror}") from None
            expect = yield from self._segment(path, first, data, after, last_segment)
        if after > self.last_seq:
            where = f"ends at record {self.last_seq}" if segs else "holds no record"
            raise JournalError(f"the journal in {self.directory} {where}, but the state it should continue (a "
                               f"snapshot) includes records up to {after}: segments holding records "
                               f"{self.last_seq + 1}..{after} are missing or were cut short")

    def _segment(self, path: Path, first: int, data: bytes, after: int, last_segment: bool):
        """Yield the records of one segment's bytes after `after`; returns the next record's number."""
        mv = memoryview(data)
        pos, n, seq_expect = 0, len(data), first
        unpack = HEADER.unpack_from
        crc = zlib.crc32
        sealed = False
        while pos < n:
            why = None
            length = 0
            if n - pos < HEAD:
                why = "incomplete header"
            else:
                length, seq, bcrc, hcrc = unpack(data, pos)
                if crc(mv[pos:pos + 16]) != hcrc:
                    why = "header checksum"
                elif pos + HEAD + length > n:
                    why = "incomplete body"
                elif crc(mv[pos + HEAD:pos + HEAD + length]) != bcrc:
                    why = "body checksum"
                elif sealed:
                    why = "bytes after the seal"
                elif seq == 0:
                    seal = parse_seal(mv[pos + HEAD:pos + HEAD + length])
                    if seal is None or (seal.first, seal.last, seal.size) != (first, seq_expect - 1, pos) or \
                            crc(mv[:pos]) != seal.crc:
                        raise JournalError(f"{path} byte {pos}: the segment's seal does not match its records "
                                           f"({seal or 'not a seal'}); refusing to go on (restore this file)")
                    sealed = True
                    pos += HEAD + length
                    continue
                elif seq != seq_expect:
                    raise JournalError(f"{path.name} byte {pos}: record {seq}, expected {seq_expect} "
                                       f"(sequence gap or reordered records)")
            if why is not None:
                self._bad_end(path, mv, pos, length, why, seq_expect - 1, last_segment)
                break
            end = pos + HEAD + length
            if seq > after:
                yield seq, mv[pos + HEAD:end]
            self.records += 1
            self.last_seq = seq
            seq_expect = seq + 1
            pos = end
        if not sealed and seq_expect > first:
            self.unsealed.append((path, first, seq_expect - 1))
        return seq_expect

    def _bad_end(self, path: Path, mv: memoryview, pos: int, length: int, why: str, last: int,
                 last_segment: bool) -> None:
        """A bad record at pos: a torn write to cut, a corrupt tail, or corruption in the middle."""
        n = len(mv)
        follows = pos + HEAD + length
        if not last_segment or (why == "body checksum" and n - follows >= HEAD and
                                zlib.crc32(mv[follows:follows + 16]) == HEADER.unpack_from(mv, follows)[3]):
            # a record (or a seal) follows the bad one: records after the damage would be lost by a cut
            raise JournalError(f"{path} byte {pos}: corrupt record ({why}) in the middle of the journal; "
                               f"refusing to skip it (restore this file)")
        after_it = f"record {last}" if last else "the start of the segment"
        if why in ("incomplete header", "incomplete body"):
            torn = True  # the file ends inside the record: its write never completed
        elif why == "header checksum":
            torn = not any(mv[pos + HEAD:])  # a half-written header with nothing but zeros after it
            if not torn:
                why = f"{n - pos} unreadable bytes after {after_it} (a damaged record header or garbage)"
        elif why == "body checksum":
            torn = not any(mv[pos + HEAD:])  # the body never landed: zeros to the end of the file
            if not torn:
                why = (f"record {last + 1} is complete ({length} bytes of body on disk) but fails its checksum"
                       + (f", {n - follows} unreadable bytes after it" if follows < n else ""))
        else:  # bytes after the seal
            torn = not any(mv[pos:])
            why = f"{n - pos} bytes after the segment's seal"
        if torn:
            self.torn = Torn(path, pos, n, why)
        elif self.cut_corrupt_tail:
            self.torn = Torn(path, pos, n, why, corrupt=True)
        else:
            raise JournalError(f"{path} byte {pos}: {why}: damaged after it was written, not a torn write; "
                               f"refusing to drop it ({CUT_HINT})")

    def _pruned(self, first: int, after: int) -> JournalError:
        if after == 0:
            return JournalError(f"the journal in {self.directory} was pruned: it starts at record {first}, not 1, "
                                f"so it cannot be replayed from its start (only recovered from a snapshot at "
                                f"record {first - 1} or later)")
        return JournalError(f"the journal in {self.directory} was pruned: it starts at record {first}, but the "
                            f"state it should continue ends at record {after}: records {after + 1}..{first - 1} "
                            f"are gone")

    def cut(self) -> None:
        """Truncate a torn (or, with cut_corrupt_tail, corrupt) end found by scan() (durably)."""
        if self.torn is None:
            return
        with open(self.torn.path, "r+b") as f:
            f.truncate(self.torn.offset)
            os.fsync(f.fileno())

    def seal(self) -> None:
        """Seal the segments scan() read record by record that hold records but no seal (after cut())."""
        for path, first, last in self.unsealed:
            try:
                size = path.stat().st_size
                if not size:
                    continue
                with open(path, "ab") as f:
                    f.write(Seal(first, last, size, file_crc(path, size)).record())
                    f.flush()
                    os.fdatasync(f.fileno())
            except OSError as e:
                raise JournalError(f"cannot seal journal segment {path}: {e.strerror}") from None
        self.unsealed = []
