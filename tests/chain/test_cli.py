"""`kabuto chain proof / verify / status` on a local ledger, through the real command dispatcher."""
import json
import os
import subprocess
import sys

import pytest
from chainkit import INSTRUMENTS, account_name, feed
from kabuto.chain.batcher import FillBatcher
from kabuto.chain.ledger import FILE, Ledger, LedgerPublisher
from kabuto.cli.main import main as kabuto


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


def test_verify_reports_a_damaged_frame_with_its_byte_and_exit_status_2(capsys, tmp_path, stream):
    path = tmp_path / "chain"
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), max_fills=800)
    feed(b, stream)
    b.close()
    e = Ledger(path).entries[2]
    with open(path / FILE, "r+b") as f:  # the last byte of batch 2's fills
        f.seek(e.offset + 20 + e.length - 1)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    for command in (["verify"], ["status"], ["proof", "1"]):
        rc, out, err = run(capsys, "chain", *command, "--ledger", str(path))
        assert rc == 2 and out == ""
        assert err == f"kabuto: ledger {path / FILE}: the frame at byte {e.offset} (batch 2) fails its checksum\n"


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


def proof_doc(capsys, ledger_dir, seq) -> dict:
    rc, out, _ = run(capsys, "chain", "proof", str(seq), "--ledger", ledger_dir)
    assert rc == 0
    return json.loads(out)


@pytest.mark.parametrize("qty", ["609", 609.0, True, -1, 2**64], ids=["string", "float", "bool", "negative", "2^64"])
def test_a_proof_field_of_the_wrong_type_is_a_one_line_error_with_exit_status_2(capsys, tmp_path, ledger_dir,
                                                                                all_fills, qty):
    doc = proof_doc(capsys, ledger_dir, all_fills[5].seq)
    doc["fill"]["qty"] = qty
    (tmp_path / "p.json").write_text(json.dumps(doc))
    rc, out, err = run(capsys, "chain", "verify", str(tmp_path / "p.json"), "--ledger", ledger_dir)
    assert rc == 2 and out == ""
    assert err == f"kabuto: not a fill proof document: fill.qty must be an integer in 0..2^64-1, not {qty!r}\n"


@pytest.mark.parametrize("field,value,says", [
    ("batch.first_seq", "1", "batch.first_seq must be an integer in 0..2^64-1, not '1'"),
    ("batch.fills_root", "0x12", "batch.fills_root must be 0x and 64 hex digits, not '0x12'"),
    ("fill.symbol", 7, "fill.symbol must be a string, not 7"),
    ("fill.taker_side", 0, "fill.taker_side must be a string, not 0"),
    ("proof", {}, "proof must be a list, not {}"),
])
def test_other_malformed_proof_fields_are_one_line_errors(capsys, tmp_path, ledger_dir, all_fills, field, value,
                                                          says):
    doc = proof_doc(capsys, ledger_dir, all_fills[5].seq)
    *path, last = field.split(".")
    (doc[path[0]] if path else doc)[last] = value
    (tmp_path / "p.json").write_text(json.dumps(doc))
    rc, _, err = run(capsys, "chain", "verify", str(tmp_path / "p.json"), "--ledger", ledger_dir)
    assert rc == 2 and err == f"kabuto: not a fill proof document: {says}\n"


def test_the_oz_format_is_a_standard_merkle_tree_dump_whose_root_is_the_batch_root(capsys, ledger_dir, all_fills):
    from eth_abi import encode
    from eth_hash.auto import keccak
    f = all_fills[1000]
    rc, out, _ = run(capsys, "chain", "proof", str(f.seq), "--ledger", ledger_dir, "--format", "oz")
    dump = json.loads(out)
    record = Ledger(ledger_dir).record(1)
    assert rc == 0 and list(dump) == ["format", "tree", "values", "leafEncoding"]
    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == ["uint64", "string", "uint64", "uint64", "uint64", "uint64", "uint8", "string",
                                    "string"]
    assert dump["tree"][0] == "0x" + record.fills_root.hex()
    assert len(dump["values"]) == record.fill_count and len(dump["tree"]) == 2 * record.fill_count - 1
    tree = [bytes.fromhex(h[2:]) for h in dump["tree"]]
    for i in range(len(tree) - record.fill_count):  # every inner node hashes its two children, sorted
        a, b = sorted((tree[2 * i + 1], tree[2 * i + 2]))
        assert tree[i] == keccak(a + b)
    types = dump["leafEncoding"]
    for v in dump["values"]:  # every value's leaf recomputes (ints are decimal strings, as OZ takes them)
        values = [int(x) if t.startswith("uint") else x for x, t in zip(v["value"], types)]
        assert tree[v["treeIndex"]] == keccak(keccak(encode(types, values)))
    mine = next(v for v in dump["values"] if v["value"][0] == str(f.seq))
    assert mine["value"] == [str(f.seq), f.symbol, str(f.px), str(f.qty), str(f.maker), str(f.taker),
                             str(f.taker_side), f.maker_acct, f.taker_acct]


KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")


def order_log(path, pairs: int, qty: str = "1", start: int = 0) -> str:
    """An order log of `pairs` resting sells each taken by an IOC buy: one fill per pair."""
    lines = []
    for i in range(start, start + pairs):
        lines.append({"op": "new", "oid": 2 * i, "acct": "mm", "sym": "TSLAx-USD", "side": "sell", "type": "limit",
                      "px": "250.00", "qty": qty})
        lines.append({"op": "new", "oid": 2 * i + 1, "acct": "tk", "sym": "TSLAx-USD", "side": "buy",
                      "type": "limit", "px": "250.00", "qty": qty, "tif": "IOC"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)


def replay_into(ledger: str, log: str) -> subprocess.CompletedProcess:
    return subprocess.run([KABUTO, "replay", log, "--ledger", ledger, "--events", os.devnull, "--batch-fills", "5"],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def used_ledger(tmp_path):
    """A ledger holding the 20 fills of a 20-pair order log, in 4 batches."""
    ledger = str(tmp_path / "chain")
    assert replay_into(ledger, order_log(tmp_path / "a.jsonl", 20)).returncode == 0
    return ledger


def test_replaying_the_same_log_into_its_ledger_again_commits_nothing_twice(tmp_path, used_ledger):
    done = replay_into(used_ledger, order_log(tmp_path / "a.jsonl", 20))
    assert done.returncode == 0, done.stderr
    assert sum(e.record.fill_count for e in Ledger(used_ledger).entries) == 20


@pytest.mark.parametrize("pairs", [5, 30], ids=["shorter", "longer"])
def test_replaying_a_different_log_into_a_used_ledger_is_refused_with_exit_status_2(tmp_path, used_ledger, pairs):
    done = replay_into(used_ledger, order_log(tmp_path / "b.jsonl", pairs, qty="2"))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("kabuto: this event stream differs from the fills already "
                                                   "committed in")
    assert sum(e.record.fill_count for e in Ledger(used_ledger).entries) == 20


def test_replaying_the_start_of_the_log_into_its_ledger_is_refused_with_exit_status_2(tmp_path, used_ledger):
    done = replay_into(used_ledger, order_log(tmp_path / "b.jsonl", 5))
    assert done.returncode == 2
    assert "a shorter or different log" in done.stderr.splitlines()[-1]


def test_status_shows_a_torn_last_frame(capsys, tmp_path, stream):
    path = tmp_path / "chain"
    b = FillBatcher(INSTRUMENTS, account_name, LedgerPublisher(path), max_fills=800)
    feed(b, stream[:3])
    b.close()
    last = Ledger(path).entries[-1]
    with open(path / FILE, "r+b") as f:
        f.truncate(f.seek(0, 2) - 100)
    rc, out, _ = run(capsys, "chain", "status", "--ledger", str(path))
    assert rc == 0 and f"torn tail       {last.length + 20 - 100} bytes at byte {last.offset}" in out
