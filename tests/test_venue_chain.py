"""A venue started with `kabuto serve` commits its fills to the embedded chain ledger, and they verify."""
import json
import signal
import subprocess
import sys
from pathlib import Path

from gateway.client import Client

KABUTO = str(Path(sys.executable).with_name("kabuto"))


def start_venue(data_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([KABUTO, "serve", "--data-dir", str(data_dir), "--orders", "tcp://127.0.0.1:0",
                             "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0",
                             "--batch-ms", "50"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "ready:" in line:
            return proc
    raise AssertionError("kabuto serve did not start")


def test_fills_of_a_live_venue_are_committed_to_its_ledger_and_verify(tmp_path):
    venue = start_venue(tmp_path)
    try:
        with Client.from_data_dir(tmp_path, "mm1") as maker, Client.from_data_dir(tmp_path, "mm2") as taker:
            maker.new("TSLAx-USD", "sell", "1.000", "250.00")
            maker.wait_report(lambda r: r.ev == "accepted", timeout=10)
            taker.new("TSLAx-USD", "buy", "0.400", "250.00", tif="IOC")
            fill = taker.wait_report(lambda r: r.ev == "fill", timeout=10)
            assert fill.qty in ("0.400", "0.4")
    finally:
        venue.send_signal(signal.SIGINT)
        venue.wait(timeout=60)
    ledger = str(tmp_path / "chain")
    verify = subprocess.run([KABUTO, "chain", "verify", "--ledger", ledger], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "1 fills" in verify.stdout or "1 fill" in verify.stdout
    proof = json.loads(subprocess.run([KABUTO, "chain", "proof", str(fill.seq), "--ledger", ledger],
                                      capture_output=True, text=True, check=True).stdout)
    assert proof["fill"]["maker_acct"] == "mm1" and proof["fill"]["taker_acct"] == "mm2"
