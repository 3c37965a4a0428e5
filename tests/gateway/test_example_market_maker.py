"""examples/market_maker.py against a real `kabuto serve`: one process quotes, another takes."""
import subprocess
import sys
from pathlib import Path

from gatewaykit import start_venue

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "market_maker.py"


def run_example(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--data-dir", str(data_dir), "--refresh", "0.3", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_example_market_maker_quotes_and_a_taker_trades_against_it(tmp_path):
    serve = start_venue(tmp_path)  # CurveZMQ with the demo keys mm1, mm2 and trader
    try:
        maker = run_example(tmp_path, "--account", "mm1", "--duration", "6")
        taker = run_example(tmp_path, "--account", "trader", "--taker", "--duration", "4")
        taker_out, _ = taker.communicate(timeout=120)
        maker_out, _ = maker.communicate(timeout=120)
    finally:
        serve.stop()
    assert taker.returncode == 0, taker_out
    assert maker.returncode == 0, maker_out
    assert "mm1: quoting" in maker_out and "book  TSLAx-USD" in maker_out
    assert "fill " in taker_out and "(taker," in taker_out
    # a requote may cancel a quote filled in the meantime (unknown_order); nothing else is refused
    rejects = [line for line in maker_out.splitlines() if line.startswith("reject")]
    assert all(line.endswith("unknown_order") for line in rejects), maker_out
