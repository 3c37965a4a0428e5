"""The `kabuto` command: replay, serve, journal, chain and bench subcommands."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="kabuto", description="Kabuto matching engine")
    sub = parser.add_subparsers(dest="command", required=True)
    from engine import replay_cli, warmup
    replay_cli.register(sub)
    warmup.register(sub)
    for module in ("gateway.cli", "chain.cli", "bench.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kabuto` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # every package's own error: one clear line, no traceback
        if type(e).__module__.split(".")[0] in ("engine", "gateway", "chain", "bench"):
            print(f"kabuto: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
