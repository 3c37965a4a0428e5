"""The numba line decoder gives exactly the records of the Python decoder, line for line."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kabuto.engine.codes import Op
from kabuto.replay.orderlog import Decoder
from orderlogs import INSTRUMENTS, command, random_log
from risklogs import RISK, random_risk_log, risk_command

NAMED = (Op.NEW, Op.DEPOSIT, Op.WITHDRAW, Op.TIER)  # records that carry an account id


def python_records(lines, risk=None):
    d = Decoder(INSTRUMENTS, risk=risk)
    rows = [d.decode_line(raw, n) for n, raw in enumerate(lines, 1)]
    return [_named(r, d) for r in rows if r is not None]


def fast_records(lines, risk=None):
    d = Decoder(INSTRUMENTS, risk=risk)
    return [_named(r, d) for r in d.decode(lines, 1).tolist()]


def _named(row, decoder):
    row = list(row)
    if row[0] in NAMED:
        row[12] = decoder.accounts.names[row[12]]
    return tuple(row)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**25, 10**25) | st.text(max_size=6)
    | st.sampled_from(["1.50", "0.001", "1e2", "-0", "00.1", "1.", ".5", "buy", "limit", "GTC"])
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=3)
KEYS = st.sampled_from(["op", "oid", "acct", "sym", "side", "type", "px", "qty", "tif", "stp", "ts", "x"])


@st.composite
def mutated_line(draw):
    text = draw(command())
    try:
        base = json.loads(text)
    except ValueError:
        return text
    if not isinstance(base, dict) or not draw(st.integers(0, 5)):
        return draw(st.sampled_from(["", " \t\r", "{}", "{ }", "[", "nul", '{"op":"new",}',
                                     '{"op":"cancel","oid":01}']))
    for _ in range(draw(st.integers(0, 2))):
        base[draw(KEYS)] = draw(json_values)
    text = json.dumps(base, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 8)) == 0:
        text = text.replace(", ", ",").replace(": ", ":")
    if draw(st.integers(0, 8)) == 0:
        text = " " + text + " \r"
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_line(), min_size=1, max_size=30))
def test_fast_decoder_matches_python_decoder_on_mutated_lines(lines):
    raw = [x.encode("utf-8", "surrogatepass") for x in lines]
    assert fast_records(raw) == python_records(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(risk_command() | mutated_line(), min_size=1, max_size=30), st.booleans())
def test_fast_decoder_matches_python_decoder_with_risk_on_and_off(lines, on):
    raw = [x.encode("utf-8", "surrogatepass") for x in lines]
    risk = RISK if on else None
    assert fast_records(raw, risk) == python_records(raw, risk)


def test_fast_decoder_matches_python_decoder_on_long_risk_logs():
    raw = random_risk_log(5, 5000).split(b"\n")[:-1]
    assert fast_records(raw, RISK) == python_records(raw, RISK)
    assert fast_records(raw) == python_records(raw)


def test_fast_decoder_matches_python_decoder_on_long_random_logs():
    raw = random_log(11, 5000).split(b"\n")[:-1]
    assert fast_records(raw) == python_records(raw)


def test_numbers_are_read_exactly_from_their_text():
    raw = [b'{"op":"amend","oid":1,"px":100.500000000000000001}', b'{"op":"amend","oid":1,"px":1.5e1,"qty":2E0}',
           b'{"op":"amend","oid":1,"px":"007.50","qty":"1.000"}']
    fast = fast_records(raw)
    assert fast == python_records(raw)
    assert [(r[13], r[6]) for r in fast] == [(0, 0), (15, 0), (75, -1)]
