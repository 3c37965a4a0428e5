"""Replay driver: stream an order log through decode -> engine -> encode in batches."""
from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from kabuto.engine.assets import FEE_ACCOUNT, Risk
from kabuto.engine.instruments import Instrument
from kabuto.replay.accounts import Accounts
from kabuto.replay.eventlog import Encoder, book_json
from kabuto.replay.orderlog import BOM, Decoder

CHUNK_BYTES = 4 << 20  # read size; a batch is every whole line in one chunk
AHEAD = 2  # chunks decoded ahead of the matching thread


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


def make_engine(kind: str, instruments: Sequence[Instrument], risk: Risk | None = None, fee_acct: int = -1):
    """The numba engine or the reference model, both with process/book/seq; with risk on (docs/balances.md)
    they keep balances, fee_acct being the id of the account "@fees"."""
    on = risk is not None and risk.enabled
    if kind == "reference":
        from kabuto.engine.reference import ReferenceEngine
        return ReferenceEngine(instruments, risk=risk, fee_acct=fee_acct) if on else ReferenceEngine(instruments)
    from kabuto.engine.engine import Engine
    return Engine(instruments, risk=risk, fee_acct=fee_acct) if on else Engine(instruments)


def _decoded(src: BinaryIO, decoder: Decoder, progress: Callable[[int], None] | None,
             ahead: queue.Queue, stop: threading.Event) -> None:
    """The decoding thread: (commands, account names table) of each chunk into ahead, then None.

    Its compiled decoder releases the GIL, so on a machine with two cores decoding the next chunk
    overlaps matching and encoding this one. An exception goes into the queue for the reader."""
    try:
        for data, first in read_chunks(src, CHUNK_BYTES, progress):
            item = (decoder.decode_chunk(data, first), decoder.accounts.json_table())
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        ahead.put(None)
    except BaseException as e:  # handed to the matching thread, which raises it
        ahead.put(e)


def replay(src: BinaryIO, out: BinaryIO, instruments: Sequence[Instrument], engine_kind: str = "numba",
           sinks: Iterable = (), progress: Callable[[int], None] | None = None,
           accounts: Accounts | None = None, risk: Risk | None = None):
    """Replay every line of src, writing events to out; returns the engine at the end.

    With risk on (docs/balances.md), "@fees" is interned before any account of the log, so its id is
    known to the engine. Two threads: one reads and decodes chunks (up to AHEAD of them ahead), this one
    matches, encodes and writes them in order."""
    accounts = accounts or Accounts()
    risk = risk if risk is not None and risk.enabled else None
    fee_acct = accounts.id(FEE_ACCOUNT) if risk is not None else -1
    decoder = Decoder(instruments, accounts, risk)
    encoder = Encoder(instruments, accounts, risk)
    engine = make_engine(engine_kind, instruments, risk, fee_acct)
    sinks = list(sinks)
    ahead: queue.Queue = queue.Queue(AHEAD)
    stop = threading.Event()
    reader = threading.Thread(target=_decoded, args=(src, decoder, progress, ahead, stop), name="replay-decode",
                              daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            cmds, names = item
            seq0 = engine.seq + 1
            events = engine.process(cmds)
            for sink in sinks:
                sink.handle(events, seq0)
            out.write(encoder.encode_bytes(events, seq0, names))
    finally:
        stop.set()
        reader.join()
    for sink in sinks:
        sink.close()
    engine.accounts = accounts
    return engine


def replay_text(text: bytes, instruments: Sequence[Instrument], engine_kind: str = "numba",
                risk: Risk | None = None) -> tuple[str, str]:
    """(events, final book JSON) of a whole order log given as bytes: for tests and tools."""
    import io
    out = io.BytesIO()
    engine = replay(io.BytesIO(text), out, instruments, engine_kind, risk=risk)
    return out.getvalue().decode(), book_json(engine, instruments, risk)


def stderr_progress(total: int):
    """A tqdm progress callback on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="replay", file=sys.stderr)
    return bar.update, bar.close
