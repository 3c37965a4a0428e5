"""What outlives a connection or the adapter process (docs/fix.md, Sequence numbers and the store; Connection
loss): persisted sequence numbers, resends after a restart, reports stored while away, cancel-on-disconnect, and
the command line's own faults."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest
from fixkit import KABUTO, FixVenue, fresh_user
from kabuto.adapters.fix import codec as F

SYM = "ETH-USD"


@pytest.fixture(scope="module")
def fv(tmp_path_factory):
    """One venue and one adapter for the module (restarted by some tests)."""
    v = FixVenue(tmp_path_factory.mktemp("fixrestart"))
    yield v
    rc_fix, rc_serve = v.stop()
    assert rc_fix == 0, "".join(v.fix.lines)
    assert rc_serve == 0


def er(i, cl_ord_id: str, exec_type: str):
    return i.wait(lambda m: m.msg_type == "8" and m.get(F.CL_ORD_ID) == cl_ord_id and m.get(F.EXEC_TYPE) == exec_type)


def test_sequence_numbers_survive_a_restart_of_the_adapter_and_a_resend_replays_reports(fv):
    user = fresh_user()
    i = fv.fix.initiator(user)
    i.logon()
    i.new_order("s1", SYM, "buy", "0.1", "7.00")
    first = er(i, "s1", "0")
    i.logout()
    i.wait_closed()
    sent_before = int(i.received[-1].get(F.MSG_SEQ_NUM))  # our Logout's answer

    fv.restart_fix()
    j = fv.fix.initiator(user, next_out=i.next_out)
    logon = j.logon()
    assert int(logon.get(F.MSG_SEQ_NUM)) == sent_before + 1
    j.send("2", [(F.BEGIN_SEQ_NO, 1), (F.END_SEQ_NO, 0)])
    gap = j.wait(lambda m: m.msg_type == "4")
    assert fields(gap, F.MSG_SEQ_NUM, F.GAP_FILL_FLAG, F.POSS_DUP_FLAG, F.NEW_SEQ_NO) == ("1", "Y", "Y", "2")
    again = er(j, "s1", "0")
    assert again.get(F.POSS_DUP_FLAG) == "Y"
    assert again.get(F.ORIG_SENDING_TIME) == first.get(F.SENDING_TIME)
    assert fields(again, F.MSG_SEQ_NUM, F.ORDER_ID, F.EXEC_ID) == fields(first, F.MSG_SEQ_NUM, F.ORDER_ID, F.EXEC_ID)
    tail = j.wait(lambda m: m.msg_type == "4")
    assert tail.get(F.NEW_SEQ_NO) == str(sent_before + 2)
    j.mass_cancel("done")
    j.wait(lambda m: m.msg_type == "r")
    j.close()


def test_an_initiator_whose_sequence_is_behind_after_a_restart_is_logged_out(fv):
    user = fresh_user()
    i = fv.fix.initiator(user)
    i.logon()
    i.send("1", [(F.TEST_REQ_ID, "x")])
    i.wait(lambda m: m.msg_type == "0")
    i.logout()
    fv.restart_fix()
    j = fv.fix.initiator(user)  # starts again at 1
    j.logon(wait=False)
    out = j.wait(lambda m: m.msg_type == "5")
    assert "MsgSeqNum too low, expecting 4 but received 1" == out.get(F.TEXT)
    j.wait_closed()


def test_a_logon_with_reset_seq_num_flag_starts_both_sequences_at_1(fv):
    user = fresh_user()
    i = fv.fix.initiator(user)
    i.logon()
    i.logout()
    j = fv.fix.initiator(user)
    answer = j.logon(reset=True)
    assert fields(answer, F.MSG_SEQ_NUM, F.RESET_SEQ_NUM_FLAG) == ("1", "Y")
    j.close()


def test_a_logon_ahead_of_the_expected_number_is_answered_then_a_resend_is_asked(fv):
    user = fresh_user()
    i = fv.fix.initiator(user, next_out=5)
    i.logon()
    rr = i.wait(lambda m: m.msg_type == "2")
    assert fields(rr, F.BEGIN_SEQ_NO, F.END_SEQ_NO) == ("1", "0")
    i.send("4", [(F.GAP_FILL_FLAG, "Y"), (F.NEW_SEQ_NO, 6)], seq=1,
           header=[(F.POSS_DUP_FLAG, "Y"), (F.ORIG_SENDING_TIME, F.utc_timestamp())])
    i.send("1", [(F.TEST_REQ_ID, "in-sync")])
    i.wait(lambda m: m.msg_type == "0" and m.get(F.TEST_REQ_ID) == "in-sync")
    assert not any(m.msg_type == "3" for m in i.received)
    i.close()


def test_reports_while_the_initiator_is_away_are_resent_after_its_next_logon(fv):
    maker, taker = fresh_user(), fresh_user()
    m = fv.fix.initiator(maker)
    m.logon()
    m.new_order("away", SYM, "sell", "0.2", "300.00")
    er(m, "away", "0")
    m.logout()
    t = fv.fix.initiator(taker)
    t.logon()
    t.new_order("hit", SYM, "buy", "0.2", "300.00")
    er(t, "hit", "F")
    m2 = fv.fix.initiator(maker, next_out=m.next_out)
    logon = m2.logon()
    seen = int(m.received[-1].get(F.MSG_SEQ_NUM))
    assert int(logon.get(F.MSG_SEQ_NUM)) == seen + 2  # the fill took seen + 1 while away
    m2.send("2", [(F.BEGIN_SEQ_NO, seen + 1), (F.END_SEQ_NO, seen + 1)])
    fill = er(m2, "away", "F")
    assert fields(fill, F.POSS_DUP_FLAG, F.ORD_STATUS, F.LAST_QTY) == ("Y", "2", "0.2")
    m2.close()
    t.close()


def test_a_cod_users_orders_are_canceled_when_its_connection_drops(fv):
    user = fresh_user(cod=True)
    i = fv.fix.initiator(user)
    i.logon()
    i.new_order("cod1", SYM, "buy", "0.1", "8.00")
    er(i, "cod1", "0")
    i.close()  # no Logout: the connection just ends
    j = fv.fix.initiator(user, next_out=i.next_out)
    logon = j.logon()
    last = int(logon.get(F.MSG_SEQ_NUM))
    j.send("2", [(F.BEGIN_SEQ_NO, last - 1), (F.END_SEQ_NO, last - 1)])
    r = er(j, "cod1", "4")
    assert fields(r, F.ORD_STATUS, F.TEXT) == ("4", "mass_cancel")
    j.close()


def fields(m, *tags):
    return tuple(m.get(t) for t in tags)


def test_an_unreadable_users_file_is_one_line_and_exit_status_2(tmp_path, fv):
    bad = tmp_path / "users.toml"
    bad.write_text('[[user]]\nsender_comp_id = "X"\n')
    p = subprocess.run([KABUTO, "fix", "--data-dir", str(fv.data_dir), "--fix-users", str(bad), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.startswith("kabuto: FIX users file") and "Traceback" not in p.stderr


def test_no_running_venue_is_one_line_and_exit_status_2(tmp_path, fv):
    p = subprocess.run([KABUTO, "fix", "--data-dir", str(tmp_path), "--fix-users", str(fv.users), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "endpoints.json" in p.stderr and "Traceback" not in p.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_after_a_venue_restart_the_adapter_logs_its_venue_session_on_again(tmp_path):
    ports = [f"tcp://127.0.0.1:{_free_port()}" for _ in range(3)]
    v = FixVenue(tmp_path, ["--orders", ports[0], "--market-data", ports[1], "--snapshots", ports[2]])
    try:
        i = v.fix.initiator(fresh_user())
        i.logon()
        i.new_order("before", SYM, "buy", "0.1", "9.00")
        er(i, "before", "0")
        v.restart_serve()
        i.new_order("lost", SYM, "buy", "0.1", "9.00")
        assert er(i, "lost", "8").get(F.TEXT) == "not_authorized"
        deadline = time.monotonic() + 30
        n = 0
        while True:  # until the adapter's venue session is back
            n += 1
            i.new_order(f"after{n}", SYM, "buy", "0.1", "9.00")
            r = i.wait(lambda m, c=f"after{n}": m.msg_type == "8" and m.get(F.CL_ORD_ID) == c)
            if r.get(F.EXEC_TYPE) == "0" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.get(F.EXEC_TYPE) == "0", r.fields
        i.close()
    finally:
        rc_fix, rc_serve = v.stop()
    assert rc_fix == 0 and rc_serve == 0
