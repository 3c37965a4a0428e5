"""The order-log decoder and event encoders with risk on (docs/balances.md 2, 4, 8): records of the new
commands, the static faults the decoder finds, and the exact text of the new events."""
import json

import numpy as np
import pytest
from kabuto.engine.codes import Ev, Flag, Op, Reason
from kabuto.engine.records import empty_events
from kabuto.replay.eventlog import Encoder
from kabuto.replay.orderlog import Decoder
from kabuto.replay.replay import make_engine
from risklogs import INSTRUMENTS, RISK, random_risk_log

AID = RISK.asset_index()


def rec(line: str, risk=RISK) -> dict:
    d = Decoder(INSTRUMENTS, risk=risk)
    row = d.decode_line(line.encode(), 9)
    out = dict(zip(("op", "side", "otype", "tif", "stp", "reason", "pexp", "qexp", "flags", "pad", "sym", "oid",
                    "acct", "px", "qty", "ts", "line"), row))
    if out["op"] in (Op.DEPOSIT, Op.WITHDRAW, Op.TIER):
        out["acct"] = d.accounts.names[out["acct"]]
    return out


def reject(line: str, risk=RISK) -> tuple:
    r = rec(line, risk)
    assert r["op"] == Op.REJECT
    return Reason(r["reason"]), bool(r["flags"] & Flag.HAS_OID)


def test_assets_of_the_test_instruments():
    assert {a.name: a.decimals for a in RISK.assets} == {"AMZNx": 0, "BTC": 2, "TSLAx": 3, "USD": 5}


@pytest.mark.parametrize("amount, units", [
    ('"1000"', 100_000_000), ('"249.625"', 24_962_500), ("1.5", 150_000), ("1e3", 100_000_000),
    ('"0.00001"', 1), ("1E-5", 1), ('"0.000010000"', 1), ("25e-1", 250_000), ('"46116860184273.87903"', 2 ** 62 - 1),
    ('"46116860184273.87904"', 0), ('"0.000001"', 0), ('"0"', 0), ("0", 0), ("-1", 0), ('"-1"', 0), ('"1e3"', 0),
    ('"+1"', 0), ('".5"', 0), ('" 1"', 0), ('"1."', 0), ("null", 0), ("true", 0), ("[1]", 0), ("1e400", 0),
    ("1.000000000000000000000000000000000000001", 0)])
def test_a_deposit_amount_is_read_exactly_from_its_text(amount, units):
    r = rec(f'{{"op":"deposit","dep":3,"acct":7,"asset":"USD","amount":{amount},"ts":5}}')
    assert (r["op"], r["oid"], r["acct"], r["sym"], r["qty"], r["ts"], r["flags"]) == (
        Op.DEPOSIT, 3, "7", AID["USD"], units, 5, Flag.HAS_TS)
    assert r["reason"] == (0 if units else Reason.BAD_AMOUNT)


def test_a_deposit_of_an_unknown_asset_travels_with_its_id_and_the_reason():
    r = rec('{"op":"deposit","dep":4,"acct":"a","asset":"EUR","amount":"x"}')
    assert (r["op"], r["oid"], r["sym"], r["reason"]) == (Op.DEPOSIT, 4, -1, Reason.UNKNOWN_ASSET)
    r = rec('{"op":"deposit","dep":4,"acct":"a","asset":"AMZNx","amount":"1.5"}')
    assert (r["sym"], r["reason"]) == (AID["AMZNx"], Reason.BAD_AMOUNT)


@pytest.mark.parametrize("line", [
    '{"op":"deposit","acct":"a","asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":0,"acct":"a","asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":9223372036854775808,"acct":"a","asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":"1","acct":"a","asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":1.0,"acct":"a","asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":1,"asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":1,"acct":null,"asset":"USD","amount":"1"}',
    '{"op":"deposit","dep":1,"acct":"a","asset":7,"amount":"1"}',
    '{"op":"deposit","dep":1,"acct":"a","amount":"1"}',
    '{"op":"deposit","dep":1,"acct":"a","asset":"NOPE"}',
    '{"op":"withdraw","acct":"a","asset":"USD"}',
    '{"op":"withdraw","acct":1.5,"asset":"USD","amount":"1"}',
    '{"op":"withdraw","acct":"a","asset":null,"amount":"1"}',
    '{"op":"withdraw","acct":"a","amount":"1"}',
    '{"op":"fees","tier":256,"maker_bps":"0","taker_bps":"1"}',
    '{"op":"fees","tier":-1,"maker_bps":"0","taker_bps":"1"}',
    '{"op":"fees","tier":"1","maker_bps":"0","taker_bps":"1"}',
    '{"op":"fees","maker_bps":"0","taker_bps":"1"}',
    '{"op":"fees","tier":1,"taker_bps":"1"}',
    '{"op":"fees","tier":1,"maker_bps":"0"}',
    '{"op":"tier","acct":"a"}',
    '{"op":"tier","acct":"a","tier":true}',
    '{"op":"tier","tier":1}',
    '{"op":"deposit","dep":1,"acct":"a","asset":"USD","amount":"1","ts":-1}',
])
def test_missing_or_mistyped_fields_are_malformed(line):
    r = rec(line)
    assert (r["op"], r["reason"], r["line"], r["flags"]) == (Op.REJECT, Reason.MALFORMED, 9, 0)


def test_withdraw_faults_in_their_order():
    r = rec('{"op":"withdraw","acct":"b","asset":"BTC","amount":"0.25"}')
    assert (r["op"], r["acct"], r["sym"], r["qty"], r["oid"]) == (Op.WITHDRAW, "b", AID["BTC"], 25, 0)
    assert reject('{"op":"withdraw","acct":"b","asset":"EUR","amount":"x"}') == (Reason.UNKNOWN_ASSET, False)
    assert reject('{"op":"withdraw","acct":"b","asset":"BTC","amount":"0.001"}') == (Reason.BAD_AMOUNT, False)


@pytest.mark.parametrize("maker, taker, rates", [
    ('"-0.25"', '"5"', (-25, 500)), ("-1", "5.5", (-100, 550)), ('"0.10"', "2.50e0", (10, 250)),
    ('"-0"', "0", (0, 0)), ('"1000"', '"1000.00"', (100_000, 100_000)), ("-1000", "1e3", (-100_000, 100_000)),
    ('"1200"', '"5"', (200_000, 500))])  # 1200 is out of range: the engine's schedule check says bad_fee
def test_fee_rates_in_millionths(maker, taker, rates):
    r = rec(f'{{"op":"fees","tier":3,"maker_bps":{maker},"taker_bps":{taker}}}')
    if rates[0] > 100_000:
        assert (r["op"], r["reason"]) == (Op.REJECT, Reason.BAD_FEE)
        return
    assert (r["op"], r["oid"], r["px"], r["qty"]) == (Op.FEES, 3, *rates)


@pytest.mark.parametrize("bad", ['"0.001"', '"1e1"', '"+1"', '"5."', "null", "true", "0.125", '"-0.001"', '"abc"',
                                 "[1]", "1e999999999", "1e-999999999", '"0.10000000000000000000000000000001"'])
def test_a_rate_that_is_no_two_place_decimal_is_bad_fee(bad):
    assert reject(f'{{"op":"fees","tier":0,"maker_bps":{bad},"taker_bps":"1"}}') == (Reason.BAD_FEE, False)
    assert reject(f'{{"op":"fees","tier":0,"maker_bps":"0","taker_bps":{bad}}}') == (Reason.BAD_FEE, False)


def test_tier_record():
    r = rec('{"op":"tier","acct":12,"tier":255,"ts":1}')
    assert (r["op"], r["acct"], r["oid"], r["ts"]) == (Op.TIER, "12", 255, 1)


def test_protect_of_a_market_order_travels_as_its_price_with_risk_on_only():
    line = ('{"op":"new","oid":1,"acct":"a","sym":"TSLAx-USD","side":"buy","type":"market","qty":"1",'
            '"protect":"251.00"}')
    r = rec(line)
    assert (r["op"], r["px"], r["pexp"], r["flags"] & Flag.PROTECT) == (Op.NEW, 251, 0, Flag.PROTECT)
    off = rec(line, risk=None)
    assert (off["op"], off["px"], off["pexp"], off["flags"]) == (Op.NEW, 0, 0, 0)
    bad = rec(line.replace('"251.00"', "null"))
    assert (bad["op"], bad["px"], bad["flags"] & Flag.PROTECT) == (Op.NEW, 0, Flag.PROTECT)
    limit = rec(line.replace('"market"', '"limit","px":"250"'))
    assert (limit["px"], limit["flags"] & Flag.PROTECT) == (25, 0)


@pytest.mark.parametrize("line", [
    '{"op":"deposit","dep":1,"acct":"a","asset":"USD","amount":"1"}',
    '{"op":"withdraw","acct":"a","asset":"USD","amount":"1"}',
    '{"op":"fees","tier":1,"maker_bps":"0","taker_bps":"1"}',
    '{"op":"tier","acct":"a","tier":0}'])
def test_with_risk_off_the_balance_ops_are_unknown_ops(line):
    r = rec(line, risk=None)
    assert (r["op"], r["reason"], r["line"]) == (Op.REJECT, Reason.MALFORMED, 9)


def _events(rows):
    ev = empty_events(len(rows))
    for i, row in enumerate(rows):
        for k, v in row.items():
            ev[i][k] = v
    return ev


def _encoders(names):
    d = Decoder(INSTRUMENTS, risk=RISK)
    for n in names:
        d.accounts.id(n)
    return Encoder(INSTRUMENTS, d.accounts, RISK), d.accounts


def test_the_new_events_text_and_balance_runs_sorted_by_names():
    enc, acc = _encoders(["zed", "b\u00e9", "@fees", "alice", "Zoe"])
    usd, btc, tsla = AID["USD"], AID["BTC"], AID["TSLAx"]
    rows = [
        {"kind": Ev.DEPOSITED, "oid": 5, "acct": 0, "sym": usd, "qty": 100_000_000, "flags": Flag.HAS_TS, "ts": 3},
        {"kind": Ev.BALANCE, "acct": 0, "sym": usd, "qty": 100_000_000, "open": 0, "flags": Flag.HAS_TS, "ts": 3},
        {"kind": Ev.WITHDRAWN, "oid": 1, "acct": 3, "sym": btc, "qty": 5},
        {"kind": Ev.BALANCE, "acct": 3, "sym": btc, "qty": 0, "open": 0},
        {"kind": Ev.FEES, "oid": 2, "px": -25, "qty": 500},
        {"kind": Ev.TIER, "acct": 1, "oid": 2},
        {"kind": Ev.FILL, "sym": 0, "px": 24950, "qty": 2000, "maker": 1, "oid": 2, "side": 0, "maker_acct": 1,
         "acct": 3, "open": -4990, "line": 24950, "flags": Flag.FEES},
        {"kind": Ev.BALANCE, "acct": 0, "sym": usd, "qty": 7, "open": 1},
        {"kind": Ev.BALANCE, "acct": 1, "sym": tsla, "qty": 2000, "open": 0},
        {"kind": Ev.BALANCE, "acct": 1, "sym": usd, "qty": 5, "open": 0},
        {"kind": Ev.BALANCE, "acct": 2, "sym": usd, "qty": 19960, "open": 0},
        {"kind": Ev.BALANCE, "acct": 3, "sym": tsla, "qty": 0, "open": 0},
        {"kind": Ev.BALANCE, "acct": 4, "sym": btc, "qty": 1, "open": 1},
        {"kind": Ev.REJECTED, "reason": Reason.DUPLICATE_DEPOSIT, "oid": 2, "flags": Flag.DEP},
        {"kind": Ev.REJECTED, "reason": Reason.INSUFFICIENT_FUNDS},
        {"kind": Ev.FILL, "sym": 1, "px": 3600, "qty": 1, "maker": 1, "oid": 2, "side": 1, "maker_acct": 1,
         "acct": 3, "open": 0, "line": 0, "flags": Flag.FEES},
    ]
    ev = _events(rows)
    text = enc.encode(ev, 1)
    assert enc.encode_bytes(ev, 1, acc.json_table()).decode() == text
    lines = text.splitlines()
    assert lines[:7] == [
        '{"seq":1,"ev":"deposited","dep":5,"acct":"zed","asset":"USD","amount":"1000.00000","ts":3}',
        '{"seq":2,"ev":"balance","acct":"zed","asset":"USD","total":"1000.00000","held":"0.00000","ts":3}',
        '{"seq":3,"ev":"withdrawn","wid":1,"acct":"alice","asset":"BTC","amount":"0.05"}',
        '{"seq":4,"ev":"balance","acct":"alice","asset":"BTC","total":"0.00","held":"0.00"}',
        '{"seq":5,"ev":"fees","tier":2,"maker_bps":"-0.25","taker_bps":"5.00"}',
        '{"seq":6,"ev":"tier","acct":"b\\u00e9","tier":2}',
        '{"seq":7,"ev":"fill","sym":"TSLAx-USD","px":"249.50","qty":"2.000","maker":1,"taker":2,"taker_side":"buy",'
        '"maker_acct":"b\\u00e9","taker_acct":"alice","maker_fee":"-0.04990","taker_fee":"0.24950"}']
    # the run of balance events: @fees < Zoe < alice < bé < zed (code points), then asset names
    assert [(json.loads(x)["acct"], json.loads(x)["asset"]) for x in lines[7:13]] == [
        ("@fees", "USD"), ("Zoe", "BTC"), ("alice", "TSLAx"), ("b\u00e9", "TSLAx"), ("b\u00e9", "USD"), ("zed", "USD")]
    assert lines[13:] == [
        '{"seq":14,"ev":"rejected","reason":"duplicate_deposit","dep":2}',
        '{"seq":15,"ev":"rejected","reason":"insufficient_funds"}',
        '{"seq":16,"ev":"fill","sym":"AMZNx-USD","px":"180.00","qty":"1","maker":1,"taker":2,"taker_side":"sell",'
        '"maker_acct":"b\\u00e9","taker_acct":"alice","maker_fee":"0.00000","taker_fee":"0.00000"}']


def test_without_risk_the_encoder_does_not_reorder_or_add_fields():
    d = Decoder(INSTRUMENTS)
    for n in ("b", "a"):
        d.accounts.id(n)
    enc = Encoder(INSTRUMENTS, d.accounts)
    ev = _events([{"kind": Ev.FILL, "sym": 0, "px": 1, "qty": 1, "maker": 1, "oid": 2, "maker_acct": 0, "acct": 1}])
    assert enc.encode(ev, 1) == enc.encode_bytes(ev, 1).decode()
    assert "fee" not in enc.encode(ev, 1)


def _engine_events(kind: str, seed: int, n: int):
    d = Decoder(INSTRUMENTS, risk=RISK)
    fee_acct = d.accounts.id("@fees")
    d.accounts.id("naïve \"quoted\" \\ name")  # a name only the Python decoder can spell
    cmds = d.decode_chunk(random_risk_log(seed, n), 1)
    return d, make_engine(kind, INSTRUMENTS, RISK, fee_acct).process(cmds)


@pytest.mark.parametrize("seed", range(2))
def test_numba_encoder_writes_the_python_encoders_text_with_risk_on(seed):
    d, events = _engine_events("reference", seed, 3000)
    kinds = set(events["kind"].tolist())
    assert {int(Ev.BALANCE), int(Ev.DEPOSITED), int(Ev.WITHDRAWN), int(Ev.FILL), int(Ev.FEES)} <= kinds
    enc = Encoder(INSTRUMENTS, d.accounts, RISK)
    text = enc.encode(events, 11)
    assert enc.encode_bytes(events, 11).decode() == text
    # every run of balance events is in name order
    run: list = []
    for line in text.splitlines() + ['{"ev":"end"}']:
        e = json.loads(line)
        if e["ev"] == "balance":
            run.append((e["acct"], e["asset"]))
            continue
        assert run == sorted(run) and len(set(run)) == len(run)
        run = []
    assert np.count_nonzero(events["kind"] == Ev.BALANCE) > 100
