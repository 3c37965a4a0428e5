"""`kabuto chain proof / verify / status` on a local ledger, through the real command dispatcher."""
import json
import os

import pytest

from chain.batcher import FillBatcher
from chain.ledger import FILE, Ledger, LedgerPublisher
from chainkit import INSTRUMENTS, account_name, feed
from engine.cli import main as kabuto


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory, stream):
    path = tmp_path_factory.mktemp("cli") / "chain"
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), max_fills=800)
    feed(b, stream)
    b.close()
    return str(path)


def run(capsys, *argv):
    rc = kabuto(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_proof_prints_the_fill_its_batch_and_its_proof(capsys, ledger_dir, all_fills):
    f = all_fills[1000]
    rc, out, _ = run(capsys, "chain", "proof", str(f.seq), "--ledger", ledger_dir)
    doc = json.loads(out)
    assert rc == 0
    assert doc["fill"] == f.as_json()
    assert doc["batch"]["batch"] == 1 and doc["batch"]["first_seq"] <= f.seq <= doc["batch"]["last_seq"]
    assert doc["leaf"] == "0x" + f.leaf().hex() and len(doc["proof"]) == 10  # 800 leaves


def test_verify_accepts_a_proof_from_the_ledger(capsys, tmp_path, ledger_dir, all_fills):
    _, out, _ = run(capsys, "chain", "proof", str(all_fills[5].seq), "--ledger", ledger_dir)
    (tmp_path / "p.json").write_text(out)
    rc, out, _ = run(capsys, "chain", "verify", str(tmp_path / "p.json"), "--ledger", ledger_dir)
    assert rc == 0 and out.startswith(f"valid: fill {all_fills[5].seq} is in batch 0")


def test_verify_rejects_a_tampered_proof_with_exit_status_1(capsys, tmp_path, ledger_dir, all_fills):
    _, out, _ = run(capsys, "chain", "proof", str(all_fills[5].seq), "--ledger", ledger_dir)
    doc = json.loads(out)
    doc["fill"]["px"] += 1
    (tmp_path / "p.json").write_text(json.dumps(doc))
    rc, out, _ = run(capsys, "chain", "verify", str(tmp_path / "p.json"), "--ledger", ledger_dir)
    assert rc == 1 and "invalid: the leaf is not the hash of the fill" in out


def test_verify_without_a_proof_audits_the_whole_ledger(capsys, ledger_dir, all_fills):
    rc, out, _ = run(capsys, "chain", "verify", "--ledger", ledger_dir)
    assert rc == 0 and f"{len(all_fills)} fills" in out


def test_verify_reports_a_damaged_ledger(capsys, tmp_path, stream):
    path = tmp_path / "chain"
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), max_fills=800)
    feed(b, stream)
    b.close()
    e = Ledger(path).entries[2]
    with open(path / FILE, "r+b") as f:
        f.seek(e.offset + 12 + e.length - 1)
        f.write(b"\xee")
    rc, out, _ = run(capsys, "chain", "verify", "--ledger", str(path))
    assert rc == 1 and "batch 2 fails its checksum" in out


def test_status_shows_the_last_batch_and_the_backlog(capsys, ledger_dir, all_fills):
    rc, out, _ = run(capsys, "chain", "status", "--ledger", ledger_dir)
    last = Ledger(ledger_dir).entries[-1].record
    assert rc == 0
    assert f"batches         {last.batch + 1} ({len(all_fills)} fills)" in out
    assert f"last batch      {last.batch}: seqs {last.first_seq}..{last.last_seq}" in out
    assert "queued          0 batches" in out
    rc, out, _ = run(capsys, "chain", "status", "--ledger", ledger_dir, "--json")
    assert json.loads(out)["last"]["hash"] == "0x" + last.hash.hex()


@pytest.mark.parametrize("argv, message", [
    (["chain", "proof", "3", "--ledger", "/nonexistent/ledger"], "kabuto: no ledger in /nonexistent/ledger"),
    (["chain", "proof", "1", "--ledger", "LEDGER"], "kabuto: event 1 is not a fill"),
    (["chain", "proof", "99999999", "--ledger", "LEDGER"], "kabuto: fill 99999999 is in no batch"),
    (["chain", "verify", "missing.json", "--ledger", "LEDGER"], "kabuto: cannot read missing.json"),
])
def test_bad_requests_get_one_clear_line_and_exit_status_2(capsys, ledger_dir, argv, message):
    rc, _, err = run(capsys, *[ledger_dir if a == "LEDGER" else a for a in argv])
    assert rc == 2 and err.startswith(message)


def test_a_fill_id_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit) as e:
        kabuto(["chain", "proof", "x12"])
    assert e.value.code == 2 and "not a fill id" in capsys.readouterr().err


def test_a_proof_file_that_is_not_a_proof_is_rejected(capsys, tmp_path, ledger_dir):
    (tmp_path / "p.json").write_text(json.dumps({"fill": {"seq": 1}}))
    rc, _, err = run(capsys, "chain", "verify", str(tmp_path / "p.json"), "--ledger", ledger_dir)
    assert rc == 2 and err.startswith("kabuto: not a fill proof document")


def test_status_does_not_need_the_writers_lock(capsys, ledger_dir):
    pub = LedgerPublisher(ledger_dir)  # a replay still writing
    try:
        rc, _, _ = run(capsys, "chain", "status", "--ledger", ledger_dir)
    finally:
        pub.close()
    assert rc == 0
    assert os.path.exists(os.path.join(ledger_dir, FILE))
