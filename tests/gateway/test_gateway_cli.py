"""`kabuto serve` and `kabuto keygen` as a user meets them: help, errors, plain-text mode, shutdown."""
import re
import signal
import subprocess

from gatewaykit import KABUTO, start_venue
from kabuto.gateway.client import Client, venue_info
from kabuto.gateway.config import GatewayConfig


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KABUTO, *args], capture_output=True, text=True, timeout=120)


def test_serve_help_documents_every_option():
    out = run("serve", "--help")
    assert out.returncode == 0
    for name in GatewayConfig.field_names():
        assert "--" + name.replace("_", "-") in out.stdout, name
    for option in re.findall(r"^\s+(--[a-z0-9-]+)", out.stdout, re.M):
        assert re.search(re.escape(option) + r"[ A-Z:,]*\s+\S", out.stdout), f"{option} has no help text"


def test_a_bad_option_value_is_one_clear_line_and_exit_status_2(tmp_path):
    out = run("serve", "--data-dir", str(tmp_path), "--rate-limit", "-1")
    assert out.returncode == 2
    assert out.stderr.strip() == "kabuto: rate_limit must be 0 (off) or positive"


def test_insecure_venue_trades_by_account_name_and_stops_cleanly_on_sigint(tmp_path):
    serve = start_venue(tmp_path, ["--insecure"])
    try:
        assert any("WARNING: no encryption" in line for line in serve.lines)
        info = venue_info(tmp_path)
        assert info["secure"] is False and info["server_key"] is None
        with Client(info["orders"], account="dev") as c:
            assert c.session["account"] == "dev"
            cl = c.new("BTC-USD", "buy", "1", "100")
            assert c.wait_report().cl_oid == cl
    finally:
        rc = serve.stop(signal.SIGINT)
    assert rc == 0
    assert "stopped after" in serve.lines[-1]


def test_keygen_registers_a_key_that_the_running_venue_accepts(venue):
    out = run("keygen", "newbie", "--data-dir", str(venue.data_dir), "--keys", str(venue.data_dir / "clients.toml"))
    assert out.returncode == 0, out.stderr
    assert "newbie.key_secret" in out.stdout
    assert venue.client("newbie").session["account"] == "newbie"
    again = run("keygen", "newbie", "--data-dir", str(venue.data_dir))
    assert again.returncode == 2 and "exists already" in again.stderr
