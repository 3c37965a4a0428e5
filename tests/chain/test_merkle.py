"""Merkle trees and leaves: the same bytes as OpenZeppelin's StandardMerkleTree and eth_abi."""
import os
import random

import numpy as np
import pytest
from chainkit import INSTRUMENTS, account_name
from eth_hash.auto import keccak
from kabuto.chain import keccak as kk
from kabuto.chain.fills import FILL_DTYPE, Fill, account_names, fill_leaves, fill_rows
from kabuto.chain.merkle import MerkleTree, abi_leaves, process_proof, standard_leaf_hash, verify
from kabuto.chain.settlement import SymbolInfo, settle

SYMBOLS = [SymbolInfo(i.symbol, str(i.tick_size), str(i.lot_size)) for i in INSTRUMENTS]

# @openzeppelin/merkle-tree test/dumps/standard-v1.sorted.1_0_6.json: leafEncoding ["string"], values a..f
OZ_STRING_TREE = [
    "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8",
    "0x52426e0f1f65ff7e209a13b8c29cffe82e3acaf3dad0a9b9088f3b9a61a929c3",
    "0xfd3cf45654e88d1cc5d663578c82c76f4b5e3826bacaa1216441443504538f51",
    "0x8076923e76cf01a7c048400a2304c9a9c23bbbdac3a98ea3946340fdafbba34f",
    "0x965b92c6cf08303cc4feb7f3e0819c436c2cec17c6f0688a6af139c9a368707c",
    "0xeba909cf4bb90c6922771d7f126ad0fd11dfde93f3937a196274e1ac20fd2f5b",
    "0xc62a8cfa41edc0ef6f6ae27a2985b7d39c7fea770787d7e104696c6e81f64848",
    "0x9cf5a63718145ba968a01c1d557020181c5b252f665cf7386d370eddb176517b",
    "0x9c15a6a0eaeed500fd9eed4cbeab71f797cefcc67bfd46683e4d2e6ff7f06d1c",
    "0x9a4f64e953595df82d1b4f570d34c4f4f0cfaf729a61e9d60e83e579e1aa283e",
    "0x19ba6c6333e0e9a15bf67523e0676e2f23eb8e574092552d5e888c64a4bb3681",
]
OZ_STRING_TREE_INDEX = [8, 10, 7, 5, 9, 6]  # treeIndex of values a, b, c, d, e, f


def test_string_leaves_build_openzeppelins_reference_tree():
    leaves = abi_leaves(np.arange(6).reshape(6, 1), [kk.STRING], list("abcdef"))
    tree = MerkleTree(leaves)
    assert ["0x" + node.tobytes().hex() for node in tree.tree] == OZ_STRING_TREE
    assert tree.position.tolist() == OZ_STRING_TREE_INDEX


def test_address_uint256_leaves_give_the_openzeppelin_readme_root():
    values = [["0x1111111111111111111111111111111111111111", 5000000000000000000],
              ["0x2222222222222222222222222222222222222222", 2500000000000000000]]
    leaves = [standard_leaf_hash(["address", "uint256"], v) for v in values]
    tree = MerkleTree(np.frombuffer(b"".join(leaves), np.uint8))
    assert tree.root.hex() == "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"
    assert tree.proof(0) == [bytes.fromhex("b92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc")]


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 135, 136, 137, 271, 272, 500])
def test_keccak_matches_eth_hash_around_block_boundaries(n):
    msg = os.urandom(n)
    buf = np.zeros((1, max(n, 1)), np.uint8)
    buf[0, :n] = np.frombuffer(msg, np.uint8)
    out = np.zeros((1, 32), np.uint8)
    kk.keccak_rows(buf, np.array([n]), out)
    assert out[0].tobytes() == keccak(msg)


def test_fill_leaves_of_engine_fills_equal_the_eth_abi_encoding(stream, all_fills):
    events, first = stream[0]
    rows = fill_rows(events, first)
    leaves = fill_leaves(rows, [i.symbol for i in INSTRUMENTS], account_names(rows, account_name))
    assert len(rows) > 100
    for i in random.Random(1).sample(range(len(rows)), 50):
        assert leaves[i].tobytes() == all_fills[i].leaf()


def test_fill_leaves_handle_extreme_values_and_unicode_names():
    rows = np.zeros(3, FILL_DTYPE)
    rows["seq"] = [1, 2**62, 2**63 - 1]
    rows["maker"] = [0, 2**63 - 1, 5]
    rows["taker"] = [2**63 - 1, 0, 6]
    rows["px"] = [1, 2**40, 77]
    rows["qty"] = [2**40, 1, 88]
    rows["side"] = [0, 1, 1]
    rows["sym"] = [0, 1, 0]
    rows["maker_acct"] = [0, 1, 2]
    rows["taker_acct"] = [2, 0, 1]
    names = {0: "", 1: "ü" * 40, 2: "x" * 33}
    leaves = fill_leaves(rows, ["A-B", "a" * 32], names)
    for i, r in enumerate(rows):
        f = Fill(int(r["seq"]), ["A-B", "a" * 32][r["sym"]], int(r["px"]), int(r["qty"]), int(r["maker"]),
                 int(r["taker"]), int(r["side"]), names[int(r["maker_acct"])], names[int(r["taker_acct"])])
        assert leaves[i].tobytes() == f.leaf()


@pytest.mark.parametrize("px, qty", [(25_000, 1_500), (2**40, 2**40), (2**31, 2**31)])
def test_settlement_leaves_equal_eth_abi_for_negative_and_huge_amounts(px, qty):
    rows = np.zeros(3, FILL_DTYPE)
    rows["seq"], rows["sym"], rows["px"], rows["qty"] = [1, 2, 3], [0, 4, 5], [px, 7, px], [qty, 9, 1]
    rows["side"], rows["maker_acct"], rows["taker_acct"] = [0, 1, 1], [0, 1, 2], [1, 2, 0]
    s = settle(rows, SYMBOLS, {0: "alice", 1: "bob", 2: "ü" * 40})
    deltas = s.deltas()
    assert any(d.amount < 0 for d in deltas)
    for leaf, d in zip(s.leaves(), deltas):
        assert leaf.tobytes() == d.leaf()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 33])
def test_every_proof_of_a_tree_verifies(n):
    leaves = np.frombuffer(os.urandom(32 * n), np.uint8).reshape(n, 32)
    tree = MerkleTree(leaves)
    for i in range(n):
        assert tree.leaf(i) == leaves[i].tobytes()
        assert verify(tree.root, leaves[i].tobytes(), tree.proof(i))


def test_a_single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof():
    leaf = os.urandom(32)
    tree = MerkleTree(np.frombuffer(leaf, np.uint8))
    assert tree.root == leaf and tree.proof(0) == []


def test_a_tampered_leaf_or_proof_does_not_verify():
    leaves = np.frombuffer(os.urandom(32 * 10), np.uint8).reshape(10, 32)
    tree = MerkleTree(leaves)
    leaf, proof = tree.leaf(3), tree.proof(3)
    assert verify(tree.root, leaf, proof)
    assert not verify(tree.root, tree.leaf(4), proof)
    assert not verify(tree.root, leaf, proof[:-1])
    assert not verify(tree.root, leaf, [proof[0][::-1]] + proof[1:])
    assert process_proof(leaf, proof) == tree.root
