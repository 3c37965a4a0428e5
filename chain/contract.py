"""FillRegistry.vy: compiled by the vyper package at run time (cached), deployed and called through web3."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from kabuto.chain.errors import ContractError
from kabuto.engine.extras import require

if TYPE_CHECKING:
    from web3 import Web3

SOURCE = Path(__file__).with_name("contracts") / "FillRegistry.vy"
EVM_VERSION = "cancun"  # what anvil, Base and eth-tester all run
RECEIPT_TIMEOUT_S = 120.0


def _cache_dir() -> Path:
    base = os.environ.get("KABUTO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kabuto")
    return Path(base)


@lru_cache(maxsize=1)
def compiled() -> tuple[list, str]:
    """(abi, deploy bytecode hex) of FillRegistry.vy, compiled once per source and vyper version."""
    return compile_contract(SOURCE)


@cache
def compile_contract(source_path: Path) -> tuple[list, str]:
    """(abi, deploy bytecode hex) of a Vyper source, compiled once per source and vyper version (cached on disk)."""
    vyper = require("vyper", "evm")
    Settings = require("vyper.compiler.settings", "evm").Settings
    source = source_path.read_text(encoding="utf-8")
    key = hashlib.sha256(f"{vyper.__version__}\0{EVM_VERSION}\0{source}".encode()).hexdigest()[:20]
    cache = _cache_dir() / f"{source_path.stem}-{key}.json"
    try:
        out = json.loads(cache.read_text())
        return out["abi"], out["bytecode"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        out = vyper.compile_code(source, contract_path=str(source_path), output_formats=["abi", "bytecode"],
                                 settings=Settings(evm_version=EVM_VERSION))
    except Exception as e:  # vyper raises many exception types, all of them "does not compile"
        raise ContractError(f"cannot compile {source_path.name}: {e}") from None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"abi": out["abi"], "bytecode": out["bytecode"]}))
        os.replace(tmp, cache)
    except OSError:
        pass  # no cache then: compiling again next time is only slower
    return out["abi"], out["bytecode"]


def load_key(path: str) -> str:
    """The hex private key in a file (0x optional, surrounding white space ignored)."""
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise ContractError(f"cannot read key file {path}: {e.strerror}") from None
    raw = text[2:] if text.lower().startswith("0x") else text
    if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
        raise ContractError(f"key file {path}: not a 32-byte hex private key")
    return "0x" + raw


def connect(url: str) -> Web3:
    """A Web3 client of an HTTP(S) JSON-RPC node, without web3's own retries (the batcher retries)."""
    Web3 = require("web3", "evm").Web3
    if not url.startswith(("http://", "https://")):
        raise ContractError(f"--chain-rpc must be an http(s) URL: {url}")
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}, exception_retry_configuration=None))


def send(w3, account, call, gas: int | None = None) -> dict:
    """Sign a contract call (or a deploy) with account, send it, wait for its receipt; reverts raise."""
    try:
        tx = call.build_transaction({"from": account.address, "chainId": w3.eth.chain_id,
                                     "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                                     **({"gas": gas} if gas else {})})
    except Exception as e:  # web3's ContractLogicError from a node, TransactionFailed from eth-tester
        if "revert" not in str(e).lower():
            raise
        raise ContractError(f"transaction would revert: {e}") from None
    signed = account.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(h, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.2)
    if receipt["status"] != 1:
        raise ContractError(f"transaction {h.hex()} reverted")
    return receipt


def deploy(w3, key: str, operator: str | None = None) -> str:
    """Deploy a FillRegistry owned by key's address with the given operator (default: the same address)."""
    Account = require("eth_account", "evm").Account
    abi, bytecode = compiled()
    account = Account.from_key(key)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = send(w3, account, factory.constructor(operator or account.address))
    return receipt["contractAddress"]


class Registry:
    """A deployed FillRegistry: reads and proof checks (eth_call)."""

    def __init__(self, w3, address: str):
        abi, _ = compiled()
        self.w3 = w3
        try:
            self.address = w3.to_checksum_address(address)
        except ValueError:
            raise ContractError(f"not a contract address: {address}") from None
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.functions = self.contract.functions

    def next_batch(self) -> int:
        """The number of the next batch the contract accepts (= batches committed)."""
        return self.functions.next_batch().call()

    def last_hash(self) -> bytes:
        """The hash of the last committed record (zero before the first)."""
        return bytes(self.functions.last_hash().call())

    def paused(self) -> bool:
        """Whether the owner paused commits (proofs still verify)."""
        return bool(self.functions.paused().call())

    def fills_root(self, batch: int) -> bytes:
        """The fills root of a committed batch (zero if not committed)."""
        return bytes(self.functions.fills_root(batch).call())

    def verify_fill(self, batch: int, leaf: bytes, proof: Sequence[bytes]) -> bool:
        """The contract's own membership check of a fill leaf."""
        return self.functions.verify_fill(batch, leaf, list(proof)).call()

    def verify_settlement(self, batch: int, leaf: bytes, proof: Sequence[bytes]) -> bool:
        """The contract's own membership check of a settlement leaf."""
        return self.functions.verify_settlement(batch, leaf, list(proof)).call()
