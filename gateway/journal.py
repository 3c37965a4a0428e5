"""The write-ahead journal: framed, checksummed, sequenced records in segment files, with group commit.

A record is a 20-byte header and a body:

    u32 body length | u64 sequence number | u32 CRC32 of the body | u32 CRC32 of the 16 bytes before

all little-endian. Sequence numbers start at 1 and have no gaps. A segment file is named after the
sequence number of its first record (`00000000000000000001.wal`) and rolls once it holds
`segment_bytes`. The journal never appends to a segment it did not create: every start opens a
new one. A pruned journal (`kabuto serve --prune-journal`) has lost the segments its oldest kept
snapshot covers, so it starts at a later record and is read from a snapshot only.

fsync policies: `always` (fdatasync after every record, before the batch it holds is matched or
answered), `batch` (a background thread syncs every `batch_ms` milliseconds: a power loss can take
the last interval of acknowledged orders; a process crash loses nothing, the page cache survives
it), `off` (the operating system writes when it likes).
"""
from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from gateway.errors import JournalError

HEADER = struct.Struct("<IQII")
HEAD = HEADER.size  # 20
MAX_BODY = 1 << 30
SUFFIX = ".wal"
POLICIES = ("always", "batch", "off")


class NullJournal:
    """Keeps nothing: the journal of a venue run without durability (tests, benchmarks)."""

    def append(self, cmds: np.ndarray, meta: list | None = None) -> None:
        """Record a batch before it is processed (cmds is only valid during the call: copy or write it)."""

    def close(self) -> None:
        """Flush and release whatever the journal holds."""


def frame(seq: int, body: bytes) -> bytes:
    """One record: header and body."""
    head = struct.pack("<IQI", len(body), seq, zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


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
    """Appends records to segment files under one fsync policy; one writer per directory at a time."""

    def __init__(self, directory: Path, next_seq: int = 1, fsync: str = "always", batch_ms: float = 0.0,
                 segment_bytes: int = 64 << 20):
        if fsync not in POLICIES:
            raise JournalError(f"unknown fsync policy {fsync!r}")
        self.directory = Path(directory)
        self.next_seq = next_seq
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.syncs = 0  # fdatasync calls made, for the benchmark
        self._lock = threading.Lock()
        self._dirty = False
        self._fd = -1
        self._size = 0
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
        old, self._fd, self._size = self._fd, fd, 0
        self.path = path
        if old >= 0:
            if self.fsync != "off":
                os.fdatasync(old)
            os.close(old)
        if self.fsync != "off":
            fsync_dir(self.directory)

    def append(self, body: bytes) -> int:
        """Write one record (durable on return under `always`); returns its sequence number."""
        seq = self.next_seq
        data = frame(seq, body)
        try:
            with self._lock:
                if self._size >= self.segment_bytes:
                    self._open_segment()
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                self._size += len(data)
                if self.fsync == "always":
                    os.fdatasync(self._fd)
                    self.syncs += 1
                else:
                    self._dirty = True
        except OSError as e:
            raise JournalError(f"cannot write journal record {seq} in {self.directory}: {e.strerror}") from None
        self.next_seq = seq + 1
        return seq

    def sync(self) -> None:
        """Make everything written so far durable."""
        with self._lock:
            if self._fd >= 0 and self._dirty:
                os.fdatasync(self._fd)
                self._dirty = False
                self.syncs += 1

    def _sync_loop(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.sync()
            except OSError:
                pass  # the next append reports a failing disk

    def close(self) -> None:
        """Sync (unless the policy is off) and close the segment."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._fd >= 0:
                if self.fsync != "off":
                    os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = -1


@dataclass
class Torn:
    """A bad last record: where it starts and why it is bad."""
    path: Path
    offset: int
    size: int
    why: str

    def __str__(self) -> str:
        return f"{self.path.name}: torn or corrupt last record at byte {self.offset} ({self.why}); {self.size - self.offset} bytes cut"


class JournalReader:
    """Reads every record of a journal directory, checking checksums and sequence numbers.

    A bad record with nothing but zeros after it, at the end of the last segment, is a torn write:
    `torn` says where, and `cut()` truncates it. A bad record anywhere else is a JournalError."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.torn: Torn | None = None
        self.last_seq = 0
        self.records = 0

    def scan(self, after: int = 0) -> Iterator[tuple[int, memoryview]]:
        """Yield (seq, body) of every record with seq > after, in order.

        Segments wholly at or before `after` may be missing (pruned); a journal starting later than
        record after + 1 is a JournalError."""
        segs = segments(self.directory)
        expect = None
        for i, (first, path) in enumerate(segs):
            last_segment = i == len(segs) - 1
            if not last_segment and segs[i + 1][0] <= after + 1 and expect is None:
                continue  # every record here is covered (the next segment starts after them)
            try:
                data = path.read_bytes()
            except OSError as e:
                raise JournalError(f"cannot read {path}: {e.strerror}") from None
            if expect is not None and first != expect and len(data):
                raise JournalError(f"{path.name}: segment starts at record {first}, expected {expect} (gap)")
            if expect is None and first > after + 1 and len(data):
                raise self._pruned(first, after)
            mv = memoryview(data)
            pos, n, seq_expect = 0, len(data), first
            unpack = HEADER.unpack_from
            crc = zlib.crc32
            while pos < n:
                why = None
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
                    elif seq != seq_expect:
                        raise JournalError(f"{path.name} byte {pos}: record {seq}, expected {seq_expect} "
                                           f"(sequence gap or reordered records)")
                if why is not None:
                    if why == "body checksum":
                        tail_only = pos + HEAD + length == n  # the last record is complete but damaged
                    elif why == "header checksum":
                        tail_only = not any(mv[pos + HEAD:])  # a half-written header, zeros after it
                    else:
                        tail_only = True  # cut short
                    if not (last_segment and tail_only):
                        raise JournalError(f"{path} byte {pos}: corrupt record ({why}) in the middle of the "
                                           f"journal; refusing to skip it (restore this file or cut it by hand)")
                    self.torn = Torn(path, pos, n, why)
                    break
                end = pos + HEAD + length
                if seq > after:
                    yield seq, mv[pos + HEAD:end]
                self.records += 1
                self.last_seq = seq
                seq_expect = seq + 1
                pos = end
            expect = seq_expect

    def _pruned(self, first: int, after: int) -> JournalError:
        if after == 0:
            return JournalError(f"the journal in {self.directory} was pruned: it starts at record {first}, not 1, "
                                f"so it cannot be replayed from its start (only recovered from a snapshot at "
                                f"record {first - 1} or later)")
        return JournalError(f"the journal in {self.directory} was pruned: it starts at record {first}, but the "
                            f"state it should continue ends at record {after}: records {after + 1}..{first - 1} "
                            f"are gone")

    def cut(self) -> None:
        """Truncate a torn last record found by scan() (durably)."""
        if self.torn is None:
            return
        with open(self.torn.path, "r+b") as f:
            f.truncate(self.torn.offset)
            os.fsync(f.fileno())
