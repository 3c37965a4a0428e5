"""`kabuto replay` with risk on: the worked example of docs/balances.md 11 and the book of section 12,
byte for byte, from both engines; risk switched on by the file or by --risk; the same log with risk off."""
import inspect
import json
import os
import subprocess
import sys

import pytest
from kabuto.engine.engine import Engine

HERE = os.path.join(os.path.dirname(__file__), "risk")
KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")
TOML, LOG = os.path.join(HERE, "risk.toml"), os.path.join(HERE, "log.jsonl")
EVENTS = open(os.path.join(HERE, "events.jsonl"), "rb").read()
BOOK = open(os.path.join(HERE, "book.json"), "rb").read()

KERNEL_HAS_RISK = "risk" in inspect.signature(Engine).parameters
ENGINES = ["reference", pytest.param("numba", marks=pytest.mark.skipif(
    not KERNEL_HAS_RISK, reason="the numba engine does not take risk= yet (docs/balances.md is being built)"))]


def run(*args, log=LOG):
    return subprocess.run([KABUTO, "replay", log, *args], capture_output=True, timeout=600)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_worked_example_byte_for_byte(tmp_path, engine):
    book = tmp_path / "book.json"
    p = run("--instruments", TOML, "--engine", engine, "--book-out", str(book))
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == EVENTS
    assert book.read_bytes() == BOOK


@pytest.mark.parametrize("engine", ENGINES)
def test_risk_on_from_the_command_line_is_the_same(tmp_path, engine):
    toml = tmp_path / "plain.toml"
    toml.write_text(open(TOML).read().replace("[risk]\nenabled = true\n", ""))
    events = tmp_path / "events.jsonl"
    p = run("--instruments", str(toml), "--engine", engine, "--risk", "--events", str(events))
    assert p.returncode == 0, p.stderr.decode()
    assert events.read_bytes() == EVENTS
    p = run("--instruments", TOML, "--engine", engine, "--risk")  # on twice is on
    assert p.stdout == EVENTS


@pytest.mark.parametrize("engine", ["reference", "numba"])
def test_the_same_log_with_risk_off_prints_todays_events(tmp_path, engine):
    toml = tmp_path / "plain.toml"
    toml.write_text(open(TOML).read().replace("[risk]\nenabled = true\n", ""))
    book = tmp_path / "book.json"
    p = run("--instruments", str(toml), "--engine", engine, "--book-out", str(book))
    assert p.returncode == 0, p.stderr.decode()
    events = [json.loads(x) for x in p.stdout.decode().splitlines()]
    malformed = [e["line"] for e in events if e.get("reason") == "malformed"]
    assert malformed == [1, 2, 3, 4, 5, 16, 17]
    assert not any(e["ev"] in ("balance", "deposited", "withdrawn", "fees", "tier") for e in events)
    assert not any("maker_fee" in e for e in events)
    # protect on line 15 is ignored: the log without it prints the same
    lines = open(LOG).read().replace(',"protect":"251.00"', "")
    plain = tmp_path / "plain.jsonl"
    plain.write_text(lines)
    assert run("--instruments", str(toml), "--engine", engine, log=str(plain)).stdout == p.stdout
    assert set(json.loads(book.read_text())) == {"TSLAx-USD", "AMZNx-USD"}


def test_a_log_that_never_deposits_rejects_every_order_for_funds_with_risk_on(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"op":"new","oid":1,"acct":"a","sym":"TSLAx-USD","side":"buy","type":"limit","px":"1.00",'
                   '"qty":"1"}\n{"op":"new","oid":2,"acct":"b","sym":"TSLAx-USD","side":"sell","type":"limit",'
                   '"px":"1.00","qty":"1"}\n')
    book = tmp_path / "book.json"
    p = run("--risk", "--engine", "reference", "--book-out", str(book), log=str(log))
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().splitlines() == [
        '{"seq":1,"ev":"rejected","reason":"insufficient_funds","oid":1}',
        '{"seq":2,"ev":"rejected","reason":"insufficient_funds","oid":2}']
    doc = json.loads(book.read_text())
    assert list(doc)[-2:] == ["@assets", "@balances"] and doc["@balances"] == {}
    assert doc["@assets"]["USD"] == {"decimals": 7, "deposited": "0.0000000", "withdrawn": "0.0000000"}


def test_a_bad_balances_table_is_a_configuration_error_even_with_risk_off(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text(open(TOML).read().replace('taker_bps = "5"', 'taker_bps = "5.001"'))
    for extra in ((), ("--risk",)):
        p = run("--instruments", str(toml), *extra)
        assert p.returncode != 0 and p.stdout == b""
        err = p.stderr.decode()
        assert err.count("\n") <= 1 and "taker_bps" in err and "Traceback" not in err
