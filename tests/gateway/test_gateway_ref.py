"""Reference prices on a live venue: an operator's `ref` moves an instrument's price band.

REF-USD has a 10% band and no reference price, so its band is off until the first `ref`.
"""
import subprocess

import pytest
from gatewaykit import KABUTO, OPERATOR
from kabuto.gateway.errors import ClientError, NotAuthorized

REF = "REF-USD"


@pytest.fixture
def operator(venue):
    return venue.client(OPERATOR)


@pytest.fixture
def maker(venue):
    return venue.client("walter", cod=True)


def of(cl):
    return lambda r: r.cl_oid == cl


def test_ref_answers_with_the_band_it_set(operator):
    answer = operator.wait_reply(operator.ref(REF, "100.00"))
    assert answer[2:] == [REF, "100.00", "90.00", "110.00"]


def test_ref_cancels_resting_orders_outside_the_new_band_with_reason_band(operator, maker):
    operator.wait_reply(operator.ref(REF, "100.00"))
    inside = maker.new(REF, "buy", "1", "95.00")
    outside = maker.new(REF, "buy", "1", "91.00")
    maker.wait_report(of(inside))
    maker.wait_report(of(outside))
    operator.wait_reply(operator.ref(REF, "105.00"))  # band 94.50 .. 115.50
    r = maker.wait_report(lambda r: r.cl_oid == outside and r.ev == "canceled")
    assert (r.reason, r.open, r.req) == ("band", "0.000", None)
    assert [o[0] for o in maker.orders(REF)] == [inside]


def test_an_order_outside_the_band_is_rejected_after_a_ref(operator, maker):
    operator.wait_reply(operator.ref(REF, "100.00"))
    cl = maker.new(REF, "sell", "1", "111.00")
    r = maker.wait_report(of(cl))
    assert (r.ev, r.reason) == ("rejected", "outside_band")


def test_ref_from_an_account_that_is_not_an_operator_is_refused(maker):
    with pytest.raises(NotAuthorized):
        maker.wait_reply(maker.ref(REF, "100.00"))


def test_ref_of_an_unknown_symbol_is_answered_with_unknown_symbol(operator):
    with pytest.raises(ClientError, match="unknown_symbol"):
        operator.wait_reply(operator.ref("NOPE-USD", "100.00"))


@pytest.mark.parametrize("px", ["0", "-5", "abc", "1e3", "99999999999999.99"])
def test_ref_with_a_bad_price_is_answered_with_bad_price(operator, px):
    with pytest.raises(ClientError, match="bad_price"):
        operator.wait_reply(operator.ref(REF, px))


def test_ref_without_a_price_is_malformed(operator):
    req = operator.next_req()
    operator.send(["ref", req, REF])
    with pytest.raises(ClientError, match="malformed"):
        operator.wait_reply(req)


def test_kabuto_ref_command_sets_the_reference_price(venue):
    p = subprocess.run([KABUTO, "ref", REF, "200", "--account", OPERATOR, "--data-dir", str(venue.data_dir)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "REF-USD reference 200: band 180.00 .. 220.00" in p.stdout


def test_kabuto_ref_command_as_a_non_operator_fails_with_a_clear_message(venue):
    p = subprocess.run([KABUTO, "ref", REF, "200", "--account", "walter", "--data-dir", str(venue.data_dir)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "not_authorized" in p.stderr and "Traceback" not in p.stderr
