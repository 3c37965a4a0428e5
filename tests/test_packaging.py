"""The wheel: everything under one root package, kabuto.*, and no benchmarks."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    (path,) = out.glob("kabuto-*.whl")
    with zipfile.ZipFile(path) as z:
        yield z


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    return wheel.namelist()


def test_the_wheel_installs_nothing_but_the_kabuto_package(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"kabuto"}


def test_the_wheel_holds_every_layer_and_the_contract_source(wheel_names):
    packages = {name.split("/")[1] for name in wheel_names if name.startswith("kabuto/") and name.count("/") >= 2}
    assert packages == {"engine", "replay", "venue", "durability", "gateway", "chain", "adapters", "cli"}
    assert "kabuto/chain/contracts/FillRegistry.vy" in wheel_names


def test_the_benchmarks_are_not_in_the_wheel(wheel_names):
    assert not [n for n in wheel_names if "bench" in n.split("/")[:2] or n.startswith("bench")]


def test_the_console_script_points_into_the_root_package(wheel, wheel_names):
    entry = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    assert "kabuto = kabuto.cli.main:main" in wheel.read(entry).decode()
