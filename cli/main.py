"""The `kabuto` command: every subcommand (replay, warmup, serve, keygen, ref, journal, chain) in one place."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="kabuto", description="Kabuto matching engine")
    sub = parser.add_subparsers(dest="command", required=True)
    from kabuto.cli import chain, replay, serve, warmup
    for module in (replay, warmup, serve, chain):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kabuto` console script."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed subcommand: its exit status, or 2 with one line for any of Kabuto's own errors."""
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # every package's own error: one clear line, no traceback
        if type(e).__module__.split(".")[0] in ("kabuto", "bench"):
            print(f"kabuto: {e}", file=sys.stderr)
            return 2
        raise

if __name__ == "__main__":
    sys.exit(main())
