"""Custody on-chain, end to end (docs/balances.md 13, 14.1): a live venue on a real EVM (eth-tester / py-evm
behind HTTP JSON-RPC on loopback):

    python examples/custody.py

1. deploy a USD token (6 decimals), two stock tokens (TSLAx, AMZNx, 18 decimals) and the vault; register
   the assets (TSLAx's quantum is 10^15: venue decimals 3);
2. start `kabuto serve --risk --chain-rpc`: the venue commits its batches to the vault and credits the
   vault's deposits itself; alice deposits 1,000 USD and bob 3 TSLAx on-chain, and the venue credits
   them once their blocks have 3 confirmations;
3. trading through the venue (the worked example of docs/balances.md 11): bob sells alice 3 TSLAx, fees go
   to @fees, alice withdraws 249.625 USD; the venue commits the batch (fills, settlement, balances and
   withdrawals roots) to the vault;
4. alice's withdrawal is claimed by its Merkle proof from the venue's ledger (a second claim reverts);
5. the venue stops; carol deposits 5 AMZNx that nobody credits; 7 days later anyone freezes the vault;
6. everyone leaves by the escape hatch with the balances of the last committed root, and carol takes
   back her deposit the venue never credited; the vault ends empty.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kabuto.chain.contract import send  # noqa: E402
from kabuto.chain.devnode import EvmNode  # noqa: E402
from kabuto.chain.evm import read_receipts  # noqa: E402
from kabuto.chain.ledger import Ledger  # noqa: E402
from kabuto.chain.proof import balance_proof, withdrawal_proof  # noqa: E402
from kabuto.chain.vault import Vault, _account, deploy_token, deploy_vault, token  # noqa: E402
from kabuto.engine.instruments import load_config  # noqa: E402
from kabuto.gateway.client import Client  # noqa: E402
from kabuto.gateway.keys import add_client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RISK_TOML = ROOT / "tests" / "risk" / "risk.toml"  # USD (6 decimals), TSLAx (3), AMZNx (3); TSLAx-USD, AMZNx-USD
KABUTO = str(Path(sys.executable).with_name("kabuto"))
DAY = 24 * 3600
TSLA = "TSLAx-USD"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show(what: str, receipt: dict) -> dict:
    print(f"  {what:<44} tx 0x{bytes(receipt['transactionHash']).hex()[:16]}…  gas {receipt['gasUsed']:>7,}",
          flush=True)
    return receipt


def serve(data_dir: Path, node: EvmNode, vault: Vault) -> subprocess.Popen:
    """`kabuto serve` with risk on and the vault as custodian, on free loopback ports; returns once ready."""
    key = data_dir / "operator.key"
    key.write_text(node.keys[0])
    proc = subprocess.Popen([KABUTO, "serve", "--data-dir", str(data_dir), "--instruments", str(RISK_TOML), "--risk",
                             "--keys", str(data_dir / "clients.toml"), "--operators", "op",
                             "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                             "--snapshots", "tcp://127.0.0.1:0", "--chain-rpc", node.url, "--chain-key", str(key),
                             "--chain-contract", vault.address, "--confirmations", "3", "--deposit-poll", "0.1",
                             "--batch-ms", "200"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "custody" in line or "ready" in line:
            print("  " + line.rstrip(), flush=True)
        if "ready" in line:
            return proc
    raise SystemExit(f"kabuto serve exited with status {proc.wait()}")


def wait(pred, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    node = EvmNode()
    w3 = node.web3()
    keys = node.keys
    operator, alice, bob, carol, anyone = keys[0], keys[1], keys[2], keys[3], keys[9]
    addr = {k: _account(k).address for k in keys}
    _, risk = load_config(str(RISK_TOML), True)
    decimals = {a.name: a.decimals for a in risk.assets}

    step("1. tokens and vault (owner, operator and fee recipient: the venue's key)")
    vault = Vault(w3, deploy_vault(w3, operator, freeze_after_s=7 * DAY))
    print(f"  vault {vault.address}, freeze after 7 days without a commit")
    tokens = {}
    for asset, sym, dec in (("USD", "USDC", 6), ("TSLAx", "TSLAx", 18), ("AMZNx", "AMZNx", 18)):
        tokens[asset] = token(w3, deploy_token(w3, operator, sym, sym, dec))
        show(f"register {asset} ({sym}, {dec} decimals, venue {decimals[asset]})",
             vault.tx(operator, "register_asset", asset, tokens[asset].address, decimals[asset]))
    for key, asset, amount in ((alice, "USD", 1_000 * 10 ** 6), (bob, "TSLAx", 3 * 10 ** 18),
                               (carol, "AMZNx", 5 * 10 ** 18)):
        send(w3, _account(operator), tokens[asset].functions.mint(addr[key], amount))
        send(w3, _account(key), tokens[asset].functions.approve(vault.address, amount))

    step("2. the venue starts; deposits on-chain, credited by the venue after 3 confirmations")
    data_dir = Path(tempfile.mkdtemp(prefix="kabuto-custody-"))
    for name in ("op", "alice", "bob"):
        add_client(data_dir, data_dir / "clients.toml", name)
    venue = serve(data_dir, node, vault)
    try:
        a = Client.from_data_dir(data_dir, "alice")
        b = Client.from_data_dir(data_dir, "bob")
        op = Client.from_data_dir(data_dir, "op")
        show("alice deposits 1,000 USD", vault.tx(alice, "deposit", "USD", 1_000 * 10 ** 6, "alice"))
        show("bob deposits 3 TSLAx", vault.tx(bob, "deposit", "TSLAx", 3 * 10 ** 18, "bob"))
        node.mine(2)
        for who, c in (("alice", a), ("bob", b)):
            r = c.wait_balance(lambda r: r.ev == "deposited", timeout=120)
            print(f"  the venue credits {who}: deposit {r.id}, {r.amount} {r.asset} (block {w3.eth.block_number})")

        step("3. trading through the venue (the worked example), batches committed to the vault")
        op.wait_reply(op.fees(1, "-1", "5"))
        op.wait_reply(op.tier("bob", 1))
        b.new(TSLA, "sell", "2", "249.50", cl_oid="s1")
        b.wait_report(lambda r: r.cl_oid == "s1" and r.ev == "accepted")
        a.new(TSLA, "buy", "3", "250.00", cl_oid="b1")
        a.wait_report(lambda r: r.cl_oid == "b1" and r.ev == "fill")
        b.new(TSLA, "sell", "1", "251.00", cl_oid="s2")
        b.wait_report(lambda r: r.cl_oid == "s2" and r.ev == "accepted")
        a.cancel("b1")
        a.new(TSLA, "buy", "0.8", type="market", protect="251.00", cl_oid="m1")
        a.wait_report(lambda r: r.cl_oid == "m1" and r.ev == "fill")
        wid = a.wait_reply(a.withdraw("USD", "249.625"))[3]
        print(f"  fills: alice bought 2 TSLAx at 249.50 and 0.8 at 251.00; withdrawal {wid}: 249.625 USD")
        for who, c in (("alice", a), ("bob", b)):
            print(f"  {who:<5} balances {c.balances()}")
        ledger_dir = data_dir / "chain"
        wait(lambda: _has_withdrawal(ledger_dir, wid), "the withdrawal's batch")
    finally:
        venue.send_signal(signal.SIGTERM)  # the venue stops (its last batch is committed first)
        print(f"  the venue stopped (status {venue.wait(timeout=120)})")
    for r in read_receipts(ledger_dir / "receipts.jsonl"):
        print(f"  {'commit batch ' + str(r['batch']) + ' (' + str(r['fills']) + ' fills)':<44} tx {r['tx'][:18]}…  "
              f"gas {r['gas']:>7,}")
    ledger = Ledger(ledger_dir)
    last = ledger.batch(ledger.count - 1)
    print(f"  balances root {last.record.balances_root.hex()[:16]}… of {len(last.custody.balances)} balances:")
    for x in last.custody.balances:
        print(f"    {x.account:<6} {x.asset:<5} {x.total:>12,}")

    step("4. alice's withdrawal claimed by proof (sent by anyone, paid to alice's address)")
    p = withdrawal_proof(ledger, wid)
    w = p["withdrawal"]
    claim = (p["batch"]["batch"], w["wid"], w["account"], w["asset"], w["amount"],
             [bytes.fromhex(x[2:]) for x in p["proof"]])
    show(f"claim wid {wid}: {w['amount']:,} USD units", vault.tx(anyone, "claim", *claim))
    try:
        vault.tx(anyone, "claim", *claim)
    except Exception as e:  # noqa: BLE001
        print(f"  claim again: refused ({str(e)[:60]}…)")

    step("5. carol deposits while the venue is gone; 7 days later anyone freezes the vault")
    show("carol deposits 5 AMZNx (never credited)", vault.tx(carol, "deposit", "AMZNx", 5 * 10 ** 18, "carol"))
    node.time_travel(7 * DAY + 1)
    show("freeze", vault.tx(anyone, "freeze"))

    step("6. the escape hatch: the last committed balances, by proof; carol's deposit reclaimed")
    for x in last.custody.balances:
        p = balance_proof(ledger, x.account, x.asset)
        show(f"escape {x.account} {x.asset} {x.total:,}", vault.tx(anyone, "escape", x.account, x.asset, x.total,
                                                                  [bytes.fromhex(h[2:]) for h in p["proof"]]))
    show("reclaim deposit 3 (carol)", vault.tx(anyone, "reclaim", 3))
    print("\n  token balances now:")
    for who, key in (("alice", alice), ("bob", bob), ("carol", carol), ("fees", operator), ("vault", None)):
        holder = vault.address if key is None else addr[key]
        print(f"    {who:<6}" + "".join(f"{t.functions.balanceOf(holder).call():>26,} {s:<6}"
                                        for s, t in tokens.items()))
    ledger.close()
    node.stop()


def _has_withdrawal(ledger_dir: Path, wid: int) -> bool:
    """True once a committed batch of the ledger holds withdrawal wid."""
    ledger = Ledger(ledger_dir)
    try:
        withdrawal_proof(ledger, wid)
        return True
    except Exception:  # noqa: BLE001 (not committed yet)
        return False
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
