"""Keccak-256 (Ethereum's hash) and OpenZeppelin-style leaf hashing in numba: many messages per call, GIL released."""
import numpy as np
from kabuto.engine.jit import njit

RATE = 136  # bytes absorbed per permutation for a 256-bit output

_RC = np.array([
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
], dtype=np.uint64)
# rotation of lane x + 5y, and where rho-pi moves it: (x, y) -> (y, 2x + 3y)

# ABI column kinds for abi_leaves
UINT, INT, STRING = 0, 1, 2


@njit(cache=True, nogil=True, inline="always")
def _rotl(x, n):
    return (x << np.uint64(n)) | (x >> np.uint64(64 - n))


@njit(cache=True, nogil=True)
def _permute(a):
    """keccak-f[1600] on the 25 lanes of a (lane x + 5y), unrolled over locals."""
    a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24 = (  # noqa: E501 (unrolled)
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24])  # noqa: E501
    for rnd in range(24):
        # theta
        c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20
        c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21
        c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22
        c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23
        c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24
        d0 = c4 ^ _rotl(c1, 1)
        d1 = c0 ^ _rotl(c2, 1)
        d2 = c1 ^ _rotl(c3, 1)
        d3 = c2 ^ _rotl(c4, 1)
        d4 = c3 ^ _rotl(c0, 1)
        # theta applied, rho and pi: (x, y) -> (y, 2x + 3y)
        b00 = a00 ^ d0
        b10 = _rotl(a01 ^ d1, 1)
        b20 = _rotl(a02 ^ d2, 62)
        b05 = _rotl(a03 ^ d3, 28)
        b15 = _rotl(a04 ^ d4, 27)
        b16 = _rotl(a05 ^ d0, 36)
        b01 = _rotl(a06 ^ d1, 44)
        b11 = _rotl(a07 ^ d2, 6)
        b21 = _rotl(a08 ^ d3, 55)
        b06 = _rotl(a09 ^ d4, 20)
        b07 = _rotl(a10 ^ d0, 3)
        b17 = _rotl(a11 ^ d1, 10)
        b02 = _rotl(a12 ^ d2, 43)
        b12 = _rotl(a13 ^ d3, 25)
        b22 = _rotl(a14 ^ d4, 39)
        b23 = _rotl(a15 ^ d0, 41)
        b08 = _rotl(a16 ^ d1, 45)
        b18 = _rotl(a17 ^ d2, 15)
        b03 = _rotl(a18 ^ d3, 21)
        b13 = _rotl(a19 ^ d4, 8)
        b14 = _rotl(a20 ^ d0, 18)
        b24 = _rotl(a21 ^ d1, 2)
        b09 = _rotl(a22 ^ d2, 61)
        b19 = _rotl(a23 ^ d3, 56)
        b04 = _rotl(a24 ^ d4, 14)
        # chi
        a00 = b00 ^ (~b01 & b02)
        a01 = b01 ^ (~b02 & b03)
        a02 = b02 ^ (~b03 & b04)
        a03 = b03 ^ (~b04 & b00)
        a04 = b04 ^ (~b00 & b01)
        a05 = b05 ^ (~b06 & b07)
        a06 = b06 ^ (~b07 & b08)
        a07 = b07 ^ (~b08 & b09)
        a08 = b08 ^ (~b09 & b05)
        a09 = b09 ^ (~b05 & b06)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a00 ^= _RC[rnd]

    a[0] = a00
    a[1] = a01
    a[2] = a02
    a[3] = a03
    a[4] = a04
    a[5] = a05
    a[6] = a06
    a[7] = a07
    a[8] = a08
    a[9] = a09
    a[10] = a10
    a[11] = a11
    a[12] = a12
    a[13] = a13
    a[14] = a14
    a[15] = a15
    a[16] = a16
    a[17] = a17
    a[18] = a18
    a[19] = a19
    a[20] = a20
    a[21] = a21
    a[22] = a22
    a[23] = a23
    a[24] = a24


@njit(cache=True, nogil=True)
def keccak_into(msg, n, out, a):
    """Write keccak256(msg[:n]) to out[:32]; a is a uint64 scratch array of 25 lanes."""
    a[:] = 0
    full = n // RATE  # blocks wholly inside the message; one more block holds the padding
    for blk in range(full):
        base = blk * RATE
        for lane in range(RATE // 8):
            p = base + 8 * lane
            v = np.uint64(0)
            for j in range(8):
                v |= np.uint64(msg[p + j]) << np.uint64(8 * j)
            a[lane] ^= v
        _permute(a)
    base = full * RATE
    for j in range(n - base):
        a[j >> 3] ^= np.uint64(msg[base + j]) << np.uint64((j & 7) * 8)
    j = n - base
    a[j >> 3] ^= np.uint64(0x01) << np.uint64((j & 7) * 8)
    a[(RATE - 1) >> 3] ^= np.uint64(0x80) << np.uint64(((RATE - 1) & 7) * 8)
    _permute(a)
    for j in range(32):
        out[j] = (a[j >> 3] >> np.uint64((j & 7) * 8)) & np.uint64(0xFF)


@njit(cache=True, nogil=True)
def keccak_rows(msgs, lens, out):
    """out[i] = keccak256(msgs[i, :lens[i]]) for every row."""
    a = np.zeros(25, np.uint64)
    for i in range(msgs.shape[0]):
        keccak_into(msgs[i], lens[i], out[i], a)


@njit(cache=True, nogil=True)
def abi_leaves(vals, kinds, str_bytes, str_off, out):
    """out[i] = keccak256(keccak256(abi.encode(row i))): the OpenZeppelin StandardMerkleTree leaf.

    vals[i, k] is the k-th value of row i: a uint64 (UINT), a sign-extended int64 (INT) or an index
    into the string table str_bytes[str_off[s]:str_off[s + 1]] (STRING).
    """
    n, k = vals.shape
    size = 32 * k
    longest = 0
    for s in range(str_off.shape[0] - 1):
        longest = max(longest, str_off[s + 1] - str_off[s])
    for col in range(k):
        if kinds[col] == STRING:
            size += 32 + (longest + 31) // 32 * 32
    buf = np.zeros(size, np.uint8)
    h = np.zeros(32, np.uint8)
    a = np.zeros(25, np.uint64)
    for i in range(n):
        tail = 32 * k
        for col in range(k):
            w = 32 * col
            v = vals[i, col]
            kind = kinds[col]
            if kind == STRING:
                start, end = str_off[v], str_off[v + 1]
                ln = end - start
                _word(buf, w, tail, 0)
                _word(buf, tail, ln, 0)
                padded = (ln + 31) // 32 * 32
                for j in range(padded):
                    buf[tail + 32 + j] = str_bytes[start + j] if j < ln else 0
                tail += 32 + padded
            else:
                _word(buf, w, v, 0xFF if kind == INT and v < 0 else 0)
        keccak_into(buf, tail, h, a)
        keccak_into(h, 32, out[i], a)


@njit(cache=True, nogil=True, inline="always")
def _word(buf, at, v, fill):
    """Write a 32-byte big-endian word: 24 fill bytes then the 64-bit value."""
    for j in range(24):
        buf[at + j] = fill
    u = np.uint64(v)
    for j in range(8):
        buf[at + 31 - j] = (u >> np.uint64(8 * j)) & np.uint64(0xFF)


@njit(cache=True, nogil=True)
def build_tree(sorted_leaves, tree):
    """Fill tree (2n - 1 nodes) from n leaves sorted ascending, in OpenZeppelin's array layout."""
    n = sorted_leaves.shape[0]
    m = tree.shape[0]
    for i in range(n):
        tree[m - 1 - i] = sorted_leaves[i]
    pair = np.zeros(64, np.uint8)
    a = np.zeros(25, np.uint64)
    for i in range(m - 1 - n, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        first, second = left, right
        for j in range(32):
            if left[j] != right[j]:
                if left[j] > right[j]:
                    first, second = right, left
                break
        pair[:32] = first
        pair[32:] = second
        keccak_into(pair, 64, tree[i], a)
