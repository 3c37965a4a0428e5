"""The EVM publisher against a real EVM served over JSON-RPC (eth-tester behind HTTP, kabuto.chain.devnode):
restarts, SIGKILL, reorgs and node outages never lose or duplicate a batch."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from chainkit import INSTRUMENTS, account_name, feed
from kabuto.chain.batcher import FillBatcher
from kabuto.chain.contract import Registry, connect, deploy
from kabuto.chain.devnode import EvmNode
from kabuto.chain.errors import ChainError
from kabuto.chain.evm import EvmPublisher, read_receipts
from kabuto.chain.ledger import Ledger, LedgerPublisher
from kabuto.chain.proof import check_against_chain, fill_proof
from kabuto.cli.main import main as kabuto

from tests.polling import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def node():
    n = EvmNode()
    yield n
    n.stop()


@pytest.fixture
def registry(node):
    """A freshly deployed FillRegistry (operator: keys[0]) reached over HTTP."""
    w3 = connect(node.url)
    return Registry(w3, deploy(w3, node.keys[0]))


def evm_batcher(path, node, registry, **kw):
    pub = EvmPublisher(path, registry.w3, node.keys[0], registry.address)
    kw.setdefault("retry_s", (0.02, 0.1))
    return FillBatcher(INSTRUMENTS, account_name, pub, **kw)


def committed_seqs(ledger):
    return np.concatenate([ledger.batch(n).fills["seq"] for n in range(ledger.count)]).tolist()


def assert_chain_matches_ledger(registry, ledger):
    assert registry.next_batch() == ledger.count
    assert registry.last_hash() == ledger.record(ledger.count - 1).hash
    events = registry.contract.events.BatchCommitted().get_logs(from_block=0)
    assert sorted(e.args.batch for e in events) == list(range(ledger.count))  # each batch on chain once
    for n in range(ledger.count):
        assert registry.fills_root(n) == ledger.record(n).fills_root


def test_batches_are_committed_on_chain_and_random_fills_verify_there(tmp_path, node, registry, stream, all_fills):
    b = evm_batcher(tmp_path, node, registry, max_fills=500)
    feed(b, stream)
    b.close()
    ledger = Ledger(tmp_path)
    assert_chain_matches_ledger(registry, ledger)
    for f in random.Random(9).sample(all_fills, 10):
        assert check_against_chain(fill_proof(ledger, f.seq), registry) == []


def test_a_publisher_killed_with_sigkill_resumes_from_the_contracts_next_batch(tmp_path, node, registry, all_fills):
    cmd = [sys.executable, os.path.join(HERE, "run_batcher.py"), str(tmp_path), "--max-fills", "250",
           "--rpc", node.url, "--key", node.keys[0], "--contract", registry.address, "--pause", "0.1"]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline() == "started\n"  # imported, compiled, about to feed
        assert wait_until(lambda: registry.next_batch() >= 3 or child.poll() is not None, 60)
        assert child.poll() is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    killed_at = registry.next_batch()
    assert 3 <= killed_at < len(all_fills) // 250
    done = subprocess.run(cmd[:-2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ledger = Ledger(tmp_path)
    assert committed_seqs(ledger) == [f.seq for f in all_fills]
    assert_chain_matches_ledger(registry, ledger)


def test_after_a_reorg_the_publisher_commits_the_lost_batches_again(tmp_path, node, registry, stream):
    b = evm_batcher(tmp_path, node, registry, max_fills=500, poll_s=0.05)
    feed(b, stream[:4])
    assert b.flush(30)
    before = registry.next_batch()
    snapshot = node.snapshot()
    feed(b, stream[4:])
    assert b.flush(30)
    total = registry.next_batch()
    assert total > before
    node.revert(snapshot)  # the blocks holding the later commits are gone
    assert registry.next_batch() == before
    assert wait_until(lambda: registry.next_batch() == total)
    assert b.publisher.recommits == total - before
    b.close()
    assert_chain_matches_ledger(registry, Ledger(tmp_path))


def test_while_the_node_is_down_batches_wait_in_a_bounded_disk_queue(tmp_path, node, registry, stream, all_fills):
    node.stop()
    try:
        b = evm_batcher(tmp_path, node, registry, max_fills=200, max_ms=20, max_queue=3)
        feed(b, stream[:6])  # returns at once: matching never waits for the chain
        assert wait_until(lambda: b.status()["queued_batches"] == 3)
        feed(b, stream[6:])
        time.sleep(0.3)
        st = b.status()
        assert st["queued_batches"] == 3 and st["pending_fills"] > 0 and "node error" in st["last_error"]
        assert len(list((tmp_path / "queue").glob("*.batch"))) == 3
    finally:
        node.start()
    assert b.flush(30)
    b.close()
    ledger = Ledger(tmp_path)
    assert committed_seqs(ledger) == [f.seq for f in all_fills]
    assert max(ledger.record(n).fill_count for n in range(ledger.count)) > 200  # the backlog, coalesced
    assert_chain_matches_ledger(registry, ledger)


def test_publishing_a_batch_twice_sends_one_transaction(tmp_path, node, registry, stream):
    b = evm_batcher(tmp_path, node, registry, max_fills=500)
    feed(b, stream[:2])
    b.close()
    pub = EvmPublisher(tmp_path, registry.w3, node.keys[0], registry.address)
    batch = pub.ledger.batch(0)
    pub.publish(batch)
    pub.close()
    assert [r["batch"] for r in read_receipts(tmp_path / "receipts.jsonl")].count(0) == 1


def test_a_contract_holding_other_batches_is_refused(tmp_path, node, registry, stream):
    b = evm_batcher(tmp_path / "a", node, registry, max_fills=500)
    feed(b, stream[:3])
    b.close()
    other = FillBatcher(INSTRUMENTS, lambda a: f"other-{a}", LedgerPublisher(tmp_path / "b"), max_fills=500)
    feed(other, stream[:3])
    other.close()
    pub = EvmPublisher(tmp_path / "b", registry.w3, node.keys[0], registry.address)
    with pytest.raises(ChainError, match="differs from the ledger"):
        pub.sync()
    pub.close()


def test_the_cli_deploys_syncs_a_ledger_and_verifies_against_the_chain(tmp_path, node, stream, capsys):
    ledger_dir, key = str(tmp_path / "ledger"), tmp_path / "operator.key"
    key.write_text(node.keys[0] + "\n")
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(ledger_dir), max_fills=700)
    feed(b, stream)
    b.close()
    rpc = ["--ledger", ledger_dir, "--chain-rpc", node.url]
    assert kabuto(["chain", "deploy", *rpc, "--chain-key", str(key)]) == 0
    address = capsys.readouterr().out.strip()
    assert json.loads((tmp_path / "ledger" / "chain.json").read_text())["contract"] == address
    assert kabuto(["chain", "sync", *rpc, "--chain-key", str(key)]) == 0
    count = Ledger(ledger_dir).count
    assert f"committed {count} batches" in capsys.readouterr().out
    assert kabuto(["chain", "verify", *rpc]) == 0
    assert f"{count} of them match the contract" in capsys.readouterr().out
    seq = Ledger(ledger_dir).record(2).last_seq
    assert kabuto(["chain", "proof", str(seq), "--ledger", ledger_dir]) == 0
    (tmp_path / "proof.json").write_text(capsys.readouterr().out)
    assert kabuto(["chain", "verify", str(tmp_path / "proof.json"), *rpc]) == 0
    assert "checked against the contract" in capsys.readouterr().out
    assert kabuto(["chain", "status", *rpc, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["chain_next_batch"] == count and st["chain_backlog"] == 0 and st["gas_used"] > 0


def test_the_cli_reports_an_unreachable_node_in_one_line(tmp_path, stream, capsys):
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=700)
    feed(b, stream[:2])
    b.close()
    rc = kabuto(["chain", "status", "--ledger", str(tmp_path), "--chain-rpc", "http://127.0.0.1:9",
                 "--chain-contract", "0x" + "11" * 20])
    assert rc == 2
    assert capsys.readouterr().err.startswith("kabuto: node error")


def test_status_shows_whether_the_contracts_owner_paused_commits(tmp_path, node, registry, stream, capsys):
    from eth_account import Account
    from kabuto.chain.contract import send
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(tmp_path), max_fills=700)
    feed(b, stream[:2])
    b.close()
    rpc = ["--ledger", str(tmp_path), "--chain-rpc", node.url, "--chain-contract", registry.address]
    assert kabuto(["chain", "status", *rpc]) == 0
    assert "commits         open\n" in capsys.readouterr().out
    send(registry.w3, Account.from_key(node.keys[0]), registry.functions.set_paused(True))
    assert kabuto(["chain", "status", *rpc]) == 0
    assert "commits         PAUSED by the owner\n" in capsys.readouterr().out
    assert kabuto(["chain", "status", *rpc, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chain_paused"] is True
