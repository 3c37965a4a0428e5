"""OpenZeppelin StandardMerkleTree: double-keccak ABI leaves, leaves sorted by hash, sorted-pair nodes."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from eth_abi import encode
from eth_hash.auto import keccak
from kabuto.chain import keccak as kk

ZERO = bytes(32)  # the root of an empty tree (a batch always has at least one fill)


def standard_leaf_hash(types: Sequence[str], values: Sequence) -> bytes:
    """keccak256(keccak256(abi.encode(values))): one leaf, computed with eth_abi (the reference)."""
    return keccak(keccak(encode(list(types), list(values))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """keccak256 of the two nodes concatenated in ascending order."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a leaf and its proof lead to."""
    h = leaf
    for p in proof:
        h = hash_pair(h, p)
    return h


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True when the proof shows leaf is in the tree of root."""
    return root != ZERO and process_proof(leaf, proof) == root


class MerkleTree:
    """A tree over leaf hashes given in value order; proofs are asked for by value index."""

    def __init__(self, leaves: np.ndarray):
        leaves = np.ascontiguousarray(leaves, dtype=np.uint8).reshape(-1, 32)
        n = len(leaves)
        self.size = n
        if n == 0:
            self.tree = np.zeros((0, 32), np.uint8)
            self.position = np.zeros(0, np.int64)
            return
        words = leaves.view(">u8").reshape(n, 4)
        order = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
        self.tree = np.zeros((2 * n - 1, 32), np.uint8)
        kk.build_tree(leaves[order], self.tree)
        # value i sits at tree index 2n - 2 - (its rank among sorted leaves)
        self.position = np.empty(n, np.int64)
        self.position[order] = 2 * n - 2 - np.arange(n)

    @property
    def root(self) -> bytes:
        """The root hash (32 zero bytes for an empty tree)."""
        return self.tree[0].tobytes() if self.size else ZERO

    def leaf(self, i: int) -> bytes:
        """The leaf hash of value i."""
        return self.tree[self.position[i]].tobytes()

    def proof(self, i: int) -> list[bytes]:
        """Sibling hashes from value i's leaf up to the root."""
        j = int(self.position[i])
        out = []
        while j > 0:
            sibling = j + 1 if j % 2 else j - 1
            out.append(self.tree[sibling].tobytes())
            j = (j - 1) // 2
        return out


def abi_leaves(vals: np.ndarray, kinds: Sequence[int], strings: Sequence[str]) -> np.ndarray:
    """Leaf hashes of many rows of one ABI schema (see keccak.abi_leaves); strings is the string table."""
    data = [s.encode("utf-8") for s in strings]
    off = np.zeros(len(data) + 1, np.int64)
    off[1:] = np.cumsum([len(d) for d in data]) if data else []
    table = np.frombuffer(b"".join(data) or b"\0", np.uint8)
    out = np.zeros((len(vals), 32), np.uint8)
    if len(vals):
        kk.abi_leaves(np.ascontiguousarray(vals, np.int64), np.asarray(kinds, np.int8), table, off, out)
    return out
