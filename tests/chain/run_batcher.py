"""Helper process for the crash tests: a real Engine's fills fed to a FillBatcher, like `replay --ledger`.

    python run_batcher.py LEDGER_DIR [--orders N] [--seed S] [--max-fills M] [--pause SECONDS]
                          [--rpc URL --key HEX --contract ADDR]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chainkit import INSTRUMENTS, account_name, engine_run  # noqa: E402
from kabuto.chain.batcher import FillBatcher  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("ledger")
    p.add_argument("--orders", type=int, default=6_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--max-fills", type=int, default=100)
    p.add_argument("--pause", type=float, default=0.0, help="sleep after each engine batch")
    p.add_argument("--rpc")
    p.add_argument("--key")
    p.add_argument("--contract")
    a = p.parse_args()
    stream = engine_run(a.orders, a.seed)
    if a.rpc:
        from kabuto.chain.contract import connect
        from kabuto.chain.evm import EvmPublisher
        publisher = EvmPublisher(a.ledger, connect(a.rpc), a.key, a.contract)
    else:
        from kabuto.chain.ledger import LedgerPublisher
        publisher = LedgerPublisher(a.ledger)
    batcher = FillBatcher(INSTRUMENTS, account_name, publisher, max_fills=a.max_fills, max_ms=20,
                          retry_s=(0.02, 0.2))
    print("started", flush=True)
    for events, first in stream:
        batcher.handle(events, first)
        time.sleep(a.pause)
    batcher.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
