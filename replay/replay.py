"""Replay driver: stream an order log through decode -> engine -> encode in batches."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from kabuto.engine.instruments import Instrument
from kabuto.replay.accounts import Accounts
from kabuto.replay.eventlog import Encoder, book_json
from kabuto.replay.orderlog import BOM, Decoder

CHUNK_BYTES = 4 << 20  # read size; a batch is every whole line in one chunk


def read_chunks(f: BinaryIO, chunk: int = CHUNK_BYTES,
                progress: Callable[[int], None] | None = None) -> Iterator[tuple[bytes, int]]:
    """(whole lines, number of the first) for every chunk of a binary file; a BOM at its start is dropped."""
    line_no = 1
    rest = b""
    first = True
    while True:
        data = f.read(chunk)
        if progress and data:
            progress(len(data))
        if first:
            if data.startswith(BOM):
                data = data[3:]
            first = False
        if not data:
            if rest:
                yield rest, line_no
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        data = data[:cut + 1]
        yield data, line_no
        line_no += data.count(b"\n")


def make_engine(kind: str, instruments: Sequence[Instrument]):
    """The numba engine or the reference model, both with process/book/seq."""
    if kind == "reference":
        from kabuto.engine.reference import ReferenceEngine
        return ReferenceEngine(instruments)
    from kabuto.engine.engine import Engine
    return Engine(instruments)


def replay(src: BinaryIO, out: BinaryIO, instruments: Sequence[Instrument], engine_kind: str = "numba",
           sinks: Iterable = (), progress: Callable[[int], None] | None = None,
           accounts: Accounts | None = None):
    """Replay every line of src, writing events to out; returns the engine at the end."""
    accounts = accounts or Accounts()
    decoder = Decoder(instruments, accounts)
    encoder = Encoder(instruments, accounts)
    engine = make_engine(engine_kind, instruments)
    sinks = list(sinks)
    for data, first in read_chunks(src, progress=progress):
        cmds = decoder.decode_chunk(data, first)
        seq0 = engine.seq + 1
        events = engine.process(cmds)
        for sink in sinks:
            sink.handle(events, seq0)
        out.write(encoder.encode_bytes(events, seq0))
    for sink in sinks:
        sink.close()
    engine.accounts = accounts
    return engine


def replay_text(text: bytes, instruments: Sequence[Instrument], engine_kind: str = "numba") -> tuple[str, str]:
    """(events, final book JSON) of a whole order log given as bytes: for tests and tools."""
    import io
    out = io.BytesIO()
    engine = replay(io.BytesIO(text), out, instruments, engine_kind)
    return out.getvalue().decode(), book_json(engine, instruments)


def stderr_progress(total: int):
    """A tqdm progress callback on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="replay", file=sys.stderr)
    return bar.update, bar.close
