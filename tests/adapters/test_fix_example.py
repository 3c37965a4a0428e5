"""examples/fix_client.py against a real venue and `kabuto fix`: one process quotes, another takes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fixkit import PASSWORDS, FixVenue, fresh_user

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fix_client.py"


@pytest.fixture(scope="module")
def fv(tmp_path_factory):
    """A venue and an adapter for the example."""
    v = FixVenue(tmp_path_factory.mktemp("fixexample"))
    yield v
    rc_fix, rc_serve = v.stop()
    assert rc_fix == 0, "".join(v.fix.lines)
    assert rc_serve == 0


def run_example(fv: FixVenue, sender: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--port", str(fv.fix.port), "--sender", sender,
                             "--password", PASSWORDS[sender], "--refresh", "0.3", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_example_fix_client_quotes_and_a_taker_trades_against_it(fv):
    maker = run_example(fv, fresh_user(), "--duration", "4")
    taker = run_example(fv, fresh_user(), "--taker", "--duration", "2.5")
    taker_out, _ = taker.communicate(timeout=120)
    maker_out, _ = maker.communicate(timeout=120)
    assert taker.returncode == 0, taker_out
    assert maker.returncode == 0, maker_out
    assert "logged on" in maker_out and "replaced" in maker_out and "logged out" in maker_out
    assert "fill     ioc" in taker_out
    assert "mass-cxl" in maker_out
    assert "reject " not in maker_out + taker_out
