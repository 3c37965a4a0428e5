"""numba writers of text bytes, shared by the JSON event encoder and the gateway's msgpack writers."""
import numpy as np
from kabuto.engine.jit import njit

POW10 = np.array([10 ** i for i in range(19)], np.int64)


@njit(cache=True, _nrt=False)
def write_int_text(out, p, v):
    """Decimal digits of a non-negative int64 at out[p]; returns the position after them."""
    if v == 0:
        out[p] = 48
        return p + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    for i in range(n - 1, -1, -1):
        out[p + i] = 48 + v % 10
        v //= 10
    return p + n


@njit(cache=True, _nrt=False)
def write_decimal_text(out, p, steps, units, places):
    """Decimal text of steps * units / 10**places with exactly `places` decimals; returns the end."""
    v = steps * units
    if places == 0:
        return write_int_text(out, p, v)
    scale = POW10[places]
    p = write_int_text(out, p, v // scale)
    out[p] = 46
    p += 1
    f = v % scale
    for i in range(places - 1, -1, -1):
        out[p + i] = 48 + f % 10
        f //= 10
    return p + places


@njit(cache=True, _nrt=False)
def copy_entry(out, p, table, off, i):
    """Entry i of a table of byte strings (table[off[i]:off[i + 1]]) at out[p]; returns the end."""
    for j in range(off[i], off[i + 1]):
        out[p] = table[j]
        p += 1
    return p
