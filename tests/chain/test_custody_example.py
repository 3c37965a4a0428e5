"""examples/custody.py runs end to end and leaves the vault empty."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_custody_example():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "custody.py"), "--engine", "reference"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "claim again: refused" in out and "freeze" in out and "reclaim deposit 3" in out
    vault = next(line for line in out.splitlines() if line.strip().startswith("vault ") and "USD" in line)
    assert re.findall(r"[\d,]+(?= )", vault.split("vault", 1)[1]) == ["0", "0", "0"]
