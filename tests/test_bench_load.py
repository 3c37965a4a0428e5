"""The C load generator of the gateway benchmark (bench/zmq_load.c) against a real venue and echo."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.gateway_bench import HERE, build_load, c_floor, latency, start_venue, subscriber
from tests.polling import wait_until


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    exe = build_load(tmp_path_factory.mktemp("load"))
    if exe is None:
        pytest.skip("no gcc or no libzmq in pyzmq's wheel: the benchmark falls back to its Python load generator")
    return exe


def test_every_order_a_venue_answers_is_timed_and_every_trade_reaches_the_subscriber(load, tmp_path):
    venue, ep, _ = start_venue(tmp_path, False, ["--no-journal"])
    try:
        ready = tmp_path / "sub.ready"
        md = subscriber(load, ep["market_data"], 120.0, ready, stop_after=250)
        wait_until(ready.exists)
        r = latency(load, tmp_path, ep["orders"], 0.5, 1000, False)
        trades = md()
    finally:
        venue.terminate()
        venue.wait(timeout=30)
    assert r["orders"] == r["answered"] == 500
    assert 0 < r["p50"] <= r["p99"] <= r["max"]
    assert trades["trades"] == 250  # every sell fills the buy before it


def test_every_order_a_curve_venue_answers_is_timed(load, tmp_path):
    venue, ep, keys = start_venue(tmp_path, False, ["--no-journal"], secure=True)
    try:
        r = latency(load, tmp_path, ep["orders"], 0.3, 1000, False, keys)
    finally:
        venue.terminate()
        venue.wait(timeout=30)
    assert r["answered"] == 300


def test_every_message_the_echo_returns_is_timed(load, tmp_path):
    endpoint_file = tmp_path / "echo.endpoint"
    echo = subprocess.Popen([sys.executable, str(HERE), "--role", "echo", str(endpoint_file)])
    try:
        wait_until(lambda: endpoint_file.exists() and endpoint_file.read_text())
        r = latency(load, tmp_path, endpoint_file.read_text(), 0.3, 1000, True)
    finally:
        echo.kill()
        echo.wait()
    assert r["answered"] == 300


def test_the_no_python_floor_times_every_message(load):
    assert c_floor(load, 1000, 0.3)["answered"] == 300
