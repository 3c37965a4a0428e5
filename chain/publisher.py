"""What every publisher offers the batcher: where to resume, and an idempotent publish."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kabuto.chain.batch import Batch
from kabuto.chain.merkle import ZERO

if TYPE_CHECKING:
    from kabuto.chain.ledger import Ledger


@dataclass(frozen=True)
class Head:
    """The end of what a publisher has committed: the next batch number, the last record's hash and seq."""
    next_batch: int = 0
    last_hash: bytes = ZERO
    last_seq: int | None = None  # None when nothing is committed yet


class Publisher(Protocol):
    """A place batches are committed to, in batch-number order, each exactly once."""

    queue_dir: Path  # where the batcher keeps batches not yet published
    ledger: Ledger  # the local ledger every batch is written to (a replay is compared with it)

    def head(self) -> Head:
        """Where the batcher resumes after everything already committed."""

    def last_batch(self) -> Batch | None:
        """The last committed batch with its fills (None before the first)."""

    def publish(self, batch: Batch) -> None:
        """Commit the batch; a batch already committed with the same hash is a no-op. Raises on failure."""

    def poll(self) -> None:
        """Periodic work while idle (an EVM publisher re-checks the chain for reorgs)."""

    def status(self) -> dict:
        """What `kabuto chain status` shows of this publisher."""

    def close(self) -> None:
        """Release files and connections."""
