"""FIX adapter benchmark: a lone order's round trip and orders/s over FIX (`kabuto fix` in front of `kabuto serve`),
against the ZeroMQ path (the SDK Client to the same venue) and a bare FIX echo server (simplefix parse + encode of
an ExecutionReport-sized answer per message: what FIX itself costs without the adapter and the venue).

    .venv/bin/python -m bench.fix_bench [--quick]

All three run in the same run on the same machine: the venue, the adapter and the echo server each in a process
of their own, the clients in this one. Orders are IOC buys far below any ask, so each is accepted then expired
without trading and the book stays empty; the round trip is order sent -> its accepted report (ExecutionReport
New over FIX). For orders/s the FIX messages are encoded before the clock starts and the answers counted in the
raw bytes, so the figure is the server's, not the Python client's. The venue runs with its default durability
(journal, fdatasync per batch), the adapter with its own (session store, fdatasync per loop turn).
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYM = "TSLAx-USD"
PX = "200.00"   # far below any ask: an IOC buy there is accepted and expires
QTY = "0.010"
USER, PASSWORD, ACCOUNT = "BENCH", "bench-secret", "fixbench"
KABUTO = str(Path(sys.executable).with_name("kabuto"))


# ---------------------------------------------------------------------- the bare echo server (a process)

def echo_server(port_file: str) -> None:
    """Answer every FIX message with an ExecutionReport-sized message: simplefix parse + encode, nothing else."""
    import simplefix
    srv = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(srv.getsockname()[1]))
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parser = simplefix.FixParser()
    seq = 0
    while True:
        data = conn.recv(65536)
        if not data:
            return
        parser.append_buffer(data)
        out = bytearray()
        while (msg := parser.get_message()) is not None:
            seq += 1
            r = simplefix.FixMessage()
            r.append_pair(8, "FIX.4.4")
            r.append_pair(35, "8")
            for tag, value in ((49, "KABUTO"), (56, msg.get(49)), (34, seq), (52, "20260101-00:00:00.000"),
                               (37, seq), (11, msg.get(11)), (17, seq), (150, "0"), (39, "0"), (55, msg.get(55)),
                               (54, msg.get(54)), (40, msg.get(40)), (44, msg.get(44)), (59, msg.get(59)),
                               (38, msg.get(38)), (151, msg.get(38)), (14, "0"), (6, "0"),
                               (60, "20260101-00:00:00.000")):
                r.append_pair(tag, value)
            out += r.encode()
        conn.sendall(out)


# ---------------------------------------------------------------------- processes

def _wait_line(proc: subprocess.Popen, text: str, timeout: float = 300.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:2]} exited")
        if text in line:
            return line
    raise RuntimeError(f"{proc.args[:2]}: no {text!r} line")


def start_venue(data_dir: Path) -> subprocess.Popen:
    """kabuto serve (CurveZMQ, built-in instruments, default durability) on free ports."""
    p = subprocess.Popen([KABUTO, "serve", "--data-dir", str(data_dir), "--orders", "tcp://127.0.0.1:0",
                          "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_line(p, "ready")
    return p


def start_fix(data_dir: Path) -> tuple[subprocess.Popen, int]:
    """kabuto fix with the bench user; its port (from its ready line)."""
    users = data_dir / "fix-users.toml"
    users.write_text(f'[[user]]\nsender_comp_id = "{USER}"\npassword = "{PASSWORD}"\naccount = "{ACCOUNT}"\n')
    p = subprocess.Popen([KABUTO, "fix", "--data-dir", str(data_dir), "--fix-users", str(users), "--port", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    p.stdout = p.stderr  # its log lines
    line = _wait_line(p, "ready:")
    return p, int(line.rsplit(":", 1)[1].split()[0])


def start_echo(tmp: Path) -> tuple[subprocess.Popen, int]:
    """The bare FIX echo server; its port."""
    port_file = tmp / "echo.port"
    p = subprocess.Popen([sys.executable, "-m", "bench.fix_bench", "--echo-server", str(port_file)],
                         cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or p.poll() is not None:
            raise RuntimeError("echo server did not start")
        time.sleep(0.02)
    return p, int(port_file.read_text())


# ---------------------------------------------------------------------- measurements

def _fix_ids(prefix: str):
    n = 0
    while True:
        n += 1
        yield f"{prefix}{n}"


def fix_round_trips(fix, n: int, prefix: str) -> list[float]:
    """n lone orders over FIX, one at a time: microseconds from sending each to its ExecutionReport New."""
    out = []
    ids = _fix_ids(prefix)
    for _ in range(n):
        cl = next(ids)
        t0 = time.perf_counter()
        fix.new_order(cl, SYM, "buy", QTY, PX, tif="3")
        fix.wait(lambda m, cl=cl: m.msg_type == "8" and m.get(11) == cl and m.get(150) == "0")
        out.append((time.perf_counter() - t0) * 1e6)
        fix.inbox.clear()
    return out


def fix_rate(fix, n: int, prefix: str) -> float:
    """Orders/s over FIX: n NewOrderSingles (encoded beforehand) sent back to back, until the last one's
    ExecutionReport New arrived (counted in the raw bytes, so the client's own parsing costs nothing)."""
    from kabuto.adapters.fix import codec as F
    ids = _fix_ids(prefix)
    frames = b"".join(fix.encode("D", [(F.CL_ORD_ID, next(ids)), (F.SYMBOL, SYM), (F.SIDE, "1"),
                                       (F.TRANSACT_TIME, F.utc_timestamp()), (F.ORDER_QTY, QTY), (F.ORD_TYPE, "2"),
                                       (F.PRICE, PX), (F.TIME_IN_FORCE, "3")]) for _ in range(n))
    mark = b"\x01150=0\x01"
    fix.sock.settimeout(10.0)
    t0 = time.perf_counter()
    fix.sock.sendall(frames)
    got, tail = 0, b""
    while got < n:
        data = fix.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("connection closed")
        chunk = tail + data
        got += chunk.count(mark)
        tail = chunk[-(len(mark) - 1):]
    return n / (time.perf_counter() - t0)


def zmq_round_trips(client, n: int) -> list[float]:
    """n lone orders over the SDK Client: microseconds from sending each to its accepted report."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        cl = client.new(SYM, "buy", QTY, PX, tif="IOC")
        client.wait_report(lambda r, cl=cl: r.cl_oid == cl and r.ev == "accepted")
        out.append((time.perf_counter() - t0) * 1e6)
        client.reports.clear()
    return out


def zmq_rate(client, n: int) -> float:
    """Orders/s over the SDK Client, sent back to back until the last accepted report arrived."""
    t0 = time.perf_counter()
    for _ in range(n):
        client.new(SYM, "buy", QTY, PX, tif="IOC")
    got = 0
    while got < n:
        client.poll(5.0)
        got += sum(1 for r in client.reports if r.ev == "accepted")
        client.reports.clear()
    return n / (time.perf_counter() - t0)


def _pcts(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def main(quick: bool = False) -> list[str]:
    """Run the three paths; markdown table lines."""
    from kabuto.adapters.fix.initiator import Initiator
    from kabuto.gateway.client import Client
    from kabuto.gateway.keys import add_client

    lone, burst = (300, 2000) if quick else (1000, 5000)
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            procs.append(start_venue(tmp))
            fix_proc, fix_port = start_fix(tmp)
            procs.append(fix_proc)
            echo_proc, echo_port = start_echo(tmp)
            procs.append(echo_proc)
            add_client(tmp, tmp / "clients.toml", "zmqbench")

            with Client.from_data_dir(tmp, "zmqbench", heartbeat=0.5) as z, \
                    Initiator("127.0.0.1", fix_port, USER, password=PASSWORD) as fix, \
                    Initiator("127.0.0.1", echo_port, "ECHO") as echo:
                fix.logon(reset=True)
                zmq_round_trips(z, 50), fix_round_trips(fix, 50, "w"), fix_round_trips(echo, 50, "w")  # warm up
                rt = {"fix": fix_round_trips(fix, lone, "f"), "zmq": zmq_round_trips(z, lone),
                      "echo": fix_round_trips(echo, lone, "e")}
                rate = {"fix": fix_rate(fix, burst, "g"), "zmq": zmq_rate(z, burst),
                        "echo": fix_rate(echo, burst, "h")}
                fix.logout()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    (f50, f99), (z50, z99), (e50, e99) = _pcts(rt["fix"]), _pcts(rt["zmq"]), _pcts(rt["echo"])
    return [
        f"FIX 4.4 over `kabuto fix` in front of `kabuto serve` (CurveZMQ, journal with fdatasync), same run: a lone "
        f"IOC order's round trip to its accepted report ({lone:,} orders one at a time) and orders/s ({burst:,} "
        f"orders back to back, one session). Baselines: the SDK Client straight to the venue (ZeroMQ), and a bare "
        f"FIX echo server (simplefix parse + encode, no venue).",
        "",
        "| measurement | FIX adapter | ZeroMQ Client | ratio FIX/ZeroMQ | bare FIX echo | ratio FIX/echo |",
        "|---|---:|---:|---:|---:|---:|",
        f"| lone order round trip p50, us | {f50:,.0f} | {z50:,.0f} | {f50 / z50:.2f} | {e50:,.0f} | {f50 / e50:.2f} |",
        f"| lone order round trip p99, us | {f99:,.0f} | {z99:,.0f} | {f99 / z99:.2f} | {e99:,.0f} | {f99 / e99:.2f} |",
        f"| orders/s, one session | {rate['fix']:,.0f} | {rate['zmq']:,.0f} | {rate['fix'] / rate['zmq']:.2f} | "
        f"{rate['echo']:,.0f} | {rate['fix'] / rate['echo']:.2f} |",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--echo-server", metavar="PORT_FILE", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.echo_server:
        echo_server(a.echo_server)
    else:
        print("\n".join(main(a.quick)))
