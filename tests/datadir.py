"""Reading a running venue's data directory from another process, as the tests do."""
from __future__ import annotations

from pathlib import Path

from kabuto.chain.batcher import CLEAR_FILE


def committed_point(data_dir: Path) -> int:
    """The committed point the venue's chain batcher last saved (0 before the first)."""
    try:
        return int((Path(data_dir) / "chain" / CLEAR_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
