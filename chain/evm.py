"""EvmPublisher: batches to a FillRegistry on any EVM JSON-RPC node, the local ledger kept as the durable copy.

Every batch goes to the ledger first (fsync), then `sync` commits whatever the contract lacks, reading the
contract's next batch number each time: a restart resumes there, a transaction lost to a reorg is
committed again, and a batch already on-chain is never sent twice (the contract also refuses it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from kabuto.chain.batch import Batch
from kabuto.chain.contract import Registry, send
from kabuto.chain.errors import ChainError, ContractError, PublishError
from kabuto.chain.ledger import LedgerPublisher, ledger_status
from kabuto.chain.publisher import Head
from kabuto.engine.extras import require

RECEIPTS = "receipts.jsonl"


class EvmPublisher:
    """Publisher to a deployed FillRegistry, signing with the operator's key."""

    def __init__(self, path: str | os.PathLike, w3, key: str, address: str):
        Account = require("eth_account", "evm").Account
        self.local = LedgerPublisher(path)
        self.ledger = self.local.ledger
        self.queue_dir = self.local.queue_dir
        self.w3 = w3
        self.account = Account.from_key(key)
        self.registry = Registry(w3, address)
        self.receipts = Path(path) / RECEIPTS
        self.recommits = 0  # batches committed again after the chain lost them
        self._high = max((r["batch"] + 1 for r in read_receipts(self.receipts)), default=0)

    def head(self) -> Head:
        """Where the ledger ends (the chain catches up from the ledger)."""
        return self.ledger.head()

    def last_batch(self) -> Batch | None:
        """The ledger's last batch."""
        return self.local.last_batch()

    def publish(self, batch: Batch) -> None:
        """Append to the ledger (idempotent), then bring the contract up to the ledger."""
        self.local.publish(batch)
        self.sync()

    def poll(self) -> None:
        """Re-check the chain: recommit what a reorg dropped."""
        self.sync()

    def sync(self) -> int:
        """Commit every ledger batch the contract lacks, oldest first; returns how many were sent."""
        try:
            n = self.registry.next_batch()
            if n > self.ledger.count:
                raise ChainError(f"contract {self.registry.address} has {n} batches, the ledger only "
                                 f"{self.ledger.count}")
            if n and self.registry.last_hash() != self.ledger.record(n - 1).hash:
                raise ChainError(f"contract {self.registry.address} batch {n - 1} differs from the ledger")
            sent = 0
            while n < self.ledger.count:
                self._commit(n)
                n += 1
                sent += 1
            return sent
        except ChainError:
            raise
        except Exception as e:  # connection refused, timeouts, RPC errors: all mean "not now"
            raise PublishError(f"node error: {type(e).__name__}: {e}") from None

    def _commit(self, n: int) -> None:
        r = self.ledger.record(n)
        if n < self._high:
            self.recommits += 1
        try:
            receipt = send(self.w3, self.account, self.registry.functions.commit(*self._commit_args(n)))
        except ContractError as e:
            raise PublishError(f"batch {n}: {e}") from None
        self._high = max(self._high, n + 1)
        with open(self.receipts, "a", encoding="utf-8") as f:
            f.write(json.dumps({"batch": n, "tx": "0x" + bytes(receipt["transactionHash"]).hex(),
                                "block": receipt["blockNumber"], "gas": receipt["gasUsed"],
                                "fills": r.fill_count}) + "\n")

    def _commit_args(self, n: int) -> tuple:
        """The contract's commit() arguments for ledger batch n: its record's values."""
        return self.ledger.record(n).values()

    def status(self) -> dict:
        """Ledger summary, the contract's position and the gas spent."""
        out = ledger_status(self.ledger)
        out.update(chain_status(self.registry, self.ledger.count))
        out.update(gas_summary(self.receipts))
        out["recommits"] = self.recommits
        return out

    def close(self) -> None:
        """Close the ledger."""
        self.local.close()


def chain_status(registry: Registry, ledger_count: int) -> dict:
    """The contract's next batch, how far it lags the ledger, and whether its owner paused commits."""
    n = registry.next_batch()
    return {"contract": registry.address, "chain_next_batch": n, "chain_backlog": max(ledger_count - n, 0),
            "chain_paused": registry.paused()}


def read_receipts(path: Path) -> list[dict]:
    """Every commit receipt logged in a ledger directory (a torn last line is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def gas_summary(path: Path) -> dict:
    """Gas used by the latest commit of each batch."""
    last = {r["batch"]: r for r in read_receipts(path)}
    gas = sum(r["gas"] for r in last.values())
    fills = sum(r.get("fills", 0) for r in last.values())
    return {"gas_used": gas, "gas_per_batch": round(gas / len(last)) if last else None,
            "gas_per_fill": round(gas / fills, 1) if fills else None}
