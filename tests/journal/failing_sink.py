"""An event sink for `kabuto serve --sink failing_sink:make` that raises while DATA_DIR/fail-sink exists."""
from pathlib import Path


class FailingSink:
    """Raises in handle() while its flag file exists: a plugin that breaks in the middle of a batch."""

    def __init__(self, flag: Path):
        self.flag = flag

    def handle(self, events, first_seq: int) -> None:
        """Raise while the flag file exists."""
        if self.flag.exists():
            raise RuntimeError("the sink failed")

    def close(self) -> None:
        """Nothing to release."""


def make(instruments, data_dir) -> FailingSink:
    """The --sink factory."""
    return FailingSink(Path(data_dir) / "fail-sink")
