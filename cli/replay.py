"""`kabuto replay`: order logs (JSON Lines, LOBSTER) through the engine, events and final book out."""
from __future__ import annotations

import argparse
import os
import sys

from kabuto.engine.errors import InputError
from kabuto.engine.instruments import load_config
from kabuto.replay.accounts import Accounts
from kabuto.replay.eventlog import write_book


def register(sub) -> None:
    """Add the replay subcommand."""
    p = sub.add_parser("replay", help="replay an order log through the engine",
                       description="Replay an order log (JSON Lines per the order-log spec, or LOBSTER "
                                   "message files) and print the events.")
    p.add_argument("orders", help="order log: JSON Lines file, a `kabuto serve` journal directory, "
                                   "or a LOBSTER message CSV with --format lobster")
    p.add_argument("--instruments", help="instruments TOML file (default: the built-in set)")
    p.add_argument("--events", help="write events here (default: standard output)")
    p.add_argument("--book-out", help="write the final book here as JSON")
    p.add_argument("--engine", choices=("numba", "reference"), default="numba",
                   help="matching implementation (default: numba)")
    p.add_argument("--risk", action="store_true",
                   help="balances, holds and fees on (docs/balances.md), also when the instruments file "
                        "does not say [risk] enabled = true; a journal replays with its venue's setting")
    p.add_argument("--format", choices=("jsonl", "lobster"), default="jsonl", help="input format")
    p.add_argument("--orderbook", help="LOBSTER orderbook CSV matching the message file")
    p.add_argument("--check", action="store_true", help="LOBSTER: compare the book with the orderbook file")
    p.add_argument("--fail-under", type=float, help="LOBSTER --check: exit 1 if best bid/ask match %% is below")
    p.add_argument("--levels", type=int, help="LOBSTER: levels in the orderbook file (default: inferred)")
    p.add_argument("--ledger", help="commit fills to a local chain ledger in this directory")
    from kabuto.cli.chain import add_publisher_options
    add_publisher_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the replay subcommand."""
    if args.format == "lobster":
        from kabuto.cli.chain import make_batcher
        from kabuto.replay.lobster import replay_lobster
        return replay_lobster(args, lambda instruments, names: make_batcher(args, instruments, names))
    if os.path.isdir(args.orders):  # a venue's journal (or data) directory: its events, byte for byte
        from kabuto.durability.recovery import replay_journal
        return replay_journal(args)
    from kabuto.replay.replay import replay, stderr_progress
    instruments, risk = load_config(args.instruments, args.risk)
    try:
        src = open(args.orders, "rb")
    except OSError as e:
        raise InputError(f"cannot read {args.orders}: {e.strerror}") from None
    try:
        out = open(args.events, "wb") if args.events else sys.stdout.buffer
    except OSError as e:
        raise InputError(f"cannot write {args.events}: {e.strerror}") from None
    accounts = Accounts()
    from kabuto.cli.chain import make_batcher
    batcher = make_batcher(args, instruments, lambda i: accounts.names[i])
    sinks = [batcher] if batcher else []
    update, close = stderr_progress(os.fstat(src.fileno()).st_size)
    try:
        with src:
            engine = replay(src, out, instruments, args.engine, sinks, update, accounts, risk)
    except OSError as e:
        raise InputError(f"replay failed: {e}") from None
    finally:
        if close:
            close()
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if args.book_out:
        write_book(args.book_out, engine, instruments, risk)
    return 0
