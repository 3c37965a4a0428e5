"""The journal seam: called with each batch of command records before the engine runs them."""
from __future__ import annotations

import numpy as np


class NullJournal:
    """Keeps nothing. A write-ahead journal replaces it: same two methods, called from the engine thread."""

    def append(self, cmds: np.ndarray) -> None:
        """Record a batch before it is processed (cmds is only valid during the call: copy or write it)."""

    def close(self) -> None:
        """Flush and release whatever the journal holds."""
