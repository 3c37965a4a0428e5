"""numba msgpack writers: each writes one value at out[p] (a uint8 array) and returns the position after it."""
from __future__ import annotations

from collections.abc import Sequence

import msgpack
import numpy as np
from kabuto.engine.bytewrite import copy_entry, write_decimal_text
from kabuto.engine.jit import njit

NIL = 0xC0
FIXSTR_MAX = 31  # the longest string a fixstr holds; a decimal of int64 steps is at most 21 characters


@njit(cache=True, _nrt=False)
def write_nil(out, p):
    """nil."""
    out[p] = NIL
    return p + 1


@njit(cache=True, _nrt=False, inline="always")
def _write_be(out, p, v, n):
    """v as n big-endian bytes at out[p]; returns the end."""
    for i in range(n - 1, -1, -1):
        out[p + i] = v & 0xFF
        v >>= 8
    return p + n


@njit(cache=True, _nrt=False)
def write_uint(out, p, v):
    """A non-negative integer in its shortest form (as msgpack-python writes it)."""
    if v < 128:
        out[p] = v
        return p + 1
    if v < 256:
        out[p] = 0xCC
        out[p + 1] = v
        return p + 2
    if v < 65536:
        out[p] = 0xCD
        return _write_be(out, p + 1, v, 2)
    if v < 4294967296:
        out[p] = 0xCE
        return _write_be(out, p + 1, v, 4)
    out[p] = 0xCF
    return _write_be(out, p + 1, v, 8)


@njit(cache=True, _nrt=False)
def write_array_header(out, p, n):
    """The header of an array of n elements (the elements follow)."""
    if n < 16:
        out[p] = 0x90 | n
        return p + 1
    if n < 65536:
        out[p] = 0xDC
        return _write_be(out, p + 1, n, 2)
    out[p] = 0xDD
    return _write_be(out, p + 1, n, 4)


@njit(cache=True, _nrt=False)
def write_str(out, p, text, n):
    """A string of the n bytes text[:n] (UTF-8)."""
    if n <= FIXSTR_MAX:
        out[p] = 0xA0 | n
        p += 1
    elif n < 256:
        out[p] = 0xD9
        out[p + 1] = n
        p += 2
    elif n < 65536:
        out[p] = 0xDA
        p = _write_be(out, p + 1, n, 2)
    else:
        out[p] = 0xDB
        p = _write_be(out, p + 1, n, 4)
    for j in range(n):
        out[p + j] = text[j]
    return p + n


@njit(cache=True, _nrt=False)
def write_decimal(out, p, steps, units, places):
    """The decimal steps * units / 10**places as a string with exactly `places` decimals (a fixstr)."""
    q = write_decimal_text(out, p + 1, steps, units, places)
    out[p] = 0xA0 | (q - p - 1)
    return q


@njit(cache=True, _nrt=False)
def write_signed_decimal(out, p, steps, units, places):
    """write_decimal of a value that may be negative: a leading '-' then, never "-0"."""
    if steps >= 0:
        return write_decimal(out, p, steps, units, places)
    out[p + 1] = 45
    q = write_decimal_text(out, p + 2, -steps, units, places)
    out[p] = 0xA0 | (q - p - 1)
    return q


@njit(cache=True, _nrt=False)
def write_packed(out, p, table, off, i):
    """Entry i of a table of values packed in advance (see packed_table)."""
    return copy_entry(out, p, table, off, i)


@njit(cache=True, _nrt=False, inline="always")
def write_uint_or_nil(out, p, v):
    """write_uint of v, nil when v is negative."""
    if v >= 0:
        return write_uint(out, p, v)
    out[p] = NIL
    return p + 1


@njit(cache=True, _nrt=False, inline="always")
def write_packed_or_nil(out, p, table, off, i):
    """Entry i of a packed table, nil when i is negative."""
    if i >= 0:
        return copy_entry(out, p, table, off, i)
    out[p] = NIL
    return p + 1


@njit(cache=True, _nrt=False, inline="always")
def write_decimal_or_nil(out, p, steps, units, places):
    """write_decimal of steps, nil when steps is negative."""
    if steps >= 0:
        return write_decimal(out, p, steps, units, places)
    out[p] = NIL
    return p + 1


def packed_table(values: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets): every value packed by msgpack, concatenated; entry i is bytes[offsets[i]:offsets[i + 1]]."""
    items = [msgpack.packb(v) for v in values]
    off = np.zeros(len(items) + 1, np.int64)
    off[1:] = np.cumsum([len(b) for b in items])
    return np.frombuffer(b"".join(items), np.uint8).copy(), off
