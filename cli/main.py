"""The `kabuto` command: every subcommand (replay, serve, keygen, journal, chain, rest, fix, ...) in one place."""
from __future__ import annotations

import argparse
import logging
import sys

LOG_LEVELS = ("debug", "info", "warning", "error")
# commands whose log lines are their output (the venue's status lines), the others log to stderr
LOG_TO_STDOUT = {"serve"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="kabuto", description="Kabuto matching engine")
    _log_level_option(parser, "info")
    sub = parser.add_subparsers(dest="command", required=True)
    from kabuto.cli import chain, fix, replay, rest, serve, warmup
    for module in (replay, warmup, serve, chain, rest, fix):
        module.register(sub)
    for command in sub.choices.values():
        _log_level_option(command, argparse.SUPPRESS)  # `kabuto serve --log-level debug` as well
    return parser


def _log_level_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=default,
                        help="least severe log line shown (default info); every component logs through "
                             "its own logger, kabuto.<package>.<module>")


def setup_logging(command: str, level: str) -> None:
    """Log lines of every kabuto logger as `kabuto COMMAND: message`, from the given level up."""
    handler = logging.StreamHandler(sys.stdout if command in LOG_TO_STDOUT else sys.stderr)
    handler.setFormatter(logging.Formatter(f"kabuto {command}: %(message)s"))
    root = logging.getLogger("kabuto")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kabuto` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(args.command, args.log_level)
    return run(args)


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
