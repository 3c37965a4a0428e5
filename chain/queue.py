"""The bounded on-disk queue between the batcher and its publisher: one fsynced file per batch."""
from __future__ import annotations

import os
from pathlib import Path

from kabuto.chain.batch import Batch
from kabuto.chain.errors import LedgerError

SUFFIX = ".batch"


class BatchQueue:
    """Closed batches not yet published, oldest first, at most `limit` of them (files NNN.batch)."""

    def __init__(self, path: str | os.PathLike, limit: int):
        self.dir = Path(path)
        self.limit = limit
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for tmp in self.dir.glob("*.tmp"):  # a put cut short by a crash
                tmp.unlink()
            names = sorted(p.name for p in self.dir.glob("*" + SUFFIX))
        except OSError as e:
            raise LedgerError(f"cannot use queue directory {self.dir}: {e.strerror}") from None
        self._numbers = [int(n[:-len(SUFFIX)]) for n in names]
        self._cache: dict[int, Batch] = {}

    def __len__(self) -> int:
        return len(self._numbers)

    @property
    def free(self) -> int:
        """How many more batches fit."""
        return self.limit - len(self._numbers)

    def _path(self, n: int) -> Path:
        return self.dir / f"{n:012d}{SUFFIX}"

    def put(self, batch: Batch) -> None:
        """Store a batch durably (write, fsync, rename, fsync the directory)."""
        path = self._path(batch.number)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(batch.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._numbers.append(batch.number)
        self._cache[batch.number] = batch

    def get(self, n: int) -> Batch:
        """Queued batch n."""
        b = self._cache.get(n)
        if b is None:
            b = Batch.decode(self._path(n).read_bytes())
        return b

    def first(self) -> Batch | None:
        """The oldest queued batch."""
        return self.get(self._numbers[0]) if self._numbers else None

    def last(self) -> Batch | None:
        """The newest queued batch."""
        return self.get(self._numbers[-1]) if self._numbers else None

    def numbers(self) -> list[int]:
        """Numbers of the queued batches, oldest first."""
        return list(self._numbers)

    def pop(self, n: int) -> None:
        """Drop batch n once it is published (a crash before this only means a harmless re-publish)."""
        self._path(n).unlink(missing_ok=True)
        self._numbers.remove(n)
        self._cache.pop(n, None)
