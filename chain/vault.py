"""The vault (chain/contracts/Vault.vy, docs/balances.md 13): deploy it and its tokens, commit risk-on
batches to it, and watch it for deposits the venue credits once, after N confirmations.

`VaultPublisher` is the EVM publisher of risk-on batches: the ledger first, then the vault brought up to
the ledger from the vault's own next batch (restarts, reorgs and never twice, as `EvmPublisher`).
`DepositWatcher` turns the vault's `Deposited` events into the venue's `deposit` commands, in id order,
each only once its block has N confirmations, re-reading the event by its id every time (a reorg may
have replaced it).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kabuto.chain.batch import Batch
from kabuto.chain.contract import Registry, compile_contract, send
from kabuto.chain.errors import ChainError, ContractError
from kabuto.chain.evm import EvmPublisher
from kabuto.engine.extras import require

CONTRACTS = Path(__file__).with_name("contracts")
VAULT_SOURCE = CONTRACTS / "Vault.vy"
TOKEN_SOURCE = CONTRACTS / "Token.vy"
DEFAULT_FREEZE_AFTER_S = 7 * 24 * 3600
DEFAULT_CONFIRMATIONS = 12


def _account(key: str):
    return require("eth_account", "evm").Account.from_key(key)


def deploy_vault(w3, key: str, operator: str | None = None, freeze_after_s: int = DEFAULT_FREEZE_AFTER_S) -> str:
    """Deploy a Vault owned by key's address (also its fee recipient) with the given operator."""
    abi, bytecode = compile_contract(VAULT_SOURCE)
    account = _account(key)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    return send(w3, account, factory.constructor(operator or account.address, freeze_after_s))["contractAddress"]


def deploy_token(w3, key: str, name: str, symbol: str, decimals: int, transfer_fee_bps: int = 0) -> str:
    """Deploy a minimal ERC-20 (Token.vy) whose minter is key's address."""
    abi, bytecode = compile_contract(TOKEN_SOURCE)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    return send(w3, _account(key), factory.constructor(name, symbol, decimals, transfer_fee_bps))["contractAddress"]


def token(w3, address: str):
    """A web3 contract object of a Token.vy (any ERC-20 for its standard functions)."""
    abi, _ = compile_contract(TOKEN_SOURCE)
    return w3.eth.contract(address=w3.to_checksum_address(address), abi=abi)


class Vault(Registry):
    """A deployed Vault: reads, proof checks, and its transactions signed by a given key."""

    def __init__(self, w3, address: str):
        abi, _ = compile_contract(VAULT_SOURCE)
        self.w3 = w3
        try:
            self.address = w3.to_checksum_address(address)
        except ValueError:
            raise ContractError(f"not a contract address: {address}") from None
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.functions = self.contract.functions

    def tx(self, key: str, fn: str, *args) -> dict:
        """Send vault function fn(*args) signed by key; its receipt (ContractError when it would revert)."""
        return send(self.w3, _account(key), getattr(self.functions, fn)(*args))

    def deposit_counter(self) -> int:
        return self.functions.deposit_counter().call()

    def deposit_count(self) -> int:
        """The deposit count of the last committed batch."""
        return self.functions.deposit_count().call()

    def frozen(self) -> bool:
        return bool(self.functions.frozen().call())

    def balances_root(self, batch: int) -> bytes:
        return bytes(self.functions.balances_root(batch).call())

    def withdrawals_root(self, batch: int) -> bytes:
        return bytes(self.functions.withdrawals_root(batch).call())


def wid_range(batch: Batch) -> tuple[int, int]:
    """(lowest, highest) wid of a risk-on batch's withdrawals, (0, 0) when it has none: the claimed-bitmap
    words a commit marks in use (docs/balances.md 13.4)."""
    wids = [w.wid for w in batch.custody.withdrawals] if batch.custody else []
    return (min(wids), max(wids)) if wids else (0, 0)


def commit_args(batch: Batch) -> tuple:
    """The vault's commit() arguments for a risk-on batch: its record's ten values, then its wid range."""
    return (*batch.record.values(), *wid_range(batch))


class VaultPublisher(EvmPublisher):
    """Risk-on batches to a deployed Vault, the local ledger kept as the durable copy."""

    def __init__(self, path: str | os.PathLike, w3, key: str, address: str):
        super().__init__(path, w3, key, address)
        self.registry = Vault(w3, address)
        self._wid_ranges: dict[int, tuple[int, int]] = {}  # of batches published, not yet committed

    def publish(self, batch: Batch) -> None:
        """Append to the ledger, then bring the vault up to the ledger (the batch's wid range kept at hand:
        reading a batch back from the ledger decodes all its balances)."""
        self._wid_ranges[batch.number] = wid_range(batch)
        super().publish(batch)

    def _commit(self, n: int) -> None:
        if not self.ledger.record(n).custody:
            raise ChainError(f"batch {n} of {self.ledger.dir} is a risk-off record: a vault takes risk-on batches "
                             f"only (use a FillRegistry, or a new ledger)")
        super()._commit(n)

    def _commit_args(self, n: int) -> tuple:
        wids = self._wid_ranges.pop(n, None) or wid_range(self.ledger.batch(n))
        return (*self.ledger.record(n).values(), *wids)


@dataclass(frozen=True)
class VaultDeposit:
    """A Deposited event as the watcher read it."""
    id: int
    account: str
    asset: str
    amount: int  # venue units
    decimals: int  # the asset's venue decimals
    depositor: str
    block: int
    tx: str

    def command(self) -> dict:
        """The venue command crediting it (docs/balances.md 13.2): the amount as decimal text in whole
        units of the asset (venue units / 10^decimals, exact)."""
        return {"op": "deposit", "dep": self.id, "acct": self.account, "asset": self.asset,
                "amount": units_text(self.amount, self.decimals)}


def units_text(amount: int, decimals: int) -> str:
    """amount * 10^-decimals as exact decimal text with `decimals` places ("1000.000000")."""
    if not decimals:
        return str(amount)
    q, r = divmod(amount, 10 ** decimals)
    return f"{q}.{r:0{decimals}d}"


class DepositWatcher:
    """Deposits of a vault, each handed out once its block has `confirmations` confirmations (the block
    itself counts as one), in id order and never id k + 1 before k.

    `consumed` gives the last deposit id the engine consumed (recovered from its journal after a
    restart); poll() returns the deposits after it that are confirmed now. The watcher keeps no state of
    its own beyond `consumed`: every poll re-reads each deposit's event by its id at the current head,
    so a deposit a reorg moved, changed or dropped is credited as the chain now has it (or not yet)."""

    def __init__(self, vault: Vault, consumed: Callable[[], int], confirmations: int = DEFAULT_CONFIRMATIONS,
                 max_per_poll: int = 1000):
        if confirmations < 1:
            raise ChainError("confirmations must be at least 1")
        self.vault = vault
        self.consumed = consumed
        self.confirmations = confirmations
        self.max_per_poll = max_per_poll
        self._decimals: dict[str, int] = {}  # asset -> venue decimals, from AssetRegistered (never changes)

    def decimals(self, asset: str) -> int:
        """The venue decimals the vault's owner registered for an asset."""
        if asset not in self._decimals:
            for e in self.vault.contract.events.AssetRegistered().get_logs(from_block=0):
                self._decimals[e.args.asset] = int(e.args.decimals)
        if asset not in self._decimals:
            raise ChainError(f"asset {asset} is not registered in vault {self.vault.address}")
        return self._decimals[asset]

    def read(self, dep: int) -> VaultDeposit | None:
        """Deposit `dep`'s event as the chain has it now (None when there is none)."""
        logs = self.vault.contract.events.Deposited().get_logs(from_block=0, argument_filters={"id": dep})
        if not logs:
            return None
        e = logs[-1]
        return VaultDeposit(int(e.args.id), e.args.account, e.args.asset, int(e.args.amount),
                            self.decimals(e.args.asset), e.args.depositor,
                            int(e.blockNumber), "0x" + bytes(e.transactionHash).hex())

    def poll(self) -> list[VaultDeposit]:
        """The deposits after the consumed one that are confirmed now, in id order (stopping at the first
        that is not)."""
        w3 = self.vault.w3
        head = w3.eth.block_number
        top = self.vault.deposit_counter()
        out = []
        dep = self.consumed() + 1
        while dep <= top and len(out) < self.max_per_poll:
            d = self.read(dep)
            if d is None or head - d.block + 1 < self.confirmations:
                break
            out.append(d)
            dep += 1
        return out

    def commands(self) -> list[dict]:
        """poll() as the venue's deposit commands."""
        return [d.command() for d in self.poll()]
