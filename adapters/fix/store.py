"""A FIX session's persistent state: its next sequence numbers and the messages it sent, fsynced before sending."""
from __future__ import annotations

import os
import re
from pathlib import Path

from kabuto.adapters.fix.errors import StoreError

SEQ_RECORD = 42  # "%020d %020d\n": next incoming, next outgoing
_NAME = re.compile(r"[^A-Za-z0-9._-]")


class SessionStore:
    """DIR/SENDER-TARGET.seqnums (next incoming MsgSeqNum; the outgoing one after a reset) and
    DIR/SENDER-TARGET.messages (every message sent, for resends: the next outgoing MsgSeqNum follows the last).
    Writes go to the files at once; sync() makes them durable (fdatasync), and the acceptor calls it before any
    byte of those messages leaves, so a sequence number is never used twice."""

    def __init__(self, directory: Path, sender: str, target: str):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / _NAME.sub("_", f"{sender}-{target}")
        self.path = stem.with_suffix(".seqnums")
        self._seq_fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._log_fd = os.open(stem.with_suffix(".messages"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.next_in, self.next_out = 1, 1
        self.sent: dict[int, tuple[int, int]] = {}  # seq -> (offset, length) in the messages file
        self._log_dirty = self._seq_dirty = False
        self._load()

    def _load(self) -> None:
        data = os.pread(self._seq_fd, SEQ_RECORD, 0)
        if data:
            try:
                self.next_in, self.next_out = (int(x) for x in data.split())
            except ValueError:
                raise StoreError(f"{self.path}: unreadable sequence numbers") from None
        size = os.fstat(self._log_fd).st_size
        log = os.pread(self._log_fd, size, 0)
        pos = 0
        while pos < size:
            nl = log.find(b"\n", pos)
            try:
                seq, length = (int(x) for x in log[pos:nl].split()) if nl > 0 else (0, -1)
            except ValueError:
                seq, length = 0, -1
            if length < 0 or nl + 1 + length > size:  # a record cut short by a crash: dropped
                os.ftruncate(self._log_fd, pos)
                break
            self.sent[seq] = (nl + 1, length)
            pos = nl + 1 + length
        if self.sent:
            self.next_out = max(self.next_out, max(self.sent) + 1)

    def save_sent(self, seq: int, raw: bytes) -> None:
        """Record a message about to be sent with MsgSeqNum seq (the next outgoing number follows from it)."""
        head = f"{seq} {len(raw)}\n".encode()
        offset = os.lseek(self._log_fd, 0, os.SEEK_END)
        os.write(self._log_fd, head + raw)
        self.sent[seq] = (offset + len(head), len(raw))
        self.next_out = seq + 1
        self._log_dirty = True

    def set_next_in(self, seq: int) -> None:
        """The next incoming MsgSeqNum expected."""
        self.next_in = seq
        self._write_seqs()

    def sent_message(self, seq: int) -> bytes | None:
        """A message sent earlier with this MsgSeqNum, as it was sent."""
        where = self.sent.get(seq)
        return None if where is None else os.pread(self._log_fd, where[1], where[0])

    def reset(self) -> None:
        """Both sequences back to 1 and the sent messages forgotten (Logon with ResetSeqNumFlag)."""
        os.ftruncate(self._log_fd, 0)
        self._log_dirty = True
        self.sent.clear()
        self.next_in = self.next_out = 1
        self._write_seqs()

    def _write_seqs(self) -> None:
        # next_out here may lag behind the messages file, which is what counts (see _load)
        os.pwrite(self._seq_fd, f"{self.next_in:020d} {self.next_out:020d}\n".encode(), 0)
        self._seq_dirty = True

    def sync(self) -> None:
        """Make every write so far durable (one fdatasync per file written to)."""
        if self._log_dirty:
            os.fdatasync(self._log_fd)
            self._log_dirty = False
        if self._seq_dirty:
            os.fdatasync(self._seq_fd)
            self._seq_dirty = False

    def close(self) -> None:
        """Sync and close both files."""
        self.sync()
        os.close(self._seq_fd)
        os.close(self._log_fd)
