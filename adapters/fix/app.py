"""Order entry over one FIX session: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest and
OrderMassCancelRequest become venue commands, the venue's reports become ExecutionReports, OrderCancelRejects
and OrderMassCancelReports (the mapping of docs/fix.md)."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from decimal import Decimal

from kabuto.adapters.fix import codec as F
from kabuto.adapters.fix.session import Session
from kabuto.engine.codes import Reason
from kabuto.gateway import protocol as P
from kabuto.gateway.client import Client, Report
from kabuto.gateway.errors import ClientError

log = logging.getLogger(__name__)

FIX_FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
SIDES = {"1": "buy", "2": "sell"}
FIX_SIDE = {"buy": "1", "sell": "2"}
ORD_TYPES = {"1": "market", "2": "limit"}
TIFS = {"1": "GTC", "3": "IOC", "4": "FOK"}  # TimeInForce (59) the venue has; absent means GTC
# OrdRejReason (103) and CxlRejReason (102) for the venue's reason names; anything else is 99 (Other)
ORD_REJ_REASON = {"unknown_symbol": 1, "halted": 2, "too_many_orders": 3, "unknown_order": 5, "duplicate_oid": 6,
                  "bad_tif": 11, "bad_stp": 11, "auction_only": 11, "bad_qty": 13}
CXL_REJ_REASON = {"unknown_order": 1, "duplicate_oid": 6}
EXPIRED_REASONS = ("ioc", "fok")  # canceled by the order's time in force: ExecType/OrdStatus C (Expired)
TERMINAL = ("2", "4", "8", "C")  # Filled, Canceled, Rejected, Expired
REQUIRED = {"D": (F.CL_ORD_ID, F.SYMBOL, F.SIDE, F.TRANSACT_TIME, F.ORDER_QTY, F.ORD_TYPE),
            "F": (F.ORIG_CL_ORD_ID, F.CL_ORD_ID, F.SYMBOL, F.SIDE, F.TRANSACT_TIME),
            "G": (F.ORIG_CL_ORD_ID, F.CL_ORD_ID, F.SYMBOL, F.SIDE, F.TRANSACT_TIME, F.ORDER_QTY, F.ORD_TYPE),
            "q": (F.CL_ORD_ID, F.MASS_CANCEL_REQUEST_TYPE, F.TRANSACT_TIME)}
NOT_AUTHORIZED = P.reason_text(Reason.NOT_AUTHORIZED)
MAX_PENDING = 100_000  # venue requests awaiting their reports, per session


@dataclass
class Order:
    """What the session knows of one of its account's orders."""
    cl_oid: str | int       # the venue's client order id: the ClOrdID the order was entered with
    cl_ord_id: str          # the FIX ClOrdID naming it now (changes with each replace)
    symbol: str
    side: str               # buy, sell
    ord_type: str           # 1 market, 2 limit
    tif: str | None         # 59 as the order said it (None: absent)
    price: str | None
    order_qty: Decimal
    oid: int | None = None
    cum_qty: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    leaves: Decimal = Decimal(0)
    status: str = "A"       # OrdStatus; A = Pending New until the venue answers

    def avg_px(self) -> str:
        """AvgPx (6): the mean price of the fills, 0 before any."""
        if not self.cum_qty:
            return "0"
        return _text((self.notional / self.cum_qty).quantize(Decimal("1e-8")))


def _text(d: Decimal) -> str:
    """Plain decimal text without an exponent or trailing zeros."""
    s = format(d.normalize(), "f")
    return s if s != "-0" else "0"


def _decimal(msg: F.Message, tag: int) -> str:
    """A Price or Qty field as the venue's decimal text; its format is FIX's float (else Reject 373=6)."""
    value = msg.get(tag)
    if not FIX_FLOAT.fullmatch(value):
        raise F.FieldError(F.INCORRECT_DATA_FORMAT, tag, "Incorrect data format for value")
    neg, value = value.startswith("-"), value.lstrip("-")
    value = ("0" + value) if value.startswith(".") else value.rstrip(".")
    return ("-" if neg else "") + value


class OrderEntry:
    """The application of one FIX session, with its own venue session (a Client logged on with via="fix")."""

    def __init__(self, session: Session, client: Client):
        self.session = session
        self.client = client
        self.orders: dict[str | int, Order] = {}   # live (and pending) orders by venue cl_oid
        self.names: dict[str, str | int] = {}      # FIX ClOrdID -> venue cl_oid of a live order
        self.pending: dict[int, tuple] = {}        # venue req -> what the FIX request was
        self.logon_req: int | None = None
        self.venue_ready = False
        self._exec_ids = 0

    # ------------------------------------------------------------------ venue session

    def venue_logon(self) -> None:
        """Send the venue logon (answered in on_venue)."""
        opts = {"cod": self.session.user.cod, "version": P.VERSION, "via": "fix", "account": self.session.user.account}
        self.logon_req = self.client.next_req()
        self.client.send([P.LOGON, self.logon_req, opts])

    def on_venue(self) -> str | None:
        """Read what the venue sent; returns "ready" when the venue logon was answered, "refused: ..." when it was
        refused, else None."""
        self.client.poll(0)
        outcome = None
        c = self.client
        while c.reports:
            self._report(c.reports.popleft())
        c.balance_reports.clear()
        for req in list(c.replies):
            msg = c.replies.pop(req)
            if req == self.logon_req:
                self.logon_req = None
                if msg[0] == P.ERROR:
                    outcome = f"refused: {msg[2]}: {msg[3]}"
                else:
                    c.session = msg[2]
                    self.venue_ready = True
                    outcome = "ready"
            else:
                self._answer(msg)
        for err in c.errors:
            log.warning("%s: venue error %s", self.session.their_id, err[2:])
            if err[2] == NOT_AUTHORIZED and self.session.conn is not None:
                self.session.logout("the venue ended the session (not_authorized)", close=True)
        c.errors.clear()
        return outcome

    def on_disconnect(self) -> None:
        """The FIX connection ended: with cod, the account's orders are canceled (their reports are stored)."""
        if self.session.user.cod and self.venue_ready:
            req = self.client.mass_cancel()
            self.pending[req] = ("cod",)

    # ------------------------------------------------------------------ FIX -> venue

    def on_message(self, msg: F.Message) -> None:
        """One in-sequence application message (D, F, G, q); FieldError for a session-level reject."""
        mt = msg.msg_type
        seen: set[int] = set()
        for tag, _ in msg.fields:
            if tag in seen and tag not in F.HEADER_TAGS:
                raise F.FieldError(F.TAG_REPEATED, tag, "Tag appears more than once")
            seen.add(tag)
        for tag in REQUIRED[mt]:
            if tag not in msg:
                raise F.FieldError(F.REQUIRED_TAG_MISSING, tag, "Required tag missing")
        if len(self.pending) >= MAX_PENDING:
            return self.session.business_reject(msg, 0, "too many requests in flight", F.CL_ORD_ID)
        getattr(self, "_on_" + mt)(msg)

    def _common(self, msg: F.Message) -> tuple[str, str | None, str]:
        side = SIDES.get(msg.get(F.SIDE))
        if side is None:
            raise F.FieldError(F.VALUE_INCORRECT, F.SIDE, "Value is incorrect (out of range) for this tag")
        ord_type = msg.get(F.ORD_TYPE)
        if ord_type is not None and ord_type not in ORD_TYPES:
            raise F.FieldError(F.VALUE_INCORRECT, F.ORD_TYPE, "OrdType must be 1 (market) or 2 (limit)")
        price = None
        if ord_type == "2":
            if F.PRICE not in msg:
                raise _Conditional(F.PRICE)
            price = _decimal(msg, F.PRICE)
        return side, price, _decimal(msg, F.ORDER_QTY) if F.ORDER_QTY in msg else ""

    def _on_D(self, msg: F.Message) -> None:
        try:
            side, price, qty = self._common(msg)
        except _Conditional as e:
            return self.session.business_reject(msg, 5, f"Conditionally required field missing ({e.tag})",
                                                F.CL_ORD_ID)
        tif = msg.get(F.TIME_IN_FORCE)
        exec_inst = msg.get(F.EXEC_INST)
        if exec_inst is not None and set(exec_inst.split()) != {"6"}:
            raise F.FieldError(F.VALUE_INCORRECT, F.EXEC_INST, "ExecInst must be 6 (post-only)")
        cl_ord_id = msg.get(F.CL_ORD_ID)
        order = Order(cl_ord_id, cl_ord_id, msg.get(F.SYMBOL), side, msg.get(F.ORD_TYPE), tif, price,
                      Decimal(qty))
        venue_tif = TIFS.get(tif or "1")
        if exec_inst is not None:
            venue_tif = "POST" if venue_tif == "GTC" else None
        if venue_tif is None:
            return self._reject_order(order, "bad_tif", None)
        if cl_ord_id in self.names or cl_ord_id in self.orders:
            return self._reject_order(order, "duplicate_oid", None)
        req = self.client.next_req()
        self.client.send([P.NEW, req, cl_ord_id, order.symbol, side, ORD_TYPES[order.ord_type], price, qty,
                          venue_tif, None])
        self.orders[cl_ord_id] = order
        self.names[cl_ord_id] = cl_ord_id
        self.pending[req] = ("D", order)

    def _on_F(self, msg: F.Message) -> None:
        if msg.get(F.SIDE) not in SIDES:
            raise F.FieldError(F.VALUE_INCORRECT, F.SIDE, "Value is incorrect (out of range) for this tag")
        orig, cl_ord_id = msg.get(F.ORIG_CL_ORD_ID), msg.get(F.CL_ORD_ID)
        cl_oid = self.names.get(orig, orig)
        req = self.client.next_req()
        self.client.send([P.CANCEL, req, cl_oid])
        self.pending[req] = ("F", cl_ord_id, orig, cl_oid)

    def _on_G(self, msg: F.Message) -> None:
        try:
            _, price, qty = self._common(msg)
        except _Conditional as e:
            return self.session.business_reject(msg, 5, f"Conditionally required field missing ({e.tag})",
                                                F.CL_ORD_ID)
        orig, cl_ord_id = msg.get(F.ORIG_CL_ORD_ID), msg.get(F.CL_ORD_ID)
        cl_oid = self.names.get(orig, orig)
        order = self.orders.get(cl_oid)
        cum = order.cum_qty if order is not None else Decimal(0)
        if cl_ord_id != orig and (cl_ord_id in self.names or cl_ord_id in self.orders):
            return self._cancel_reject("2", cl_ord_id, orig, order, "duplicate_oid")
        new_open = Decimal(qty) - cum
        if new_open <= 0:
            return self._cancel_reject("2", cl_ord_id, orig, order, "bad_qty")
        req = self.client.next_req()
        self.client.send([P.AMEND, req, cl_oid, price, _text(new_open)])
        self.pending[req] = ("G", cl_ord_id, orig, cl_oid, price, Decimal(qty))

    def _on_q(self, msg: F.Message) -> None:
        kind = msg.get(F.MASS_CANCEL_REQUEST_TYPE)
        side = msg.get(F.SIDE)
        if side is not None and side not in SIDES:
            raise F.FieldError(F.VALUE_INCORRECT, F.SIDE, "Value is incorrect (out of range) for this tag")
        if not kind.isdigit():
            raise F.FieldError(F.INCORRECT_DATA_FORMAT, F.MASS_CANCEL_REQUEST_TYPE, "Incorrect data format for value")
        cl_ord_id = msg.get(F.CL_ORD_ID)
        if kind not in ("1", "7"):
            return self._mass_report(cl_ord_id, kind, None, 0, 0, "only 1 (by symbol) and 7 (all orders)")
        sym = msg.get(F.SYMBOL)
        if kind == "1" and sym is None:
            return self.session.business_reject(msg, 5, "Conditionally required field missing (55)", F.CL_ORD_ID)
        req = self.client.next_req()
        self.client.send([P.MASS_CANCEL, req, sym if kind == "1" else None, SIDES.get(side)])
        self.pending[req] = ("q", cl_ord_id, kind, None)

    # ------------------------------------------------------------------ venue -> FIX

    def _answer(self, msg: list) -> None:
        """An answer to one of our requests: a mass cancel's count, or an error (the request was not read)."""
        req = msg[1]
        if msg[0] == P.MASS_CANCEL:
            p = self.pending.pop(req, None)
            if p is not None and p[0] == "q":
                _, cl_ord_id, kind, reason = p
                if reason is None:
                    self._mass_report(cl_ord_id, kind, kind, msg[2], None, None)
                else:
                    self._mass_report(cl_ord_id, kind, None, 0, 1 if reason == "unknown_symbol" else 99, reason)
        elif msg[0] == P.ERROR and req in self.pending:
            self._rejected(self.pending.pop(req), msg[2], None)
            if msg[2] == NOT_AUTHORIZED and self.logon_req is None:  # not_authorized: the venue restarted
                log.warning("%s: the venue lost our session: logging on again", self.session.their_id)
                self.venue_logon()

    def _report(self, r: Report) -> None:
        p = self.pending.get(r.req) if r.req is not None else None
        if r.ev == P.EV_REJECTED:
            if p is not None:
                if p[0] == "q":  # the answer (n = 0) follows
                    self.pending[r.req] = ("q", p[1], p[2], r.reason)
                    return
                self.pending.pop(r.req)
                self._rejected(p, r.reason, r)
            return
        order = self.orders.get(r.cl_oid)
        if order is None:
            if r.ev != P.EV_ACCEPTED:
                return  # an order this session never saw entered (before a restart of the adapter)
            order = self._adopt(r)
        if r.ev == P.EV_ACCEPTED:
            if p is not None and p[0] == "D":
                self.pending.pop(r.req)
            order.oid, order.leaves, order.status = r.oid, Decimal(r.open), "0"
            order.price = r.px
            self._exec_report(order, r, "0")
        elif r.ev == P.EV_FILL:
            qty, px = Decimal(r.qty), Decimal(r.px)
            order.cum_qty += qty
            order.notional += qty * px
            order.leaves = Decimal(r.open)
            order.status = "1" if order.leaves else "2"
            self._exec_report(order, r, "F", last=(r.px, _text(qty)))
        elif r.ev == P.EV_CANCELED:
            order.leaves = Decimal(r.open)
            if order.leaves:  # an STP decrement: the order goes on with less
                order.order_qty = order.cum_qty + order.leaves
                self._exec_report(order, r, "D", text=r.reason, restated=True)
                return
            order.status = "C" if r.reason in EXPIRED_REASONS else "4"
            cancel = None
            if p is not None and p[0] == "F":
                self.pending.pop(r.req)
                cancel = (p[1], order.cl_ord_id)
            self._exec_report(order, r, order.status, text=r.reason, names=cancel)
        elif r.ev == P.EV_AMENDED:
            names = None
            if p is not None and p[0] == "G":
                self.pending.pop(r.req)
                _, cl_ord_id, orig, _, _, _ = p
                names = (cl_ord_id, order.cl_ord_id)
                self.names.pop(order.cl_ord_id, None)
                order.cl_ord_id = cl_ord_id
                self.names[cl_ord_id] = order.cl_oid
            order.price = r.px if r.px is not None else order.price
            order.leaves = Decimal(r.open)
            order.order_qty = order.cum_qty + order.leaves
            self._exec_report(order, r, "5", names=names)
        if order.status in TERMINAL:
            self._forget(order)

    def _adopt(self, r: Report) -> Order:
        """An order of the account entered by another session (drop copy): known from its accepted report on."""
        name = str(r.cl_oid)
        order = Order(r.cl_oid, name, r.sym, r.side, "2" if r.px is not None else "1", None, r.px, Decimal(r.qty))
        self.orders[r.cl_oid] = order
        self.names.setdefault(name, r.cl_oid)
        return order

    def _forget(self, order: Order) -> None:
        self.orders.pop(order.cl_oid, None)
        if self.names.get(order.cl_ord_id) == order.cl_oid:
            del self.names[order.cl_ord_id]

    def _rejected(self, p: tuple, reason: str, r: Report | None) -> None:
        kind = p[0]
        if kind == "D":
            order = p[1]
            self._forget(order)
            self._reject_order(order, reason, r)
        elif kind in ("F", "G"):
            cl_ord_id, orig, cl_oid = p[1], p[2], p[3]
            self._cancel_reject("1" if kind == "F" else "2", cl_ord_id, orig, self.orders.get(cl_oid), reason)

    def _next_exec_id(self) -> str:
        self._exec_ids += 1
        return f"{self.session.store.next_out}.{self._exec_ids}"

    def _exec_report(self, o: Order, r: Report | None, exec_type: str, *, last: tuple | None = None,
                     text: str | None = None, names: tuple | None = None, restated: bool = False,
                     rej_reason: int | None = None) -> None:
        cl_ord_id, orig = names if names is not None else (o.cl_ord_id, None)
        body: list[tuple[int, object]] = [
            (F.ORDER_ID, o.oid if o.oid is not None else "NONE"), (F.CL_ORD_ID, cl_ord_id),
            (F.ORIG_CL_ORD_ID, orig),
            (F.EXEC_ID, f"{r.seq}" if r is not None else self._next_exec_id()),
            (F.EXEC_TYPE, exec_type), (F.ORD_STATUS, o.status), (F.ORD_REJ_REASON, rej_reason),
            (F.EXEC_RESTATEMENT_REASON, 5 if restated else None),
            (F.SYMBOL, o.symbol), (F.SIDE, FIX_SIDE.get(o.side, o.side)), (F.ORD_TYPE, o.ord_type),
            (F.PRICE, o.price), (F.TIME_IN_FORCE, o.tif), (F.ORDER_QTY, _text(o.order_qty)),
            (F.LAST_PX, last[0] if last else None), (F.LAST_QTY, last[1] if last else None),
            (F.LEAVES_QTY, _text(o.leaves)), (F.CUM_QTY, _text(o.cum_qty)), (F.AVG_PX, o.avg_px()),
            (F.TRANSACT_TIME, F.utc_timestamp(r.ts if r is not None else None)), (F.TEXT, text)]
        self.session.send("8", [(t, v) for t, v in body if v is not None])

    def _reject_order(self, o: Order, reason: str, r: Report | None) -> None:
        o.status, o.leaves = "8", Decimal(0)
        self._exec_report(o, r, "8", text=reason, rej_reason=ORD_REJ_REASON.get(reason, 99))

    def _cancel_reject(self, response_to: str, cl_ord_id: str, orig: str, order: Order | None, reason: str) -> None:
        body = [(F.ORDER_ID, order.oid if order is not None and order.oid is not None else "NONE"),
                (F.CL_ORD_ID, cl_ord_id), (F.ORIG_CL_ORD_ID, orig),
                (F.ORD_STATUS, order.status if order is not None and order.status != "A" else "8"),
                (F.CXL_REJ_RESPONSE_TO, response_to), (F.CXL_REJ_REASON, CXL_REJ_REASON.get(reason, 99)),
                (F.TEXT, reason)]
        self.session.send("9", body)

    def _mass_report(self, cl_ord_id: str, kind: str, response: str | None, n: int, reject: int | None,
                     text: str | None) -> None:
        body = [(F.CL_ORD_ID, cl_ord_id), (F.ORDER_ID, f"MC{time.time_ns()}"), (F.MASS_CANCEL_REQUEST_TYPE, kind),
                (F.MASS_CANCEL_RESPONSE, response if response is not None else "0"),
                (F.MASS_CANCEL_REJECT_REASON, reject), (F.TOTAL_AFFECTED_ORDERS, n), (F.TEXT, text)]
        self.session.send("r", [(t, v) for t, v in body if v is not None])

    def close(self) -> None:
        """Log the venue session out and close its socket."""
        try:
            self.client.close()
        except ClientError:
            pass


class _Conditional(Exception):
    """A conditionally required field is missing (BusinessMessageReject 380=5)."""

    def __init__(self, tag: int):
        super().__init__(tag)
        self.tag = tag
