"""An example market maker: quotes both sides of several symbols around a drifting reference price.

Start a venue, then the market maker (and, to see fills, a second one with --taker):

    kabuto serve                                        # CurveZMQ, demo keys in kabuto-data/
    python examples/market_maker.py                     # quotes as mm1
    python examples/market_maker.py --account trader --taker

Every --refresh seconds it replaces its quotes with one batch frame (cancel + new, answered in one
frame), keeps a local book from snapshot + sequenced updates (resyncing by itself on a gap) and
prints its fills and the top of book. It logs on with cancel-on-disconnect, so its quotes vanish
if it dies. Ctrl-C stops it after canceling everything.
"""
from __future__ import annotations

import argparse
import random
import signal
import time
from decimal import ROUND_DOWN, Decimal

from kabuto.gateway.client import Client, MarketDataClient, new_command

DEFAULT_REFS = {"TSLAx-USD": "250.00", "AMZNx-USD": "180.00", "BTC-USD": "60000.00", "ETH-USD": "3000.00",
                "AAPLx-USD": "190.00", "NVDAx-USD": "120.00"}


def on_step(value: Decimal, step: Decimal) -> Decimal:
    """value rounded down to a whole multiple of step."""
    return (value / step).to_integral_value(ROUND_DOWN) * step


class MarketMaker:
    """Quotes `levels` bids and asks per symbol, `spread_bps` apart, around each reference price."""

    def __init__(self, client: Client, md: MarketDataClient, refs: dict[str, Decimal], levels: int,
                 spread_bps: Decimal, size: Decimal):
        self.client = client
        self.md = md
        self.refs = refs
        self.levels = levels
        self.spread = spread_bps / 10_000
        self.size = size
        self.specs = client.session["instruments"]
        self.quotes: dict[str, list] = {s: [] for s in refs}  # live client order ids per symbol
        self.fills = 0
        self._n = 0

    def requote(self) -> None:
        """Drift each reference price a little and replace every quote in one batch frame."""
        cmds = []
        for sym, ref in self.refs.items():
            spec = self.specs[sym]
            tick, lot = Decimal(spec["tick_size"]), Decimal(spec["lot_size"])
            ref = self.refs[sym] = on_step(ref * Decimal(1 + random.gauss(0, 0.0005)), tick)
            cmds += [["cancel", self._req(), cl] for cl in self.quotes[sym]]
            self.quotes[sym] = []
            for k in range(1, self.levels + 1):
                off = ref * self.spread * k
                for side, px in (("buy", on_step(ref - off, tick)), ("sell", on_step(ref + off, tick) + tick)):
                    cl = f"{sym[:4]}-{self._req()}"
                    cmds.append(new_command(self._req(), cl, sym, side, str(on_step(self.size, lot)), str(px),
                                            tif="POST"))
                    self.quotes[sym].append(cl)
        self.client.batch(cmds)

    def take(self) -> None:
        """Cross the spread once on a random symbol (the --taker role)."""
        sym = random.choice(list(self.refs))
        self.client.new(sym, random.choice(("buy", "sell")), str(self.size), type="market")

    def _req(self) -> int:
        self._n += 1
        return self._n

    def report(self) -> None:
        """Print this session's fills and each symbol's top of book."""
        for r in self.client.drain(quiet=0.0):
            if r.ev == "fill":
                self.fills += 1
                print(f"fill  {r.sym:10} {r.side:4} {r.qty} @ {r.px} ({r.role}, leaves {r.open})")
            elif r.ev == "rejected":
                print(f"reject {r.cl_oid}: {r.reason}")
            if r.sym in self.quotes and r.cl_oid in self.quotes[r.sym] and r.open is not None and not Decimal(r.open):
                self.quotes[r.sym].remove(r.cl_oid)  # finished: nothing left to cancel
        self.md.poll(0.0)
        tops = []
        for sym in self.refs:
            if self.md.synced(sym):
                bids, asks = self.md.book(sym)
                bid = bids[0][0] if bids else "-"
                ask = asks[0][0] if asks else "-"
                tops.append(f"{sym} {bid}/{ask} #{self.md.seq(sym)}")
        print("book  " + "  ".join(tops) + f"  (fills {self.fills}, gaps healed {self.md.gaps})")


def main() -> int:
    """Run the market maker until --duration passes or Ctrl-C."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="kabuto-data", help="the venue's data directory (endpoints and keys)")
    ap.add_argument("--account", default="mm1", help="account (its key must be in DATA_DIR/keys)")
    ap.add_argument("--symbols", default="TSLAx-USD,AMZNx-USD,BTC-USD", help="comma-separated symbols to quote")
    ap.add_argument("--levels", type=int, default=3, help="quotes per side per symbol")
    ap.add_argument("--spread-bps", type=Decimal, default=Decimal(10), help="distance between levels, in bp")
    ap.add_argument("--size", type=Decimal, default=Decimal("0.5"), help="quantity per quote")
    ap.add_argument("--refresh", type=float, default=1.0, help="seconds between requotes")
    ap.add_argument("--duration", type=float, default=0, help="seconds to run (0 = until Ctrl-C)")
    ap.add_argument("--taker", action="store_true", help="take liquidity instead of quoting (to see fills)")
    args = ap.parse_args()

    symbols = args.symbols.split(",")
    refs = {s: Decimal(DEFAULT_REFS.get(s, "100.00")) for s in symbols}
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with Client.from_data_dir(args.data_dir, args.account, cod=True, heartbeat=0.5) as client, \
            MarketDataClient.from_data_dir(args.data_dir, args.account, symbols) as md:
        mm = MarketMaker(client, md, refs, args.levels, args.spread_bps, args.size)
        md.wait_synced(until=md.receiving)  # subscribed for real before the first quotes go out
        print(f"{args.account}: {'taking' if args.taker else 'quoting'} {', '.join(symbols)}")
        end = time.monotonic() + args.duration if args.duration else float("inf")
        while not stop and time.monotonic() < end:
            mm.take() if args.taker else mm.requote()
            deadline = time.monotonic() + args.refresh
            while not stop and time.monotonic() < deadline:
                client.poll(0.05)
                md.poll(0.0)
            mm.report()
        client.wait_reply(client.mass_cancel())
    print(f"{args.account}: stopped, {mm.fills} fills")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
