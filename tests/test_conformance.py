"""The shared conformance cases pass through the real `kabuto` command."""
import os
import shutil
import subprocess
import sys

import pytest

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
CHECK = os.path.join(SHARED, "conformance", "check.py")


def kabuto_command() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "kabuto")
    return exe if os.path.exists(exe) else shutil.which("kabuto") or ""


@pytest.mark.skipif(not os.path.exists(CHECK), reason="../shared/conformance is absent: conformance cases not run")
@pytest.mark.parametrize("engine", ["numba", "reference"])
def test_shared_conformance_cases_pass_through_the_kabuto_command(engine):
    kabuto = kabuto_command()
    assert kabuto, "the kabuto console script is not installed"
    # check.py runs COMMAND replay CASE ...: the wrapper puts --engine after "replay"
    call = f"subprocess.call(['{kabuto}'] + sys.argv[1:2] + ['--engine', '{engine}'] + sys.argv[2:])"
    wrapper = f"{sys.executable} -c \"import sys,subprocess; sys.exit({call})\""
    p = subprocess.run([sys.executable, CHECK, wrapper], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 failed" in p.stdout
