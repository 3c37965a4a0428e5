"""`python -m bench` (make bench): run every benchmark, print the tables and write bench/REPORT.md with plots."""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

from kabuto.engine.errors import MissingExtra
from kabuto.engine.extras import require

HERE = os.path.dirname(os.path.abspath(__file__))
SECTIONS = ("kernel", "integrity", "risk", "depth", "replay", "lobster", "chain", "gateway", "fairness", "journal",
            "fix", "rest")


def register(sub) -> None:
    """Add the bench subcommand."""
    p = sub.add_parser("bench", help="run the benchmarks and write bench/REPORT.md")
    p.add_argument("--quick", action="store_true", help="smaller workloads (a minute instead of several)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    p.add_argument("--report", default=os.path.join(HERE, "REPORT.md"), help="where to write the report")
    p.set_defaults(func=run)


def machine() -> str:
    """One line about the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numba
    import numpy
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"numba {numba.__version__}")


def _section(name: str, quick: bool, plots: str) -> list[str]:
    if name == "kernel":
        from bench import kernel_bench
        return kernel_bench.main(quick, plots)
    if name == "integrity":
        from bench import integrity_bench
        return integrity_bench.main(quick)
    if name == "risk":
        from bench import risk_bench
        return risk_bench.main(quick)
    if name == "depth":
        from bench import depth_bench
        return depth_bench.main(quick, plots)
    if name == "replay":
        from bench import replay_bench
        return replay_bench.main(quick)
    if name == "lobster":
        from bench import lobster_bench
        return lobster_bench.main(quick)
    if name == "chain":
        from bench import chain_bench
        return chain_bench.main(quick)
    # the gateway benchmark runs servers and load generators in processes of its own
    if name == "journal":
        from bench import journal_bench
        return journal_bench.main(quick)
    if name == "fix":
        from bench import fix_bench
        return fix_bench.main(quick)
    if name == "rest":
        from bench import rest_bench
        return rest_bench.main(quick)
    if name == "fairness":
        from bench import fairness_bench
        return fairness_bench.main(quick)
    lines = []
    for journal in ("none", "always"):  # the gateway alone, then with serve's default durability
        p = subprocess.run([sys.executable, "-m", "bench.gateway_bench", "--journal", journal]
                           + (["--seconds", "1.5"] if quick else []),
                           capture_output=True, text=True, cwd=os.path.dirname(HERE))
        if p.returncode:
            return [f"gateway benchmark failed (exit {p.returncode}):", "```", p.stderr[-2000:], "```"]
        lines += ["```"] + p.stdout.strip().splitlines() + ["```", ""]
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the chosen sections; print each table and write the report."""
    from tqdm import tqdm
    for module in ("matplotlib", "hdrh"):  # before minutes of measuring, not after
        require(module, "bench")
    sections = args.only or SECTIONS
    plots = os.path.dirname(os.path.abspath(args.report))
    header = ["# Kabuto benchmark report", "",
              f"Machine: {machine()}. Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
              f"{' (--quick)' if args.quick else ''}. Every figure has its baseline measured in the same run.", ""]
    body = _old_sections(args.report) if args.only else {}
    bar = tqdm(sections, desc="bench", file=sys.stderr, disable=not sys.stderr.isatty())
    for name in bar:
        bar.set_postfix_str(name)
        t = time.perf_counter()
        try:
            lines = _section(name, args.quick, plots)
        except (ModuleNotFoundError, MissingExtra) as e:  # the chain section without the evm extra
            lines = [f"(skipped: {e})"]
        body[name] = [f"## {name}", ""] + lines + ["", f"_{time.perf_counter() - t:.0f} s, "
                                                        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}_", ""]
        print(f"\n## {name}\n" + "\n".join(lines), flush=True)
    out = header + [line for name in SECTIONS if name in body for line in body[name]]
    with open(args.report, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\nwrote {args.report}")
    return 0


def _old_sections(path: str) -> dict[str, list[str]]:
    """The sections of an existing report by name (--only replaces just the ones it runs)."""
    try:
        with open(path) as f:
            text = f.read().splitlines()
    except OSError:
        return {}
    out: dict[str, list[str]] = {}
    name = None
    for line in text:
        if line.startswith("## "):
            name = line[3:].strip()
            out[name] = []
        if name:
            out[name].append(line)
    return out
