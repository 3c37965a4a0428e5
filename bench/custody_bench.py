"""Custody gas (docs/balances.md 13): committing a risk-on batch of 10,000 fills to the vault, what its
balances root adds, per account changed, and claiming a withdrawal by proof.

    python bench/custody_bench.py [--quick]

Gas is measured on a real EVM (eth-tester on py-evm, in process) running Vault.vy and Token.vy as
compiled by the vyper package. A batch's commit costs the same whatever its trees hold (each root is
32 bytes): the batch here has 10,000 engine fills (chain_bench's crossing orders) whose accounts are
spread over a population of P accounts, its balances tree holds every (account, asset) of the
population, and "accounts changed" counts the distinct accounts of its fills. The balances root's own
cost is the commit's gas less that of the same commit with a zero balances root (its 32 calldata bytes
and its storage slot; the zero root still pays a cold no-op store, about 2,200 gas, not counted).
Claims: a batch of 1,024 withdrawals (proofs of 10 hashes), committed with its wid range as the venue's
publisher does (its claimed-bitmap words marked in use): a claim paying an address that holds some of
the token (typical), one paying an address holding none of it (the token's balance goes from zero:
+17,100 gas in the token), the first claim of a bitmap word paying such an address (worst), and that
with the longest names the vault takes (a 64-character account, a 40-character asset).
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kabuto.chain.batch import build_custody_batch  # noqa: E402
from kabuto.chain.custody import Balance, Custody, Withdrawal  # noqa: E402
from kabuto.chain.merkle import ZERO  # noqa: E402
from kabuto.chain.settlement import settle  # noqa: E402
from kabuto.chain.vault import commit_args, deploy_token, token  # noqa: E402

from bench.chain_bench import SYMBOLS, engine_fills  # noqa: E402

N_FILLS = 10_000


class VaultChain:
    """An in-process EVM with a vault (owner and operator: key 0), a USD token registered as "USD"."""

    def __init__(self):
        from eth_tester import EthereumTester, PyEVMBackend
        from kabuto.chain.vault import Vault, deploy_vault
        from web3 import EthereumTesterProvider, Web3
        self.tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.keys = [k.to_hex() for k in self.tester.backend.account_keys]
        self.vault = Vault(self.w3, deploy_vault(self.w3, self.keys[0]))
        self.usd = token(self.w3, deploy_token(self.w3, self.keys[0], "USDC", "USDC", 6))
        self.vault.tx(self.keys[0], "register_asset", "USD", self.usd.address, 6)

    def send(self, key: str, call) -> dict:
        from kabuto.chain.contract import send
        from kabuto.chain.vault import _account
        return send(self.w3, _account(key), call)


def population_batch(rows: np.ndarray, population: int, seed: int = 3):
    """A custody batch of the fill rows with their accounts spread over `population` accounts: (batch,
    accounts changed, (account, asset) pairs changed)."""
    rng = np.random.default_rng(seed)
    rows = rows.copy()
    order = rng.integers(0, population, len(rows) * 2)
    rows["maker_acct"], rows["taker_acct"] = order[:len(rows)], order[len(rows):]
    accounts = {int(a): f"acct-{a:06d}" for a in np.union1d(rows["maker_acct"], rows["taker_acct"])}
    deltas = settle(rows, SYMBOLS, accounts).deltas()
    base = 10 ** 15  # every account of the population holds some of every asset
    assets = sorted({d.asset for d in deltas})
    book = {(f"acct-{a:06d}", s): base for a in range(population) for s in assets}
    for d in deltas:
        book[(d.account, d.asset)] += d.amount
    custody = Custody([Balance(a, s, t) for (a, s), t in sorted(book.items())], [], deltas, 0)
    batch = build_custody_batch(0, ZERO, 1, int(rows["seq"][-1]), rows, SYMBOLS, accounts, custody)
    return batch, len(accounts), len(deltas)


def commit_gas(rows: np.ndarray, populations: list[int]) -> list[dict]:
    """Commit gas of a 10,000-fill batch and of its balances root, per population."""
    out = []
    for p in populations:
        batch, accounts, pairs = population_batch(rows, p)
        chain = VaultChain()
        r = batch.record
        g0 = chain.vault.tx(chain.keys[0], "commit", *commit_args(batch))["gasUsed"]
        # batch 1: the same commit again after it (a steady-state commit), with a real and a zero root
        vals = list(commit_args(batch))
        vals[:4] = 1, chain.vault.functions.last_hash().call(), r.last_seq + 1, 2 * r.last_seq
        g1 = chain.vault.tx(chain.keys[0], "commit", *vals)["gasUsed"]
        vals2 = list(vals)
        vals2[:4] = 2, chain.vault.functions.last_hash().call(), 2 * r.last_seq + 1, 3 * r.last_seq
        vals2[7] = ZERO
        g2 = chain.vault.tx(chain.keys[0], "commit", *vals2)["gasUsed"]
        root = g1 - g2
        out.append({"population": p, "accounts": accounts, "pairs": pairs, "first": g0, "steady": g1,
                    "root": root, "root_per_account": root / accounts, "commit_per_account": g1 / accounts})
    return out


def claim_gas(n_withdrawals: int = 1024) -> dict:
    """Claim gas from a batch of n withdrawals: worst (fresh bitmap word, payee holding none of the
    token) and typical (word already used, payee holding some)."""
    chain = VaultChain()
    v, k = chain.vault, chain.keys
    # owned accounts with deposits in the vault; "poor" and "poor2" put all their tokens in it
    names = ("rich", "poor", "poor2")
    for key, name, amount in ((k[1], "rich", 10 ** 12), (k[2], "poor", 10 ** 9), (k[3], "poor2", 10 ** 9)):
        addr = chain.w3.eth.account.from_key(key).address
        chain.send(k[0], chain.usd.functions.mint(addr, amount))
        chain.send(key, chain.usd.functions.approve(v.address, amount))
        v.tx(key, "deposit", "USD", amount // 2 if name == "rich" else amount, name)
    # the longest names: an asset of 40 characters, an account of 64 whose owner put all its tokens in
    long_asset, long_account = "L" * 40, "l" * 64
    long_token = token(chain.w3, deploy_token(chain.w3, k[0], "LONG", "LONG", 6))
    v.tx(k[0], "register_asset", long_asset, long_token.address, 6)
    addr = chain.w3.eth.account.from_key(k[4]).address
    chain.send(k[0], long_token.functions.mint(addr, 10 ** 9))
    chain.send(k[4], long_token.functions.approve(v.address, 10 ** 9))
    v.tx(k[4], "deposit", long_asset, 10 ** 9, long_account)
    ws = [Withdrawal(w, names[w % 3], "USD", 1000 + w) for w in range(1, n_withdrawals + 1)]
    ws[254] = Withdrawal(255, long_account, long_asset, 1255)  # wid 255: the first of bitmap word 1
    custody = Custody([], ws, [], 4)
    batch = build_custody_batch(0, ZERO, 1, n_withdrawals * 2, _no_fills(), SYMBOLS, {}, custody)
    v.tx(k[0], "commit", *commit_args(batch))
    tree = custody.withdrawal_tree()

    def claim(i: int, payer: str) -> int:
        w = ws[i]
        return v.tx(payer, "claim", 0, w.wid, w.account, w.asset, w.amount, tree.proof(i))["gasUsed"]

    worst = claim(0, k[5])  # wid 1, "poor": first claim of word 0, payee holds no USD
    empty_payee = claim(1, k[5])  # wid 2, "poor2": word 0 in use, payee holds no USD
    typical = claim(2, k[5])  # wid 3, "rich": word 0 in use, payee holds USD
    longest = claim(254, k[5])  # wid 255, the longest names: first claim of word 1, payee holds none
    return {"withdrawals": n_withdrawals, "depth": len(tree.proof(0)), "worst": worst, "typical": typical,
            "empty_payee": empty_payee, "longest": longest}


def _no_fills() -> np.ndarray:
    from kabuto.chain.fills import FILL_DTYPE
    return np.empty(0, FILL_DTYPE)


def main(quick: bool = False) -> list[str]:
    rows = engine_fills(N_FILLS)
    pops = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    lines = ["## Custody gas (vault, eth-tester/py-evm)", "",
             f"Commit of a risk-on batch of {N_FILLS:,} fills (accounts spread over P accounts):", "",
             "| P | accounts changed | (account, asset) changed | commit gas | balances root gas | root gas / account "
             "| commit gas / account |", "|---|---|---|---|---|---|---|"]
    for r in commit_gas(rows, pops):
        lines.append(f"| {r['population']:,} | {r['accounts']:,} | {r['pairs']:,} | {r['steady']:,} | {r['root']:,} "
                     f"| {r['root_per_account']:.1f} | {r['commit_per_account']:.1f} |")
    c = claim_gas()
    lines += ["", f"Claim of a withdrawal from a batch of {c['withdrawals']:,} withdrawals (proof of {c['depth']} "
              f"hashes): typical {c['typical']:,} gas (the payee already holds the token); "
              f"{c['empty_payee']:,} gas when the payee holds none of the token (the token's own first store, "
              f"17,100 gas); {c['worst']:,} gas at the first claim of a bitmap word to such a payee; "
              f"{c['longest']:,} gas for that with a 64-character account and a 40-character asset."]
    return lines


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
