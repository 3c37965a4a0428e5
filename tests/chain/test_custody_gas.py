"""Custody gas on eth-tester (bench/custody_bench.py): committing the balances root of a batch of 10,000
fills, per account changed, and claiming a withdrawal by proof. Prints the figures (pytest -s)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.chain_bench import engine_fills  # noqa: E402
from bench.custody_bench import N_FILLS, claim_gas, commit_gas  # noqa: E402


def test_custody_gas():
    rows = engine_fills(N_FILLS)
    (c,) = commit_gas(rows, [10_000])
    claim = claim_gas(1024)
    print(f"\ncommit of {N_FILLS:,} fills: {c['steady']:,} gas; balances root {c['root']:,} gas for "
          f"{c['accounts']:,} accounts changed = {c['root_per_account']:.1f} gas/account "
          f"(whole commit {c['commit_per_account']:.1f} gas/account)")
    print(f"claim (proof of {claim['depth']}): typical {claim['typical']:,}, payee without the token "
          f"{claim['empty_payee']:,}, worst {claim['worst']:,} gas")
    assert c["root_per_account"] < 20
    assert claim["typical"] < 80_000
