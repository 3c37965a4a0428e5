"""The FIX session layer of `kabuto fix` (docs/fix.md, Session), driven by a real initiator over TCP in front of a
real venue: logon, heartbeats, test requests, sequence numbers, resends, gap fills, rejects, logout, bad input."""
from __future__ import annotations

import socket

import pytest
from fixkit import FixVenue, body_of, fresh_user
from kabuto.adapters.fix import codec as F


@pytest.fixture(scope="module")
def fv(tmp_path_factory):
    """One venue and one adapter for the module; every test uses users of its own."""
    v = FixVenue(tmp_path_factory.mktemp("fixsession"))
    yield v
    rc_fix, rc_serve = v.stop()
    assert rc_fix == 0, "".join(v.fix.lines)
    assert rc_serve == 0


@pytest.fixture
def session(fv):
    """A logged-on initiator of a fresh user."""
    i = fv.fix.initiator(fresh_user())
    i.logon()
    yield i
    i.close()


def _wrong_checksum(raw: bytes) -> bytes:
    good = int(raw[-4:-1])
    return raw[:-4] + f"{(good + 1) % 256:03d}".encode() + b"\x01"


def _alive(i) -> None:
    """The session still answers a TestRequest with a Heartbeat naming it."""
    i.send("1", [(F.TEST_REQ_ID, "alive?")])
    i.wait(lambda m: m.msg_type == "0" and m.get(F.TEST_REQ_ID) == "alive?")


def test_logon_with_credentials_is_answered_with_a_logon(fv):
    i = fv.fix.initiator(fresh_user(), heartbeat=17)
    answer = body_of(i.logon())
    assert answer[F.MSG_TYPE] == "A" and answer[F.HEART_BT_INT] == "17" and answer[F.ENCRYPT_METHOD] == "0"
    assert answer[F.SENDER_COMP_ID] == "KABUTO" and answer[F.TARGET_COMP_ID] == i.sender
    assert answer[F.MSG_SEQ_NUM] == "1"
    i.close()


def test_a_wrong_password_is_refused_with_a_logout_and_the_connection_closes(fv):
    i = fv.fix.initiator(fresh_user(), password="wrong")
    i.logon(wait=False)
    out = i.wait(lambda m: m.msg_type == "5")
    assert "Password" in out.get(F.TEXT)
    i.wait_closed()


def test_an_unknown_sender_comp_id_is_refused(fv):
    i = fv.fix.initiator("NOBODY", password="x")
    i.logon(wait=False)
    assert "unknown SenderCompID" in i.wait(lambda m: m.msg_type == "5").get(F.TEXT)
    i.wait_closed()


def test_a_wrong_target_comp_id_is_refused(fv):
    i = fv.fix.initiator(fresh_user(), target="ELSEWHERE")
    i.logon(wait=False)
    assert "TargetCompID" in i.wait(lambda m: m.msg_type == "5").get(F.TEXT)
    i.wait_closed()


def test_a_heartbeat_interval_of_zero_is_refused(fv):
    i = fv.fix.initiator(fresh_user(), heartbeat=0)
    i.logon(wait=False)
    assert "HeartBtInt" in i.wait(lambda m: m.msg_type == "5").get(F.TEXT)
    i.wait_closed()


def test_a_first_message_that_is_not_a_logon_closes_the_connection_unanswered(fv):
    i = fv.fix.initiator(fresh_user())
    i.send("0", [])
    i.wait_closed()
    assert i.received == []


def test_garbage_bytes_before_logon_close_the_connection_and_others_trade_on(fv, session):
    s = socket.create_connection(("127.0.0.1", fv.fix.port))
    s.sendall(b"\x00\xffGET / HTTP/1.1\r\n\r\n" * 10)
    s.settimeout(10)
    assert s.recv(100) == b""
    s.close()
    _alive(session)


def test_a_second_logon_of_a_logged_on_session_is_refused(fv, session):
    j = fv.fix.initiator(session.sender)
    j.logon(wait=False)
    assert "already logged on" in j.wait(lambda m: m.msg_type == "5").get(F.TEXT)
    j.wait_closed()
    _alive(session)


def test_a_test_request_is_answered_with_a_heartbeat_carrying_its_id(session):
    session.send("1", [(F.TEST_REQ_ID, "ping-1")])
    hb = session.wait(lambda m: m.msg_type == "0")
    assert hb.get(F.TEST_REQ_ID) == "ping-1"


def test_a_quiet_acceptor_sends_heartbeats_at_the_interval(fv):
    i = fv.fix.initiator(fresh_user(), heartbeat=1)
    i.logon()
    hb = i.wait(lambda m: m.msg_type == "0", timeout=10)
    assert hb.get(F.TEST_REQ_ID) is None
    i.close()


def test_a_silent_initiator_gets_a_test_request_then_a_logout(fv):
    i = fv.fix.initiator(fresh_user(), heartbeat=1)
    i.answer_test_requests = False
    i.logon()
    tr = i.wait(lambda m: m.msg_type == "1", timeout=15)
    assert tr.get(F.TEST_REQ_ID)
    out = i.wait(lambda m: m.msg_type == "5", timeout=15)
    assert "TestRequest" in out.get(F.TEXT)
    i.wait_closed()


def test_a_message_with_a_wrong_checksum_is_ignored_and_its_gap_asked_for(session):
    bad = _wrong_checksum(session.encode("1", [(F.TEST_REQ_ID, "lost")]))
    session.send_raw(bad)
    session.send("1", [(F.TEST_REQ_ID, "after")])
    rr = session.wait(lambda m: m.msg_type == "2")
    assert rr.get(F.BEGIN_SEQ_NO) == str(session.next_out - 2) and rr.get(F.END_SEQ_NO) == "0"
    assert not any(m.get(F.TEST_REQ_ID) == "lost" for m in session.received)


def test_a_message_with_a_wrong_body_length_is_ignored_and_its_gap_asked_for(session):
    raw = session.encode("1", [(F.TEST_REQ_ID, "lost")])
    body_len = raw.split(b"\x01")[1]
    bad = raw.replace(body_len, b"9=" + str(int(body_len[2:]) + 3).encode(), 1)
    session.send_raw(bad)
    session.send("1", [(F.TEST_REQ_ID, "after")])
    rr = session.wait(lambda m: m.msg_type == "2")
    assert rr.get(F.BEGIN_SEQ_NO) == str(session.next_out - 2)


def test_garbage_bytes_after_logon_are_ignored(session):
    session.send_raw(b"\x00\x01garbage\xff\xfe=10=\x01" * 50)
    _alive(session)
    assert not any(m.msg_type in ("3", "5") for m in session.received)


def test_a_gap_is_filled_and_the_held_message_processed_in_sequence(session):
    gap = session.next_out
    session.next_out += 1
    session.send("1", [(F.TEST_REQ_ID, "held")])
    rr = session.wait(lambda m: m.msg_type == "2")
    assert rr.get(F.BEGIN_SEQ_NO) == str(gap)
    assert not any(m.get(F.TEST_REQ_ID) == "held" for m in session.received)
    session.send("4", [(F.GAP_FILL_FLAG, "Y"), (F.NEW_SEQ_NO, gap + 1)], seq=gap,
                 header=[(F.POSS_DUP_FLAG, "Y"), (F.ORIG_SENDING_TIME, F.utc_timestamp())])
    session.wait(lambda m: m.msg_type == "0" and m.get(F.TEST_REQ_ID) == "held")
    _alive(session)


def test_a_sequence_reset_in_reset_mode_moves_the_expected_number(session):
    session.send("4", [(F.NEW_SEQ_NO, 50)], seq=1)
    session.next_out = 50
    _alive(session)


def test_a_sequence_reset_lowering_the_expected_number_is_rejected(session):
    session.send("4", [(F.NEW_SEQ_NO, 1)], seq=1)
    rej = session.wait(lambda m: m.msg_type == "3")
    assert rej.get(F.SESSION_REJECT_REASON) == "5" and rej.get(F.REF_TAG_ID) == "36"
    _alive(session)


def test_a_too_low_msg_seq_num_without_poss_dup_ends_the_session(session):
    session.send("0", [], seq=1)
    out = session.wait(lambda m: m.msg_type == "5")
    assert "MsgSeqNum too low" in out.get(F.TEXT)
    session.wait_closed()


def test_a_too_low_msg_seq_num_with_poss_dup_is_ignored(session):
    session.send("1", [(F.TEST_REQ_ID, "dup")], seq=1,
                 header=[(F.POSS_DUP_FLAG, "Y"), (F.ORIG_SENDING_TIME, F.utc_timestamp())])
    _alive(session)
    assert not any(m.get(F.TEST_REQ_ID) == "dup" for m in session.received)


def test_an_undefined_msg_type_is_rejected_with_reason_11(session):
    seq = session.next_out
    session.send("ZZ", [])
    rej = session.wait(lambda m: m.msg_type == "3")
    assert rej.get(F.SESSION_REJECT_REASON) == "11" and rej.get(F.REF_SEQ_NUM) == str(seq)
    _alive(session)


def test_an_unsupported_application_message_gets_a_business_message_reject(session):
    session.send("H", [(F.CL_ORD_ID, "x"), (F.SYMBOL, "BTC-USD"), (F.SIDE, "1")])
    j = session.wait(lambda m: m.msg_type == "j")
    assert j.get(F.BUSINESS_REJECT_REASON) == "3" and j.get(F.REF_MSG_TYPE) == "H"


def test_a_missing_required_tag_is_rejected_with_reason_1_naming_it(session):
    session.send("D", [(F.CL_ORD_ID, "noqty"), (F.SYMBOL, "BTC-USD"), (F.SIDE, "1"),
                       (F.TRANSACT_TIME, F.utc_timestamp()), (F.ORD_TYPE, "2"), (F.PRICE, "100")])
    rej = session.wait(lambda m: m.msg_type == "3")
    assert (rej.get(F.SESSION_REJECT_REASON), rej.get(F.REF_TAG_ID), rej.get(F.REF_MSG_TYPE)) == ("1", "38", "D")


def test_a_missing_sending_time_is_rejected(session):
    raw = session.encode("1", [(F.TEST_REQ_ID, "t")])
    fields = [f for f in raw.split(b"\x01")[2:-2] if not f.startswith(b"52=")]
    body = b"\x01".join(fields) + b"\x01"
    msg = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01" + body
    session.send_raw(msg + f"10={sum(msg) % 256:03d}".encode() + b"\x01")
    rej = session.wait(lambda m: m.msg_type == "3")
    assert (rej.get(F.SESSION_REJECT_REASON), rej.get(F.REF_TAG_ID)) == ("1", "52")


def test_a_tag_without_a_value_is_rejected_with_reason_4(session):
    raw = session.encode("1", [(F.TEST_REQ_ID, "t"), (F.TEXT, "x")])
    body = raw[raw.index(b"35="):raw.index(b"10=")].replace(b"58=x", b"58=")
    msg = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01" + body
    session.send_raw(msg + f"10={sum(msg) % 256:03d}".encode() + b"\x01")
    rej = session.wait(lambda m: m.msg_type == "3")
    assert rej.get(F.SESSION_REJECT_REASON) == "4"
    _alive(session)


def test_a_wrong_sender_comp_id_after_logon_is_rejected_and_logged_out(fv, session):
    raw = F.encode("0", [(F.SENDER_COMP_ID, "MALLORY"), (F.TARGET_COMP_ID, "KABUTO"),
                         (F.MSG_SEQ_NUM, session.next_out), (F.SENDING_TIME, F.utc_timestamp())], [])
    session.send_raw(raw)
    rej = session.wait(lambda m: m.msg_type == "3")
    assert rej.get(F.SESSION_REJECT_REASON) == "9"
    session.wait(lambda m: m.msg_type == "5")
    session.wait_closed()


def test_a_resend_request_gets_admin_messages_as_one_gap_fill(session):
    session.send("1", [(F.TEST_REQ_ID, "a")])
    session.wait(lambda m: m.msg_type == "0" and m.get(F.TEST_REQ_ID) == "a")
    session.send("2", [(F.BEGIN_SEQ_NO, 1), (F.END_SEQ_NO, 0)])
    gf = session.wait(lambda m: m.msg_type == "4")
    assert (gf.get(F.MSG_SEQ_NUM), gf.get(F.GAP_FILL_FLAG), gf.get(F.POSS_DUP_FLAG), gf.get(F.NEW_SEQ_NO)) == \
        ("1", "Y", "Y", "3")


def test_a_logout_is_answered_and_the_connection_closed(session):
    out = session.logout()
    assert out.msg_type == "5"
    session.wait_closed()


def test_one_sessions_bad_input_does_not_disturb_another(fv, session):
    other = fv.fix.initiator(fresh_user())
    other.logon()
    for junk in (b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01", b"\xff" * 1000, b"8=FIX.4.4\x019=abc\x01"):
        other.send_raw(junk)
    other.send("ZZ", [])
    other.wait(lambda m: m.msg_type == "3")
    _alive(session)
    _alive(other)
    other.close()
