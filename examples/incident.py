"""The essay's incident, replayed twice: a thin AMZNx book, the stock at 230.00, a ~$470 market buy.

Without protection (a plain instrument, as Kabuto was before docs/market-integrity.md) the buy sweeps the
book up to an ask at 23,781.00, about 100x the stock. With an oracle instrument the far ask never rests
(outside the band), the buy fills inside the band and the rest is canceled, a bid at the band's edge
pins the book (limit up), trading pauses, and a call auction reopens it near the oracle.

    python examples/incident.py [--plot FILE.png]

--plot draws both runs' trades against the oracle price (matplotlib, the bench extra)."""
from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path

from kabuto.engine.instruments import load_instruments, parse_instruments
from kabuto.replay.replay import replay_text

HERE = Path(__file__).resolve().parent
LOG = HERE / "incident.jsonl"
PROTECTED = HERE / "oracle-instruments.toml"
UNPROTECTED = {"instrument": [{"symbol": "AMZNx-USD", "tick_size": "0.01", "lot_size": "0.001"}]}
ORACLE = Decimal("230.00")


def run(instruments) -> list[dict]:
    """The events of the incident log on these instruments."""
    events, _ = replay_text(LOG.read_bytes(), instruments)
    return [json.loads(x) for x in events.splitlines()]


def trades(events: list[dict]) -> list[tuple[float, Decimal, Decimal]]:
    """(seconds since the log's first command, price, quantity) of every fill."""
    t0 = json.loads(LOG.read_text().splitlines()[1])["ts"]
    return [((e["ts"] - t0) / 1e9, Decimal(e["px"]), Decimal(e["qty"])) for e in events if e["ev"] == "fill"]


def report(name: str, events: list[dict]) -> None:
    """Print one run's trades and what the buyer paid."""
    fills = trades(events)
    print(f"{name}:")
    for t, px, qty in fills:
        print(f"  t={t:6.1f} s  {qty} @ {px}  ({px / ORACLE:.2f}x the stock)")
    spent = sum(px * qty for t, px, qty in fills if t < 1.5)
    print(f"  the market buy paid {spent:.2f} for {sum(q for t, _, q in fills if t < 1.5)}; "
          f"highest print {max(px for _, px, _ in fills)}")
    statuses = [f"{e['status']} ({e['reason']})" for e in events if e["ev"] == "status"]
    if statuses:
        print("  status: " + " -> ".join(statuses))


def plot(path: Path, plain: list[dict], guarded: list[dict]) -> None:
    """Both runs' trades and the band against the oracle price, on a log scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.2))
    band = next(e for e in guarded if e["ev"] == "band")
    ax.axhspan(float(band["lo"]), float(band["hi"]), color="tab:green", alpha=0.12, label="band (LULD 5%)")
    ax.axhline(float(ORACLE), color="black", lw=1, ls="--", label="oracle: the stock, 230.00")
    for name, events, style in (("no protection", plain, "rX"), ("oracle instrument", guarded, "go")):
        fills = trades(events)
        ax.plot([t for t, _, _ in fills], [float(p) for _, p, _ in fills], style, ms=8, label=f"trades, {name}")
    for e in guarded:
        if e["ev"] == "status" and e["status"] in ("limit_up", "call"):
            ax.axvline((e["ts"] - json.loads(LOG.read_text().splitlines()[1])["ts"]) / 1e9, color="tab:blue",
                       lw=0.8, ls=":")  # limit up, then the pause
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("AMZNx price (USD, log scale)")
    ax.set_title("A $470 market buy on a thin book: ~100x without protection, inside the band with it")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    """Replay the log both ways, print what happened, and plot it when asked."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plot", type=Path, help="write a PNG of both runs here")
    args = p.parse_args()
    plain = run(parse_instruments(UNPROTECTED))
    guarded = run(load_instruments(str(PROTECTED)))
    report("without protection", plain)
    report("with the oracle band (docs/market-integrity.md)", guarded)
    if args.plot:
        plot(args.plot, plain, guarded)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
