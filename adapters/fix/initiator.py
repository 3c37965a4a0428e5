"""A small blocking FIX 4.4 initiator (simplefix on a TCP socket): what the tests, the example and the benchmark
use to talk to `kabuto fix`. It keeps the sequence numbers, answers TestRequests and keeps what it received.

    with Initiator("127.0.0.1", 9878, "MM1", password="secret") as fix:
        fix.logon()
        fix.new_order("o1", "TSLAx-USD", "buy", "1", "245.10")
        report = fix.wait(lambda m: m.msg_type == "8" and m.get(11) == "o1")
"""
from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable

from kabuto.adapters.fix import codec as F
from kabuto.adapters.fix.errors import SessionError

SIDE_CODE = {"buy": "1", "sell": "2"}


class Initiator:
    """One initiator session over one TCP connection."""

    def __init__(self, host: str, port: int, sender: str, *, target: str = "KABUTO", password: str = "",
                 username: str | None = None, heartbeat: int = 30, next_out: int = 1, timeout: float = 10.0):
        self.sender, self.target = sender, target
        self.username = sender if username is None else username
        self.password = password
        self.heartbeat = heartbeat
        self.next_out = next_out
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = F.Framer()
        self.inbox: deque[F.Message] = deque()   # received, not yet taken by wait()
        self.received: list[F.Message] = []      # everything received, in order
        self.answer_test_requests = True
        self.closed = False
        self._ids = 0

    def __enter__(self) -> Initiator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ sending

    def encode(self, msg_type: str, body: list[tuple[int, object]], *, seq: int | None = None,
               header: list[tuple[int, object]] = ()) -> bytes:
        """A message with our header (MsgSeqNum: the next one unless seq is given; it is then not counted)."""
        if seq is None:
            seq = self.next_out
            self.next_out += 1
        head = [(F.SENDER_COMP_ID, self.sender), (F.TARGET_COMP_ID, self.target), (F.MSG_SEQ_NUM, seq), *header,
                (F.SENDING_TIME, F.utc_timestamp())]
        return F.encode(msg_type, head, body)

    def send(self, msg_type: str, body: list[tuple[int, object]], **kw) -> None:
        """Send one message (see encode for the keywords)."""
        self.send_raw(self.encode(msg_type, body, **kw))

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        self.sock.sendall(data)

    def next_id(self, prefix: str = "c") -> str:
        """A fresh ClOrdID."""
        self._ids += 1
        return f"{prefix}{time.time_ns() % 10**12}-{self._ids}"

    def logon(self, *, reset: bool = False, wait: bool = True,
              extra: list[tuple[int, object]] = ()) -> F.Message | None:
        """Send a Logon (with ResetSeqNumFlag when reset) and wait for the answer (a Logon, else SessionError)."""
        if reset:
            self.next_out = 1
        body = [(F.ENCRYPT_METHOD, 0), (F.HEART_BT_INT, self.heartbeat)]
        if reset:
            body.append((F.RESET_SEQ_NUM_FLAG, "Y"))
        body += [(F.USERNAME, self.username), (F.PASSWORD, self.password), *extra]
        self.send("A", body)
        if not wait:
            return None
        msg = self.wait(lambda m: m.msg_type in ("A", "5"))
        if msg.msg_type == "5":
            raise SessionError(f"logon refused: {msg.get(F.TEXT)}")
        return msg

    def new_order(self, cl_ord_id: str, symbol: str, side: str, qty, price=None, *, ord_type: str | None = None,
                  tif: str | None = None, exec_inst: str | None = None) -> None:
        """NewOrderSingle: a limit order when price is given, else a market order."""
        body = [(F.CL_ORD_ID, cl_ord_id), (F.SYMBOL, symbol), (F.SIDE, SIDE_CODE.get(side, side)),
                (F.TRANSACT_TIME, F.utc_timestamp()), (F.ORDER_QTY, qty),
                (F.ORD_TYPE, ord_type or ("2" if price is not None else "1")), (F.PRICE, price),
                (F.TIME_IN_FORCE, tif), (F.EXEC_INST, exec_inst)]
        self.send("D", [(t, v) for t, v in body if v is not None])

    def cancel(self, cl_ord_id: str, orig: str, symbol: str, side: str) -> None:
        """OrderCancelRequest."""
        self.send("F", [(F.ORIG_CL_ORD_ID, orig), (F.CL_ORD_ID, cl_ord_id), (F.SYMBOL, symbol),
                        (F.SIDE, SIDE_CODE.get(side, side)), (F.TRANSACT_TIME, F.utc_timestamp())])

    def replace(self, cl_ord_id: str, orig: str, symbol: str, side: str, qty, price=None) -> None:
        """OrderCancelReplaceRequest: the order's new total quantity and (limit) price."""
        body = [(F.ORIG_CL_ORD_ID, orig), (F.CL_ORD_ID, cl_ord_id), (F.SYMBOL, symbol),
                (F.SIDE, SIDE_CODE.get(side, side)), (F.TRANSACT_TIME, F.utc_timestamp()), (F.ORDER_QTY, qty),
                (F.ORD_TYPE, "2" if price is not None else "1"), (F.PRICE, price)]
        self.send("G", [(t, v) for t, v in body if v is not None])

    def mass_cancel(self, cl_ord_id: str, symbol: str | None = None, side: str | None = None) -> None:
        """OrderMassCancelRequest: of one symbol (530=1) or of every order (530=7), optionally one side."""
        body = [(F.CL_ORD_ID, cl_ord_id), (F.MASS_CANCEL_REQUEST_TYPE, "1" if symbol else "7"),
                (F.SYMBOL, symbol), (F.SIDE, SIDE_CODE.get(side, side) if side else None),
                (F.TRANSACT_TIME, F.utc_timestamp())]
        self.send("q", [(t, v) for t, v in body if v is not None])

    def logout(self, wait: bool = True) -> F.Message | None:
        """Send a Logout and wait for the acceptor's."""
        self.send("5", [])
        return self.wait(lambda m: m.msg_type == "5") if wait else None

    # ------------------------------------------------------------------ receiving

    def poll(self, timeout: float) -> bool:
        """Read what arrives within timeout seconds; False when the connection closed."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return True
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.framer.feed(data)
        while True:
            raw, garbled = self.framer.next()
            if raw is None and garbled is None:
                return True
            if raw is None:
                continue
            msg = F.parse(raw)
            self.received.append(msg)
            self.inbox.append(msg)
            if msg.msg_type == "1" and self.answer_test_requests:
                self.send("0", [(F.TEST_REQ_ID, msg.get(F.TEST_REQ_ID))])

    def wait(self, pred: Callable[[F.Message], bool] = lambda m: True, timeout: float | None = None) -> F.Message:
        """The first message not yet taken that matches pred (taken out of the inbox)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for m in self.inbox:
                if pred(m):
                    self.inbox.remove(m)
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionError("no matching FIX message within the timeout")
            if not self.poll(min(left, 0.2)) and not any(pred(m) for m in self.inbox):
                raise SessionError("the acceptor closed the connection")

    def wait_closed(self, timeout: float | None = None) -> None:
        """Read until the acceptor closes the connection."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self.poll(0.2):
            if time.monotonic() > deadline:
                raise SessionError("the connection stayed open")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
