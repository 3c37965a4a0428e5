"""`python -m bench` from the project root (make bench): every benchmark, tables and bench/REPORT.md."""
import argparse
import sys

from kabuto.cli.main import run

from bench import cli


def main(argv: list[str] | None = None) -> int:
    """Parse the bench options and run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Kabuto benchmarks")
    cli.register(parser.add_subparsers(dest="command", required=False))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
