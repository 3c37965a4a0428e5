"""docs/dashboard.md: a real `kabuto serve --dashboard`, its JSON over HTTP and its page in a headless Chromium.

KABUTO_DASHBOARD_SCREENSHOT=docs/dashboard.png also writes the page's screenshot there (the README's picture).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kabuto.chain.proof import check_fill_proof
from kabuto.gateway.keys import add_client

from tests.polling import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from gatewaykit import KABUTO, ServeProcess, Venue, start_venue  # noqa: E402

ACCOUNTS = ("da", "db")
OPERATOR = "dop"
CL_OIDS = itertools.count(1)  # unique per account across the module's sessions (each client counts from 1)
INSTRUMENTS = """
[[instrument]]
symbol = "TSLAx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"
reference_price = "250.00"

[[instrument]]
symbol = "NVDAx-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "BTC-USD"
tick_size = "0.01"
lot_size = "0.00001"

[[instrument]]
symbol = "ETH-USD"
tick_size = "0.01"
lot_size = "0.0001"
"""
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,900")


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    """One CurveZMQ venue with the dashboard on a free loopback port; journal and chain on (serve's defaults)."""
    data_dir = tmp_path_factory.mktemp("dashboard-venue")
    for name in ACCOUNTS + (OPERATOR,):
        add_client(data_dir, data_dir / "clients.toml", name)
    (data_dir / "four.toml").write_text(INSTRUMENTS)
    serve = start_venue(data_dir, ["--keys", str(data_dir / "clients.toml"), "--instruments",
                                   str(data_dir / "four.toml"), "--operators", OPERATOR, "--dashboard", "0",
                                   "--batch-ms", "50"])
    v = Venue(data_dir, serve)
    v.url = next(x for x in serve.lines if " dashboard " in x).split()[-1]
    yield v
    v.close_clients()
    assert serve.stop() == 0, "".join(serve.lines)


def get(venue, path: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a GET."""
    try:
        with urllib.request.urlopen(venue.url + path, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def market(venue, sym: str) -> dict:
    """One symbol's /api/market/SYMBOL document."""
    status, doc = get(venue, f"api/market/{sym}")
    assert status == 200
    return doc


def watch(venue) -> None:
    """Ask for the market, as the page does, until every book is synced: the feed subscribes only while asked."""
    assert wait_until(lambda: all(m["synced"] for m in get(venue, "api/market")[1]["markets"]))


def cross(venue, sym: str, px: str, qty: str) -> int:
    """da rests a sell, db takes it: the fill's id (its event seq)."""
    a, b = venue.client("da"), venue.client("db")
    a.new(sym, "sell", qty, px, cl_oid=next(CL_OIDS))
    a.wait_report(lambda r: r.ev == "accepted")
    b.new(sym, "buy", qty, px, cl_oid=next(CL_OIDS))
    return b.wait_report(lambda r: r.ev == "fill").seq


def test_the_dashboard_listens_on_loopback_when_given_a_port_alone(venue):
    assert venue.url.startswith("http://127.0.0.1:")


def test_metrics_stay_off_unless_asked(venue):  # (this venue was started without --metrics)
    assert not any(" metrics " in line for line in venue.serve.lines)


def test_the_feed_subscribes_with_a_key_pair_of_its_own(venue):
    assert (venue.data_dir / "keys" / "dashboard.key_secret").exists()
    assert 'account = "dashboard"' in (venue.data_dir / "clients.toml").read_text()


def test_instruments_carry_their_steps_and_band(venue):
    status, doc = get(venue, "api/instruments")
    assert status == 200
    specs = {i["symbol"]: i for i in doc["instruments"]}
    assert list(specs) == ["TSLAx-USD", "NVDAx-USD", "BTC-USD", "ETH-USD"]
    assert specs["TSLAx-USD"] == {"symbol": "TSLAx-USD", "tick_size": "0.01", "lot_size": "0.001", "min_qty": "0.001",
                                  "band_pct": "10", "oracle": False}
    assert specs["BTC-USD"]["band_pct"] is None


def test_market_shows_the_live_depth_of_the_venues_feed(venue):
    c = venue.client("da")
    c.new("ETH-USD", "buy", "1.5000", "3000.00", cl_oid=next(CL_OIDS))
    c.new("ETH-USD", "buy", "0.5000", "2999.50", cl_oid=next(CL_OIDS))
    c.new("ETH-USD", "sell", "2.0000", "3001.00", cl_oid=next(CL_OIDS))
    c.wait_reports(3, lambda r: r.ev == "accepted")
    assert wait_until(lambda: len(market(venue, "ETH-USD")["asks"]) == 1)
    doc = market(venue, "ETH-USD")
    assert doc["bids"] == [["3000.00", "1.5000"], ["2999.50", "0.5000"]]
    assert doc["asks"] == [["3001.00", "2.0000"]]
    assert doc["synced"] is True


def test_recent_trades_are_listed_newest_first_with_their_fill_id(venue):
    watch(venue)
    first = cross(venue, "NVDAx-USD", "120.00", "1.000")
    second = cross(venue, "NVDAx-USD", "120.50", "2.000")
    assert wait_until(lambda: len(market(venue, "NVDAx-USD")["trades"]) == 2)
    trades = market(venue, "NVDAx-USD")["trades"]
    assert [t["id"] for t in trades] == [second, first]
    assert (trades[0]["px"], trades[0]["qty"], trades[0]["side"]) == ("120.50", "2.000", "buy")


def test_status_follows_an_operator_halt(venue):
    op = venue.client(OPERATOR)
    op.wait_reply(op.halt("BTC-USD"))
    assert wait_until(lambda: (market(venue, "BTC-USD")["status"] or {}).get("status") == "halted")
    assert market(venue, "BTC-USD")["status"]["reason"] == "operator"
    op.wait_reply(op.resume("BTC-USD"))
    assert wait_until(lambda: market(venue, "BTC-USD")["status"]["status"] != "halted")


def test_a_fills_proof_is_served_and_checks_valid(venue):
    seq = cross(venue, "TSLAx-USD", "250.00", "0.500")
    assert wait_until(lambda: get(venue, f"api/proof/{seq}")[0] == 200)
    status, doc = get(venue, f"api/proof/{seq}")
    assert doc["valid"] is True and doc["problems"] == []
    assert doc["proof"]["fill"]["seq"] == seq
    assert check_fill_proof(doc["proof"]) == []  # the served proof checks on its own, outside the venue


def test_chain_lists_the_ledgers_batches_newest_first(venue):
    seq = cross(venue, "TSLAx-USD", "250.10", "0.100")
    assert wait_until(lambda: get(venue, f"api/proof/{seq}")[0] == 200)
    status, doc = get(venue, "api/chain")
    assert status == 200
    numbers = [b["batch"] for b in doc["batches"]]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == doc["count"] - 1
    assert any(b["first_seq"] <= seq <= b["last_seq"] for b in doc["batches"])


@pytest.mark.parametrize("fill, status, reason", [("abc", 400, "malformed"), ("0", 400, "malformed"),
                                                  ("-3", 400, "malformed"), ("99999999", 404, "not_found")])
def test_a_bad_fill_id_gets_a_json_error(venue, fill, status, reason):
    code, doc = get(venue, f"api/proof/{fill}")
    assert (code, doc["error"]) == (status, reason)
    assert doc["message"]


def test_an_event_that_is_no_fill_has_no_proof(venue):
    c = venue.client("da")
    c.new("TSLAx-USD", "sell", "1.000", "260.00", cl_oid=next(CL_OIDS))
    accepted = c.wait_report(lambda r: r.ev == "accepted").seq
    seq = cross(venue, "TSLAx-USD", "251.00", "0.100")  # a later fill: a batch covering the accepted event
    assert wait_until(lambda: get(venue, f"api/proof/{seq}")[0] == 200)
    code, doc = get(venue, f"api/proof/{accepted}")
    assert (code, doc["error"]) == (404, "not_found")


def test_an_unknown_symbol_gets_a_json_error(venue):
    code, doc = get(venue, "api/market/NOPE-USD")
    assert (code, doc["error"]) == (404, "unknown_symbol")


def test_a_dashboard_port_in_use_stops_the_venue_with_one_line(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        p = subprocess.run([KABUTO, "serve", "--insecure", "--no-chain", "--no-journal", "--data-dir", str(tmp_path),
                            "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                            "--snapshots", "tcp://127.0.0.1:0", "--dashboard", str(port)],
                           capture_output=True, text=True, timeout=180)
    finally:
        taken.close()
    assert p.returncode == 2
    assert f"kabuto: --dashboard 127.0.0.1:{port}: cannot listen: Address already in use" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout


def test_the_dashboards_process_ends_with_the_venues_even_when_killed(tmp_path):
    serve = ServeProcess(["--insecure", "--no-chain", "--no-journal", "--data-dir", str(tmp_path),
                          "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                          "--snapshots", "tcp://127.0.0.1:0", "--dashboard", "0"])
    try:
        serve.wait_for("ready")
        (child,) = children_of(serve.proc.pid)
        assert os.getpriority(os.PRIO_PROCESS, child) == os.getpriority(os.PRIO_PROCESS, serve.proc.pid) + 10
    finally:
        serve.stop(signal.SIGKILL)
    assert wait_until(lambda: not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()
                      .split()[2])


def children_of(pid: int) -> list[int]:
    """The ids of a process's children (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_a_bad_dashboard_address_is_refused_before_the_venue_starts(tmp_path):
    p = subprocess.run([KABUTO, "serve", "--data-dir", str(tmp_path), "--dashboard", "example.com:80"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "argument --dashboard: 'example.com:80': give PORT or HOST:PORT" in p.stderr


# ---------------------------------------------------------------- the page in Chromium

@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Selenium (Debian's chromium and chromium-driver)."""
    chrome, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chrome is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="kabuto-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    d = webdriver.Chrome(options=opts, service=Service(driver))
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def text_of(browser, css: str) -> str:
    """The text of every element matching css, joined (empty when none)."""
    from selenium.webdriver.common.by import By
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, css))


def test_the_page_shows_depth_trades_status_bands_and_batches_and_verifies_a_fill(venue, browser):
    c = venue.client("da")
    for px, qty in (("249.50", "1.200"), ("249.00", "3.000"), ("248.75", "0.800")):
        c.new("TSLAx-USD", "buy", qty, px, cl_oid=next(CL_OIDS))
    for px, qty in (("252.00", "0.900"), ("252.50", "2.500")):
        c.new("TSLAx-USD", "sell", qty, px, cl_oid=next(CL_OIDS))
    c.wait_reports(5, lambda r: r.ev == "accepted")
    browser.get(venue.url)
    watch(venue)
    seq = cross(venue, "TSLAx-USD", "251.80", "0.400")
    assert wait_until(lambda: get(venue, f"api/proof/{seq}")[0] == 200)
    card = "#m-TSLAx-USD"
    assert wait_until(lambda: "249.50" in text_of(browser, card + " table.bid"), timeout=60)
    assert "252.00" in text_of(browser, card + " table.ask")
    assert "continuous" in text_of(browser, card + " .status")
    assert "band ±10% of the reference" in text_of(browser, card + " .band")
    assert wait_until(lambda: "251.80" in text_of(browser, card + " table.trades"), timeout=60)
    assert wait_until(lambda: text_of(browser, "#batches tbody"), timeout=60)
    link = f'{card} a.verify[data-fill="{seq}"]'  # clicked in one script: the page redraws the cards every second
    assert browser.execute_script(f"const a = document.querySelector('{link}'); if (a) a.click(); return !!a;")
    assert wait_until(lambda: text_of(browser, "#verify-result").startswith("valid:"), timeout=60)
    assert f"fill {seq} is in batch" in text_of(browser, "#verify-result")
    shot = os.environ.get("KABUTO_DASHBOARD_SCREENSHOT")
    if shot:
        browser.set_window_size(1400, 1000)
        browser.save_screenshot(shot)
