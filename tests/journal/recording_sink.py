"""An event sink for `kabuto serve --sink recording_sink:make` that appends every batch of events the venue
printed to DATA_DIR/sink-events.bin, so that a test can compare what a venue printed (before and after a
kill -9: each write goes to the kernel at once, which a SIGKILL does not undo) with a replay of its journal."""
import os
from pathlib import Path

import numpy as np
from kabuto.engine.records import EVENT_DTYPE

HEADER = np.dtype([("first_seq", np.int64), ("count", np.int64)])
FILE = "sink-events.bin"


class RecordingSink:
    """Appends (first event number, event count, the event records) per batch, one write() each."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self.fd, np.array([(-1, 0)], HEADER).tobytes())  # a start: the venue (re)started here

    def handle(self, events, first_seq: int) -> None:
        """Record the batch."""
        os.write(self.fd, np.array([(first_seq, len(events))], HEADER).tobytes() + events.tobytes())

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)


def make(instruments, data_dir) -> RecordingSink:
    """The --sink factory."""
    return RecordingSink(Path(data_dir) / FILE)


def runs(data_dir: Path) -> list[dict[int, np.void]]:
    """What each start of the venue printed, in order: {event number: event record}."""
    raw = (Path(data_dir) / FILE).read_bytes()
    out: list[dict] = []
    p = 0
    while p < len(raw):
        first, count = np.frombuffer(raw, HEADER, 1, p)[0].tolist()
        p += HEADER.itemsize
        if first < 0:
            out.append({})
            continue
        events = np.frombuffer(raw, EVENT_DTYPE, count, p)
        p += count * EVENT_DTYPE.itemsize
        out[-1].update((first + i, e) for i, e in enumerate(events))
    return out
