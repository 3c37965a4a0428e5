"""`python -m bench --only rest`: a lone order's round trip and orders/s over REST (`kabuto rest`) against the
ZeroMQ path (the SDK's Client) and against a bare aiohttp echo server of the same REST protocol, in one run.

Every order is an IOC buy far below an empty book: the venue accepts it and cancels its remainder, so
nothing rests and every round trip does the same work. A round trip is from sending the request to
reading its answer: the `accepted` report on ZeroMQ, the HTTP answer (which the adapter sends once the
venue's reports are in) on REST. The echo server is a separate process answering POST /api/v3/order
with a fixed order body after parsing the parameters, so REST minus echo is the adapter's own cost
(venue round trip included). The venue runs without its journal (--no-journal): fsync would dominate
every path alike.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import aiohttp
from kabuto.adapters.rest.apikeys import API_KEY_HEADER, new_api_key, sign
from kabuto.gateway.client import Client

SYM = "TSLAx-USD"
KABUTO = str(Path(sys.executable).with_name("kabuto"))
ECHO_BODY = {"symbol": SYM, "orderId": 1, "orderListId": -1, "clientOrderId": "x", "transactTime": 0,
             "price": "230.00", "origQty": "0.001", "executedQty": "0.000", "cummulativeQuoteQty": "0.00000",
             "status": "EXPIRED", "timeInForce": "IOC", "type": "LIMIT", "side": "BUY", "fills": []}


class Proc:
    """A subprocess whose output lines are collected; waits for a line matching a pattern."""

    def __init__(self, args: list[str]):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.p.stdout), daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 300) -> re.Match:
        """The first output match of pattern."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("".join(self.lines[-30:]))
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait(timeout=30)


def _pct(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"p50": xs[len(xs) // 2], "p99": xs[min(len(xs) - 1, int(len(xs) * 0.99))]}


# ---------------------------------------------------------------------------------------------- ZeroMQ


def zmq_latency(data_dir: Path, n: int) -> list[float]:
    """Microseconds from sending a new order to its accepted report, one order at a time."""
    out = []
    with Client.from_data_dir(data_dir, "trader") as c:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            cl = c.new(SYM, "buy", "0.001", "230.00", tif="IOC")
            c.wait_report(lambda r, cl=cl: r.cl_oid == cl and r.ev == "accepted")
            out.append((time.perf_counter_ns() - t0) / 1000)
            c.reports.clear()
    return out


def zmq_rate(data_dir: Path, seconds: float, window: int) -> float:
    """Orders answered per second with `window` orders in flight."""
    with Client.from_data_dir(data_dir, "trader") as c:
        inflight = done = 0
        t0 = time.perf_counter()
        end = t0 + seconds
        while time.perf_counter() < end:
            while inflight < window:
                c.new(SYM, "buy", "0.001", "230.00", tif="IOC")
                inflight += 1
            c.poll(0.01)
            while c.reports:
                if c.reports.popleft().ev in ("accepted", "rejected"):
                    inflight -= 1
                    done += 1
        return done / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------- REST


class Signer:
    """Signed new-order query strings with fresh client order ids."""

    def __init__(self, key, tag: str):
        self.key = key
        self.tag = tag
        self.n = 0

    def query(self) -> str:
        """The next order's signed query string."""
        self.n += 1  # a fresh client order id makes every signature new, whatever the timestamp
        q = urllib.parse.urlencode({"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
                                    "quantity": "0.001", "price": "230.00", "newClientOrderId": f"{self.tag}{self.n}",
                                    "newOrderRespType": "RESULT", "timestamp": time.time_ns() // 1_000_000,
                                    "recvWindow": 60000})
        return q + "&signature=" + sign(self.key.secret, q)


async def _post(s: aiohttp.ClientSession, url: str, q: str, key) -> None:
    async with s.post(f"{url}/api/v3/order?{q}", headers={API_KEY_HEADER: key.key}) as r:
        body = await r.read()
        if r.status != 200:
            raise RuntimeError(f"{r.status} {body[:200]!r}")


async def rest_latency(url: str, key, n: int, tag: str) -> list[float]:
    """Microseconds per signed POST /api/v3/order, one at a time on one keep-alive connection."""
    out = []
    signer = Signer(key, tag)
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            q = signer.query()
            t0 = time.perf_counter_ns()
            await _post(s, url, q, key)
            out.append((time.perf_counter_ns() - t0) / 1000)
    return out


async def rest_rate(url: str, key, seconds: float, window: int, tag: str) -> float:
    """Orders answered per second with `window` requests in flight (one connection each)."""
    signer = Signer(key, tag)
    done = 0
    end = time.perf_counter() + seconds

    async def worker(s):
        nonlocal done
        while time.perf_counter() < end:
            await _post(s, url, signer.query(), key)
            done += 1
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=window)) as s:
        await asyncio.gather(*(worker(s) for _ in range(window)))
    return done / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------- echo


def echo_server() -> None:
    """The bare aiohttp baseline: POST /api/v3/order parses its parameters and answers a fixed order body."""
    from aiohttp import web

    async def order(request: web.Request) -> web.Response:
        params = urllib.parse.parse_qsl(request.query_string, strict_parsing=True)
        if not params or request.headers.get(API_KEY_HEADER) is None:
            return web.json_response({"code": -1102, "msg": "no parameters"}, status=400)
        return web.json_response(ECHO_BODY)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/v3/order", order)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- the run


def main(quick: bool = False) -> list[str]:
    """Run the venue, the adapter and the echo server; measure; the report's markdown lines."""
    n = 300 if quick else 2000
    seconds = 2.0 if quick else 5.0
    window = 8
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        serve = Proc([KABUTO, "serve", "--data-dir", str(data), "--orders", "tcp://127.0.0.1:0", "--market-data",
                      "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0", "--no-chain", "--no-journal",
                      "--rate-limit", "10000000"])
        rest = echo = None
        try:
            serve.wait_for("ready")
            key = new_api_key(data / "api-keys.toml", "mm1")
            rest = Proc([KABUTO, "rest", "--data-dir", str(data), "--api-keys", str(data / "api-keys.toml"),
                         "--port", "0", "--weight-limit", str(10**9), "--order-limit", str(10**9)])
            rest_url = rest.wait_for(r"listening on (http://\S+)").group(1)
            echo = Proc([sys.executable, "-m", "bench.rest_bench", "--echo"])
            echo_url = echo.wait_for(r"listening on (http://\S+)").group(1)
            warm = max(50, n // 10)
            zmq_latency(data, warm)
            asyncio.run(rest_latency(rest_url, key, warm, "w"))
            asyncio.run(rest_latency(echo_url, key, warm, "we"))
            lat = {"ZeroMQ (Client)": _pct(zmq_latency(data, n)),
                   "REST (kabuto rest)": _pct(asyncio.run(rest_latency(rest_url, key, n, "l"))),
                   "echo (bare aiohttp)": _pct(asyncio.run(rest_latency(echo_url, key, n, "le")))}
            rate = {"ZeroMQ (Client)": zmq_rate(data, seconds, window),
                    "REST (kabuto rest)": asyncio.run(rest_rate(rest_url, key, seconds, window, "r")),
                    "echo (bare aiohttp)": asyncio.run(rest_rate(echo_url, key, seconds, window, "re"))}
        finally:
            for p in (echo, rest, serve):
                if p is not None:
                    p.stop()
    z = lat["ZeroMQ (Client)"]["p50"]
    e = lat["echo (bare aiohttp)"]["p50"]
    r = lat["REST (kabuto rest)"]["p50"]
    lines = [f"A lone order's round trip ({n} orders one at a time, IOC, nothing rests) and orders/s with {window} "
             f"in flight ({seconds:g} s), same run, venue without journal:", "",
             "| path | p50 µs | p99 µs | p50 / ZeroMQ | orders/s | orders/s / ZeroMQ |", "|---|---|---|---|---|---|"]
    for name, pc in lat.items():
        lines.append(f"| {name} | {pc['p50']:.0f} | {pc['p99']:.0f} | {pc['p50'] / z:.2f}x | {rate[name]:,.0f} | "
                     f"{rate[name] / rate['ZeroMQ (Client)']:.2f}x |")
    lines += ["", f"The adapter's own cost (REST p50 minus echo p50, the venue's round trip included): {r - e:.0f} µs; "
                  f"REST against echo: {r / e:.2f}x the latency, "
                  f"{rate['REST (kabuto rest)'] / rate['echo (bare aiohttp)']:.2f}x the orders/s."]
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", action="store_true", help="run the echo server (the benchmark starts it)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.echo:
        echo_server()
    else:
        print("\n".join(main(a.quick)))
