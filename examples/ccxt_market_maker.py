"""A ccxt market maker: quotes a bid and an ask around the mid through `kabuto rest`, with the Kabuto ccxt class.

Against `make run` (a venue with the REST adapter on 127.0.0.1:8080 and demo API keys in
kabuto-data/api-keys.toml):

    python examples/ccxt_market_maker.py --url http://127.0.0.1:8080 --account mm1

Or start a venue (`kabuto serve`), then either point the example at a running `kabuto rest`

    python examples/ccxt_market_maker.py --url http://127.0.0.1:8080 --api-key KEY --secret SECRET

or let it start one in front of the venue whose data directory it is given (it writes an API key for
the account into DATA_DIR/ccxt-api-keys.toml on first use):

    python examples/ccxt_market_maker.py --data-dir kabuto-data --account mm1

Every --refresh seconds it cancels its quotes (cancel_all_orders), reports the ones that traded
(fetch_order), quotes again (post-only create_order) around the middle of the book (fetch_order_book),
or around --ref when a side is empty, and prints the top of the book it watches (watch_order_book).
Ctrl-C (or --duration) stops it after canceling its quotes.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from kabuto.adapters.rest.apikeys import new_api_key
from kabuto.adapters.rest.ccxt_kabuto import kabuto


def on_tick(value: Decimal, tick: Decimal) -> Decimal:
    """value rounded down to a whole number of ticks."""
    return (value / tick).to_integral_value(ROUND_DOWN) * tick


def api_key_for(data_dir: Path, account: str) -> tuple[Path, str, str]:
    """The example's API key file in the data directory, with a key for the account (created when missing)."""
    path = data_dir / "ccxt-api-keys.toml"
    if path.exists():
        with open(path, "rb") as f:
            for k in tomllib.load(f).get("api_key", []):
                if k["account"] == account:
                    return path, k["key"], k["secret"]
    k = new_api_key(path, account)
    return path, k.key, k.secret


def start_rest(data_dir: Path, key_file: Path) -> tuple[subprocess.Popen, str]:
    """`kabuto rest` on a free port in front of the venue in data_dir; (process, its URL)."""
    kabuto_cmd = str(Path(sys.executable).with_name("kabuto"))
    proc = subprocess.Popen([kabuto_cmd, "rest", "--data-dir", str(data_dir), "--api-keys", str(key_file),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe from filling
            return proc, m.group(1)
    raise SystemExit("kabuto rest did not start")


class Quoter:
    """Keeps one bid and one ask of `size` around the mid, `spread_bps` apart."""

    def __init__(self, ex: kabuto, symbol: str, ref: Decimal, spread_bps: Decimal, size: Decimal):
        self.ex = ex
        self.symbol = symbol
        self.ref = ref
        self.spread = spread_bps / Decimal(10_000)
        self.size = size
        self.quotes: dict[str, str] = {}  # order id -> side

    async def mid(self) -> Decimal:
        """The middle of the watched book's best bid and ask (or the reference when a side is empty)."""
        book = await self.ex.fetch_order_book(self.symbol)
        if book["bids"] and book["asks"]:
            return (Decimal(str(book["bids"][0][0])) + Decimal(str(book["asks"][0][0]))) / 2
        return self.ref

    async def requote(self) -> None:
        """Cancel the quotes, tell the fills, quote again."""
        canceled = {o["id"] for o in await self.ex.cancel_all_orders(self.symbol)}
        for oid, side in self.quotes.items():
            if oid not in canceled:
                o = await self.ex.fetch_order(oid, self.symbol)
                print(f"fill  {self.symbol} {side} {o['filled']} at {o['price']} ({o['status']})", flush=True)
        self.quotes.clear()
        mid = await self.mid()
        tick = Decimal(str(self.ex.market(self.symbol)["precision"]["price"]))
        bid, ask = on_tick(mid * (1 - self.spread), tick), on_tick(mid * (1 + self.spread), tick) + tick
        for side, px in (("buy", bid), ("sell", ask)):
            o = await self.ex.create_order(self.symbol, "limit", side, float(self.size), float(px),
                                           {"postOnly": True})
            self.quotes[o["id"]] = side
        print(f"quote {self.symbol} {bid} / {ask} x {self.size}", flush=True)

    async def show_book(self) -> None:
        """Print the top of the watched book."""
        try:
            book = await asyncio.wait_for(self.ex.watch_order_book(self.symbol), 0.2)
        except TimeoutError:
            return
        bid = book["bids"][0] if book["bids"] else None
        ask = book["asks"][0] if book["asks"] else None
        print(f"book  {self.symbol} bid {bid} ask {ask} (update {book['nonce']})", flush=True)


async def run(args: argparse.Namespace, url: str, key: str, secret: str) -> None:
    """Quote until the duration is over (or forever), then cancel everything."""
    ex = kabuto({"apiKey": key, "secret": secret, "urls": {"api": {"rest": url}}})
    try:
        await ex.load_markets()
        q = Quoter(ex, args.symbol, Decimal(args.ref), Decimal(args.spread_bps), Decimal(args.size))
        print(f"{args.account or 'ccxt'}: quoting {args.symbol} through {url}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        end = time.monotonic() + args.duration if args.duration else float("inf")
        while time.monotonic() < end and not stop.is_set():
            await q.requote()
            await q.show_book()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.refresh)
        canceled = await ex.cancel_all_orders(args.symbol)
        print(f"done: canceled {len(canceled)} quotes", flush=True)
    finally:
        await ex.close()


def demo_key(path: Path, account: str) -> tuple[str, str]:
    """(key, secret) of an account's first API key in a key file (`kabuto serve --rest` writes the demo ones)."""
    try:
        keys = [k for k in tomllib.loads(path.read_text())["api_key"] if k["account"] == account]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"no --api-key and no readable key file {path}: {e}") from None
    if not keys:
        raise SystemExit(f"no API key for {account} in {path}")
    return keys[0]["key"], keys[0]["secret"]


def main() -> int:
    """Parse the options, start `kabuto rest` when asked, and quote."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running kabuto rest (else --data-dir starts one)")
    p.add_argument("--api-key")
    p.add_argument("--secret")
    p.add_argument("--data-dir", type=Path, default=Path("kabuto-data"), help="the venue's data directory")
    p.add_argument("--account", default="mm1", help="the account to trade for when starting kabuto rest")
    p.add_argument("--symbol", default="TSLAx/USD")
    p.add_argument("--ref", default="250.00", help="the price to quote around while the book is empty")
    p.add_argument("--spread-bps", default="20")
    p.add_argument("--size", default="1")
    p.add_argument("--refresh", type=float, default=1.0, help="seconds between requotes")
    p.add_argument("--duration", type=float, default=0, help="seconds to run (0: until Ctrl-C)")
    args = p.parse_args()
    proc = None
    if args.url and args.api_key:
        url, key, secret = args.url, args.api_key, args.secret
        args.account = None
    elif args.url:  # `make run`'s REST adapter: the account's demo key from DATA_DIR/api-keys.toml
        url = args.url
        key, secret = demo_key(args.data_dir / "api-keys.toml", args.account)
    else:
        key_file, key, secret = api_key_for(args.data_dir, args.account)
        proc, url = start_rest(args.data_dir, key_file)
    try:
        asyncio.run(run(args, url, key, secret))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
