"""`kabuto replay` as a user meets it: bad input gets its reject, bad files a one-line error."""
import json
import os
import subprocess
import sys

import pytest

KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")
GOOD = b'{"op":"new","oid":1,"acct":"a","sym":"TSLAx-USD","side":"buy","type":"limit","px":"1.00","qty":"1"}\n'


def replay(tmp_path, data: bytes, *extra):
    log = tmp_path / "orders.jsonl"
    log.write_bytes(data)
    return subprocess.run([KABUTO, "replay", str(log), *extra], capture_output=True, timeout=120)


def events(p) -> list[dict]:
    return [json.loads(x) for x in p.stdout.decode().splitlines()]


def test_a_huge_line_is_malformed_and_replay_goes_on(tmp_path):
    p = replay(tmp_path, b"x" * 5_000_000 + b"\n" + GOOD)
    assert p.returncode == 0
    assert [e["ev"] for e in events(p)] == ["rejected", "accepted"]
    assert events(p)[0] == {"seq": 1, "ev": "rejected", "reason": "malformed", "line": 1}


def test_json_nested_a_hundred_thousand_deep_is_malformed(tmp_path):
    p = replay(tmp_path, b"[" * 100_000 + b"]" * 100_000 + b"\n" + GOOD)
    assert p.returncode == 0
    assert [e.get("reason") for e in events(p)] == ["malformed", None]


def test_invalid_utf8_is_malformed(tmp_path):
    p = replay(tmp_path, b'{"op":"cancel","oid":1,"x":"\xc3\x28"}\n' + GOOD)
    assert events(p)[0]["reason"] == "malformed"


def test_a_valid_order_with_a_long_account_name_is_accepted(tmp_path):
    line = GOOD.replace(b'"acct":"a"', b'"acct":"' + b"m" * 100_000 + b'"')
    sell = GOOD.replace(b'"side":"buy"', b'"side":"sell"').replace(b'"oid":1', b'"oid":2')
    fill = events(replay(tmp_path, line + sell))[-1]
    assert fill["ev"] == "fill" and fill["maker_acct"] == "m" * 100_000


def test_a_missing_file_is_one_line_and_a_nonzero_exit(tmp_path):
    p = subprocess.run([KABUTO, "replay", str(tmp_path / "nope.jsonl")], capture_output=True, timeout=60)
    assert p.returncode != 0
    assert p.stderr.decode().strip().count("\n") == 0
    assert "cannot read" in p.stderr.decode()


def test_an_unwritable_events_file_is_one_line_and_a_nonzero_exit(tmp_path):
    p = replay(tmp_path, GOOD, "--events", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr.decode()


def test_a_bad_instruments_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "i.toml"
    bad.write_text('[[instrument]]\nsymbol = "X"\ntick_size = "0.01"\nlot_size = "1"\ncolour = "red"\n')
    p = replay(tmp_path, GOOD, "--instruments", str(bad))
    assert p.returncode != 0
    assert "unknown keys" in p.stderr.decode() and "Traceback" not in p.stderr.decode()


@pytest.mark.parametrize("engine", ["numba", "reference"])
def test_book_out_lists_every_instrument_best_first(tmp_path, engine):
    sell = GOOD.replace(b'"side":"buy"', b'"side":"sell"').replace(b'"oid":1', b'"oid":2').replace(b'"1.00"', b'"1.50"')
    book = tmp_path / "book.json"
    p = replay(tmp_path, GOOD + GOOD.replace(b'"oid":1', b'"oid":3').replace(b'"1.00"', b'"1.10"') + sell,
               "--book-out", str(book), "--engine", engine)
    assert p.returncode == 0
    doc = json.loads(book.read_text())
    assert doc["TSLAx-USD"] == {"bids": [["1.10", "1.000"], ["1.00", "1.000"]], "asks": [["1.50", "1.000"]]}
    assert set(doc) >= {"AMZNx-USD", "BTC-USD"}
