"""`kabuto warmup`: compile and cache every numba kernel, so that later runs start in about a second."""
from __future__ import annotations

import argparse
import glob
import importlib
import io
import os
import tempfile
import time

SAMPLE = b"""{"op":"new","oid":1,"acct":"a","sym":"TSLAx-USD","side":"sell","type":"limit","px":"250.00","qty":"1"}
{"op":"new","oid":2,"acct":7,"sym":"TSLAx-USD","side":"buy","type":"market","qty":"0.5","ts":1}
{"op":"amend","oid":1,"px":"249.00"}
{"op":"ref","sym":"TSLAx-USD","px":"250"}
{"op":"cancel","oid":1}
"""
# other packages' kernels, compiled by importing them and calling their own warmup() when they have one
OPTIONAL = ("kabuto.replay.lobster", "kabuto.gateway.server")


def register(sub) -> None:
    """Add the warmup subcommand."""
    p = sub.add_parser("warmup", help="compile and cache every numba kernel (the first run's cost)")
    p.add_argument("--clean", action="store_true",
                   help="drop every cached kernel first (numba does not notice when a function's callee "
                        "in another module changed)")
    p.set_defaults(func=run)


def cache_dirs() -> list[str]:
    """The folders numba caches the project's kernels in: each package's __pycache__, or its folder
    under NUMBA_CACHE_DIR when that is set (a bounds-checked build, another user's install)."""
    from numba.core import config
    from numba.core.caching import _CacheLocator
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for package in ("engine", "replay", "venue", "durability", "chain", "gateway", "bench"):
        source = os.path.join(root, package, "__init__.py")
        if config.CACHE_DIR:
            out.append(os.path.join(config.CACHE_DIR, _CacheLocator.get_suitable_cache_subpath(source)))
        else:
            out.append(os.path.join(root, package, "__pycache__"))
    return out


def clean_caches() -> int:
    """Remove numba's cache files of the project's packages; returns how many."""
    n = 0
    for folder in cache_dirs():
        for path in glob.glob(os.path.join(folder, "*.nb[ic]")):
            os.remove(path)
            n += 1
    return n


def run(args: argparse.Namespace) -> int:
    """Compile every kernel once; print how long it took."""
    from kabuto.engine.instruments import load_instruments
    from kabuto.replay.replay import replay
    if args.clean:
        clean_caches()
    t = time.perf_counter()
    instruments = load_instruments()
    with tempfile.TemporaryDirectory() as d:  # the chain batcher's kernels compile on a real fill
        from kabuto.chain.batcher import FillBatcher
        from kabuto.chain.ledger import LedgerPublisher
        # its thread compiles them: close() waits for it however long that takes (minutes on a busy
        # machine with bounds checking on), or they would be compiled again by the first venue
        batcher = FillBatcher(instruments, None, LedgerPublisher(os.path.join(d, "chain")), close_timeout_s=3600)
        replay(io.BytesIO(SAMPLE), io.BytesIO(), instruments, sinks=[batcher])
    from kabuto.engine.state import grow_hash, grow_levels, grow_orders, new_state
    from kabuto.replay.accounts import Accounts
    # the SAMPLE grows nothing: grow a new state (C arrays), then a grown one (views), and the accounts table
    grown = grow_levels(grow_orders(grow_hash(new_state(1, orders=16, levels=4))))
    grow_levels(grow_orders(grown))
    Accounts().reserve(1024, 0)
    for name in OPTIONAL:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        if hasattr(mod, "warmup"):
            mod.warmup()
    print(f"kabuto: kernels compiled and cached in {time.perf_counter() - t:.1f} s")
    return 0
