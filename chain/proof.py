"""Proofs of fills and settlement deltas: built from the ledger, checked offline, against the ledger or the chain."""
from __future__ import annotations

from chain.batch import BatchRecord
from chain.errors import ProofError
from chain.fills import FILL_LEAF_FIELDS, FILL_LEAF_TYPES, Fill
from chain.ledger import Ledger
from chain.merkle import MerkleTree, process_proof, standard_leaf_hash
from chain.settlement import SETTLE_LEAF_TYPES


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def fill_proof(ledger: Ledger, seq: int) -> dict:
    """The fill with engine seq `seq`, its batch record, leaf and Merkle proof, as a JSON-ready dict."""
    n = ledger.find(seq)
    if n is None:
        raise ProofError(f"fill {seq} is in no batch of {ledger.dir}")
    batch = ledger.batch(n)
    i = batch.fill_index(seq)
    if i is None:
        raise ProofError(f"event {seq} is not a fill (batch {n} covers seqs "
                         f"{batch.record.first_seq}..{batch.record.last_seq})")
    tree = batch.fill_tree()
    fill = batch.fill(i)
    return {"fill": fill.as_json(), "batch": batch.record.as_json(), "leaf_types": list(FILL_LEAF_TYPES),
            "leaf": _hex(tree.leaf(i)), "proof": [_hex(p) for p in tree.proof(i)]}


def settlement_proof(ledger: Ledger, batch_no: int, account: str, asset: str) -> dict:
    """One account's net delta of one asset in a batch, with its leaf and proof."""
    if not 0 <= batch_no < ledger.count:
        raise ProofError(f"no batch {batch_no} in {ledger.dir}")
    batch = ledger.batch(batch_no)
    settlement = batch.settlement()
    for i, d in enumerate(settlement.deltas()):
        if d.account == account and d.asset == asset:
            tree = MerkleTree(settlement.leaves())
            return {"delta": {"account": d.account, "asset": d.asset, "amount": str(d.amount),
                              "decimals": d.decimals},
                    "batch": batch.record.as_json(), "leaf_types": list(SETTLE_LEAF_TYPES),
                    "leaf": _hex(tree.leaf(i)), "proof": [_hex(p) for p in tree.proof(i)]}
    raise ProofError(f"batch {batch_no} has no delta of {asset} for account {account}")


def parse_fill_proof(doc: dict) -> tuple[Fill, BatchRecord, bytes, list[bytes]]:
    """(fill, record, leaf, proof) of a document made by fill_proof; ProofError when malformed."""
    try:
        f = dict(doc["fill"])
        f["taker_side"] = {"buy": 0, "sell": 1}[f["taker_side"]]
        fill = Fill(**{k: f[k] for k in FILL_LEAF_FIELDS})
        record = BatchRecord.from_json(doc["batch"])
        leaf = bytes.fromhex(doc["leaf"][2:])
        proof = [bytes.fromhex(p[2:]) for p in doc["proof"]]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ProofError(f"not a fill proof document: {e!r}") from None
    if len(leaf) != 32 or any(len(p) != 32 for p in proof):
        raise ProofError("not a fill proof document: hashes must be 32 bytes")
    return fill, record, leaf, proof


def check_fill_proof(doc: dict) -> list[str]:
    """Problems with a fill proof on its own: leaf vs fill, proof vs root, record hash (empty: valid)."""
    fill, record, leaf, proof = parse_fill_proof(doc)
    out = []
    if standard_leaf_hash(FILL_LEAF_TYPES, fill.values()) != leaf:
        out.append("the leaf is not the hash of the fill")
    if process_proof(leaf, proof) != record.fills_root:
        out.append("the proof does not lead to the batch's fills root")
    if "hash" in doc["batch"] and doc["batch"]["hash"] != _hex(record.hash):
        out.append("the batch hash does not match its record")
    if not record.first_seq <= fill.seq <= record.last_seq:
        out.append("the fill's seq is outside the batch's seq range")
    return out


def check_against_ledger(doc: dict, ledger: Ledger) -> list[str]:
    """Problems comparing a proof's batch record with the ledger's."""
    _, record, _, _ = parse_fill_proof(doc)
    if record.batch >= ledger.count:
        return [f"the ledger has no batch {record.batch}"]
    if ledger.record(record.batch) != record:
        return [f"batch {record.batch} in the ledger differs from the proof's"]
    return []


def check_against_chain(doc: dict, registry) -> list[str]:
    """Problems found by the contract's own verify_fill (an eth_call)."""
    _, record, leaf, proof = parse_fill_proof(doc)
    if not registry.verify_fill(record.batch, leaf, proof):
        return [f"contract {registry.address} rejects the proof for batch {record.batch}"]
    return []
