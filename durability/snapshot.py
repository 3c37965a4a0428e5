"""Snapshots: the whole engine state and the gateway's order ownership in one self-contained file.

File: magic, msgpack document, u32 CRC32 of the document. The document holds every array of
`engine.state.State` (row buffers saved column by column and rebuilt with the same layout), the
engine's event count, the journal sequence number the snapshot covers, the running event hash
and the gateway state (account names, next engine order id, client order id and cancel-on-
disconnect wish of every live order). Written to a temporary file, fsynced, renamed, and the
directory fsynced: a crash leaves either the old set of snapshots or the new one.
"""
from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
from kabuto.durability.journal import JournalError, fsync_dir
from kabuto.engine.state import (
    HASH_FIELDS,
    LEVEL_FIELDS,
    ORDER_FIELDS,
    RISK_FIELDS,
    State,
    new_state,
    rebuild_hash,
)

log = logging.getLogger(__name__)

MAGIC = b"KABUTO-SNAPSHOT-1\n"
SUFFIX = ".snap"
# (an order's rates and fee accumulator, risk on, are rows of their own: one placeholder row with risk off)
ROW_GROUPS = (ORDER_FIELDS, LEVEL_FIELDS, HASH_FIELDS, RISK_FIELDS)


@dataclass
class Snapshot:
    """A loaded snapshot."""
    journal_seq: int      # the last journal record it includes
    seq: int              # engine events so far
    event_hash: bytes     # running hash of the event stream up to seq
    symbols: list
    state: State
    gateway: dict         # {"accounts": [names], "next_oid": int, "orders": [[oid, cl, cod], ...]}
    path: Path | None = None


def snapshot_name(journal_seq: int) -> str:
    """The file name of the snapshot covering journal records 1..journal_seq."""
    return f"{journal_seq:020d}{SUFFIX}"


def _unpack_array(v: list) -> np.ndarray:
    dtype, shape, raw = v
    return np.frombuffer(raw, np.dtype(dtype)).reshape(shape).copy()


def _bin_header(n: int) -> bytes:
    """The msgpack bin header of n bytes (the smallest format, as msgpack's packer writes it)."""
    if n < 1 << 8:
        return struct.pack(">BB", 0xC4, n)
    if n < 1 << 16:
        return struct.pack(">BH", 0xC5, n)
    return struct.pack(">BI", 0xC6, n)


def _pieces(snap: Snapshot) -> Iterator[bytes | np.ndarray]:
    """The msgpack document of a snapshot in pieces; array bytes are yielded as arrays, not copied.

    Piece by piece, so that a writer thread holds the GIL for one array at a time at most."""
    p = msgpack.Packer(use_bin_type=True)
    yield p.pack_map_header(6)
    for key in ("journal_seq", "seq", "event_hash", "symbols", "gateway"):
        yield p.pack(key) + p.pack(getattr(snap, key))
    yield p.pack("arrays") + p.pack_map_header(len(State._fields))
    for name in State._fields:  # each array as [dtype, shape, raw bytes]
        a = np.ascontiguousarray(getattr(snap.state, name))
        yield p.pack(name) + p.pack_array_header(3) + p.pack(a.dtype.str) + p.pack(list(a.shape)) + \
            _bin_header(a.nbytes)
        yield a.reshape(-1).view(np.uint8)


def encode(snap: Snapshot) -> bytes:
    """The bytes of a snapshot file."""
    doc = b"".join(bytes(piece) for piece in _pieces(snap))
    return MAGIC + doc + struct.pack("<I", zlib.crc32(doc))


def capture(st: State) -> State:
    """A private copy of an engine state (row buffers copied whole): a snapshot of it can be
    written on another thread while the engine goes on."""
    out = {}
    for group in ROW_GROUPS:
        base = getattr(st, group[0]).base
        if base is not None and base.ndim == 2 and base.shape[1] == len(group):
            buf = base.copy()
            for i, f in enumerate(group):
                out[f] = buf[:, i]
    return State(**{f: out[f] if f in out else getattr(st, f).copy() for f in State._fields})


def _upgrade(arrays: dict, n_symbols: int) -> dict:
    """Arrays of a snapshot written before a State field existed get that field's empty value."""
    fresh = new_state(n_symbols, 1, 1, 1)
    for f in State._fields:
        if f not in arrays:
            if f in ORDER_FIELDS:
                arrays[f] = np.zeros(len(arrays[ORDER_FIELDS[0]]), np.int64)
            else:
                arrays[f] = getattr(fresh, f).copy()
    meta = arrays["meta"]
    if len(meta) < len(fresh.meta):
        arrays["meta"] = np.concatenate([meta, fresh.meta[len(meta):]])
    return arrays


def decode(data: bytes, path: Path | None = None) -> Snapshot:
    """A snapshot from its file bytes; JournalError when it is damaged."""
    name = path.name if path else "snapshot"
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise JournalError(f"{name}: not a Kabuto snapshot")
    doc = memoryview(data)[len(MAGIC):-4]
    if zlib.crc32(doc) != struct.unpack("<I", data[-4:])[0]:
        raise JournalError(f"{name}: checksum mismatch")
    d = msgpack.unpackb(doc, raw=False, strict_map_key=False)
    arrays = _upgrade({k: _unpack_array(v) for k, v in d["arrays"].items()}, len(d["symbols"]))
    for group in ROW_GROUPS:  # one int64 row per record, fields as column views (engine/state.py)
        buf = np.empty((len(arrays[group[0]]), len(group)), np.int64)
        for i, f in enumerate(group):
            buf[:, i] = arrays[f]
            arrays[f] = buf[:, i]
    state = rebuild_hash(State(**arrays))  # the same table unless an older hash function placed its entries
    return Snapshot(d["journal_seq"], d["seq"], d["event_hash"], d["symbols"], state, d["gateway"], path)


def snapshot_seq(path: Path) -> int:
    """The engine event count of a snapshot file, from the start of its document (no full decode)."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 256)
    if not head.startswith(MAGIC):
        raise ValueError(f"{path.name} is not a Kabuto snapshot")
    u = msgpack.Unpacker(raw=False)
    u.feed(head[len(MAGIC):])
    for _ in range(u.read_map_header()):
        key, value = u.unpack(), u.unpack()
        if key == "seq":
            return int(value)
    raise ValueError(f"{path.name}: no event count at the start of the snapshot")


def write_snapshot(directory: Path, snap: Snapshot) -> Path:
    """Write a snapshot atomically (temp file, fsync, rename, fsync directory); returns its path.

    On failure the temporary file is removed."""
    path = directory / snapshot_name(snap.journal_seq)
    tmp = path.with_suffix(".tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            crc = 0
            for piece in _pieces(snap):
                f.write(piece)
                crc = zlib.crc32(piece, crc)
            f.write(struct.pack("<I", crc))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(directory)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)  # a partial file would hold the disk space the journal needs
        except OSError:
            pass
        raise JournalError(f"cannot write snapshot {path}: {e.strerror}") from None
    return path


def load_newest(directory: Path, max_seq: int | None = None, skipped: list[str] | None = None) -> Snapshot | None:
    """The newest snapshot that reads back whole (and stands at event max_seq or before, if given);
    damaged ones are skipped, and said in `skipped` if given, else logged."""
    paths = sorted(p for p in directory.glob("*" + SUFFIX) if p.stem.isdigit()) if directory.is_dir() else []
    for path in reversed(paths):
        try:
            snap = decode(path.read_bytes(), path)
        except (JournalError, OSError, ValueError, KeyError, TypeError, msgpack.ExtraData) as e:
            if skipped is None:
                log.warning("skipping snapshot %s: %s", path.name, e)
            else:
                skipped.append(f"skipping snapshot {path.name}: {e}")
            continue
        if max_seq is None or snap.seq <= max_seq:
            return snap
    return None
