"""`pip install kabuto` without extras: the core works, and an extra's feature says which extra it needs."""
import json
import os
import subprocess
import sys

import pytest

OPTIONAL = ["web3", "vyper", "eth_account", "eth_tester", "matplotlib", "hdrh"]
# a Python where the optional packages cannot be imported, as after `pip install kabuto`
WITHOUT_EXTRAS = f"""
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {OPTIONAL!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
"""


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_without_extras(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS + code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def kabuto_without_extras(*args: str) -> subprocess.CompletedProcess:
    return run_without_extras(f"from kabuto.cli.main import main; sys.exit(main({list(args)!r}))")


def test_the_venue_replay_and_local_ledger_import_without_any_extra():
    out = run_without_extras("import kabuto.cli.replay, kabuto.cli.serve, kabuto.gateway.server, "
                             "kabuto.gateway.client, "
                             "kabuto.cli.chain, kabuto.chain.batcher, kabuto.chain.ledger, kabuto.chain.proof; "
                             "print('ok')")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_replay_runs_without_any_extra(tmp_path):
    log = tmp_path / "orders.jsonl"
    log.write_text('{"op":"new","oid":1,"acct":"a","sym":"BTC-USD","side":"buy","type":"limit","px":"1","qty":"1"}\n')
    out = kabuto_without_extras("replay", str(log))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["ev"] == "accepted"


def bench_without_extras(*args: str) -> subprocess.CompletedProcess:
    return run_without_extras(f"from bench.__main__ import main; sys.exit(main({list(args)!r}))")


@pytest.mark.parametrize("run, args, extra, module", [
    (kabuto_without_extras, ["chain", "deploy", "--chain-rpc", "http://127.0.0.1:9", "--chain-key", "k"], "evm",
     "web3"),
    (bench_without_extras, ["--quick"], "bench", "matplotlib"),
])
def test_a_feature_of_a_missing_extra_is_one_line_naming_the_extra(run, args, extra, module):
    out = run(*args)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert f"needs {module}, which is not installed: pip install 'kabuto[{extra}]'" in out.stderr
