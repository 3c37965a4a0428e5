"""Fairness under floods (docs/protocol.md, "Fairness"): turns between sessions, the batch cut, order kept.

One venue of its own (plain text; its journal does not sync every batch, so the default batch cut, 256
commands, holds): it is stopped with SIGSTOP while four flooding sessions queue FRAMES batch frames of
BATCH new orders each and a fifth session one lone order, then continued. What the reports say
afterwards (seq, ts, req) is what each test checks; no test measures a duration.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import msgpack
import pytest
import zmq
from gatewaykit import KABUTO, start_venue
from kabuto.gateway.client import venue_info

SYM = "AMZNx-USD"
TARGET = 256     # the default batch cut when the journal does not sync every batch
BATCH = 50       # commands per flood frame
FRAMES = 20      # flood frames per flooding session
FLOODERS = 4


def _dealer(endpoint: str, account: str) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 0
    s.connect(endpoint)
    s.send(msgpack.packb(["logon", 0, {"account": account}]))
    assert s.poll(30_000), f"{account}: no logon answer"
    answer = msgpack.unpackb(s.recv())
    assert answer[0] == "logon", answer
    return s


def _wire_bytes(frames: list[bytes]) -> int:
    """Bytes the frames take on a ZMTP 3 connection: a flags byte and a 1- or 8-byte size before each."""
    return sum(len(f) + (2 if len(f) < 256 else 9) for f in frames)


def _queued(port: int) -> int:
    """Bytes in flight on the established TCP connections to port (/proc/net/tcp): waiting in the
    receive queues of its side, or still in the send queues of the other side."""
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] != "01":
                continue
            tx, rx = (int(v, 16) for v in fields[4].split(":"))
            if int(fields[1].split(":")[1], 16) == port:
                total += rx
            elif int(fields[2].split(":")[1], 16) == port:
                total += tx
    return total


def _stopped(pid: int) -> bool:
    """Every thread of process pid is stopped (a signal reaches the threads of a process one by one)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except OSError:  # a thread that just ended
            pass
    return bool(states) and all(s == "T" for s in states)


def _wait(condition, what: str, state, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        time.sleep(0.01)


def _reports(sock: zmq.Socket, wanted: int) -> list[list]:
    """The reports a session receives until it holds wanted of them (each a report array)."""
    out: list[list] = []
    while len(out) < wanted:
        assert sock.poll(60_000), f"only {len(out)} of {wanted} reports came"
        msg = msgpack.unpackb(sock.recv())
        assert msg[0] == "reports", msg
        out += msg[1]
    return out


def _flood(data_dir: Path, rate_limit: int) -> dict[str, list[list]]:
    """The reports of four flooders and of one lone order, after a flood queued in a stopped venue."""
    serve = start_venue(data_dir, ["--insecure", "--rate-limit", str(rate_limit), "--max-live-orders", "100000",
                                   "--no-chain", "--fsync", "off"])
    try:
        endpoint = venue_info(data_dir)["orders"]
        port = int(endpoint.rsplit(":", 1)[1])
        flooders = [_dealer(endpoint, f"flood{k}") for k in range(FLOODERS)]
        lone = _dealer(endpoint, "lone")
        frames = []
        for k in range(FLOODERS):
            side, px = ("buy", "100.00") if k % 2 == 0 else ("sell", "300.00")
            frames.append([msgpack.packb(["batch", 1000 + f, [
                ["new", f * BATCH + i + 1, f * BATCH + i + 1, SYM, side, "limit", px, "0.010"]
                for i in range(BATCH)]]) for f in range(FRAMES)])
        lone_frame = msgpack.packb(["new", 7, 7, SYM, "buy", "limit", "200.00", "0.010"])
        serve.proc.send_signal(signal.SIGSTOP)
        try:
            _wait(lambda: _stopped(serve.proc.pid), "every thread of the venue stopped", lambda: "still running")
            for k, s in enumerate(flooders):
                for f in frames[k]:
                    s.send(f)
            lone.send(lone_frame)  # sent last: a queue served in arrival order would answer it last
            expected = _wire_bytes([f for fs in frames for f in fs]) + _wire_bytes([lone_frame])
            _wait(lambda: _queued(port) == expected, f"every frame sent to the stopped venue ({expected} bytes)",
                  lambda: f"{_queued(port)} bytes queued")
        finally:
            serve.proc.send_signal(signal.SIGCONT)
        got = {f"flood{k}": _reports(s, FRAMES * BATCH) for k, s in enumerate(flooders)}
        got["lone"] = _reports(lone, 1)
        for s in flooders + [lone]:
            s.close()
        return got
    finally:
        assert serve.stop() == 0, "".join(serve.lines)


@pytest.fixture(scope="module")
def flood(tmp_path_factory) -> dict[str, list[list]]:
    """Reports of the flood without throttle."""
    return _flood(tmp_path_factory.mktemp("fair"), 0)


@pytest.fixture(scope="module")
def throttled(tmp_path_factory) -> dict[str, list[list]]:
    """Reports of the same flood in a venue whose rate limit is 100 commands a second per session."""
    return _flood(tmp_path_factory.mktemp("fair-throttled"), 100)


def test_every_queued_command_is_accepted(flood):
    assert all(r[0] == "accepted" for reports in flood.values() for r in reports)
    assert [len(flood[f"flood{k}"]) for k in range(FLOODERS)] == [FRAMES * BATCH] * FLOODERS


def test_the_lone_order_is_answered_before_the_floods_later_commands(flood):
    lone_seq = flood["lone"][0][1]
    before = sum(r[1] < lone_seq for k in range(FLOODERS) for r in flood[f"flood{k}"])
    # it was sent after every flood frame; taken in turns it waits for a few frames, not for the queue
    assert before < FLOODERS * FRAMES * BATCH // 4


def test_no_session_starves_another(flood):
    # when the first flooder has had every frame taken, every other one has had most of its frames taken
    # (served one session after another, the others would have had none)
    done = min(max(r[1] for r in flood[f"flood{k}"]) for k in range(FLOODERS))
    for k in range(FLOODERS):
        taken = sum(r[1] <= done for r in flood[f"flood{k}"])
        assert taken >= FRAMES * BATCH // 2, (k, taken)


def test_a_sessions_commands_keep_its_order(flood):
    for k in range(FLOODERS):
        reports = sorted(flood[f"flood{k}"], key=lambda r: r[1])  # by seq: the order the venue took them
        assert [r[3] for r in reports] == list(range(1, FRAMES * BATCH + 1))


def test_a_batch_closes_once_it_holds_the_batch_target(flood):
    # ts is t0 + the command's index in its batch, and the next batch's t0 is the wall clock, far past
    # the last ts: a run of consecutive ts is one batch
    ts = sorted(r[2] for reports in flood.values() for r in reports)
    sizes, n = [], 1
    for a, b in zip(ts, ts[1:]):
        if b == a + 1:
            n += 1
        else:
            sizes.append(n)
            n = 1
    sizes.append(n)
    assert sum(sizes) == FLOODERS * FRAMES * BATCH + 1
    # a frame is never split: a batch under the target takes one more whole frame, then closes
    assert max(sizes) <= TARGET - 1 + BATCH, sizes
    assert len(sizes) >= FLOODERS * FRAMES * BATCH // (TARGET - 1 + BATCH), sizes


def test_a_throttled_flood_is_rejected_rate_limit_command_by_command_in_its_order(throttled):
    for k in range(FLOODERS):
        reports = sorted(throttled[f"flood{k}"], key=lambda r: r[1])
        assert [r[3] for r in reports] == list(range(1, FRAMES * BATCH + 1))
        # a burst of one second's worth (100) is accepted; beyond it, what the bucket refilled meanwhile
        assert all(r[0] == "accepted" for r in reports[:100])
        rejected = [r for r in reports if r[0] == "rejected"]
        assert rejected and all(r[11] == "rate_limit" for r in rejected)
        assert len(rejected) + sum(r[0] == "accepted" for r in reports) == FRAMES * BATCH


def test_under_a_throttled_flood_the_lone_order_is_accepted_before_the_floods_later_commands(throttled):
    lone = throttled["lone"][0]
    assert lone[0] == "accepted"
    before = sum(r[1] < lone[1] for k in range(FLOODERS) for r in throttled[f"flood{k}"])
    assert before < FLOODERS * FRAMES * BATCH // 4


def test_a_batch_target_under_one_is_refused_in_one_line(tmp_path):
    out = subprocess.run([KABUTO, "serve", "--data-dir", str(tmp_path), "--insecure", "--batch-target", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == "kabuto: batch_target must be at least 1"
