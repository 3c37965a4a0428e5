"""Bad input: every bad frame is answered (or, oversized, disconnected) and the venue keeps serving."""
import msgpack
import pytest
from kabuto.gateway.errors import NotAuthorized

from tests.polling import wait_until

BAD = "BAD-USD"


@pytest.fixture
def frank(venue):
    return venue.client("frank", cod=True)


def error_for(client, payload: bytes) -> list:
    client.errors.clear()
    client.send_raw(payload)
    assert wait_until(lambda: client.errors or client.replies, poll=[client])
    return client.errors.pop() if client.errors else client.replies.popitem()[1]


def test_a_frame_that_is_not_msgpack_gets_an_error_and_the_session_goes_on(frank):
    assert error_for(frank, b"\xc1\xff not msgpack") == ["error", None, "malformed", "not a msgpack message"]
    cl = frank.new(BAD, "buy", "1", "10")
    assert frank.wait_report().cl_oid == cl


@pytest.mark.parametrize("msg", [
    {"kind": "new"}, [], ["new"], [7, 1], ["teleport", 1], ["hb", -1], ["hb", "one"], ["hb", 1, 2],
    ["batch", 1, []], ["batch", 1, "all"], ["batch", 1, [["cancel", 1, 1]] * 101], ["logon", 1, "me"],
])
def test_a_frame_of_the_wrong_shape_gets_a_malformed_error(frank, msg):
    err = error_for(frank, msgpack.packb(msg))
    assert err[0] == "error" and err[2] == "malformed"
    assert frank.wait_reply(frank.heartbeat())[0] == "hb"  # and the session goes on


@pytest.mark.parametrize("fields,reason", [
    ([BAD, "buy", "limit", ["1"], "1"], "bad_price"),
    ([BAD, "buy", "limit", {"px": 1}, "1"], "bad_price"),
    ([BAD, "buy", "limit", "1", b"1"], "bad_qty"),
    ([BAD, "buy", "limit", "1", 1.0], "bad_qty"),
    ([BAD, 1, "limit", "1", "1"], "malformed"),
    ([[BAD], "buy", "limit", "1", "1"], "malformed"),
    ([BAD, "buy", "limit", "1", "1", 7, None], "bad_tif"),
])
def test_wrong_field_types_are_rejected_with_a_reason(frank, fields, reason):
    frank.send(["new", 41, "w", *fields])
    r = frank.wait_report(lambda r: r.req == 41)
    assert (r.ev, r.reason) == ("rejected", reason)


def test_a_message_of_several_frames_is_malformed(frank):
    frank.sock.send_multipart([msgpack.packb(["hb", 1]), b"extra"])
    assert wait_until(lambda: frank.errors, poll=[frank])
    assert frank.errors[0][2] == "malformed"


def test_an_oversized_frame_drops_the_connection_and_ends_its_session_at_once(venue, frank):
    other = venue.client("frank")
    resting = frank.new(BAD, "sell", "1", "500", cl_oid="big")
    frank.wait_report()
    kept = other.new(BAD, "sell", "1", "501", cl_oid="kept")
    other.wait_report(lambda r: r.cl_oid == kept)
    frank.send_raw(msgpack.packb(["hb", 1, "x" * 70_000]))  # over --max-frame 65536
    gone = other.wait_report(lambda r: r.cl_oid == resting and r.ev == "canceled")  # frank's session had cod
    assert gone.reason == "disconnect"
    with pytest.raises(NotAuthorized):  # the reconnected socket is a new connection: no session
        frank.wait_reply(frank.heartbeat())
    assert [o[0] for o in other.orders(BAD)] == [kept]  # the other session's order stays
    cl = other.new(BAD, "buy", "1", "100", cl_oid="after")
    assert other.wait_report(lambda r: r.cl_oid == cl).ev == "accepted"
    frank.logon()
    frank.mass_cancel()
    other.mass_cancel()


def test_a_garbage_flood_loses_no_accepted_order(venue):
    flood = venue.client("frank")
    calm = venue.client("walter", cod=True)
    for i in range(2000):
        flood.send_raw(b"\xc1" if i % 2 else msgpack.packb(["nonsense", i]))
        if i % 200 == 0:
            calm.new(BAD, "buy", "0.1", f"{200 + i // 200}")
    got = calm.wait_reports(10, timeout=10)
    assert [r.ev for r in got] == ["accepted"] * 10
    assert wait_until(lambda: len(flood.errors) + len(flood.replies) >= 2000, timeout=20, poll=[flood])
    assert len(calm.orders(BAD)) == 10
