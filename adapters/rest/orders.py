"""What the adapter knows of an account's orders, kept from execution reports, in Binance's order shapes."""
from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

from kabuto.gateway import protocol as P

KEEP_FINISHED = 10_000  # finished orders remembered per account (the oldest are forgotten first)
EXPIRED_REASONS = ("ioc", "fok")  # a remainder the venue canceled by the order's own terms: EXPIRED
TYPES = {("limit", "GTC"): "LIMIT", ("limit", "IOC"): "LIMIT", ("limit", "FOK"): "LIMIT",
         ("limit", "POST"): "LIMIT_MAKER", ("market", "IOC"): "MARKET", ("market", "FOK"): "MARKET"}


def ms(ns: int | None) -> int | None:
    """Nanoseconds to milliseconds."""
    return None if ns is None else ns // 1_000_000


def cl_text(cl_oid) -> str:
    """A venue client order id as Binance's clientOrderId string."""
    return cl_oid if isinstance(cl_oid, str) else str(cl_oid)


def _places(text: str) -> int:
    return max(0, -Decimal(text).as_tuple().exponent)


class Order:
    """One order as its reports told it: quantities, status, fills."""

    __slots__ = ("cl_oid", "oid", "sym", "side", "px", "qty", "type", "tif", "executed", "quote", "open",
                 "status", "reason", "time", "update", "fills")

    def __init__(self, report: list, type: str = "limit", tif: str = "GTC"):
        self.cl_oid = report[P.R_CL]
        self.oid = report[P.R_OID]
        self.sym = report[P.R_SYM]
        self.side = report[P.R_SIDE]
        self.px = report[P.R_PX]
        self.qty = report[P.R_QTY]
        self.type = "market" if report[P.R_PX] is None else type
        self.tif = tif
        self.executed = Decimal(0)
        self.quote = Decimal(0)
        self.open = report[P.R_OPEN]
        self.status = "NEW"
        self.reason: str | None = None
        self.time = ms(report[P.R_TS])
        self.update = self.time
        self.fills: list[dict] = []

    @classmethod
    def from_live(cls, row: list) -> Order:
        """An order the venue lists as live ([cl_oid, oid, sym, side, px, open]) that no report told of yet."""
        cl, oid, sym, side, px, open_ = row[:6]
        report = [P.EV_ACCEPTED, None, None, None, cl, oid, sym, side, px, open_, open_, None, None]
        return cls(report)

    @property
    def finished(self) -> bool:
        """True when nothing of it is open any more."""
        return self.status in ("FILLED", "CANCELED", "EXPIRED", "REJECTED")

    def apply(self, r: list) -> dict | None:
        """Apply one report; returns a fill's Binance fill entry (None for other reports)."""
        ev = r[P.R_EV]
        self.update = ms(r[P.R_TS])
        self.open = r[P.R_OPEN]
        fill = None
        if ev == P.EV_FILL:
            qty = Decimal(r[P.R_QTY])
            self.executed += qty
            self.quote += qty * Decimal(r[P.R_PX])
            fee = r[P.R_FEE] if len(r) > P.R_FEE else None
            fill = {"price": r[P.R_PX], "qty": r[P.R_QTY], "commission": fee or "0",
                    "commissionAsset": self.sym.rpartition("-")[2] if fee is not None else None,
                    "tradeId": r[P.R_SEQ], "isMaker": r[P.R_ROLE] == "maker", "time": ms(r[P.R_TS])}
            self.fills.append(fill)
            self.status = "FILLED" if not Decimal(r[P.R_OPEN]) else "PARTIALLY_FILLED"
        elif ev == P.EV_CANCELED and not Decimal(r[P.R_OPEN]):
            self.reason = r[P.R_REASON]
            self.status = "EXPIRED" if r[P.R_REASON] in EXPIRED_REASONS else "CANCELED"
        elif ev == P.EV_AMENDED:
            self.px = r[P.R_PX] if r[P.R_PX] is not None else self.px
            self.qty = _fmt(self.executed + Decimal(r[P.R_QTY]), self.qty)
        return fill

    def binance(self, with_fills: bool = False) -> dict:
        """The order in Binance's order shape (GET /api/v3/order), with a `kabuto` block of its own fields."""
        qty_places = _places(self.qty)
        px_places = _places(self.px) if self.px is not None else 0
        out = {"symbol": self.sym, "orderId": self.oid, "orderListId": -1, "clientOrderId": cl_text(self.cl_oid),
               "price": self.px if self.px is not None else "0", "origQty": self.qty,
               "executedQty": f"{self.executed:.{qty_places}f}",
               "cummulativeQuoteQty": f"{self.quote:.{qty_places + px_places}f}",
               "status": self.status, "timeInForce": self.tif,
               "type": TYPES.get((self.type, self.tif), "LIMIT"), "side": self.side.upper(),
               "time": self.time, "updateTime": self.update, "transactTime": self.update,
               "isWorking": not self.finished, "origQuoteOrderQty": "0",
               "kabuto": {"open": self.open, "reason": self.reason}}
        if with_fills:
            out["fills"] = list(self.fills)
        return out


def _fmt(value: Decimal, like: str) -> str:
    return f"{value:.{_places(like)}f}"


class OrderBook:
    """An account's orders by client order id and by venue order id: live ones, and the last finished ones."""

    def __init__(self):
        self.by_cl: OrderedDict = OrderedDict()
        self.by_oid: dict[int, Order] = {}
        self.meta: dict = {}  # cl_oid -> (type, tif) of orders this adapter sent and not yet accepted
        self._finished = 0

    def get(self, cl_oid=None, oid: int | None = None) -> Order | None:
        """The order named by its client order id or its venue order id."""
        return self.by_cl.get(cl_oid) if cl_oid is not None else self.by_oid.get(oid)

    def seed(self, rows: list[list]) -> None:
        """Know the venue's live orders of the account (the `orders` answer) that no report told of yet."""
        for row in rows:
            if row[1] not in self.by_oid:
                order = Order.from_live(row)
                self.by_cl[order.cl_oid] = order
                self.by_oid[order.oid] = order

    def apply(self, r: list) -> Order | None:
        """Apply one execution report; returns the order it concerns (None for a reject or an unknown order)."""
        ev, cl = r[P.R_EV], r[P.R_CL]
        if ev == P.EV_REJECTED:
            self.meta.pop(cl, None)
            return None
        if ev == P.EV_ACCEPTED:
            type_, tif = self.meta.pop(cl, ("limit", "GTC"))
            order = Order(r, type_, tif)
            old = self.by_cl.pop(cl, None)
            if old is not None:
                self.by_oid.pop(old.oid, None)
            self.by_cl[cl] = order
            self.by_oid[order.oid] = order
            return order
        order = self.by_oid.get(r[P.R_OID])
        if order is None:
            return None
        order.apply(r)
        if order.finished:
            self.by_cl.move_to_end(order.cl_oid)
            self._finished += 1
            if self._finished > KEEP_FINISHED:
                self._forget()
        return order

    def _forget(self) -> None:
        for cl, order in list(self.by_cl.items()):
            if self._finished <= KEEP_FINISHED // 2:
                break
            if order.finished:
                del self.by_cl[cl]
                self.by_oid.pop(order.oid, None)
                self._finished -= 1
