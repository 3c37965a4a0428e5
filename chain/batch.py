"""A batch of fills: its record (what is committed on-chain), its fills, and its byte encoding."""
from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from eth_abi import encode
from eth_hash.auto import keccak
from kabuto.chain.custody import Custody, DeltaList
from kabuto.chain.errors import LedgerError
from kabuto.chain.fills import FILL_DTYPE, Fill, fill_leaves, fills_from_rows
from kabuto.chain.merkle import ZERO, MerkleTree
from kabuto.chain.settlement import Delta, Settlement, SymbolInfo, settle

# The record hash: keccak256(abi.encode(...)) of these, exactly as FillRegistry.vy computes it.
RECORD_FIELDS = ("batch", "prev_hash", "first_seq", "last_seq", "fill_count", "fills_root", "settle_root")
RECORD_TYPES = ("uint64", "bytes32", "uint64", "uint64", "uint64", "bytes32", "bytes32")
# With risk on (docs/balances.md 13.3) the record has three more fields, hashed after the seven (Vault.vy).
CUSTODY_FIELDS = RECORD_FIELDS + ("balances_root", "withdrawals_root", "deposit_count")
CUSTODY_TYPES = RECORD_TYPES + ("bytes32", "bytes32", "uint64")
MAGIC = b"KBB1"


@dataclass(frozen=True)
class BatchRecord:
    """What the chain stores of a batch: it covers engine seqs first_seq..last_seq."""
    batch: int
    prev_hash: bytes
    first_seq: int
    last_seq: int
    fill_count: int
    fills_root: bytes
    settle_root: bytes
    # risk on only (a custody record, docs/balances.md 13.3); None in a risk-off record
    balances_root: bytes | None = None
    withdrawals_root: bytes | None = None
    deposit_count: int | None = None

    @property
    def custody(self) -> bool:
        """Whether this is a risk-on record of ten fields (balances, withdrawals, deposit count)."""
        return self.balances_root is not None

    @property
    def fields(self) -> tuple[str, ...]:
        """The record's field names, in hash order."""
        return CUSTODY_FIELDS if self.custody else RECORD_FIELDS

    @property
    def types(self) -> tuple[str, ...]:
        """The record's ABI types, in hash order."""
        return CUSTODY_TYPES if self.custody else RECORD_TYPES

    def values(self) -> tuple:
        """The record's ABI values, in self.types order (what commit() takes)."""
        return tuple(getattr(self, f) for f in self.fields)

    @cached_property
    def hash(self) -> bytes:
        """keccak256(abi.encode(record)): the next record's prev_hash."""
        return keccak(encode(list(self.types), list(self.values())))

    def as_json(self) -> dict:
        """The record as a JSON-ready dict, hashes as 0x hex, with its own hash."""
        d = {f: ("0x" + v.hex() if isinstance(v, bytes) else v) for f, v in zip(self.fields, self.values())}
        d["hash"] = "0x" + self.hash.hex()
        return d

    @classmethod
    def from_json(cls, d: dict) -> BatchRecord:
        """The record of a dict made by as_json (ten fields when it has a balances_root)."""
        names, types = (CUSTODY_FIELDS, CUSTODY_TYPES) if "balances_root" in d else (RECORD_FIELDS, RECORD_TYPES)
        vals = [bytes.fromhex(d[f][2:]) if t == "bytes32" else int(d[f]) for f, t in zip(names, types)]
        return cls(*vals)


@dataclass
class Batch:
    """A closed batch: its record and everything needed to rebuild its trees and proofs."""
    record: BatchRecord
    fills: np.ndarray  # FILL_DTYPE, in seq order
    symbols: list[SymbolInfo]  # by engine symbol index
    accounts: dict[int, str]  # engine account id -> name
    custody: Custody | None = None  # risk on: balances, withdrawals, deltas and deposit count

    @property
    def number(self) -> int:
        """The batch number."""
        return self.record.batch

    def fill(self, i: int) -> Fill:
        """The i-th fill of the batch."""
        return fills_from_rows(self.fills[i:i + 1], [s.symbol for s in self.symbols], self.accounts)[0]

    def fill_index(self, seq: int) -> int | None:
        """Index of the fill with this seq, or None."""
        i = int(np.searchsorted(self.fills["seq"], seq))
        return i if i < len(self.fills) and self.fills["seq"][i] == seq else None

    def fill_tree(self) -> MerkleTree:
        """The Merkle tree of the batch's fills, in fill order."""
        return MerkleTree(fill_leaves(self.fills, [s.symbol for s in self.symbols], self.accounts))

    def settlement(self) -> Settlement | DeltaList:
        """Net settlement deltas of the batch, as columns (risk on: the ones the batch carries, fees
        included, which its fill rows alone cannot give)."""
        if self.custody is not None:
            return DeltaList(self.custody.deltas)
        return settle(self.fills, self.symbols, self.accounts)

    def deltas(self) -> list[Delta]:
        """Net settlement deltas of the batch."""
        return self.settlement().deltas()

    def settle_tree(self) -> MerkleTree:
        """The Merkle tree of the batch's settlement deltas, in deltas() order."""
        return MerkleTree(self.settlement().leaves())

    def encode(self) -> bytes:
        """Bytes of the batch: magic, header length, JSON header, fill rows."""
        header = {
            "record": self.record.as_json(),
            "symbols": [[s.symbol, s.tick_size, s.lot_size] for s in self.symbols],
            "accounts": {str(k): v for k, v in self.accounts.items()},
        }
        if self.custody is not None:
            header["custody"] = self.custody.as_json()
        h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return MAGIC + struct.pack("<I", len(h)) + h + self.fills.astype(FILL_DTYPE, copy=False).tobytes()

    @classmethod
    def decode(cls, data: bytes) -> Batch:
        """The batch encoded in data; LedgerError when the bytes are not a well-formed batch."""
        try:
            if data[:4] != MAGIC:
                raise ValueError("bad magic")
            (n,) = struct.unpack_from("<I", data, 4)
            header = json.loads(data[8:8 + n].decode("utf-8"))
            body = data[8 + n:]
            if len(body) % FILL_DTYPE.itemsize:
                raise ValueError("truncated fills")
            fills = np.frombuffer(body, FILL_DTYPE).copy()
            record = BatchRecord.from_json(header["record"])
            symbols = [SymbolInfo(*s) for s in header["symbols"]]
            accounts = {int(k): v for k, v in header["accounts"].items()}
            custody = Custody.from_json(header["custody"]) if "custody" in header else None
            if (custody is None) != (not record.custody):
                raise ValueError("custody data and record disagree")
        except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as e:
            raise LedgerError(f"not a well-formed batch: {e}") from None
        return cls(record, fills, symbols, accounts, custody)

    def check(self) -> list[str]:
        """Problems found by recomputing the record from the fills (empty when it is consistent)."""
        r, f = self.record, self.fills
        out = []
        if r.fill_count != len(f):
            out.append(f"batch {r.batch}: fill_count {r.fill_count} but {len(f)} fills stored")
        if len(f):
            seqs = f["seq"]
            if (np.diff(seqs) <= 0).any():
                out.append(f"batch {r.batch}: fill seqs not strictly increasing")
            # risk off a batch ends at its last fill; risk on at the end of a command
            if seqs[0] < r.first_seq or seqs[-1] > r.last_seq or (not r.custody and seqs[-1] != r.last_seq):
                out.append(f"batch {r.batch}: fills outside seq range {r.first_seq}..{r.last_seq}")
        if self.fill_tree().root != r.fills_root:
            out.append(f"batch {r.batch}: fills root does not match the fills")
        if self.settle_tree().root != r.settle_root:
            out.append(f"batch {r.batch}: settlement root does not match the "
                       + ("deltas" if r.custody else "fills"))
        c = self.custody
        if c is not None:
            if c.balance_tree().root != r.balances_root:
                out.append(f"batch {r.batch}: balances root does not match the balances")
            if c.withdrawal_tree().root != r.withdrawals_root:
                out.append(f"batch {r.batch}: withdrawals root does not match the withdrawals")
            if c.deposit_count != r.deposit_count:
                out.append(f"batch {r.batch}: deposit count {r.deposit_count} but {c.deposit_count} stored")
        return out


def build_batch(number: int, prev_hash: bytes, first_seq: int, fills: np.ndarray,
                symbols: Sequence[SymbolInfo], accounts: dict[int, str]) -> Batch:
    """A batch of FILL_DTYPE rows (at least one, in seq order) chained after prev_hash."""
    fills = np.ascontiguousarray(fills, FILL_DTYPE)
    blank = BatchRecord(number, prev_hash, first_seq, int(fills["seq"][-1]), len(fills), ZERO, ZERO)
    batch = Batch(blank, fills, list(symbols), dict(accounts))
    batch.record = BatchRecord(number, prev_hash, first_seq, int(fills["seq"][-1]), len(fills),
                               batch.fill_tree().root, batch.settle_tree().root)
    return batch


def build_custody_batch(number: int, prev_hash: bytes, first_seq: int, last_seq: int, fills: np.ndarray,
                        symbols: Sequence[SymbolInfo], accounts: dict[int, str], custody: Custody) -> Batch:
    """A risk-on batch (docs/balances.md 13.3): events first_seq..last_seq (whole commands; possibly no
    fill, or no event at all for a heartbeat's empty batch), its fills and its custody data."""
    fills = np.ascontiguousarray(fills, FILL_DTYPE)
    batch = Batch(BatchRecord(number, prev_hash, first_seq, last_seq, len(fills), ZERO, ZERO),
                  fills, list(symbols), dict(accounts), custody)
    batch.record = BatchRecord(number, prev_hash, first_seq, last_seq, len(fills), batch.fill_tree().root,
                               custody.settle_tree().root, custody.balance_tree().root,
                               custody.withdrawal_tree().root, custody.deposit_count)
    return batch
