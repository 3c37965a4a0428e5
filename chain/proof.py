"""Proofs of fills and settlement deltas: built from the ledger, checked offline, against the ledger or the chain."""
from __future__ import annotations

from kabuto.chain.batch import CUSTODY_FIELDS, CUSTODY_TYPES, RECORD_FIELDS, RECORD_TYPES, Batch, BatchRecord
from kabuto.chain.custody import BALANCE_LEAF_TYPES, WITHDRAWAL_LEAF_TYPES
from kabuto.chain.errors import ProofError
from kabuto.chain.fills import FILL_LEAF_FIELDS, FILL_LEAF_TYPES, Fill, fills_from_rows
from kabuto.chain.ledger import Ledger
from kabuto.chain.merkle import MerkleTree, process_proof, standard_leaf_hash
from kabuto.chain.settlement import SETTLE_LEAF_TYPES


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def fill_batch(ledger: Ledger, seq: int) -> tuple[Batch, int]:
    """The batch holding the fill with engine seq `seq`, and the fill's index in it."""
    n = ledger.find(seq)
    if n is None:
        raise ProofError(f"fill {seq} is in no batch of {ledger.dir}")
    batch = ledger.batch(n)
    i = batch.fill_index(seq)
    if i is None:
        raise ProofError(f"event {seq} is not a fill (batch {n} covers seqs "
                         f"{batch.record.first_seq}..{batch.record.last_seq})")
    return batch, i


def fill_proof(ledger: Ledger, seq: int) -> dict:
    """The fill with engine seq `seq`, its batch record, leaf and Merkle proof, as a JSON-ready dict."""
    batch, i = fill_batch(ledger, seq)
    tree = batch.fill_tree()
    fill = batch.fill(i)
    return {"fill": fill.as_json(), "batch": batch.record.as_json(), "leaf_types": list(FILL_LEAF_TYPES),
            "leaf": _hex(tree.leaf(i)), "proof": [_hex(p) for p in tree.proof(i)]}


def oz_tree(batch: Batch) -> dict:
    """The batch's fill tree as OpenZeppelin's StandardMerkleTree.dump() writes it ("standard-v1"):
    StandardMerkleTree.load() takes it as is. Values are listed in fill order; unsigned integers are
    decimal strings (exact beyond 2^53), taker_side 0 (buy) or 1 (sell)."""
    tree = batch.fill_tree()
    fills = fills_from_rows(batch.fills, [s.symbol for s in batch.symbols], batch.accounts)
    values = [{"value": [v if isinstance(v, str) else str(v) for v in f.values()], "treeIndex": int(tree.position[i])}
              for i, f in enumerate(fills)]
    return {"format": "standard-v1", "tree": [_hex(bytes(node)) for node in tree.tree], "values": values,
            "leafEncoding": list(FILL_LEAF_TYPES)}


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
    """(fill, record, leaf, proof) of a document made by fill_proof; ProofError naming the first field
    that is missing or not of its type (JSON integers in range, strings, 0x hashes of 32 bytes)."""
    fill_doc, batch_doc = _field(doc, "fill", dict, ""), _field(doc, "batch", dict, "")
    f = {}
    for name, typ in zip(FILL_LEAF_FIELDS, FILL_LEAF_TYPES):
        if name == "taker_side":
            side = _field(fill_doc, name, str, "fill.")
            if side not in ("buy", "sell"):
                raise ProofError(f"not a fill proof document: fill.taker_side must be \"buy\" or \"sell\", "
                                 f"not {side!r}")
            f[name] = 0 if side == "buy" else 1
        else:
            f[name] = _value(fill_doc, name, typ, "fill.")
    record = parse_record(batch_doc)
    if "hash" in batch_doc:
        _value(batch_doc, "hash", "bytes32", "batch.")
    leaf = _value(doc, "leaf", "bytes32", "")
    proof = _field(doc, "proof", list, "")
    return Fill(**f), record, leaf, [_hash32(p, f"proof[{i}]") for i, p in enumerate(proof)]


def parse_record(batch_doc: dict) -> BatchRecord:
    """A batch record of a proof document (ten fields when it has a balances_root: risk on)."""
    names, types = ((CUSTODY_FIELDS, CUSTODY_TYPES) if "balances_root" in batch_doc else (RECORD_FIELDS, RECORD_TYPES))
    return BatchRecord(*(_value(batch_doc, name, typ, "batch.") for name, typ in zip(names, types)))


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string"}


def _field(d: dict, name: str, typ: type, where: str):
    """d[name], which must be of JSON type typ."""
    if name not in d:
        raise ProofError(f"not a fill proof document: no {where}{name}")
    v = d[name]
    if not isinstance(v, typ):
        raise ProofError(f"not a fill proof document: {where}{name} must be {_JSON_TYPES[typ]}, not {v!r}")
    return v


def _value(d: dict, name: str, abi_type: str, where: str):
    """d[name] as a value of an ABI type: uintN (a JSON integer in range), string, bytes32 (0x hex)."""
    if abi_type == "string":
        return _field(d, name, str, where)
    if abi_type == "bytes32":
        return _hash32(_field(d, name, str, where), where + name)
    if name not in d:
        raise ProofError(f"not a fill proof document: no {where}{name}")
    v, bits = d[name], int(abi_type[4:])
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
        raise ProofError(f"not a fill proof document: {where}{name} must be an integer in 0..2^{bits}-1, not {v!r}")
    return v


def _hash32(v, where: str) -> bytes:
    """A 0x-prefixed hex string of 32 bytes."""
    if isinstance(v, str) and len(v) == 66 and v[:2] == "0x":
        try:
            return bytes.fromhex(v[2:])
        except ValueError:
            pass
    raise ProofError(f"not a fill proof document: {where} must be 0x and 64 hex digits, not {v!r}")


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


# -- custody (risk on, docs/balances.md 13) --------------------------------------------------------------

def withdrawal_proof(ledger: Ledger, wid: int) -> dict:
    """Withdrawal `wid`, its batch record, leaf and proof: what the vault's claim() takes."""
    for n in range(ledger.count - 1, -1, -1):  # newest first: a withdrawal is mostly claimed soon after
        batch = ledger.batch(n)
        c = batch.custody
        if c is None:
            raise ProofError(f"batch {n} of {ledger.dir} is a risk-off batch: no withdrawals")
        i = c.withdrawal_index(wid)
        if i is not None:
            w = c.withdrawals[i]
            tree = c.withdrawal_tree()
            return {"withdrawal": {"wid": w.wid, "account": w.account, "asset": w.asset, "amount": w.amount},
                    "batch": batch.record.as_json(), "leaf_types": list(WITHDRAWAL_LEAF_TYPES),
                    "leaf": _hex(tree.leaf(i)), "proof": [_hex(p) for p in tree.proof(i)]}
        if c.withdrawals and c.withdrawals[0].wid < wid:
            break  # wids grow with batches: it is not in an older one
    raise ProofError(f"withdrawal {wid} is in no batch of {ledger.dir}")


def balance_proof(ledger: Ledger, account: str, asset: str, batch_no: int | None = None) -> dict:
    """An account's total of an asset in the balances root of a batch (default: the last one, what the
    vault's escape() takes once frozen), with its leaf and proof."""
    if not ledger.count:
        raise ProofError(f"no batch in {ledger.dir}")
    n = ledger.count - 1 if batch_no is None else batch_no
    if not 0 <= n < ledger.count:
        raise ProofError(f"no batch {n} in {ledger.dir}")
    batch = ledger.batch(n)
    c = batch.custody
    if c is None:
        raise ProofError(f"batch {n} of {ledger.dir} is a risk-off batch: no balances")
    i = c.balance_index(account, asset)
    if i is None:
        raise ProofError(f"account {account} holds no {asset} after batch {n}")
    b = c.balances[i]
    tree = c.balance_tree()
    return {"balance": {"account": b.account, "asset": b.asset, "total": b.total},
            "batch": batch.record.as_json(), "leaf_types": list(BALANCE_LEAF_TYPES),
            "leaf": _hex(tree.leaf(i)), "proof": [_hex(p) for p in tree.proof(i)]}
