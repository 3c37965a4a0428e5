"""Custody on-chain, end to end (docs/balances.md 13), on a real EVM (eth-tester / py-evm, in process):

    python examples/custody.py [--engine numba|reference]

1. deploy a USD token (6 decimals), two stock tokens (TSLAx, AMZNx, 18 decimals) and the vault; register
   the assets (TSLAx's quantum is 10^15: venue decimals 3);
2. alice deposits 1,000 USD and bob 3 TSLAx into the vault; the deposit watcher credits them once their
   blocks have 3 confirmations, as the venue's `deposit` commands;
3. the engine (risk on) runs the worked example of docs/balances.md 11 with those deposits: bob sells
   alice 3 TSLAx, fees go to @fees, alice withdraws 249.625 USD; the custody batcher commits the batch
   (fills, settlement, balances and withdrawals roots) to the vault;
4. alice's withdrawal is claimed by its Merkle proof (a second claim reverts);
5. carol deposits 5 AMZNx, then the venue stops committing: after 7 days anyone freezes the vault;
6. everyone leaves by the escape hatch with the balances of the last committed root, and carol takes
   back her deposit the venue never credited; the vault ends empty.

The engine is driven through the replay path (`kabuto replay --risk` does the same), not a live venue:
a venue's deposits from the vault need the watcher wired into `kabuto serve`, which is not there yet.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402
from kabuto.chain.contract import send  # noqa: E402
from kabuto.chain.custody_batcher import CustodyBatcher  # noqa: E402
from kabuto.chain.evm import read_receipts  # noqa: E402
from kabuto.chain.ledger import Ledger  # noqa: E402
from kabuto.chain.proof import balance_proof, withdrawal_proof  # noqa: E402
from kabuto.chain.vault import DepositWatcher, Vault, VaultPublisher, _account, deploy_token, deploy_vault, token  # noqa: E402
from kabuto.engine.instruments import load_config  # noqa: E402
from kabuto.replay.accounts import Accounts  # noqa: E402
from kabuto.replay.replay import replay  # noqa: E402
from web3 import EthereumTesterProvider, Web3  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RISK_TOML = ROOT / "tests" / "risk" / "risk.toml"  # USD (6 decimals), TSLAx (3), AMZNx (3); TSLAx-USD, AMZNx-USD
DAY = 24 * 3600


def step(title: str) -> None:
    print(f"\n== {title}")


def show(what: str, receipt: dict) -> dict:
    print(f"  {what:<44} tx 0x{bytes(receipt['transactionHash']).hex()[:16]}…  gas {receipt['gasUsed']:>7,}")
    return receipt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=("numba", "reference"), default="numba")
    args = ap.parse_args()
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    keys = [k.to_hex() for k in tester.backend.account_keys]
    venue, alice, bob, carol, anyone = keys[0], keys[1], keys[2], keys[3], keys[9]
    addr = {k: _account(k).address for k in keys}
    instruments, risk = load_config(str(RISK_TOML), True)
    decimals = {a.name: a.decimals for a in risk.assets}

    step("1. tokens and vault (owner, operator and fee recipient: the venue's key)")
    vault = Vault(w3, deploy_vault(w3, venue, freeze_after_s=7 * DAY))
    print(f"  vault {vault.address}, freeze after 7 days without a commit")
    tokens = {}
    for asset, sym, dec in (("USD", "USDC", 6), ("TSLAx", "TSLAx", 18), ("AMZNx", "AMZNx", 18)):
        tokens[asset] = token(w3, deploy_token(w3, venue, sym, sym, dec))
        show(f"register {asset} ({sym}, {dec} decimals, venue {decimals[asset]})",
             vault.tx(venue, "register_asset", asset, tokens[asset].address, decimals[asset]))
    for key, asset, amount in ((alice, "USD", 1_000 * 10 ** 6), (bob, "TSLAx", 3 * 10 ** 18),
                               (carol, "AMZNx", 5 * 10 ** 18)):
        send(w3, _account(venue), tokens[asset].functions.mint(addr[key], amount))
        send(w3, _account(key), tokens[asset].functions.approve(vault.address, amount))

    step("2. deposits, credited after 3 confirmations")
    show("alice deposits 1,000 USD", vault.tx(alice, "deposit", "USD", 1_000 * 10 ** 6, "alice"))
    show("bob deposits 3 TSLAx", vault.tx(bob, "deposit", "TSLAx", 3 * 10 ** 18, "bob"))
    consumed = [0]
    watcher = DepositWatcher(vault, lambda: consumed[0], confirmations=3)
    print(f"  watcher at block {w3.eth.block_number}: {len(watcher.poll())} deposits confirmed")
    tester.mine_blocks(2)
    deposits = watcher.commands()
    print(f"  watcher at block {w3.eth.block_number}: {len(deposits)} deposits confirmed")
    for c in deposits:
        print("   ", json.dumps(c, separators=(",", ":")))

    step("3. trading with risk on (the worked example), one batch committed to the vault")
    log = [{"op": "fees", "tier": 1, "maker_bps": "-1", "taker_bps": "5"}, {"op": "tier", "acct": "bob", "tier": 1},
           *deposits,
           {"op": "new", "oid": 1, "acct": "bob", "sym": "TSLAx-USD", "side": "sell", "type": "limit", "px": "249.50",
            "qty": "2"},
           {"op": "new", "oid": 2, "acct": "alice", "sym": "TSLAx-USD", "side": "buy", "type": "limit", "px": "250.00",
            "qty": "3"},
           {"op": "amend", "oid": 2, "px": "249.00"},
           {"op": "new", "oid": 5, "acct": "bob", "sym": "TSLAx-USD", "side": "sell", "type": "limit", "px": "251.00",
            "qty": "1"},
           {"op": "new", "oid": 6, "acct": "alice", "sym": "TSLAx-USD", "side": "buy", "type": "market", "qty": "0.5"},
           {"op": "cancel", "oid": 2},
           {"op": "new", "oid": 7, "acct": "alice", "sym": "TSLAx-USD", "side": "buy", "type": "market", "qty": "0.8",
            "protect": "251.00"},
           {"op": "withdraw", "acct": "alice", "asset": "USD", "amount": "249.625"}]
    text = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in log).encode()
    ledger_dir = Path(tempfile.mkdtemp(prefix="kabuto-custody-")) / "chain"
    accounts = Accounts()
    batcher = CustodyBatcher(instruments, lambda i: accounts.names[i], VaultPublisher(ledger_dir, w3, venue,
                                                                                     vault.address), risk, max_ms=1e9)
    out = io.BytesIO()
    replay(io.BytesIO(text), out, instruments, args.engine, [batcher], None, accounts, risk)
    events = out.getvalue().decode().splitlines()
    consumed[0] = max(c["dep"] for c in deposits)
    fills = [e for e in events if '"ev":"fill"' in e]
    print(f"  {len(events)} events, {len(fills)} fills, e.g. {fills[0]}")
    for r in read_receipts(ledger_dir / "receipts.jsonl"):
        print(f"  {'commit batch ' + str(r['batch']) + ' (' + str(r['fills']) + ' fills)':<44} tx {r['tx'][:18]}…  "
              f"gas {r['gas']:>7,}")
    ledger = Ledger(ledger_dir)
    b = ledger.batch(ledger.count - 1)
    print(f"  balances root {b.record.balances_root.hex()[:16]}… of {len(b.custody.balances)} balances:")
    for x in b.custody.balances:
        print(f"    {x.account:<6} {x.asset:<5} {x.total:>12,}")

    step("4. alice's withdrawal claimed by proof (sent by anyone, paid to alice's address)")
    p = withdrawal_proof(ledger, 1)
    w = p["withdrawal"]
    claim = (p["batch"]["batch"], w["wid"], w["account"], w["asset"], w["amount"],
             [bytes.fromhex(x[2:]) for x in p["proof"]])
    show(f"claim wid 1: {w['amount']:,} USD units", vault.tx(anyone, "claim", *claim))
    try:
        vault.tx(anyone, "claim", *claim)
    except Exception as e:  # noqa: BLE001
        print(f"  claim again: refused ({str(e)[:60]}…)")

    step("5. carol deposits, the venue stops committing; 7 days later anyone freezes the vault")
    show("carol deposits 5 AMZNx (never credited)", vault.tx(carol, "deposit", "AMZNx", 5 * 10 ** 18, "carol"))
    tester.time_travel(w3.eth.get_block("latest")["timestamp"] + 7 * DAY + 1)
    show("freeze", vault.tx(anyone, "freeze"))

    step("6. the escape hatch: the last committed balances, by proof; carol's deposit reclaimed")
    for x in b.custody.balances:
        p = balance_proof(ledger, x.account, x.asset)
        show(f"escape {x.account} {x.asset} {x.total:,}", vault.tx(anyone, "escape", x.account, x.asset, x.total,
                                                                  [bytes.fromhex(h[2:]) for h in p["proof"]]))
    show("reclaim deposit 3 (carol)", vault.tx(anyone, "reclaim", 3))
    print("\n  token balances now:")
    for who, key in (("alice", alice), ("bob", bob), ("carol", carol), ("fees", venue), ("vault", None)):
        a = vault.address if key is None else addr[key]
        print(f"    {who:<6}" + "".join(f"{t.functions.balanceOf(a).call():>26,} {s:<6}" for s, t in tokens.items()))
    ledger.close()


if __name__ == "__main__":
    main()
