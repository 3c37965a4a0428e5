"""Account names interned to integer ids, in a table both Python and numba code can use."""
from __future__ import annotations

import json

import numpy as np
from kabuto.engine.jit import njit

EMPTY = -1


@njit(cache=True, _nrt=False)
def fnv1a(buf, start, end):
    """64-bit FNV-1a hash of buf[start:end]."""
    h = np.uint64(0xCBF29CE484222325)
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * np.uint64(0x100000001B3)
    return h


@njit(cache=True, _nrt=False)
def intern(buf, start, end, t_hash, t_id, arena, a_off, meta):
    """Id of the name buf[start:end], inserting it when new (meta: [count, arena bytes used]).

    The caller guarantees room: the table at most half full after the insert, the arena big enough."""
    h = fnv1a(buf, start, end)
    mask = len(t_id) - 1
    i = np.int64(h >> np.uint64(40)) & mask
    n = end - start
    while True:
        a = t_id[i]
        if a == EMPTY:
            break
        if t_hash[i] == h and a_off[a + 1] - a_off[a] == n:
            s = a_off[a]
            same = True
            for j in range(n):
                if arena[s + j] != buf[start + j]:
                    same = False
                    break
            if same:
                return a
        i = (i + 1) & mask
    a = meta[0]
    used = meta[1]
    for j in range(n):
        arena[used + j] = buf[start + j]
    a_off[a + 1] = used + n
    t_hash[i] = h
    t_id[i] = a
    meta[0] = a + 1
    meta[1] = used + n
    return a


class Accounts:
    """Interns account names; the integer 7 and the string "7" are one account ("7")."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.t_hash = np.zeros(1024, np.uint64)
        self.t_id = np.full(1024, EMPTY, np.int64)
        self.arena = np.zeros(1 << 16, np.uint8)
        self.a_off = np.zeros(1025, np.int64)
        self.meta = np.zeros(2, np.int64)  # ids allocated, arena bytes used
        self._json = bytearray()  # JSON text of every name, for the encoder
        self._json_ends: list[int] = []
        self._table = None

    def id(self, name: str) -> int:
        """The id of an account name, allocating one for a new name."""
        i = self.ids.get(name)
        if i is not None:
            return i
        raw = name.encode("utf-8", "surrogatepass")
        self.reserve(1, len(raw))
        if name.isascii():  # the numba decoder only ever sees ASCII names: they live in its table
            buf = np.frombuffer(raw, np.uint8) if raw else np.zeros(0, np.uint8)
            intern(buf, 0, len(raw), self.t_hash, self.t_id, self.arena, self.a_off, self.meta)
            self.sync()
        else:
            i = int(self.meta[0])
            self.a_off[i + 1] = self.meta[1]
            self.meta[0] = i + 1
            self._learn(name)
        return self.ids[name]

    def reserve(self, names: int, nbytes: int) -> None:
        """Grow the tables so that `names` more names of `nbytes` bytes in all fit."""
        count, used = int(self.meta[0]), int(self.meta[1])
        if (count + names) * 2 > len(self.t_id):
            size = len(self.t_id)
            while (count + names) * 2 > size:
                size *= 2
            t_hash = np.zeros(size, np.uint64)
            t_id = np.full(size, EMPTY, np.int64)
            _reinsert(self.t_hash, self.t_id, t_hash, t_id)
            self.t_hash, self.t_id = t_hash, t_id
        if count + names + 1 > len(self.a_off):
            self.a_off = np.concatenate([self.a_off, np.zeros(max(len(self.a_off), names + 1), np.int64)])
        if used + nbytes > len(self.arena):
            self.arena = np.concatenate([self.arena, np.zeros(max(len(self.arena), nbytes), np.uint8)])

    def sync(self) -> None:
        """Learn the names the numba decoder allocated since the last call."""
        for i in range(len(self.names), int(self.meta[0])):
            self._learn(self.arena[self.a_off[i]:self.a_off[i + 1]].tobytes().decode("ascii"))

    def _learn(self, name: str) -> None:
        self.ids[name] = len(self.names)
        self.names.append(name)
        self._json += json.dumps(name).encode()
        self._json_ends.append(len(self._json))
        self._table = None

    def json_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(JSON text of every name concatenated, offsets: name i is text[off[i]:off[i+1]])."""
        if self._table is None:
            text = np.frombuffer(bytes(self._json) or b" ", np.uint8)
            self._table = text, np.array([0] + self._json_ends, np.int64)
        return self._table


@njit(cache=True, _nrt=False)
def _reinsert(old_hash, old_id, t_hash, t_id):
    mask = len(t_id) - 1
    for j in range(len(old_id)):
        if old_id[j] != EMPTY:
            i = np.int64(old_hash[j] >> np.uint64(40)) & mask
            while t_id[i] != EMPTY:
                i = (i + 1) & mask
            t_hash[i] = old_hash[j]
            t_id[i] = old_id[j]
