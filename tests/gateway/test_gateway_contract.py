"""The gateway's contract at its edges: the live-order cap in command order, gapless `seq`, one `ts` per
command, market data that only says what changed, and the answers to odd requests."""
import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zmq
from gatewaykit import Venue, start_venue
from kabuto.gateway.client import Client, new_command
from kabuto.gateway.errors import NotAuthorized
from kabuto.gateway.keys import Credentials, add_client, client_credentials

from tests.polling import wait_until

CAP, SEQ, MDC = "CAP-USD", "SEQ-USD", "MDC-USD"
COD_CLIENT = str(Path(__file__).with_name("cod_client.py"))


def of(cl):
    return lambda r: r.cl_oid == cl


def fill_to_the_cap(client, prefix: str) -> int:
    """Rest orders until the account holds max_live_orders; returns the cap."""
    cap = client.session["max_live_orders"]
    for start in range(0, cap, 100):
        client.batch([new_command(i, f"{prefix}{i}", CAP, "buy", "0.001", "10")
                      for i in range(start, min(cap, start + 100))])
    assert wait_until(lambda: len(client.reports) >= cap, poll=[client])
    assert {r.ev for r in client.reports} == {"accepted"}
    client.reports.clear()
    return cap


def test_at_the_cap_a_cancel_frees_its_place_for_a_new_order_later_in_the_same_batch(venue):
    c = venue.client("capa", cod=True)
    fill_to_the_cap(c, "g")
    c.batch([["cancel", 1, "g0"], new_command(2, "k1", CAP, "buy", "0.001", "10")])
    assert [(r.ev, r.cl_oid) for r in c.wait_reports(2)] == [("canceled", "g0"), ("accepted", "k1")]
    c.send(["new", 3, "k2", CAP, "buy", "limit", "10", "0.001"])
    assert (c.wait_report(of("k2")).reason) == "too_many_orders"  # the cap still holds


def test_ioc_fok_and_market_orders_never_count_toward_the_cap(venue):
    c = venue.client("capb", cod=True)
    cap = fill_to_the_cap(c, "g")
    c.batch([new_command(i, f"i{i}", CAP, "sell", "0.001", "20", tif=("IOC", "FOK")[i % 2]) for i in range(50)]
            + [new_command(50 + i, f"m{i}", CAP, "buy", "0.001", type="market") for i in range(50)])
    got = c.wait_reports(200)  # each is accepted, then canceled (ioc or fok): none rests
    assert {r.reason for r in got} == {None, "ioc", "fok"}
    assert len(c.orders(CAP)) == cap


def test_one_place_under_the_cap_is_taken_by_a_gtc_order_behind_an_ioc_in_its_batch(venue):
    c = venue.client("capb", cod=True)
    fill_to_the_cap(c, "j")
    c.cancel("j0")
    c.wait_report(of("j0"))
    c.batch([new_command(1, "ioc", CAP, "sell", "0.001", "20", tif="IOC"),
             new_command(2, "gtc", CAP, "sell", "0.001", "20")])
    assert [(r.ev, r.cl_oid) for r in c.wait_reports(3)] == [
        ("accepted", "ioc"), ("canceled", "ioc"), ("accepted", "gtc")]


@pytest.mark.parametrize("first", [
    [new_command(1, "k", SEQ, "buy", "1", "10"), ["cancel", 2, "k"]],  # canceled before the mass cancel
    [new_command(1, "k", SEQ, "buy", "1", "10.001")],                  # rejected (bad_price) before it
])
def test_a_mass_cancel_after_orders_that_ended_in_its_batch_leaves_no_gap_in_seq(venue, first):
    c = venue.client("seqa", cod=True)
    c.batch([*first, ["mass_cancel", 3, SEQ]])
    assert c.wait_reply(3) == ["mass_cancel", 3, 0]
    seqs = [r.seq for r in c.drain()]
    c.new(SEQ, "buy", "1", "10", cl_oid="next")
    nxt = c.wait_report(of("next")).seq
    assert seqs + [nxt] == list(range(seqs[0], nxt + 1))


def test_the_cancels_of_one_mass_cancel_carry_one_ts(venue):
    c = venue.client("seqb", cod=True)
    c.batch([new_command(i, f"t{i}", SEQ, "sell", "1", f"{50 + i}") for i in range(3)])
    accepted = c.wait_reports(3)
    req = c.mass_cancel(SEQ)
    assert c.wait_reply(req)[2] == 3
    canceled = c.drain()
    assert [r.reason for r in canceled] == ["mass_cancel"] * 3
    assert len({r.ts for r in canceled}) == 1 and canceled[0].ts > accepted[-1].ts
    assert [r.seq for r in canceled] == list(range(canceled[0].seq, canceled[0].seq + 3))


UNREADABLE = [b"\xc1", msgpack.packb(["foo", 7]), msgpack.packb(["hb", 7, 1]), msgpack.packb(["batch", 7, []])]


def test_unreadable_frames_keep_a_session_alive(venue):
    watcher = venue.client("keepa")
    c = venue.client("keepa", cod=True, heartbeat=3600)  # no heartbeats: only unreadable frames
    c.new(SEQ, "buy", "1", "5", cl_oid="stays")
    c.wait_report(of("stays"))
    timeout = c.session["timeout"]
    deadline = time.monotonic() + 2.5 * timeout
    i = 0
    while time.monotonic() < deadline:
        c.send_raw(UNREADABLE[i % len(UNREADABLE)])
        i += 1
        c.poll(0.1)
        watcher.poll(0)
    assert [o[0] for o in watcher.orders(SEQ)] == ["stays"]
    assert not [r for r in watcher.reports if r.ev == "canceled"]
    assert c.wait_reply(c.heartbeat())[0] == "hb"  # the session itself goes on


@pytest.fixture(scope="module")
def plain_venue(tmp_path_factory):
    """A plain-text venue (--insecure): clients name their account at logon."""
    data_dir = tmp_path_factory.mktemp("plain")
    serve = start_venue(data_dir, ["--insecure"])
    v = Venue(data_dir, serve)
    yield v
    v.close_clients()
    assert serve.stop() == 0, "".join(serve.lines)


def logon_answer(venue, opts) -> list:
    c = venue.client("mda", logon=False)
    c.send(["logon", 1, opts])
    assert wait_until(lambda: 1 in c.replies, poll=[c])
    return c.replies[1]


@pytest.mark.parametrize("name", ["a b", "ｍｍ1", "mm1\n", "", "x" * 65, "é", 5, None, ["mm1"]])
def test_plain_text_logon_refuses_an_account_name_outside_the_documented_characters(plain_venue, name):
    assert logon_answer(plain_venue, {"account": name})[:3] == ["error", 1, "malformed"]


def test_plain_text_logon_takes_a_name_of_the_documented_characters(plain_venue):
    assert logon_answer(plain_venue, {"account": "Az09._-"})[:2] == ["logon", 1]


@pytest.mark.parametrize("name", [5, "a b", ["mda"]])
def test_an_account_that_is_no_account_name_is_malformed_under_curve_too(venue, name):
    assert logon_answer(venue, {"account": name})[:3] == ["error", 1, "malformed"]


def md_subscriber(venue, sym: str, end: str = "|") -> zmq.Socket:
    """A raw SUB socket on sym's L2 topic (L3 with end "#"), returned once the feed delivers."""
    s = zmq.Context.instance().socket(zmq.SUB)
    cred = client_credentials(venue.data_dir, "mdb", venue.info["server_key"].encode())
    s.curve_secretkey, s.curve_publickey, s.curve_serverkey = cred.secret, cred.public, cred.server
    s.linger = 0
    s.setsockopt(zmq.SUBSCRIBE, f"{sym}{end}".encode())
    s.connect(venue.info["market_data"])
    assert s.poll(60_000), "no market data"
    s.recv_multipart()
    return s


def md_updates_until(sub: zmq.Socket, last) -> list:
    """The updates (not heartbeats) received up to and including the first for which last() holds."""
    got = []
    deadline = time.monotonic() + 60
    while not got or not last(got[-1]):
        assert time.monotonic() < deadline and sub.poll(1000), f"no such md update: {got}"
        msg = msgpack.unpackb(sub.recv_multipart()[1])
        if msg[0] != "hb":
            got.append(msg)
    return got


def test_market_data_names_only_levels_whose_quantity_changed(venue):
    c = venue.client("mda", cod=True)
    sub = md_subscriber(venue, MDC)
    try:
        c.new(MDC, "buy", "1", "50", cl_oid="b")
        first = md_updates_until(sub, lambda m: True)[0]
        assert first[4:] == [[], [["buy", "50.00", "1.000"]]]
        c.new(MDC, "sell", "1", "60", tif="IOC", cl_oid="ioc")             # neither trades nor rests
        c.new(MDC, "buy", "5", "40", tif="FOK", cl_oid="fok")              # cannot fill: nothing
        c.amend("b", px="50", qty="1")                                      # changes nothing
        c.batch([new_command(1, "gone", MDC, "buy", "1", "45"), ["cancel", 2, "gone"]])  # never shown
        c.amend("b", qty="0.5")                                             # the first real change
        assert len(c.wait_reports(9)) == 9
        rest = md_updates_until(sub, lambda m: m[5] == [["buy", "50.00", "0.500"]])
        assert [(m[2], m[4], m[5]) for m in rest] == [(first[2] + 1, [], [["buy", "50.00", "0.500"]])]
    finally:
        sub.close()


def test_a_market_order_that_finds_nothing_is_no_l3_op(venue):
    c = venue.client("mdb", cod=True)
    sub = md_subscriber(venue, MDC, "#")
    try:
        c.new(MDC, "sell", "1", "90", cl_oid="s")
        first = md_updates_until(sub, lambda m: True)[0]
        c.new(MDC, "sell", "1", type="market", tif="FOK", cl_oid="fok")  # no buyer at all: canceled
        c.batch([new_command(1, "m", MDC, "sell", "1", type="market")])  # the same, IOC
        c.new(MDC, "sell", "2", "91", cl_oid="t")
        rest = md_updates_until(sub, lambda m: any(op[0] == "add" for op in m[4]))
        assert len(rest) == 1 and rest[0][2] == first[2] + 1 and [op[0] for op in rest[0][4]] == ["add"]
    finally:
        sub.close()


@pytest.fixture(scope="module")
def patient_venue(tmp_path_factory):
    """A CurveZMQ venue (demo accounts mm1, mm2, trader) whose heartbeat timeout is 10 minutes."""
    data_dir = tmp_path_factory.mktemp("patient")
    serve = start_venue(data_dir, ["--cod-timeout", "600"])
    v = Venue(data_dir, serve)
    yield v
    v.close_clients()
    assert serve.stop() == 0, "".join(serve.lines)


def test_cancel_on_disconnect_cancels_as_soon_as_a_killed_clients_connection_closes(patient_venue):
    watcher = patient_venue.client("mm1")
    p = subprocess.Popen([sys.executable, COD_CLIENT, str(patient_venue.data_dir), "mm1", SEQ, "cod"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert len(watcher.orders(SEQ)) == 3
    p.kill()  # SIGKILL: the kernel closes its TCP connection; nothing is said
    p.wait()
    cancels = watcher.wait_reports(3, lambda r: r.ev == "canceled", timeout=60)  # long before 600 s
    assert {r.reason for r in cancels} == {"disconnect"} and watcher.orders(SEQ) == []


def test_logout_with_cancel_on_disconnect_reports_the_cancels_to_the_session_itself(venue):
    c = venue.client("massa", cod=True)
    c.new(SEQ, "buy", "1", "7", cl_oid="bye")
    c.wait_report(of("bye"))
    req = c.next_req()
    c.send(["logout", req])
    assert c.wait_reply(req) == ["logout", req]
    r = c.wait_report(of("bye"), timeout=0)  # it arrived before the logout answer
    assert (r.ev, r.reason, r.req) == ("canceled", "disconnect", None)
    c.session = {}


def test_a_rejected_mass_cancel_gets_its_answer_after_the_reject(venue):
    c = venue.client("massa", cod=True)
    c.send(["mass_cancel", 7, "NOPE-USD"])
    assert c.wait_reply(7) == ["mass_cancel", 7, 0]
    r = c.wait_report(timeout=0)
    assert (r.ev, r.req, r.reason) == ("rejected", 7, "unknown_symbol")


def test_orders_of_an_unknown_symbol_is_unknown_symbol(venue):
    c = venue.client("lista")
    c.send(["orders", 8, "NOPE-USD"])
    assert wait_until(lambda: 8 in c.replies, poll=[c])
    assert c.replies[8][:3] == ["error", 8, "unknown_symbol"]


@pytest.mark.parametrize("cmd", [
    ["new", 9, "m1", SEQ, "up", "limit", "1", "1"],
    ["new", 9, "m1", SEQ, "buy", "limit", "1"],
    ["cancel", 9, "m1", "extra"],
    ["amend", 9, "m1", None, None],
    ["amend", 9, "m1", "1"],
])
def test_a_malformed_command_is_rejected_with_its_readable_client_order_id(venue, cmd):
    c = venue.client("lista")
    c.send(cmd)
    r = c.wait_report()
    assert (r.ev, r.req, r.cl_oid, r.reason) == ("rejected", 9, "m1", "malformed")


def test_an_integer_and_a_string_client_order_id_name_two_orders(venue):
    c = venue.client("lista", cod=True)
    c.batch([new_command(1, 5, SEQ, "buy", "1", "3"), new_command(2, "5", SEQ, "buy", "1", "3")])
    assert [(r.ev, r.cl_oid) for r in c.wait_reports(2)] == [("accepted", 5), ("accepted", "5")]
    assert sorted(map(str, (o[0] for o in c.orders(SEQ)))) == ["5", "5"]


def test_revoking_a_key_ends_the_sessions_of_that_key_and_only_those(venue):
    key_file = venue.data_dir / "clients.toml"
    add_client(venue.data_dir, key_file, "revokee")  # its first key, and a second one by hand
    public, secret = zmq.curve_keypair()
    with open(key_file, "a") as f:
        f.write(f'\n[[client]]\naccount = "revokee"\npublic_key = "{public.decode()}"\n')
    first = client_credentials(venue.data_dir, "revokee", venue.info["server_key"].encode())
    doomed = Client(venue.info["orders"], credentials=first, cod=True, heartbeat=0.3)
    kept = Client(venue.info["orders"], credentials=Credentials(public, secret, first.server), heartbeat=0.3)
    try:
        doomed.new(SEQ, "buy", "1", "2", cl_oid="r1")
        doomed.wait_report(of("r1"))
        text = key_file.read_text()
        block = f'\n[[client]]\naccount = "revokee"\npublic_key = "{first.public.decode()}"\n'
        assert block in text
        tmp = key_file.with_suffix(".tmp")
        tmp.write_text(text.replace(block, ""))
        os.replace(tmp, key_file)
        def gone() -> list:
            return [r for r in kept.reports if r.cl_oid == "r1" and r.ev == "canceled"]
        assert wait_until(gone, timeout=60, poll=[kept, doomed])  # both heartbeating all along
        assert gone()[0].reason == "disconnect"  # the doomed session had cancel-on-disconnect
        assert wait_until(lambda: doomed.errors, timeout=60, poll=[doomed])
        assert doomed.errors[0][2] == "not_authorized"
        doomed.new(SEQ, "buy", "1", "2", cl_oid="r2")
        assert wait_until(lambda: doomed.replies, timeout=60, poll=[doomed])
        assert list(doomed.replies.values())[0][2] == "not_authorized"  # no session any more
        with pytest.raises(NotAuthorized):
            doomed.logon()
        kept.new(SEQ, "buy", "1", "2", cl_oid="k1")
        assert kept.wait_report(of("k1")).ev == "accepted"
    finally:
        kept.mass_cancel()
        kept.drain()
        doomed.close(logout=False)
        kept.close()
