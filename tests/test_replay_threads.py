"""kabuto replay decodes on a thread of its own: its failures reach the caller, and a failing writer stops it."""
import io
import threading

import pytest
from kabuto.engine.instruments import load_instruments
from kabuto.replay import replay as R
from kabuto.replay.replay import replay

INSTRUMENTS = load_instruments()
LINE = b'{"op":"new","oid":%d,"acct":"a","sym":"TSLAx-USD","side":"buy","type":"limit","px":"1.00","qty":"1"}\n'


def big_log(n: int = 20_000) -> bytes:
    return b"".join(LINE % i for i in range(n))


class FailingReader(io.RawIOBase):
    """A source whose second read fails, as a disk or pipe can."""

    def __init__(self, first: bytes):
        self.first, self.reads = first, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 1:
            return self.first
        raise OSError(5, "Input/output error")


class FailingWriter:
    """A destination that fails on its first write, as a closed pipe does."""

    def write(self, data: bytes) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_read_error_in_the_decoding_thread_reaches_the_caller():
    with pytest.raises(OSError, match="Input/output error"):
        replay(FailingReader(LINE % 1), io.BytesIO(), INSTRUMENTS)


def test_a_write_error_stops_the_decoding_thread_and_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(R, "CHUNK_BYTES", 4096)  # many chunks: the decoding thread waits on a full queue
    before = threading.active_count()
    with pytest.raises(BrokenPipeError):
        replay(io.BytesIO(big_log()), FailingWriter(), INSTRUMENTS)
    assert threading.active_count() == before


def test_events_come_out_in_log_order_across_many_chunks(monkeypatch):
    log = big_log(5000)
    whole = io.BytesIO()
    replay(io.BytesIO(log), whole, INSTRUMENTS)
    monkeypatch.setattr(R, "CHUNK_BYTES", 1000)
    chunked = io.BytesIO()
    replay(io.BytesIO(log), chunked, INSTRUMENTS)
    assert chunked.getvalue() == whole.getvalue() and whole.getvalue().count(b"\n") == 5000
