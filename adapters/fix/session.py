"""The FIX 4.4 session layer of the acceptor: sequence numbers, heartbeats, test requests, resends, gap fills,
session-level rejects and logout (docs/fix.md, Session). Application messages go to an Application."""
from __future__ import annotations

import logging
import re
import time
from typing import Protocol

from kabuto.adapters.fix import codec as F
from kabuto.adapters.fix.store import SessionStore
from kabuto.adapters.fix.users import FixUser

log = logging.getLogger(__name__)

APP_TYPES = frozenset({"D", "F", "G", "q"})  # the application messages this adapter takes
MAX_QUEUED = 10_000  # messages held while a gap is being filled; beyond that the session ends
LOGOUT_WAIT = 2.0  # seconds to wait for the answer to our Logout before closing the connection
_SEQ_IN_RAW = re.compile(rb"\x0134=(\d{1,18})\x01")


class Transport(Protocol):
    """The connection a session is attached to (acceptor.Connection)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Application(Protocol):
    """What the session hands application messages to (app.OrderEntry)."""

    def on_message(self, msg: F.Message) -> None: ...

    def on_disconnect(self) -> None: ...


class Session:
    """One FIX session (the initiator's SenderCompID against our CompID). It outlives its connections: messages
    it sends while no connection is attached get their sequence numbers and are stored, and a ResendRequest after
    the next Logon gets them."""

    def __init__(self, user: FixUser, comp_id: str, store: SessionStore):
        self.user = user
        self.comp_id = comp_id
        self.their_id = user.sender_comp_id
        self.store = store
        self.app: Application | None = None
        self.conn: Transport | None = None
        self.active = False          # Logon exchanged on the attached connection
        self.heartbeat = 30.0
        self.last_recv = self.last_sent = time.monotonic()
        self.test_req: str | None = None   # TestReqID we wait for
        self.test_sent = 0.0
        self.logout_sent: float | None = None
        self.resend_until = 0        # we asked for a resend up to this MsgSeqNum (0: none outstanding)
        self.queue: dict[int, F.Message] = {}  # messages above the expected MsgSeqNum, held while the gap fills
        self._test_ids = 0

    # ------------------------------------------------------------------ sending

    def send(self, msg_type: str, body: list[tuple[int, object]]) -> int:
        """Send (or, with no connection, only store) a message with the next MsgSeqNum; returns it."""
        seq = self.store.next_out
        raw = F.encode(msg_type, self._header(seq), body)
        self.store.save_sent(seq, raw)
        if self.conn is not None and (self.active or msg_type in ("A", "5")):
            self.conn.write(raw)
            self.last_sent = time.monotonic()
        return seq

    def _header(self, seq: int, extra: list[tuple[int, object]] = ()) -> list[tuple[int, object]]:
        return [(F.SENDER_COMP_ID, self.comp_id), (F.TARGET_COMP_ID, self.their_id), (F.MSG_SEQ_NUM, seq),
                *extra, (F.SENDING_TIME, F.utc_timestamp())]

    def reject(self, ref_seq: int, reason: int, text: str, tag: int | None = None, msg_type: str | None = None) -> None:
        """A session-level Reject (3) of a received message."""
        body = [(F.REF_SEQ_NUM, ref_seq), (F.REF_TAG_ID, tag), (F.REF_MSG_TYPE, msg_type),
                (F.SESSION_REJECT_REASON, reason), (F.TEXT, text)]
        log.info("%s: reject of %s: %s", self.their_id, ref_seq, text)
        self.send("3", [(t, v) for t, v in body if v is not None])

    def business_reject(self, msg: F.Message, reason: int, text: str, ref_id: int | None = None) -> None:
        """A BusinessMessageReject (j) of a received application message."""
        ref = msg.get(ref_id) if ref_id is not None else None
        body = [(F.REF_SEQ_NUM, msg.get(F.MSG_SEQ_NUM)), (F.REF_MSG_TYPE, msg.msg_type),
                (F.BUSINESS_REJECT_REF_ID, ref), (F.BUSINESS_REJECT_REASON, reason), (F.TEXT, text)]
        self.send("j", [(t, v) for t, v in body if v is not None])

    def logout(self, text: str | None = None, close: bool = False) -> None:
        """Send a Logout; the connection closes when the answer comes (or at once with close=True)."""
        if self.conn is None:
            return
        log.info("%s: logout%s", self.their_id, f": {text}" if text else "")
        self.send("5", [(F.TEXT, text)] if text else [])
        self.logout_sent = time.monotonic()
        if close:
            self.disconnect()

    # ------------------------------------------------------------------ connections

    def attach(self, conn: Transport) -> None:
        """A connection whose Logon passed the credentials check belongs to this session now."""
        self.conn = conn
        self.active = False
        self.logout_sent = None
        self.test_req = None
        self.resend_until = 0
        self.queue.clear()
        self.last_recv = self.last_sent = time.monotonic()

    def disconnect(self) -> None:
        """Close the attached connection (the session and its store stay)."""
        conn, self.conn, self.active = self.conn, None, False
        if conn is not None:
            conn.close()
            log.info("%s: disconnected", self.their_id)
            if self.app is not None:
                self.app.on_disconnect()

    def accept_logon(self, msg: F.Message) -> None:
        """Answer the Logon that attached the connection (its credentials and the venue session are in order)."""
        seq = int(msg.get(F.MSG_SEQ_NUM))
        reset = msg.get(F.RESET_SEQ_NUM_FLAG) == "Y"
        if reset:
            self.store.reset()
        elif seq < self.store.next_in:
            self.logout(f"MsgSeqNum too low, expecting {self.store.next_in} but received {seq}", close=True)
            return
        self.heartbeat = float(msg.get(F.HEART_BT_INT))
        self.active = True
        body: list[tuple[int, object]] = [(F.ENCRYPT_METHOD, 0), (F.HEART_BT_INT, msg.get(F.HEART_BT_INT))]
        if reset:
            body.append((F.RESET_SEQ_NUM_FLAG, "Y"))
        self.send("A", body)
        log.info("%s: logged on (in %d, out %d)", self.their_id, seq, self.store.next_out - 1)
        if seq > self.store.next_in:
            self._ask_resend(seq)
        else:
            self.store.set_next_in(seq + 1)

    # ------------------------------------------------------------------ receiving

    def on_garbled(self, why: str) -> None:
        """Garbled input is ignored (FIX: the next good message shows the gap)."""
        log.info("%s: garbled input ignored: %s", self.their_id, why)

    def on_raw(self, raw: bytes) -> None:
        """One framed message of the logged-on connection."""
        self.last_recv = time.monotonic()
        try:
            msg = F.parse(raw)
        except F.FieldError as e:
            m = _SEQ_IN_RAW.search(raw)
            if m is None:
                return self.on_garbled(f"unreadable message without a MsgSeqNum: {e.text}")
            seq = int(m.group(1))
            if seq == self.store.next_in:
                self.store.set_next_in(seq + 1)
                self.reject(seq, e.reason, e.text, e.tag)
            elif seq > self.store.next_in:
                self._ask_resend(seq)
            return
        if len(msg.fields) < 3 or msg.fields[2][0] != F.MSG_TYPE:
            return self.on_garbled("MsgType (35) is not the third field")
        if msg.get(F.BEGIN_STRING_TAG) != F.BEGIN_STRING:
            return self.logout(f"incorrect BeginString, expected {F.BEGIN_STRING}", close=True)
        seq_text = msg.get(F.MSG_SEQ_NUM)
        if seq_text is None or not seq_text.isdigit():
            return self.logout("MsgSeqNum (34) missing or not a number", close=True)
        seq = int(seq_text)
        if msg.get(F.SENDER_COMP_ID) != self.their_id or msg.get(F.TARGET_COMP_ID) != self.comp_id:
            if seq == self.store.next_in:
                self.store.set_next_in(seq + 1)
            self.reject(seq, F.COMP_ID_PROBLEM, "CompID problem", F.SENDER_COMP_ID, msg.msg_type)
            return self.logout("CompID problem", close=True)
        mt = msg.msg_type
        if mt == "4" and msg.get(F.GAP_FILL_FLAG) != "Y":
            return self._sequence_reset(msg, seq)  # reset mode: MsgSeqNum ignored
        expected = self.store.next_in
        if seq > expected:
            if mt == "2":
                self._resend_request(msg, seq)
            if mt == "5":
                return self._logout_received(msg)
            if len(self.queue) >= MAX_QUEUED:
                return self.logout("too many messages held while a gap fills", close=True)
            self.queue[seq] = msg
            self._ask_resend(seq)
            return
        if seq < expected:
            if msg.get(F.POSS_DUP_FLAG) == "Y":
                return  # a duplicate we have seen
            return self.logout(f"MsgSeqNum too low, expecting {expected} but received {seq}", close=True)
        self._process(msg, seq)
        while self.conn is not None and self.store.next_in in self.queue:
            nxt = self.store.next_in
            self._process(self.queue.pop(nxt), nxt)
        if self.store.next_in > self.resend_until:
            self.resend_until = 0

    def _process(self, msg: F.Message, seq: int) -> None:
        self.store.set_next_in(seq + 1)
        mt = msg.msg_type
        if F.SENDING_TIME not in msg:
            return self.reject(seq, F.REQUIRED_TAG_MISSING, "Required tag missing", F.SENDING_TIME, mt)
        if msg.get(F.POSS_DUP_FLAG) == "Y" and F.ORIG_SENDING_TIME not in msg and mt != "4":
            return self.reject(seq, F.REQUIRED_TAG_MISSING, "Required tag missing", F.ORIG_SENDING_TIME, mt)
        dup = _repeated_header_tag(msg)
        if dup is not None:
            return self.reject(seq, F.TAG_REPEATED, "Tag appears more than once", dup, mt)
        if mt == "0":
            if self.test_req is not None and msg.get(F.TEST_REQ_ID) == self.test_req:
                self.test_req = None
        elif mt == "1":
            if F.TEST_REQ_ID not in msg:
                return self.reject(seq, F.REQUIRED_TAG_MISSING, "Required tag missing", F.TEST_REQ_ID, mt)
            self.send("0", [(F.TEST_REQ_ID, msg.get(F.TEST_REQ_ID))])
        elif mt == "2":
            self._resend_request(msg, seq)
        elif mt == "3":
            log.info("%s: our message %s was rejected: %s", self.their_id, msg.get(F.REF_SEQ_NUM), msg.get(F.TEXT))
        elif mt == "4":
            self._sequence_reset(msg, seq)
        elif mt == "5":
            self._logout_received(msg)
        elif mt == "A":
            self.reject(seq, F.VALUE_INCORRECT, "Logon while logged on", F.MSG_TYPE, mt)
        elif mt in APP_TYPES:
            try:
                self.app.on_message(msg)
            except F.FieldError as e:
                self.reject(seq, e.reason, e.text, e.tag, mt)
        elif F.defined_msg_type(mt):
            self.business_reject(msg, 3, f"Unsupported Message Type {mt}")
        else:
            self.reject(seq, F.INVALID_MSG_TYPE, f"Invalid MsgType {mt[:20]}", F.MSG_TYPE, mt[:20])

    def _ask_resend(self, seq: int) -> None:
        """Ask for everything from the expected MsgSeqNum on, unless a request covering seq is outstanding."""
        if self.resend_until >= seq:
            return
        self.resend_until = seq
        self.send("2", [(F.BEGIN_SEQ_NO, self.store.next_in), (F.END_SEQ_NO, 0)])

    def _sequence_reset(self, msg: F.Message, seq: int) -> None:
        new = msg.get(F.NEW_SEQ_NO)
        if new is None:
            return self.reject(seq, F.REQUIRED_TAG_MISSING, "Required tag missing", F.NEW_SEQ_NO, "4")
        if not new.isdigit():
            return self.reject(seq, F.INCORRECT_DATA_FORMAT, "Incorrect data format for value", F.NEW_SEQ_NO, "4")
        gap_fill = msg.get(F.GAP_FILL_FLAG) == "Y"
        floor = seq + 1 if gap_fill else self.store.next_in
        if int(new) < floor:
            return self.reject(seq, F.VALUE_INCORRECT, f"NewSeqNo {new} would lower the expected MsgSeqNum",
                               F.NEW_SEQ_NO, "4")
        self.store.set_next_in(int(new))
        for old in [s for s in self.queue if s < int(new)]:
            del self.queue[old]
        if not gap_fill:
            while self.conn is not None and self.store.next_in in self.queue:
                nxt = self.store.next_in
                self._process(self.queue.pop(nxt), nxt)

    def _resend_request(self, msg: F.Message, seq: int) -> None:
        begin, end = msg.get(F.BEGIN_SEQ_NO), msg.get(F.END_SEQ_NO)
        for tag, value in ((F.BEGIN_SEQ_NO, begin), (F.END_SEQ_NO, end)):
            if value is None:
                return self.reject(seq, F.REQUIRED_TAG_MISSING, "Required tag missing", tag, "2")
            if not value.isdigit():
                return self.reject(seq, F.INCORRECT_DATA_FORMAT, "Incorrect data format for value", tag, "2")
        last = self.store.next_out - 1
        first, end_ = int(begin), int(end)
        end_ = last if end_ == 0 or end_ > last else end_
        if first < 1 or first > end_:
            return self.reject(seq, F.VALUE_INCORRECT, f"BeginSeqNo {begin} outside 1..{last}", F.BEGIN_SEQ_NO, "2")
        self.resend(first, end_)

    def resend(self, first: int, last: int) -> None:
        """Send again what we sent from first to last: application messages as they were (PossDupFlag Y,
        OrigSendingTime), runs of admin messages (and anything not stored) as one SequenceReset-GapFill."""
        gap_start = None
        for s in range(first, last + 1):
            raw = self.store.sent_message(s)
            old = F.parse(raw) if raw is not None else None
            if old is None or old.msg_type in F.ADMIN_TYPES:
                gap_start = s if gap_start is None else gap_start
                continue
            if gap_start is not None:
                self._gap_fill(gap_start, s)
                gap_start = None
            body = [(t, v) for t, v in old.fields[3:-1] if t not in F.HEADER_TAGS]
            extra = [(F.POSS_DUP_FLAG, "Y"), (F.ORIG_SENDING_TIME, old.get(F.SENDING_TIME))]
            self.conn.write(F.encode(old.msg_type, self._header(s, extra), body))
        if gap_start is not None:
            self._gap_fill(gap_start, last + 1)
        self.last_sent = time.monotonic()

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        header = self._header(seq, [(F.POSS_DUP_FLAG, "Y"), (F.ORIG_SENDING_TIME, F.utc_timestamp())])
        self.conn.write(F.encode("4", header, [(F.GAP_FILL_FLAG, "Y"), (F.NEW_SEQ_NO, new_seq)]))

    def _logout_received(self, msg: F.Message) -> None:
        if self.logout_sent is None:
            self.send("5", [])
        log.info("%s: logged out by the counterparty", self.their_id)
        self.disconnect()

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        """Heartbeats, test requests and timeouts of the attached connection."""
        if self.conn is None or not self.active:
            return
        if self.logout_sent is not None:
            if now - self.logout_sent > LOGOUT_WAIT:
                self.disconnect()
            return
        if now - self.last_sent >= self.heartbeat:
            self.send("0", [])
        if self.test_req is not None and self.last_recv > self.test_sent:
            self.test_req = None  # something came: the counterparty is alive
        if self.test_req is None and now - self.last_recv >= self.heartbeat * 1.2 + 1:
            self._test_ids += 1
            self.test_req = f"TEST{self._test_ids}"
            self.test_sent = now
            self.send("1", [(F.TEST_REQ_ID, self.test_req)])
        elif self.test_req is not None and now - self.test_sent >= self.heartbeat + 1:
            self.logout("no answer to TestRequest", close=True)


def _repeated_header_tag(msg: F.Message) -> int | None:
    seen: set[int] = set()
    for tag, _ in msg.fields:
        if tag in F.HEADER_TAGS:
            if tag in seen:
                return tag
            seen.add(tag)
    return None
