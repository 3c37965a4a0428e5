"""The open-addressing order-id hash (linear probing, backward-shift deletion) of the engine and the gateway."""
import numpy as np
from kabuto.engine.jit import njit

EMPTY = -1  # an empty hash entry (and the end of a linked list in the engine's state)
HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, _nrt=False, inline="always")
def hash_home(key, mask):
    """The entry where key's probe chain starts in a table of mask + 1 entries (a power of two, at most 2**32)."""
    # Fibonacci hashing takes the top log2(size) bits of key * 2**64/phi (the product by the size does
    # the shift): sequential order ids then spread evenly at every table size. Bits from the middle of
    # the product clustered them (mean probe 8 to 15 at half load in tables of 2**18 to 2**21).
    x = np.uint64(key) * HASH_MUL
    return np.int64(((x >> np.uint64(32)) * np.uint64(mask + 1)) >> np.uint64(32))


@njit(cache=True, _nrt=False)
def hash_find(h_key, key):
    """Entry of key in the hash table, or -1."""
    mask = len(h_key) - 1
    i = hash_home(key, mask)
    while True:
        k = h_key[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@njit(cache=True, _nrt=False)
def hash_put(h_key, h_val, key, val):
    """Insert key -> val (key must not be in the table, which must have an empty entry)."""
    mask = len(h_key) - 1
    i = hash_home(key, mask)
    while h_key[i] != EMPTY:
        i = (i + 1) & mask
    h_key[i] = key
    h_val[i] = val


@njit(cache=True, _nrt=False)
def hash_delete(h_key, h_val, i):
    """Remove entry i; later entries of its probe chain may move (find them again)."""
    # backward-shift deletion keeps probe chains intact without tombstones
    mask = len(h_key) - 1
    j = i
    while True:
        j = (j + 1) & mask
        if h_key[j] == EMPTY:
            break
        k = hash_home(h_key[j], mask)
        if (j > i and (k <= i or k > j)) or (j < i and (k <= i and k > j)):
            h_key[i] = h_key[j]
            h_val[i] = h_val[j]
            i = j
    h_key[i] = EMPTY


@njit(cache=True, _nrt=False)
def rehash(keys, vals, h_key, h_val):
    """Insert keys/vals into an empty table."""
    for i in range(len(keys)):
        hash_put(h_key, h_val, keys[i], vals[i])


@njit(cache=True, _nrt=False)
def rehash_table(h_key, h_val, to_key, to_val):
    """Insert every entry of a table into an empty one, in slot order from an empty entry on.

    In that order a table of the same size comes out entry for entry the same when the hash function
    is the one it was built with, and a bigger table is written front to back."""
    n = len(h_key)
    start = 0
    while start < n and h_key[start] != EMPTY:
        start += 1
    for j in range(start, start + n):
        i = j & (n - 1)
        if h_key[i] != EMPTY:
            hash_put(to_key, to_val, h_key[i], h_val[i])
