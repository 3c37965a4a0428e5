"""The dashboard's view of the chain ledger: recent batches and a fill's Merkle proof, checked as `kabuto chain
proof` and `kabuto chain verify` do."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from kabuto.chain.errors import ChainError
from kabuto.chain.ledger import FILE, Ledger
from kabuto.chain.proof import check_against_ledger, check_fill_proof, fill_proof

BATCHES = 20  # newest batches listed


class ChainView:
    """A read-only ledger, opened again whenever its file has grown."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None
        self._size = -1

    def _current(self) -> Ledger | None:
        """The ledger as it is on disk now (lock held); None before its first batch."""
        try:
            size = os.stat(self.dir / FILE).st_size
        except OSError:
            return None
        if size != self._size:
            try:
                fresh = Ledger(self.dir)
            except ChainError:
                return self._ledger
            if self._ledger is not None:
                self._ledger.close()
            self._ledger, self._size = fresh, size
        return self._ledger

    def batches(self, limit: int = BATCHES) -> dict:
        """The ledger's batch count and its newest batch records, newest first."""
        with self._lock:
            ledger = self._current()
            if ledger is None:
                return {"ledger": str(self.dir), "count": 0, "batches": []}
            records = [ledger.record(n).as_json() for n in range(ledger.count - 1, max(-1, ledger.count - 1 - limit),
                                                                  -1)]
            return {"ledger": str(self.dir), "count": ledger.count, "batches": records}

    def proof(self, seq: int) -> dict | None:
        """The fill proof of fill `seq` with its check against itself and the ledger; None when no batch holds it."""
        with self._lock:
            ledger = self._current()
            if ledger is None or ledger.find(seq) is None:
                return None
            doc = fill_proof(ledger, seq)  # ProofError when event seq is in a batch but is not a fill
            problems = check_fill_proof(doc) + check_against_ledger(doc, ledger)
        return {"proof": doc, "valid": not problems, "problems": problems,
                "checked_against": f"the ledger {self.dir}"}

    def close(self) -> None:
        """Close the ledger file."""
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
