"""Gateway benchmark: throughput, round-trip latency and market data latency over tcp loopback.

    .venv/bin/python bench/gateway_bench.py [--seconds 3] [--rate 10000]

Runs `kabuto serve --insecure` in a subprocess and the load generators in other processes. The
baseline is a raw pyzmq DEALER/ROUTER msgpack echo (decode + encode per frame, no matching),
measured in the same run with the same frames, so the ratios say what the venue costs on top of
ZeroMQ and msgpack on this machine. Latencies are HdrHistogram percentiles in microseconds.

The round-trip runs are driven by bench/zmq_load.c (built with gcc against pyzmq's own libzmq)
when gcc is there, by the Python role_latency otherwise: on 2 cores the load generator's CPU time
is time the venue does not get, and the C one uses a fraction of it. It also subscribes to the
market data for the fill -> subscriber latency, and measures the machine's floor with no Python
at all: its C client against its C echo.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

SYM = "TSLAx-USD"
MID = 25000  # ticks: 250.00
HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------- roles (child processes)

def _frames(batch: int, count: int, side: str) -> list[bytes]:
    """Pre-built batch frames of new orders of one side, priced over 11 ticks around the mid."""
    frames = []
    cl = 0
    for f in range(count):
        cmds = []
        for _ in range(batch):
            cl += 1
            px = MID + (cl * 7919) % 11 - 5
            cmds.append(["new", cl, cl, SYM, side, "limit", f"{px // 100}.{px % 100:02d}", "0.100", None, None])
        frames.append(msgpack.packb(["batch", f, cmds]))
    return frames


def _dealer(ctx: zmq.Context, endpoint: str, account: str | None, keys: str = "-") -> zmq.Socket:
    """A DEALER logged on as account (None: the echo, no logon); keys: the venue's data directory
    when it runs with CurveZMQ ("-": plain text)."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if keys != "-":
        from kabuto.gateway.keys import client_credentials
        cred = client_credentials(Path(keys), account)
        s.curve_secretkey, s.curve_publickey, s.curve_serverkey = cred.secret, cred.public, cred.server
    s.connect(endpoint)
    if account is not None:
        s.send(msgpack.packb(["logon", 0, {"account": account}]))
        s.recv()
    return s


def role_throughput(endpoint: str, seconds: float, batch: int, window: int, echo: bool, keys: str = "-") -> dict:
    """Two sessions (a buyer and a seller, so orders cross) send batch frames, keeping up to
    window * batch orders in flight each; counts orders answered per second."""
    ctx = zmq.Context()
    socks = [_dealer(ctx, endpoint, None if echo else f"tp{side}", keys) for side in ("buy", "sell")]
    frames = [_frames(batch, 400, side) for side in ("buy", "sell")]
    sent = [0, 0]
    answered = [0, 0]
    limit = window * batch
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    t0 = time.perf_counter()
    t_end = t0 + seconds
    while True:
        now = time.perf_counter()
        if now < t_end:
            for k, s in enumerate(socks):
                while sent[k] - answered[k] < limit:
                    s.send(frames[k][(sent[k] // batch) % 400], copy=False)
                    sent[k] += batch
        elif sent == answered:
            break
        ready = dict(poller.poll(1000))
        if not ready and now > t_end + 5:
            break
        for k, s in enumerate(socks):
            if s in ready:
                while True:
                    try:
                        payload = s.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    answered[k] += batch if echo else _orders_answered(payload)
    dt = time.perf_counter() - t0
    for s in socks:
        s.close()
    ctx.term()
    return {"commands": sum(answered), "seconds": dt, "per_s": sum(answered) / dt}


ACCEPTED = msgpack.packb("accepted")
REJECTED = msgpack.packb("rejected")


def _orders_answered(payload: bytes) -> int:
    """Orders answered in one reports frame: every new order gets one accepted or rejected report.

    Counted in the raw bytes (the load generator must not spend the CPU the venue needs)."""
    return payload.count(ACCEPTED) + payload.count(REJECTED)


def role_latency(endpoint: str, seconds: float, rate: float, echo: bool, keys: str = "-") -> dict:
    """Open-loop single orders at `rate`/s, alternating a buyer's and a seller's session at one
    price (every sell fills the buy before it, so the book stays empty); round trip = send ->
    the first execution report (or echo) for its request.

    Kept lean (plain-int zmq flags, one select per wait): on a 2-core machine the load generator's
    own CPU time is CPU time the venue under test does not get."""
    from hdrh.histogram import HdrHistogram
    ctx = zmq.Context()
    socks = [_dealer(ctx, endpoint, None if echo else f"lat{side}", keys) for side in ("buy", "sell")]
    fds = [s.getsockopt(zmq.FD) for s in socks]
    hist = HdrHistogram(1, 10_000_000, 3)
    n = int(seconds * rate)
    period = 1.0 / rate
    sent_at: dict[int, int] = {}
    pack = msgpack.Packer().pack
    clock = time.perf_counter
    t0 = clock()
    got = 0
    for i in range(1, n + 1):
        due = t0 + i * period
        while True:
            got += _read_latency(socks, sent_at, hist)
            now = clock()
            if now >= due:
                break
            # sleep on the sockets' file descriptors: microsecond timeouts, woken by a reply
            # (zmq.poll only has millisecond timeouts; sleeping blindly would delay replies)
            select.select(fds, [], [], due - now)
        side = i & 1
        msg = pack(["new", i, i, SYM, "sell" if side else "buy", "limit", "250.00", "0.100"])
        sent_at[i] = time.perf_counter_ns()
        socks[side].send(msg, NOBLOCK)
    deadline = clock() + 5
    while sent_at and clock() < deadline:
        select.select(fds, [], [], 0.01)
        got += _read_latency(socks, sent_at, hist)
    dt = clock() - t0
    for s in socks:
        s.close()
    ctx.term()
    return {"orders": n, "answered": got, "seconds": dt, **_percentiles(hist)}


NOBLOCK, EVENTS, POLLIN = int(zmq.NOBLOCK), int(zmq.EVENTS), int(zmq.POLLIN)


def _read_latency(socks: list, sent_at: dict, hist) -> int:
    """Take every waiting reply; record each request's first answer."""
    got = 0
    for s in socks:
        while s.getsockopt(EVENTS) & POLLIN:
            payload = s.recv(NOBLOCK)
            now = time.perf_counter_ns()
            msg = msgpack.unpackb(payload)
            if msg[0] == "reports":
                reqs = [r[3] for r in msg[1]]
            else:
                reqs = (msg[1],)
            for req in reqs:
                t = sent_at.pop(req, None)
                if t is not None:
                    hist.record_value(max(1, (now - t) // 1000))
                    got += 1
    return got


def role_pingpong(endpoint: str, count: int) -> dict:
    """Closed loop against the echo, one message in flight: the round-trip floor of this machine."""
    from hdrh.histogram import HdrHistogram
    ctx = zmq.Context()
    s = _dealer(ctx, endpoint, None)
    hist = HdrHistogram(1, 10_000_000, 3)
    msg = msgpack.packb(["new", 1, 1, SYM, "buy", "limit", "250.00", "0.100"])
    for _ in range(count):
        t = time.perf_counter_ns()
        s.send(msg)
        s.poll(1000)
        s.recv()
        hist.record_value(max(1, (time.perf_counter_ns() - t) // 1000))
        time.sleep(0.0002)
    s.close()
    ctx.term()
    return _percentiles(hist)


def role_subscriber(endpoint: str, seconds: float, ready_file: str) -> dict:
    """Subscribe to trades; latency = receive time - the trade's timestamp (when it was sequenced).

    Lean like the latency role: it shares the machine with the venue it measures."""
    from hdrh.histogram import HdrHistogram
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, (SYM + "|").encode())
    s.connect(endpoint)
    fd = s.getsockopt(zmq.FD)
    hist = HdrHistogram(1, 10_000_000, 3)
    time.sleep(0.3)
    Path(ready_file).write_text("ready")
    t_end = time.perf_counter() + seconds
    trades = 0
    while time.perf_counter() < t_end:
        select.select([fd], [], [], 0.1)
        while s.getsockopt(EVENTS) & POLLIN:
            s.recv(NOBLOCK)  # the topic
            body = s.recv(NOBLOCK)
            now = time.time_ns()
            msg = msgpack.unpackb(body)
            if msg[0] == "md":
                for t in msg[4]:
                    hist.record_value(max(1, (now - t[4]) // 1000))
                    trades += 1
    s.close()
    ctx.term()
    return {"trades": trades, **_percentiles(hist)}


def role_echo(endpoint_file: str) -> None:
    """The baseline server: a ROUTER that decodes each msgpack frame and sends it back encoded."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 100_000)
    s.setsockopt(zmq.RCVHWM, 100_000)
    s.bind("tcp://127.0.0.1:*")
    Path(endpoint_file).write_text(s.getsockopt_string(zmq.LAST_ENDPOINT))
    while True:
        rid, payload = s.recv_multipart()
        if payload == b"stop":
            break
        s.send_multipart((rid, msgpack.packb(msgpack.unpackb(payload))))
    s.close()
    ctx.term()


def build_load(tmp: Path) -> Path | None:
    """bench/zmq_load.c built against pyzmq's own libzmq (None without gcc or that library)."""
    import glob
    import shutil
    libs = glob.glob(str(Path(zmq.__file__).parent.parent / "pyzmq.libs" / "libzmq*.so*"))
    if not shutil.which("gcc") or not libs:
        return None
    exe = tmp / "zmq_load"
    build = subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE.with_name("zmq_load.c")), libs[0],
                            f"-Wl,-rpath,{Path(libs[0]).parent}"], capture_output=True, text=True)
    if build.returncode:
        print(f"(zmq_load.c did not build, the latency runs use the Python load generator: "
              f"{build.stderr.strip()[:300]})")
        return None
    return exe


def _load_result(args: list[str], rc: int, out: str) -> dict:
    words = out.split()
    if rc or len(words) < 12:
        raise SystemExit(f"zmq_load {' '.join(args[:3])} failed ({rc}): {out}")
    return {"answered": int(words[1])} | {words[i]: float(words[i + 1]) for i in range(2, 12, 2)}


def _run_load(exe: Path, args: list[str], timeout: float) -> dict:
    out = subprocess.run([str(exe), *args], stdout=subprocess.PIPE, text=True, timeout=timeout)
    return _load_result(args, out.returncode, out.stdout)


def subscriber(exe: Path | None, endpoint: str, seconds: float, ready: Path, stop_after: int = 0):
    """Start a trade subscriber measuring fill -> subscriber latency (zmq_load md, or role_subscriber
    without gcc); returns a function that waits for it and gives its result. With gcc, stop_after > 0
    ends it once that many trades came (seconds is then only a deadline)."""
    if exe is None:
        p = _child("subscriber", endpoint, str(seconds), str(ready))
        return lambda: _result(p)
    args = ["md", endpoint, SYM + "|", str(seconds), str(ready), *([str(stop_after)] if stop_after > 0 else [])]
    p = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, text=True)

    def result() -> dict:
        out, _ = p.communicate(timeout=seconds + 30)
        r = _load_result(args, p.returncode, out)
        return {"trades": r.pop("answered"), **r}
    return result


def c_floor(exe: Path, rate: float, seconds: float) -> dict:
    """Round trip of 40-byte messages at `rate` between zmq_load's C client and its C echo: no Python."""
    import socket
    with socket.socket() as probe:  # a free port for the C server
        probe.bind(("127.0.0.1", 0))
        ep = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    server = subprocess.Popen([str(exe), "server", ep])
    try:
        return _run_load(exe, ["floor", ep, str(rate), str(int(rate * seconds))], seconds + 30)
    finally:
        server.kill()
        server.wait()


def latency(exe: Path | None, tmp: Path, endpoint: str, seconds: float, rate: float, echo: bool,
            keys: str = "-") -> dict:
    """The round-trip run of role_latency (same orders, same sessions), driven by zmq_load's C load
    generator when it built (its CPU time is a fraction of the Python one's), else by role_latency."""
    if exe is None:
        return _result(_child("latency", endpoint, str(seconds), str(rate), "echo" if echo else "venue", keys))
    n = int(seconds * rate)
    frames = tmp / "latency.frames"
    with open(frames, "wb") as f:
        logons = [] if echo else [msgpack.packb(["logon", 0, {"account": a}]) for a in ("latbuy", "latsell")]
        for group in (logons, [msgpack.packb(["new", i + 1, i + 1, SYM, ("buy", "sell")[i % 2], "limit", "250.00",
                                              "0.100"]) for i in range(n)]):
            f.write(struct.pack("<I", len(group)))
            for frame in group:
                f.write(struct.pack("<I", len(frame)) + frame)
    curve = []
    if keys != "-":
        from kabuto.gateway.keys import client_credentials
        creds = [client_credentials(Path(keys), a) for a in ("latbuy", "latsell")]
        curve = [creds[0].server.decode()] + [k.decode() for c in creds for k in (c.public, c.secret)]
    r = _run_load(exe, ["orders", endpoint, str(rate), str(frames), *curve], seconds + 30)
    return {"orders": n, **r}


def _percentiles(hist) -> dict:
    return {f"p{p}": hist.get_value_at_percentile(p) for p in (50, 90, 99, 99.9)} | {"max": hist.get_max_value()}


# ---------------------------------------------------------------------- driver

def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE), "--role", *args], stdout=subprocess.PIPE, text=True)


def _result(p: subprocess.Popen) -> dict:
    out, _ = p.communicate(timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def _wait_file(path: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return path.read_text()
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {path}")


BENCH_ACCOUNTS = ("tpbuy", "tpsell", "latbuy", "latsell")


def start_venue(tmp: Path, chain: bool, durability: list[str] = (), secure: bool = False
                ) -> tuple[subprocess.Popen, dict, str]:
    """kabuto serve on free ports, without throttles; returns (process, endpoints, keys): keys is
    the data directory holding the bench accounts' CurveZMQ keys when secure, else "-"."""
    kabuto = Path(sys.executable).with_name("kabuto")
    vdir = tmp / ("venue-curve" if secure else "venue")
    cmd = [str(kabuto), "serve", *([] if secure else ["--insecure"]), "--data-dir", str(vdir), "--rate-limit", "0",
           "--max-live-orders", "1000000", "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
           "--snapshots", "tcp://127.0.0.1:0"] + ([] if chain else ["--no-chain"]) + list(durability)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if "ready" in line:
            break
    else:
        raise SystemExit("kabuto serve did not start")
    keys = "-"
    if secure:  # the venue re-reads its key file when it changes
        from kabuto.gateway.keys import add_client
        for name in BENCH_ACCOUNTS:
            add_client(vdir, vdir / "clients.toml", name)
        keys = str(vdir)
    return p, json.loads((vdir / "endpoints.json").read_text()), keys


def main() -> int:
    """Run every measurement and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each measurement")
    ap.add_argument("--rate", type=float, default=10_000, help="orders per second in the latency run")
    ap.add_argument("--low-rate", type=float, default=2_000,
                    help="orders per second in a second latency run, where the load leaves the machine idle time")
    ap.add_argument("--batch", type=int, default=200, help="orders per batch frame in the throughput run")
    ap.add_argument("--window", type=int, default=8, help="batch frames in flight in the throughput run")
    ap.add_argument("--with-chain", action="store_true",
                    help="keep serve's default chain fill batcher on (off: the gateway alone is measured)")
    ap.add_argument("--journal", default="always", choices=("always", "batch", "off", "none"),
                    help="the venue's journal: fsync always (serve's default), fsync every 2 ms, "
                         "no fsync, or no journal at all")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        role, *rest = args.role
        if role == "echo":
            role_echo(rest[0])
            return 0
        if role == "throughput":
            r = role_throughput(rest[0], float(rest[1]), int(rest[2]), int(rest[3]), rest[4] == "echo", rest[5])
        elif role == "pingpong":
            r = role_pingpong(rest[0], int(rest[1]))
        elif role == "latency":
            r = role_latency(rest[0], float(rest[1]), float(rest[2]), rest[3] == "echo", rest[4])
        else:
            r = role_subscriber(rest[0], float(rest[1]), rest[2])
        print(json.dumps(r))
        return 0

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # baseline: raw DEALER/ROUTER msgpack echo
        epf = tmp / "echo.endpoint"
        echo = _child("echo", str(epf))
        echo_ep = _wait_file(epf)
        cpu0 = cpu_seconds(echo.pid)
        base_tp = _result(_child("throughput", echo_ep, str(args.seconds), str(args.batch), str(args.window), "echo",
                                 "-"))
        base_tp["cpu_us"] = (cpu_seconds(echo.pid) - cpu0) / base_tp["commands"] * 1e6
        load = build_load(tmp)
        base_lat = latency(load, tmp, echo_ep, args.seconds, args.rate, True)
        base_low = latency(load, tmp, echo_ep, args.seconds, args.low_rate, True)
        floor = _result(_child("pingpong", echo_ep, "2000"))
        c_lat = c_floor(load, args.rate, args.seconds) if load else None
        stopper = zmq.Context.instance().socket(zmq.DEALER)
        stopper.connect(echo_ep)
        stopper.send(b"stop")
        echo.wait(timeout=10)
        stopper.close(linger=0)

        durability = {"always": [], "batch": ["--fsync", "batch-ms", "2"], "off": ["--fsync", "off"],
                      "none": ["--no-journal"]}[args.journal]
        venue, ep, _ = start_venue(tmp, args.with_chain, durability)
        try:
            cpu0 = cpu_seconds(venue.pid)
            tp = _result(_child("throughput", ep["orders"], str(args.seconds), str(args.batch), str(args.window),
                                "venue", "-"))
            tp["cpu_us"] = (cpu_seconds(venue.pid) - cpu0) / tp["commands"] * 1e6
            cpu0 = cpu_seconds(venue.pid)
            lat = latency(load, tmp, ep["orders"], args.seconds, args.rate, False)
            lat["cpu_us"] = (cpu_seconds(venue.pid) - cpu0) / lat["orders"] * 1e6
            low = latency(load, tmp, ep["orders"], args.seconds, args.low_rate, False)
            # the same order flow with a market data subscriber connected: its trades' latency, and
            # what publishing to it costs the round trip
            ready = tmp / "sub.ready"
            md_result = subscriber(load, ep["market_data"], args.seconds + 2, ready)
            _wait_file(ready)
            lat_md = latency(load, tmp, ep["orders"], args.seconds, args.rate, False)
            md = md_result()
        finally:
            venue.terminate()
            venue.wait(timeout=30)

        # the same venue publishing the order-by-order feed too
        venue, ep, _ = start_venue(tmp, args.with_chain, durability + ["--l3"])
        try:
            cpu0 = cpu_seconds(venue.pid)
            tp_l3 = _result(_child("throughput", ep["orders"], str(args.seconds), str(args.batch), str(args.window),
                                   "venue", "-"))
            tp_l3["cpu_us"] = (cpu_seconds(venue.pid) - cpu0) / tp_l3["commands"] * 1e6
        finally:
            venue.terminate()
            venue.wait(timeout=30)

        # the same venue with CurveZMQ encryption and authentication (serve's default)
        venue, ep, keys = start_venue(tmp, args.with_chain, durability, secure=True)
        try:
            cpu0 = cpu_seconds(venue.pid)
            tp_curve = _result(_child("throughput", ep["orders"], str(args.seconds), str(args.batch),
                                      str(args.window), "venue", keys))
            tp_curve["cpu_us"] = (cpu_seconds(venue.pid) - cpu0) / tp_curve["commands"] * 1e6
            lat_curve = latency(load, tmp, ep["orders"], args.seconds, args.rate, False, keys)
        finally:
            venue.terminate()
            venue.wait(timeout=30)

    rows = [
        (f"throughput, orders/s (batches of {args.batch}, {args.window} in flight)",
         tp["per_s"], base_tp["per_s"], ">= 100000"),
        ("server CPU per order, us", tp["cpu_us"], base_tp["cpu_us"], ""),
        ("orders/s per fully used server core (1e6 / CPU per order)", 1e6 / tp["cpu_us"], 1e6 / base_tp["cpu_us"],
         ">= 100000"),
        (f"round trip p50 us at {args.rate:.0f} orders/s", lat["p50"], base_lat["p50"], "<= 100"),
        ("round trip p99 us", lat["p99"], base_lat["p99"], "<= 1000"),
        ("round trip p99.9 us", lat["p99.9"], base_lat["p99.9"], ""),
        (f"round trip p50 us at {args.low_rate:.0f} orders/s (machine not saturated)", low["p50"], base_low["p50"],
         ""),
        ("round trip p99 us at that rate", low["p99"], base_low["p99"], ""),
        ("server CPU per single order (one order per batch), us", lat["cpu_us"], None, ""),
        ("echo alone, one message in flight: p50 us (floor)", floor["p50"], None, ""),
    ] + ([
        (f"no Python: C client + C echo (zmq_load.c), p50 us at {args.rate:.0f}/s",
         c_lat["p50"], base_lat["p50"], "<= 100"),
        ("no Python: C client + C echo, p99 us", c_lat["p99"], base_lat["p99"], "<= 1000"),
    ] if c_lat else []) + [
        ("market data: fill -> subscriber p50 us (the same order flow)", md["p50"], None, "<= 200"),
        ("market data p99 us", md["p99"], None, ""),
        ("round trip p50 us with that subscriber connected (baseline: without)", lat_md["p50"], lat["p50"], ""),
        ("round trip p99 us with that subscriber connected (baseline: without)", lat_md["p99"], lat["p99"], ""),
        ("with --l3: throughput, orders/s (baseline: without)", tp_l3["per_s"], tp["per_s"], ""),
        ("with --l3: server CPU per order, us (baseline: without)", tp_l3["cpu_us"], tp["cpu_us"], ""),
        ("CurveZMQ: throughput, orders/s (baseline: plain-text venue)", tp_curve["per_s"], tp["per_s"], ""),
        ("CurveZMQ: server CPU per order, us (baseline: plain text)", tp_curve["cpu_us"], tp["cpu_us"], ""),
        ("CurveZMQ: round trip p50 us (baseline: plain text)", lat_curve["p50"], lat["p50"], ""),
        ("CurveZMQ: round trip p99 us (baseline: plain text)", lat_curve["p99"], lat["p99"], ""),
    ]
    print(f"{'measure':58} {'venue':>12} {'echo baseline':>14} {'ratio':>7}  target")
    print(f"(load average before the run: {load0:.2f} on {os.cpu_count()} cores; "
          f"chain fill batcher {'on' if args.with_chain else 'off'}; journal {args.journal})")
    for name, v, b, target in rows:
        ratio = f"{v / b:7.2f}" if b else "      -"
        bs = f"{b:14.1f}" if b is not None else f"{'-':>14}"
        print(f"{name:58} {v:12.1f} {bs} {ratio}  {target}")
    print(f"(latency run: {lat['answered']}/{lat['orders']} answered; market data: {md['trades']} trades seen)")
    if args.json:
        Path(args.json).write_text(json.dumps({"throughput": tp, "baseline_throughput": base_tp, "latency": lat,
                                               "baseline_latency": base_lat,
                                               "low_rate_latency": low, "latency_with_subscriber": lat_md,
                                               "baseline_low_rate_latency": base_low,
                                               "echo_floor": floor, "c_floor": c_lat, "market_data": md,
                                               "curve_throughput": tp_curve, "curve_latency": lat_curve,
                                               "l3_throughput": tp_l3,
                                               "journal": args.journal}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
