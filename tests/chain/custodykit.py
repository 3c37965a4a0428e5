"""Helpers of the custody tests and example: run a risk-on order log through the replay path into a
CustodyBatcher, and set up a vault with its tokens on an EVM."""
from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

from kabuto.chain.custody_batcher import CustodyBatcher
from kabuto.engine.instruments import load_config
from kabuto.replay.accounts import Accounts
from kabuto.replay.replay import replay

ROOT = Path(__file__).resolve().parents[2]
RISK_TOML = ROOT / "tests" / "risk" / "risk.toml"
RISK_LOG = ROOT / "tests" / "risk" / "log.jsonl"


def config():
    """(instruments, risk) of the worked example of docs/balances.md 11."""
    return load_config(str(RISK_TOML), True)


def log_text(lines: Iterable) -> bytes:
    """An order log of dicts (or JSON text lines, str or bytes)."""
    out = []
    for ln in lines:
        if isinstance(ln, dict):
            ln = json.dumps(ln, separators=(",", ":"))
        out.append(ln if isinstance(ln, bytes) else ln.encode())
    return b"".join(x + b"\n" for x in out)


def run_log(text: bytes, publisher, engine: str = "reference", **kw) -> str:
    """Replay a risk-on log into a CustodyBatcher on publisher (closed at the end); the events printed."""
    instruments, risk = config()
    accounts = Accounts()
    kw.setdefault("max_ms", 1e9)
    batcher = CustodyBatcher(instruments, lambda i: accounts.names[i], publisher, risk, **kw)
    out = io.BytesIO()
    replay(io.BytesIO(text), out, instruments, engine, [batcher], None, accounts, risk)
    return out.getvalue().decode()


# the vault's assets in the tests: venue name, token symbol, token decimals (venue decimals from risk.toml)
TOKENS = (("USD", "USDC", 6), ("TSLAx", "TSLAx", 18), ("AMZNx", "AMZNx", 8))


def setup_vault(w3, keys, freeze_after_s: int = 7 * 24 * 3600) -> tuple:
    """A vault (owner and operator keys[0]) with USD, TSLAx and AMZNx registered and their tokens
    deployed: (Vault, {asset: token contract}, receipts by step)."""
    from kabuto.chain.vault import Vault, deploy_token, deploy_vault, token
    _, risk = config()
    decimals = {a.name: a.decimals for a in risk.assets}
    vault = Vault(w3, deploy_vault(w3, keys[0], freeze_after_s=freeze_after_s))
    tokens, receipts = {}, {}
    for asset, sym, dec in TOKENS:
        tokens[asset] = token(w3, deploy_token(w3, keys[0], sym, sym, dec))
        receipts[f"register {asset}"] = vault.tx(keys[0], "register_asset", asset, tokens[asset].address,
                                                 decimals[asset])
    return vault, tokens, receipts


def fund(w3, tokens, keys, asset: str, key: str, amount: int, vault) -> None:
    """Mint amount token units of asset to key's address and approve the vault for them."""
    from kabuto.chain.contract import send
    from kabuto.chain.vault import _account
    who = _account(key)
    send(w3, _account(keys[0]), tokens[asset].functions.mint(who.address, amount))
    send(w3, who, tokens[asset].functions.approve(vault.address, amount))


def address(key: str) -> str:
    from kabuto.chain.vault import _account
    return _account(key).address
