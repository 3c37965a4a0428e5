"""The decode stage on its own: every frame is a request or a ProtocolError, never a crash."""
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kabuto.engine.codes import Reason
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.decoder import COMMANDS, Decoder
from kabuto.gateway.errors import ProtocolError
from kabuto.venue.commands import C_AMEND, C_CANCEL, C_MASS, C_NEW

DEC = Decoder(load_instruments(), max_batch=10)
TSLA = 0


def frame(*msg) -> bytes:
    return msgpack.packb(list(msg))


def one(*cmd) -> tuple:
    kind, req, body = DEC.decode(frame(*cmd))
    assert kind == COMMANDS and len(body) == 1
    return body[0]


def reason(t: tuple) -> int:
    return t[-1]


def test_new_limit_order_decodes_to_exact_decimal_parts():
    t = one("new", 7, 42, "TSLAx-USD", "buy", "limit", "245.10", "1.500", "IOC", "decrement")
    assert t == (C_NEW, 7, 42, TSLA, 0, 0, 1, 3, 24510 // 10, -1, 15, -1, 0, 0)


def test_trailing_tif_and_stp_may_be_omitted():
    t = one("new", 1, "abc", "TSLAx-USD", "sell", "limit", "250", "2")
    assert reason(t) == 0 and t[6] == 0 and t[7] == 0  # GTC, cancel_oldest


def test_integer_price_means_whole_units():
    t = one("new", 1, 1, "TSLAx-USD", "buy", "limit", 250, 3)
    assert (t[8], t[9], t[10], t[11]) == (250, 0, 3, 0)


@pytest.mark.parametrize("px", [250.5, "1e2", "+1", ".5", " 1", "1.", "0", 0, -5, None, True, "١٢", "9" * 41])
def test_price_that_is_not_a_plain_positive_decimal_has_mantissa_zero(px):
    t = one("new", 1, 1, "TSLAx-USD", "buy", "limit", px, "1")
    assert reason(t) == 0 and t[8] == 0  # the kernel rejects mantissa 0 as bad_price


def test_market_order_ignores_price_and_becomes_ioc():
    t = one("new", 1, 1, "TSLAx-USD", "buy", "market", None, "1", "GTC")
    assert reason(t) == 0 and t[6] == 1 and t[8] == 0


def test_post_market_order_is_bad_tif():
    assert reason(one("new", 1, 1, "TSLAx-USD", "buy", "market", None, "1", "POST")) == Reason.BAD_TIF


@pytest.mark.parametrize("cmd,expected", [
    (("new", 1, 1, "NOPE", "buy", "limit", "1", "1", "XYZ"), Reason.UNKNOWN_SYMBOL),
    (("new", 1, 1, "TSLAx-USD", "buy", "limit", "1", "1", "XYZ", "bad"), Reason.BAD_TIF),
    (("new", 1, 1, "TSLAx-USD", "buy", "limit", "1", "1", None, "bad"), Reason.BAD_STP),
    (("new", 1, 1, "TSLAx-USD", "buy", "limit", "1", "1", 3), Reason.BAD_TIF),
])
def test_static_faults_are_reported_in_the_spec_order(cmd, expected):
    assert reason(one(*cmd)) == expected


@pytest.mark.parametrize("cmd", [
    ("new", 1, 1, "TSLAx-USD", "buy", "limit", "1"),                       # too short
    ("new", 1, 1, "TSLAx-USD", "buy", "limit", "1", "1", None, None, None, 0),  # too long (protect is the 11th)
    ("new", 1, -1, "TSLAx-USD", "buy", "limit", "1", "1"),                 # negative cl_oid
    ("new", 1, "", "TSLAx-USD", "buy", "limit", "1", "1"),                 # empty cl_oid
    ("new", 1, "x" * 37, "TSLAx-USD", "buy", "limit", "1", "1"),           # long cl_oid
    ("new", 1, 1.5, "TSLAx-USD", "buy", "limit", "1", "1"),                # float cl_oid
    ("new", 1, 1, 5, "buy", "limit", "1", "1"),                            # symbol not a string
    ("new", 1, 1, "TSLAx-USD", "BUY", "limit", "1", "1"),                  # side
    ("new", 1, 1, "TSLAx-USD", "buy", "stop", "1", "1"),                   # type
    ("cancel", 1),
    ("cancel", 1, None),
    ("amend", 1, 5, None, None),                                            # neither px nor qty
    ("amend", 1, 5, "1"),
    ("mass_cancel", 1, None, "both"),
    ("mass_cancel", 1, 7),
])
def test_readable_command_with_bad_shape_is_malformed(cmd):
    assert reason(one(*cmd)) == Reason.MALFORMED


def test_cancel_amend_and_mass_cancel_decode():
    assert one("cancel", 3, "q1")[:3] == (C_CANCEL, 3, "q1")
    a = one("amend", 4, 9, None, "2.5")
    assert (a[0], a[2], a[8], a[10], a[11]) == (C_AMEND, 9, 0, 25, -1)
    m = one("mass_cancel", 5, "BTC-USD", "sell")
    assert (m[0], m[3], m[4], reason(m)) == (C_MASS, 4, 1, 0)
    assert reason(one("mass_cancel", 5, "NOPE")) == Reason.UNKNOWN_SYMBOL
    assert one("mass_cancel", 6)[3:5] == (-1, -1)


def test_batch_decodes_every_command_and_keeps_bad_ones_as_rejects():
    kind, req, body = DEC.decode(frame("batch", 9, [["cancel", 1, 5], ["bogus"], 17]))
    assert kind == COMMANDS and req == 9
    assert [reason(t) for t in body] == [0, Reason.MALFORMED, Reason.MALFORMED]


@pytest.mark.parametrize("payload", [
    b"", b"\xc1", b"not msgpack at all \xff", msgpack.packb({"kind": "new"}), msgpack.packb([]),
    msgpack.packb(["new"]), msgpack.packb([1, 2]), msgpack.packb(["fly", 1]), msgpack.packb(["hb", -1]),
    msgpack.packb(["hb", 1, 2]), msgpack.packb(["batch", 1, []]), msgpack.packb(["batch", 1, [["cancel", 1, 1]] * 11]),
    msgpack.packb(["batch", 1, "x"]), msgpack.packb(["logon", 1, [1]]), msgpack.packb(["orders", 1, 5]),
    msgpack.packb(["hb", 1]) + b"trailing",
])
def test_unreadable_frame_is_a_protocol_error(payload):
    with pytest.raises(ProtocolError) as e:
        DEC.decode(payload)
    assert e.value.reason == Reason.MALFORMED


@pytest.mark.parametrize("opts", [{"colour": 1}, {"cod": 1}, {"version": 2}, {"via": "smtp"}, {"via": 1}])
def test_a_logon_with_unknown_options_a_non_boolean_cod_another_version_or_via_is_malformed(opts):
    with pytest.raises(ProtocolError) as e:
        DEC.decode(frame("logon", 1, opts))
    assert (e.value.reason, e.value.req) == (Reason.MALFORMED, 1)


def test_session_requests_decode():
    assert DEC.decode(frame("logon", 1, {"cod": True})) == ("logon", 1, (None, True, "zmq"))
    assert DEC.decode(frame("logon", 2)) == ("logon", 2, (None, False, "zmq"))
    assert DEC.decode(frame("logon", 5, {"account": "mm", "version": 1})) == ("logon", 5, ("mm", False, "zmq"))
    assert DEC.decode(frame("logon", 6, {"via": "fix"})) == ("logon", 6, (None, False, "fix"))
    assert DEC.decode(frame("hb", 3)) == ("hb", 3, None)
    assert DEC.decode(frame("orders", 4, "BTC-USD")) == ("orders", 4, "BTC-USD")


def _check(payload: bytes) -> None:
    try:
        kind, req, body = DEC.decode(payload)
    except ProtocolError as e:
        assert e.reason == Reason.MALFORMED
        return
    assert type(req) is int
    if kind == COMMANDS:
        for t in body:
            assert len(t) == 14
            assert t[0] in (-1, C_NEW, C_CANCEL, C_AMEND, C_MASS)
            assert -128 <= t[9] <= 127 and -128 <= t[11] <= 127   # exponents fit int8
            assert 0 <= t[8] < 2 ** 63 and 0 <= t[10] < 2 ** 63      # mantissas fit int64


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_never_crash_the_decoder(data):
    _check(data)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1) | st.floats() | st.text(max_size=12)
    | st.binary(max_size=8) | st.sampled_from(["new", "cancel", "amend", "mass_cancel", "batch", "buy", "sell",
                                                 "limit", "market", "GTC", "POST", "TSLAx-USD", "1.5", "250"]),
    lambda inner: st.lists(inner, max_size=11) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=30)


@settings(max_examples=250, deadline=None)
@given(values)
def test_fuzz_random_msgpack_structures_never_crash_the_decoder(v):
    _check(msgpack.packb(v))


@settings(max_examples=150, deadline=None)
@given(st.lists(values, max_size=11), st.sampled_from(["new", "cancel", "amend", "mass_cancel"]))
def test_fuzz_commands_with_random_fields_never_crash_the_decoder(fields, kind):
    _check(msgpack.packb(["batch", 1, [[kind, 1, *fields]]]))
    _check(msgpack.packb([kind, 1, *fields]))
