"""FIX 4.4 on the wire: cutting a TCP stream into messages (garbled ones set apart), parsing fields, encoding."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import simplefix

BEGIN_STRING = "FIX.4.4"
SOH = b"\x01"
MAX_MESSAGE = 65536  # bytes; a longer message is garbled (no FIX message of this adapter comes near it)

# tags (FIX 4.4 names)
AVG_PX, BEGIN_SEQ_NO, BEGIN_STRING_TAG, BODY_LENGTH, CHECKSUM, CL_ORD_ID, CUM_QTY = 6, 7, 8, 9, 10, 11, 14
END_SEQ_NO, EXEC_ID, EXEC_INST, LAST_PX, LAST_QTY, MSG_SEQ_NUM, MSG_TYPE = 16, 17, 18, 31, 32, 34, 35
NEW_SEQ_NO, ORDER_ID, ORDER_QTY, ORD_STATUS, ORD_TYPE, ORIG_CL_ORD_ID, POSS_DUP_FLAG = 36, 37, 38, 39, 40, 41, 43
PRICE, REF_SEQ_NUM, SENDER_COMP_ID, SENDING_TIME, SIDE, SYMBOL, TARGET_COMP_ID = 44, 45, 49, 52, 54, 55, 56
TEXT, TIME_IN_FORCE, TRANSACT_TIME, ENCRYPT_METHOD, HEART_BT_INT, TEST_REQ_ID = 58, 59, 60, 98, 108, 112
ORIG_SENDING_TIME, GAP_FILL_FLAG, CXL_REJ_REASON, ORD_REJ_REASON, RESET_SEQ_NUM_FLAG = 122, 123, 102, 103, 141
REF_TAG_ID, REF_MSG_TYPE, SESSION_REJECT_REASON, EXEC_RESTATEMENT_REASON = 371, 372, 373, 378
BUSINESS_REJECT_REF_ID, BUSINESS_REJECT_REASON, CXL_REJ_RESPONSE_TO, MASS_CANCEL_REQUEST_TYPE = 379, 380, 434, 530
MASS_CANCEL_RESPONSE, MASS_CANCEL_REJECT_REASON, TOTAL_AFFECTED_ORDERS, USERNAME, PASSWORD = 531, 532, 533, 553, 554
EXEC_TYPE, LEAVES_QTY = 150, 151

HEADER_TAGS = frozenset({BEGIN_STRING_TAG, BODY_LENGTH, MSG_TYPE, SENDER_COMP_ID, TARGET_COMP_ID, MSG_SEQ_NUM,
                         POSS_DUP_FLAG, SENDING_TIME, ORIG_SENDING_TIME, 97, 50, 57, 115, 128, 90, 91, 212, 213,
                         347, 369, 627, 628, 629, 630, 142, 143, 144, 145, 116, 129})
# Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset, Logout, Logon
ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})

# SessionRejectReason (373)
INVALID_TAG_NUMBER, REQUIRED_TAG_MISSING, TAG_NOT_DEFINED, UNDEFINED_TAG, TAG_WITHOUT_VALUE = 0, 1, 2, 3, 4
VALUE_INCORRECT, INCORRECT_DATA_FORMAT, COMP_ID_PROBLEM, SENDING_TIME_PROBLEM, INVALID_MSG_TYPE = 5, 6, 9, 10, 11
TAG_REPEATED, TAG_OUT_OF_ORDER = 13, 14


def defined_msg_type(msg_type: str) -> bool:
    """Whether FIX 4.4 defines this MsgType (0-9, A-Z, a-z, AA-AZ, BA-BH): unsupported ones are told apart."""
    if len(msg_type) == 1:
        return msg_type.isascii() and msg_type.isalnum()
    return (len(msg_type) == 2 and (msg_type[0] == "A" and "A" <= msg_type[1] <= "Z"
                                    or msg_type[0] == "B" and "A" <= msg_type[1] <= "H"))


@dataclass
class Message:
    """One parsed FIX message: its fields in wire order, values as text."""
    fields: list[tuple[int, str]]
    raw: bytes = b""
    _index: dict[int, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for tag, value in self.fields:
            self._index.setdefault(tag, value)

    @property
    def msg_type(self) -> str:
        """MsgType (35)."""
        return self._index.get(MSG_TYPE, "")

    def get(self, tag: int, default: str | None = None) -> str | None:
        """The first value of a tag."""
        return self._index.get(tag, default)

    def __contains__(self, tag: int) -> bool:
        return tag in self._index


class FieldError(ValueError):
    """A field that cannot be read: the SessionRejectReason and the tag it concerns."""

    def __init__(self, reason: int, tag: int | None, text: str):
        super().__init__(text)
        self.reason, self.tag, self.text = reason, tag, text


class Framer:
    """Cuts a byte stream into FIX messages. Garbled input (no BeginString where one must start, a BodyLength
    that does not end where the CheckSum field starts, a wrong CheckSum, an oversized message) is skipped and
    returned as such, so the session can ignore it as FIX says."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self.buf += data

    def next(self) -> tuple[bytes | None, str | None]:
        """(message, None) for the next whole message, (None, why) for skipped garbled bytes, (None, None)
        when more bytes are needed."""
        buf = self.buf
        start = buf.find(b"8=FIX")
        while start > 0 and buf[start - 1] != 1:
            start = buf.find(b"8=FIX", start + 1)
        if start != 0:
            if start < 0:  # keep a tail that may be the start of a BeginString
                cut = max(0, len(buf) - 4)
                if cut == 0:
                    return None, None
                del buf[:cut]
                return None, "garbage bytes"
            del buf[:start]
            return None, "garbage bytes"
        soh = buf.find(SOH)
        if soh < 0:
            return (None, None) if len(buf) < 32 else self._skip("no end of BeginString")
        if not buf.startswith(b"9=", soh + 1):
            return (None, None) if len(buf) < soh + 3 else self._skip("BodyLength (9) not second")
        soh2 = buf.find(SOH, soh + 3)
        if soh2 < 0:
            return (None, None) if len(buf) < soh + 12 else self._skip("BodyLength (9) unreadable")
        digits = bytes(buf[soh + 3:soh2])
        if not digits.isdigit() or len(digits) > 6:
            return self._skip("BodyLength (9) unreadable")
        body_start = soh2 + 1
        trailer = buf.find(b"\x0110=", body_start - 1)
        if trailer < 0 or len(buf) < trailer + 8:
            if len(buf) > MAX_MESSAGE:
                return self._skip("message too long")
            return None, None
        end = trailer + 8
        if buf[end - 1] != 1 or not bytes(buf[trailer + 4:end - 1]).isdigit():
            return self._skip("CheckSum (10) unreadable")
        if trailer + 1 != body_start + int(digits):
            del buf[:end]
            return None, "BodyLength (9) wrong"
        if sum(buf[:trailer + 1]) % 256 != int(buf[trailer + 4:end - 1]):
            del buf[:end]
            return None, "CheckSum (10) wrong"
        msg = bytes(buf[:end])
        del buf[:end]
        return msg, None

    def _skip(self, why: str) -> tuple[None, str]:
        nxt = self.buf.find(b"\x018=FIX", 1)
        del self.buf[:nxt + 1 if nxt >= 0 else len(self.buf)]
        return None, why


def parse(raw: bytes) -> Message:
    """The fields of a framed message; FieldError for a field that cannot be read (garbled structure aside)."""
    fields: list[tuple[int, str]] = []
    for part in raw.split(SOH)[:-1]:
        tag, eq, value = part.partition(b"=")
        if not eq or not tag.isdigit() or tag.startswith(b"0"):
            raise FieldError(INVALID_TAG_NUMBER, None, f"invalid tag number {tag[:20]!r}")
        if not value:
            raise FieldError(TAG_WITHOUT_VALUE, int(tag), f"tag {int(tag)} has no value")
        fields.append((int(tag), value.decode("latin-1")))
    return Message(fields, raw)


def utc_timestamp(ns: int | None = None) -> str:
    """A UTCTimestamp with milliseconds (YYYYMMDD-HH:MM:SS.sss)."""
    ns = time.time_ns() if ns is None else ns
    t = time.gmtime(ns // 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", t) + f".{ns // 1_000_000 % 1000:03d}"


def encode(msg_type: str, header: list[tuple[int, object]], body: list[tuple[int, object]]) -> bytes:
    """A whole message: BeginString, BodyLength, MsgType, the header fields, the body, CheckSum (simplefix)."""
    m = simplefix.FixMessage()
    m.append_pair(BEGIN_STRING_TAG, BEGIN_STRING)
    m.append_pair(MSG_TYPE, msg_type)
    for tag, value in header:
        m.append_pair(tag, value)
    for tag, value in body:
        m.append_pair(tag, value)
    return m.encode()
