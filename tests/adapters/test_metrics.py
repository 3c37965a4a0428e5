"""docs/metrics.md: a real `kabuto serve --metrics` scraped over HTTP after real orders."""
from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from kabuto.chain.ledger import Ledger
from kabuto.engine.codes import REASON_NAMES
from kabuto.gateway.client import new_command
from kabuto.gateway.errors import ConfigError
from kabuto.gateway.keys import add_client
from kabuto.gateway.metrics import parse_address
from prometheus_client.parser import text_string_to_metric_families

from tests.polling import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from gatewaykit import KABUTO, ServeProcess, Venue, start_venue  # noqa: E402

ACCOUNTS = ("ma", "mb")
VIAS = ("zmq", "rest", "ws", "fix")
CL_OIDS = itertools.count(1)  # unique per account across the module's sessions (each client counts from 1)


def metrics_url(serve: ServeProcess) -> str:
    """The URL the venue logged for its metrics."""
    line = next(x for x in serve.lines if " metrics " in x)
    return line.split()[-1]


def scrape(url: str) -> dict[tuple, float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    text = urllib.request.urlopen(url, timeout=30).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    """One CurveZMQ venue with metrics on a free loopback port, journal and chain on (serve's defaults)."""
    data_dir = tmp_path_factory.mktemp("metrics-venue")
    for name in ACCOUNTS:
        add_client(data_dir, data_dir / "clients.toml", name)
    serve = start_venue(data_dir, ["--keys", str(data_dir / "clients.toml"), "--metrics", "0",
                                   "--batch-ms", "50"])
    v = Venue(data_dir, serve)
    v.url = metrics_url(serve)
    yield v
    v.close_clients()
    assert serve.stop() == 0, "".join(serve.lines)


def value(venue, name: str, **labels) -> float:
    """One sample of a fresh scrape."""
    return scrape(venue.url)[(name, tuple(sorted(labels.items())))]


def settles_at(venue, expected: float, name: str, **labels) -> bool:
    """Wait until the sample reaches expected (the count happens just after the report is sent)."""
    return wait_until(lambda: value(venue, name, **labels) >= expected) and value(venue, name, **labels) == expected


def test_metrics_listen_on_loopback_when_given_a_port_alone(venue):
    assert venue.url.startswith("http://127.0.0.1:")


def test_the_dashboard_stays_off_unless_asked(venue):  # (this venue was started without --dashboard)
    assert not any(" dashboard " in line for line in venue.serve.lines)
    assert not (venue.data_dir / "keys" / "dashboard.key_secret").exists()


def test_every_symbol_reason_and_protocol_is_exported_from_the_start(venue):
    samples = scrape(venue.url)
    assert ("kabuto_orders_accepted_total", (("symbol", "ETH-USD"),)) in samples
    for code, text in REASON_NAMES.items():
        if code:
            assert ("kabuto_rejects_total", (("reason", text),)) in samples
    for via in VIAS:
        assert ("kabuto_sessions", (("via", via),)) in samples


def test_accepted_orders_are_counted_per_symbol_exactly(venue):
    before = value(venue, "kabuto_orders_accepted_total", symbol="BTC-USD")
    other = value(venue, "kabuto_orders_accepted_total", symbol="ETH-USD")
    c = venue.client("ma")
    for i in range(3):
        c.new("BTC-USD", "buy", "0.01000", f"{100 + i}.00", cl_oid=next(CL_OIDS))
    c.wait_reports(3, lambda r: r.ev == "accepted")
    assert settles_at(venue, before + 3, "kabuto_orders_accepted_total", symbol="BTC-USD")
    assert value(venue, "kabuto_orders_accepted_total", symbol="ETH-USD") == other


def test_rejects_are_counted_under_their_reason(venue):
    bad_price = value(venue, "kabuto_rejects_total", reason="bad_price")
    unknown = value(venue, "kabuto_rejects_total", reason="unknown_symbol")
    c = venue.client("ma")
    c.new("MDA-USD", "buy", "1.000", "10.005", cl_oid=next(CL_OIDS))
    c.new("NOPE-USD", "buy", "1.000", "10.00", cl_oid=next(CL_OIDS))
    c.new("NOPE-USD", "sell", "1.000", "10.00", cl_oid=next(CL_OIDS))
    c.wait_reports(3, lambda r: r.ev == "rejected")
    assert settles_at(venue, bad_price + 1, "kabuto_rejects_total", reason="bad_price")
    assert settles_at(venue, unknown + 2, "kabuto_rejects_total", reason="unknown_symbol")


def test_fills_and_traded_volume_are_counted_per_symbol(venue):
    fills = value(venue, "kabuto_fills_total", symbol="MDB-USD")
    volume = value(venue, "kabuto_traded_volume_total", symbol="MDB-USD")
    a, b = venue.client("ma"), venue.client("mb")
    a.new("MDB-USD", "sell", "2.000", "20.00", cl_oid=next(CL_OIDS))
    a.wait_report(lambda r: r.ev == "accepted")
    b.new("MDB-USD", "buy", "0.500", "20.00", cl_oid=next(CL_OIDS))
    b.new("MDB-USD", "buy", "0.250", "20.00", cl_oid=next(CL_OIDS))
    b.wait_reports(2, lambda r: r.ev == "fill")
    assert settles_at(venue, fills + 2, "kabuto_fills_total", symbol="MDB-USD")
    assert value(venue, "kabuto_traded_volume_total", symbol="MDB-USD") == pytest.approx(volume + 0.75)


def test_cancels_are_counted_under_their_reason(venue):
    before = value(venue, "kabuto_cancels_total", reason="user")
    c = venue.client("ma")
    cl = c.new("MDC-USD", "buy", "1.000", "5.00", cl_oid=next(CL_OIDS))
    c.wait_report(lambda r: r.ev == "accepted" and r.cl_oid == cl)
    c.cancel(cl)
    c.wait_report(lambda r: r.ev == "canceled" and r.cl_oid == cl)
    assert settles_at(venue, before + 1, "kabuto_cancels_total", reason="user")


def test_sessions_are_counted_per_protocol_of_their_logon(venue):
    before = {via: value(venue, "kabuto_sessions", via=via) for via in VIAS}
    rest = venue.client("ma", via="rest")
    venue.client("mb", via="fix")
    assert settles_at(venue, before["rest"] + 1, "kabuto_sessions", via="rest")
    assert value(venue, "kabuto_sessions", via="fix") == before["fix"] + 1
    assert value(venue, "kabuto_sessions", via="ws") == before["ws"]
    rest.close()
    assert settles_at(venue, before["rest"], "kabuto_sessions", via="rest")


def test_each_batch_is_observed_in_the_batch_size_and_round_trip_histograms(venue):
    batches = value(venue, "kabuto_batch_commands_count")
    trips = value(venue, "kabuto_round_trip_seconds_count")
    c = venue.client("ma")
    c.batch([new_command(c.next_req(), next(CL_OIDS), "SES-USD", "buy", "1.000", f"{i + 1}.00") for i in range(5)])
    c.wait_reports(5, lambda r: r.ev == "accepted")
    samples = scrape(venue.url)
    assert samples[("kabuto_batch_commands_count", ())] > batches
    assert samples[("kabuto_round_trip_seconds_count", ())] > trips
    assert samples[("kabuto_round_trip_seconds_sum", ())] > 0
    assert samples[("kabuto_batch_commands_bucket", (("le", "+Inf"),))] == samples[("kabuto_batch_commands_count", ())]
    assert samples[("kabuto_batch_commands_bucket", (("le", "4.0"),))] < samples[("kabuto_batch_commands_count", ())]


def test_journal_gauges_and_fsync_histogram_follow_the_journal(venue):
    before = scrape(venue.url)
    c = venue.client("ma")
    cl = c.new("L3A-USD", "buy", "1.000", "3.00", cl_oid=next(CL_OIDS))
    c.wait_report(lambda r: r.cl_oid == cl)
    after = scrape(venue.url)
    assert after[("kabuto_journal_last_record", ())] > before[("kabuto_journal_last_record", ())]
    assert after[("kabuto_journal_bytes", ())] > before[("kabuto_journal_bytes", ())]
    assert after[("kabuto_journal_fsync_seconds_count", ())] > before[("kabuto_journal_fsync_seconds_count", ())]
    wal = sum(p.stat().st_size for p in (venue.data_dir / "journal").glob("*.wal"))
    assert after[("kabuto_journal_bytes", ())] <= wal


def test_chain_gauges_show_the_last_committed_batch(venue):
    a, b = venue.client("ma"), venue.client("mb")
    a.new("CAP-USD", "sell", "1.000", "7.00", cl_oid=next(CL_OIDS))
    a.wait_report(lambda r: r.ev == "accepted")
    b.new("CAP-USD", "buy", "1.000", "7.00", cl_oid=next(CL_OIDS))
    fill = b.wait_report(lambda r: r.ev == "fill")

    def batch_of_fill() -> int | None:
        ledger = Ledger(venue.data_dir / "chain")
        try:
            return ledger.find(fill.seq)
        finally:
            ledger.close()

    assert wait_until(lambda: batch_of_fill() is not None)
    n = batch_of_fill()

    def committed() -> bool:
        s = scrape(venue.url)
        return s[("kabuto_chain_pending_fills", ())] == 0 and s[("kabuto_chain_queued_batches", ())] == 0 \
            and s[("kabuto_chain_last_batch", ())] >= n

    assert wait_until(committed)


@pytest.mark.parametrize("text, address", [("9464", ("127.0.0.1", 9464)), ("0", ("127.0.0.1", 0)),
                                           ("0.0.0.0:9464", ("0.0.0.0", 9464)), ("[::1]:80", ("::1", 80)),
                                           ("localhost:1", ("localhost", 1))])
def test_a_port_alone_means_loopback_and_a_host_is_taken_as_given(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["nonsense", "", ":", "host.example:80", "127.0.0.1:", "127.0.0.1:65536", "-1",
                                  "1.2.3.4:x"])
def test_a_bad_listen_address_is_a_config_error(text):
    with pytest.raises(ConfigError, match="give PORT or HOST:PORT"):
        parse_address(text)


def test_a_bad_metrics_address_is_refused_before_the_venue_starts(tmp_path):
    p = subprocess.run([KABUTO, "serve", "--data-dir", str(tmp_path), "--metrics", "nonsense"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "argument --metrics: 'nonsense': give PORT or HOST:PORT" in p.stderr
    assert not (tmp_path / "endpoints.json").exists()


def test_a_metrics_port_in_use_stops_the_venue_with_one_line(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        p = subprocess.run([KABUTO, "serve", "--insecure", "--no-chain", "--no-journal", "--data-dir", str(tmp_path),
                            "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                            "--snapshots", "tcp://127.0.0.1:0", "--metrics", str(port)],
                           capture_output=True, text=True, timeout=180)
    finally:
        taken.close()
    assert p.returncode == 2
    assert f"kabuto: --metrics 127.0.0.1:{port}: cannot listen: Address already in use" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout


def test_a_venue_without_journal_or_chain_exports_no_journal_or_chain_metrics(tmp_path):
    serve = ServeProcess(["--insecure", "--no-chain", "--no-journal", "--data-dir", str(tmp_path),
                          "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                          "--snapshots", "tcp://127.0.0.1:0", "--metrics", "0"])
    try:
        serve.wait_for("ready")
        names = {name for name, _ in scrape(metrics_url(serve))}
    finally:
        assert serve.stop() == 0, "".join(serve.lines)
    assert not {n for n in names if n.startswith(("kabuto_journal_", "kabuto_chain_"))}
    assert "kabuto_orders_accepted_total" in names and "kabuto_sessions" in names
