"""Custody with risk on (docs/balances.md 13) without an EVM: the balances and withdrawals trees of the
worked example against the contract's test vectors, batches of whole commands, restarts, heartbeats,
the embedded ledger and its proofs."""
import json

import pytest
from custodykit import RISK_LOG, config, log_text, run_log
from kabuto.chain.custody import Balance, Withdrawal, balance_leaves, withdrawal_leaves
from kabuto.chain.custody_batcher import CustodyBatcher
from kabuto.chain.errors import ChainError, ProofError
from kabuto.chain.ledger import Ledger, LedgerPublisher
from kabuto.chain.merkle import ZERO, process_proof
from kabuto.chain.proof import balance_proof, withdrawal_proof

VECTORS = {  # docs/balances.md 13.3
    ("@fees", "USD", 300000): "0x69a1f3dc86186883f1c902fc3379fa7b61a43ec26f69d4a99b775c561a0ab42e",
    ("alice", "TSLAx", 3000): "0x93a919a8b341408e3e68252788825fd6c1af4697528d81116587db07495c2634",
    ("bob", "USD", 750075000): "0x825578a194b47ede9b312327211b2e06960cdd51837366eb1109a56f43e519ae",
}
BALANCES_ROOT = "0x033f397fb9bcfbb4b423a55b938c24c0086b0e48a657c4ba1ccb76321b8a6812"
ALICE_TSLA_PROOF = ["0x693c09bd722330229609107dc326f8a7f5164a08438ea0e827f48836cc936425"]
WITHDRAWAL = (1, "alice", "USD", 249625000)
WITHDRAWAL_LEAF = "0xbba99f6dc17e46b648f99a17be74b9aab99fe8dad81c00125dd2240adf6349ac"

LINES = RISK_LOG.read_bytes().splitlines()


def h(b: bytes) -> str:
    return "0x" + b.hex()


@pytest.fixture(scope="module")
def example_ledger(tmp_path_factory):
    """The worked example (section 11) committed as one batch to an embedded ledger."""
    d = tmp_path_factory.mktemp("custody") / "chain"
    run_log(RISK_LOG.read_bytes(), LedgerPublisher(d))
    return d


def test_leaves_match_the_contracts_vectors():
    bals = [Balance(*k) for k in VECTORS]
    assert [h(b.leaf()) for b in bals] == list(VECTORS.values())
    assert [h(bytes(x)) for x in balance_leaves(bals)] == list(VECTORS.values())  # numba = eth_abi
    w = Withdrawal(*WITHDRAWAL)
    assert h(w.leaf()) == WITHDRAWAL_LEAF == h(bytes(withdrawal_leaves([w])[0]))


def test_worked_example_batch(example_ledger):
    ledger = Ledger(example_ledger)
    assert ledger.count == 1 and ledger.verify() == []
    b = ledger.batch(0)
    r = b.record
    assert (r.first_seq, r.last_seq, r.fill_count, r.deposit_count) == (1, 43, 3, 2)
    assert [tuple(x.values()) for x in b.custody.balances] == list(VECTORS)
    assert h(r.balances_root) == BALANCES_ROOT
    assert h(r.withdrawals_root) == WITHDRAWAL_LEAF  # one leaf: its own root
    assert [tuple(w.values()) for w in b.custody.withdrawals] == [WITHDRAWAL]
    # settlement: the fills' net change of every total, fees and @fees included; each asset sums to zero
    deltas = {(d.account, d.asset): d.amount for d in b.custody.deltas}
    assert deltas[("@fees", "USD")] == 300000 and deltas[("alice", "TSLAx")] == 3000
    for asset in ("USD", "TSLAx"):
        assert sum(v for (_, a), v in deltas.items() if a == asset) == 0
    # the record is hashed over its ten fields
    assert len(r.values()) == 10 and r.as_json()["deposit_count"] == 2
    ledger.close()


def test_proofs_from_the_ledger(example_ledger):
    ledger = Ledger(example_ledger)
    p = balance_proof(ledger, "alice", "TSLAx")
    assert p["proof"] == ALICE_TSLA_PROOF and p["balance"]["total"] == 3000
    assert h(process_proof(bytes.fromhex(p["leaf"][2:]), [bytes.fromhex(x[2:]) for x in p["proof"]])) == BALANCES_ROOT
    w = withdrawal_proof(ledger, 1)
    assert w["withdrawal"] == {"wid": 1, "account": "alice", "asset": "USD", "amount": 249625000}
    assert w["leaf"] == WITHDRAWAL_LEAF and w["proof"] == []
    with pytest.raises(ProofError):
        withdrawal_proof(ledger, 2)
    with pytest.raises(ProofError):
        balance_proof(ledger, "bob", "TSLAx")  # a zero balance has no leaf
    ledger.close()


def test_batches_of_whole_commands_restart_and_replay(tmp_path):
    """Two replays of a growing log into one ledger: the second commits only what is new, the balances
    carried over from the ledger; the same log again commits nothing twice; a different one is refused."""
    d = tmp_path / "chain"
    first = b"\n".join(LINES[:8]) + b"\n"
    run_log(first, LedgerPublisher(d))
    run_log(RISK_LOG.read_bytes(), LedgerPublisher(d))
    run_log(RISK_LOG.read_bytes(), LedgerPublisher(d))
    ledger = Ledger(d)
    assert ledger.count == 2 and ledger.verify() == []
    r0, r1 = ledger.record(0), ledger.record(1)
    assert r1.first_seq == r0.last_seq + 1 and r1.last_seq == 43
    assert h(r1.balances_root) == BALANCES_ROOT and r1.deposit_count == 2 and r0.deposit_count == 2
    assert r0.withdrawals_root == ZERO  # no withdrawal in the first part
    ledger.close()
    other = log_text([LINES[0].decode(), LINES[1].decode(),
                      {"op": "deposit", "dep": 1, "acct": "carol", "asset": "USD", "amount": "5"}])
    with pytest.raises(ChainError, match="new ledger"):
        run_log(other + b"\n".join(LINES[3:8]) + b"\n", LedgerPublisher(d))


def test_any_event_opens_a_batch(tmp_path):
    """A withdrawal alone (no fill) is committed in its own batch."""
    d = tmp_path / "chain"
    run_log(RISK_LOG.read_bytes(), LedgerPublisher(d))
    run_log(RISK_LOG.read_bytes() + log_text([{"op": "withdraw", "acct": "bob", "asset": "USD", "amount": "50"}]),
            LedgerPublisher(d))
    ledger = Ledger(d)
    b = ledger.batch(1)
    assert b.record.fill_count == 0 and (b.record.first_seq, b.record.last_seq) == (44, 45)
    assert [tuple(w.values()) for w in b.custody.withdrawals] == [(2, "bob", "USD", 50000000)]
    assert b.custody.deltas == []  # a withdrawal is not settlement
    ledger.close()


def test_heartbeat_commits_an_empty_batch(tmp_path, example_ledger):
    d = tmp_path / "chain"
    d.mkdir()
    (d / "ledger.kbl").write_bytes((example_ledger / "ledger.kbl").read_bytes())
    instruments, risk = config()
    batcher = CustodyBatcher(instruments, None, LedgerPublisher(d), risk)
    assert batcher.heartbeat(timeout=60)
    batcher.close()
    ledger = Ledger(d)
    r0, r1 = ledger.record(0), ledger.record(1)
    assert (r1.first_seq, r1.last_seq, r1.fill_count) == (44, 43, 0)
    assert r1.balances_root == r0.balances_root and r1.deposit_count == r0.deposit_count
    assert r1.fills_root == r1.settle_root == r1.withdrawals_root == ZERO
    assert ledger.verify() == []
    # batch 0 of a venue that never printed an event: first_seq 1, last_seq 0
    batcher = CustodyBatcher(instruments, None, LedgerPublisher(tmp_path / "empty"), risk)
    assert batcher.heartbeat(timeout=60)
    batcher.close()
    e = Ledger(tmp_path / "empty").record(0)
    assert (e.batch, e.first_seq, e.last_seq, e.fill_count, e.deposit_count) == (0, 1, 0, 0, 0)
    ledger.close()


def test_risk_off_ledger_refused(tmp_path):
    from chainkit import INSTRUMENTS, account_name, engine_run, feed
    from kabuto.chain.batcher import FillBatcher
    d = tmp_path / "chain"
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(d))
    feed(b, engine_run(500, seed=3))
    b.close()
    instruments, risk = config()
    with pytest.raises(ChainError, match="risk off"):
        CustodyBatcher(instruments, None, LedgerPublisher(d), risk)


def test_record_json_roundtrip(example_ledger):
    from kabuto.chain.batch import BatchRecord
    ledger = Ledger(example_ledger)
    r = ledger.record(0)
    assert BatchRecord.from_json(json.loads(json.dumps(r.as_json()))) == r
    ledger.close()


def test_cli_replay_and_proofs(tmp_path, capsys):
    """kabuto replay with risk on commits custody batches; kabuto chain proof --withdrawal / --balance."""
    from custodykit import RISK_TOML
    from kabuto.cli.main import main as kabuto
    d = tmp_path / "chain"
    assert kabuto(["replay", str(RISK_LOG), "--instruments", str(RISK_TOML), "--ledger", str(d),
                   "--events", str(tmp_path / "ev.jsonl")]) == 0
    capsys.readouterr()
    assert kabuto(["chain", "proof", "--withdrawal", "1", "--ledger", str(d)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["leaf"] == WITHDRAWAL_LEAF and doc["batch"]["balances_root"] == BALANCES_ROOT
    assert kabuto(["chain", "proof", "--balance", "alice", "TSLAx", "--ledger", str(d)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["proof"] == ALICE_TSLA_PROOF and doc["balance"]["total"] == 3000
    assert kabuto(["chain", "proof", "11", "--ledger", str(d)]) == 0  # fill proofs of a risk-on batch
    (tmp_path / "p.json").write_text(capsys.readouterr().out)
    assert kabuto(["chain", "verify", str(tmp_path / "p.json"), "--ledger", str(d)]) == 0
    assert kabuto(["chain", "proof", "--withdrawal", "9", "--ledger", str(d)]) == 2
    assert kabuto(["chain", "proof", "11", "--withdrawal", "1", "--ledger", str(d)]) == 2
