"""A ccxt exchange class for Kabuto's REST/WebSocket adapter (`kabuto rest`), on ccxt.async_support.

    from kabuto.adapters.rest.ccxt_kabuto import kabuto
    ex = kabuto({"apiKey": KEY, "secret": SECRET, "urls": {"api": {"rest": "http://127.0.0.1:8080"}}})
    await ex.create_order("TSLAx/USD", "limit", "buy", 1, 245.10)
    book = await ex.watch_order_book("TSLAx/USD")

ccxt.pro's WebSocket base is built around its own exchange registry, so watch_order_book is written here on
aiohttp: the depth stream plus a snapshot, synced as docs/rest-websocket.md (and Binance) describe.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt_async
from ccxt.base import errors as X
from ccxt.base.decimal_to_precision import TICK_SIZE

ERRORS = {
    -1001: X.ExchangeNotAvailable, -1003: X.RateLimitExceeded, -1020: X.NotSupported,
    -1021: X.InvalidNonce, -1022: X.AuthenticationError, -2014: X.AuthenticationError,
    -2015: X.AuthenticationError, -1121: X.BadSymbol, -2010: X.InvalidOrder, -2011: X.OrderNotFound,
    -2013: X.OrderNotFound, -1125: X.AuthenticationError,
}
REASONS = {"insufficient_funds": X.InsufficientFunds, "unknown_order": X.OrderNotFound,
           "duplicate_oid": X.DuplicateOrderId, "rate_limit": X.RateLimitExceeded}
STATUSES = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed", "CANCELED": "canceled",
            "EXPIRED": "expired", "REJECTED": "rejected"}
SIGNED = ("order", "openOrders", "account")
STREAM_WAIT = 30.0  # seconds watch_order_book waits for the stream to catch up with the snapshot


class _Book:
    """One symbol's local order book from the depth stream and a snapshot (Binance's documented procedure)."""

    def __init__(self):
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_id: int | None = None
        self.version = 0    # updates applied (the snapshot counts as one)
        self.returned = 0   # the version watch_order_book last returned
        self.buffer: list[dict] = []
        self.updated = asyncio.Condition()
        self.task: asyncio.Task | None = None
        self.error: BaseException | None = None

    def apply(self, event: dict) -> None:
        """Apply one depth diff (after the snapshot); a hole in the ids is an error (the caller resyncs)."""
        if event["u"] <= self.last_id:
            return
        if event["U"] > self.last_id + 1:
            raise X.InvalidNonce(f"depth stream hole: {self.last_id} then {event['U']}")
        for levels, key in ((self.bids, "b"), (self.asks, "a")):
            for px, qty in event[key]:
                if Decimal(qty):
                    levels[px] = qty
                else:
                    levels.pop(px, None)
        self.last_id = event["u"]


class kabuto(ccxt_async.Exchange):  # noqa: N801 - ccxt names exchange classes by their id
    """Kabuto through `kabuto rest`: markets, order books (REST and watched), orders, balances."""

    def describe(self) -> dict:
        """ccxt's description of the exchange: capabilities, URLs, precision mode."""
        return self.deep_extend(super().describe(), {
            "id": "kabuto", "name": "Kabuto", "countries": [], "version": "v3", "rateLimit": 0, "pro": False,
            "precisionMode": TICK_SIZE,
            "has": {"spot": True, "fetchMarkets": True, "fetchTime": True, "fetchOrderBook": True,
                    "fetchTrades": True, "createOrder": True, "cancelOrder": True, "cancelAllOrders": True,
                    "editOrder": True, "fetchOrder": True, "fetchOpenOrders": True, "fetchBalance": True,
                    "watchOrderBook": True},
            "urls": {"api": {"rest": "http://127.0.0.1:8080"}},
            "requiredCredentials": {"apiKey": True, "secret": True},
            "options": {"recvWindow": 5000},
        })

    def __init__(self, config: dict | None = None):
        super().__init__(config or {})
        self._last_ts = 0
        self._books: dict[str, _Book] = {}
        self._ws_session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ transport

    def nonce(self) -> int:
        """Strictly increasing milliseconds: the adapter refuses a signed request it has seen (a replay)."""
        self._last_ts = max(self.milliseconds(), self._last_ts + 1)
        return self._last_ts

    def sign(self, path, api="public", method="GET", params=None, headers=None, body=None):
        """The URL, headers and body of a request; private ones signed with HMAC-SHA256 (docs/rest-websocket.md)."""
        params = dict(params or {})
        url = self.urls["api"]["rest"] + "/api/v3/" + path
        headers = {}
        if api == "private":
            self.check_required_credentials()
            params["timestamp"] = self.nonce()
            params["recvWindow"] = self.options["recvWindow"]
            query = self.urlencode(params)
            query += "&signature=" + self.hmac(self.encode(query), self.encode(self.secret), hashlib.sha256)
            headers["X-KABUTO-APIKEY"] = self.apiKey
        else:
            query = self.urlencode(params)
        if query:
            url += "?" + query
        return {"url": url, "method": method, "body": None, "headers": headers}

    def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
        """Raise the ccxt exception of an error answer {"code", "msg", "reason"}."""
        if not isinstance(response, dict) or "code" not in response or code < 400:
            return None
        message = f"{self.id} {response.get('msg')} ({response.get('reason')})"
        cls = REASONS.get(response.get("reason")) or ERRORS.get(response["code"])
        if cls is None:
            cls = X.BadRequest if code < 500 else X.ExchangeError
        raise cls(message)

    # ------------------------------------------------------------------ public

    async def fetch_time(self, params=None):
        """The adapter's clock in milliseconds."""
        params = params or {}
        return self.safe_integer(await self.request("time", "public", "GET", params), "serverTime")

    async def fetch_markets(self, params=None):
        """Every instrument as a ccxt market (tick and lot as TICK_SIZE precision)."""
        params = params or {}
        info = await self.request("exchangeInfo", "public", "GET", params)
        out = []
        for s in info["symbols"]:
            price, lot = s["filters"][0], s["filters"][1]
            out.append(self.safe_market_structure({
                "id": s["symbol"], "symbol": s["baseAsset"] + "/" + s["quoteAsset"], "base": s["baseAsset"],
                "quote": s["quoteAsset"], "baseId": s["baseAsset"], "quoteId": s["quoteAsset"], "type": "spot",
                "spot": True, "active": s["status"] == "TRADING",
                "precision": {"amount": self.parse_number(lot["stepSize"]),
                              "price": self.parse_number(price["tickSize"])},
                "limits": {"amount": {"min": self.parse_number(lot["minQty"]),
                                      "max": self.parse_number(lot["maxQty"])},
                           "price": {"min": self.parse_number(price["minPrice"]),
                                     "max": self.parse_number(price["maxPrice"])},
                           "cost": {"min": None, "max": None}, "leverage": {"min": None, "max": None}},
                "info": s}))
        return out

    async def fetch_order_book(self, symbol, limit=None, params=None):
        """The depth snapshot; `nonce` is its lastUpdateId."""
        params = params or {}
        await self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"], **({"limit": limit} if limit else {}), **params}
        raw = await self.request("depth", "public", "GET", request)
        book = self.parse_order_book(raw, market["symbol"])
        book["nonce"] = raw["lastUpdateId"]
        return book

    async def fetch_trades(self, symbol, since=None, limit=None, params=None):
        """Recent trades of a symbol."""
        params = params or {}
        await self.load_markets()
        market = self.market(symbol)
        rows = await self.request("trades", "public", "GET", {"symbol": market["id"],
                                                              **({"limit": limit} if limit else {}), **params})
        return [self.safe_trade({"id": str(t["id"]), "timestamp": t["time"], "datetime": self.iso8601(t["time"]),
                                 "symbol": market["symbol"], "side": "sell" if t["isBuyerMaker"] else "buy",
                                 "price": self.parse_number(t["price"]), "amount": self.parse_number(t["qty"]),
                                 "cost": self.parse_number(t["quoteQty"]), "info": t}, market) for t in rows]

    # ------------------------------------------------------------------ private

    def parse_order(self, order, market=None):
        """An adapter order as a ccxt order."""
        market = self.safe_market(order.get("symbol"), market, "-")
        trades = [dict(f, orderId=order["orderId"], side=order["side"]) for f in order.get("fills", [])]
        return self.safe_order({
            "id": str(order["orderId"]), "clientOrderId": order["clientOrderId"], "timestamp": order["time"],
            "datetime": self.iso8601(order["time"]), "lastTradeTimestamp": None, "symbol": market["symbol"],
            "type": "market" if order["type"] == "MARKET" else "limit", "timeInForce": order["timeInForce"],
            "postOnly": order["type"] == "LIMIT_MAKER", "side": order["side"].lower(),
            "price": self.parse_number(order["price"]) if order["type"] != "MARKET" else None,
            "amount": self.parse_number(order["origQty"]), "filled": self.parse_number(order["executedQty"]),
            "cost": self.parse_number(order["cummulativeQuoteQty"]), "status": STATUSES.get(order["status"]),
            "trades": trades or None, "fee": None, "info": order}, market)

    def parse_trade(self, trade, market=None):
        """One fill of an order's answer ({price, qty, commission, commissionAsset, tradeId, isMaker}) as a trade."""
        price, qty = self.parse_number(trade["price"]), self.parse_number(trade["qty"])
        return self.safe_trade({
            "id": str(trade["tradeId"]), "order": str(trade["orderId"]), "symbol": market["symbol"] if market else None,
            "side": trade["side"].lower(), "price": price, "amount": qty, "timestamp": trade["time"],
            "datetime": self.iso8601(trade["time"]),
            "takerOrMaker": "maker" if trade["isMaker"] else "taker",
            "fee": {"cost": self.parse_number(trade["commission"]), "currency": trade["commissionAsset"]},
            "info": trade}, market)

    async def create_order(self, symbol, type, side, amount, price=None, params=None):
        """A new limit or market order (params: clientOrderId, timeInForce, postOnly, stp modes)."""
        params = params or {}
        await self.load_markets()
        market = self.market(symbol)
        params = dict(params)
        post_only = params.pop("postOnly", False)
        otype = "MARKET" if type == "market" else "LIMIT_MAKER" if post_only else "LIMIT"
        request = {"symbol": market["id"], "side": side.upper(), "type": otype,
                   "quantity": self.amount_to_precision(symbol, amount)}
        if otype != "MARKET":
            request["price"] = self.price_to_precision(symbol, price)
        cl = params.pop("clientOrderId", None)
        if cl is not None:
            request["newClientOrderId"] = cl
        tif = params.pop("timeInForce", None)
        if tif is not None and otype != "LIMIT_MAKER":
            request["timeInForce"] = tif
        return self.parse_order(await self.request("order", "private", "POST", {**request, **params}), market)

    async def edit_order(self, id, symbol, type=None, side=None, amount=None, price=None, params=None):
        """Kabuto's amend: a new price and/or a new open quantity, in place."""
        params = params or {}
        await self.load_markets()
        request = {"orderId": id}
        if price is not None:
            request["price"] = self.price_to_precision(symbol, price)
        if amount is not None:
            request["quantity"] = self.amount_to_precision(symbol, amount)
        return self.parse_order(await self.request("order", "private", "PUT", {**request, **params}))

    def _order_ref(self, id, params: dict) -> tuple[dict, dict]:
        params = dict(params)
        cl = params.pop("clientOrderId", None)
        return ({"origClientOrderId": cl} if cl is not None else {"orderId": id}), params

    async def cancel_order(self, id, symbol=None, params=None):
        """Cancel one order by its id (or params clientOrderId)."""
        params = params or {}
        ref, params = self._order_ref(id, params)
        return self.parse_order(await self.request("order", "private", "DELETE", {**ref, **params}))

    async def fetch_order(self, id, symbol=None, params=None):
        """One order by its id (or params clientOrderId): live, or finished and remembered by the adapter."""
        params = params or {}
        await self.load_markets()
        ref, params = self._order_ref(id, params)
        return self.parse_order(await self.request("order", "private", "GET", {**ref, **params}))

    async def cancel_all_orders(self, symbol=None, params=None):
        """Cancel every live order (of one symbol); the canceled orders."""
        params = params or {}
        await self.load_markets()
        request = {"symbol": self.market_id(symbol)} if symbol is not None else {}
        rows = await self.request("openOrders", "private", "DELETE", {**request, **params})
        return [self.parse_order(o) for o in rows]

    async def fetch_open_orders(self, symbol=None, since=None, limit=None, params=None):
        """The account's live orders (of one symbol)."""
        params = params or {}
        await self.load_markets()
        request = {"symbol": self.market_id(symbol)} if symbol is not None else {}
        rows = await self.request("openOrders", "private", "GET", {**request, **params})
        return [self.parse_order(o) for o in rows]

    async def fetch_balance(self, params=None):
        """Free, used (held by live orders) and total per asset (a venue with risk on)."""
        params = params or {}
        raw = await self.request("account", "private", "GET", params)
        result = {"info": raw}
        for b in raw["balances"]:
            result[b["asset"]] = {"free": self.parse_number(b["free"]), "used": self.parse_number(b["locked"])}
        return self.safe_balance(result)

    # ------------------------------------------------------------------ WebSocket

    async def watch_order_book(self, symbol, limit=None, params=None):
        """The order book: at once if it changed since the last call returned, else after the next depth update
        (the first call subscribes and syncs from a snapshot)."""
        params = params or {}
        await self.load_markets()
        market = self.market(symbol)
        book = self._books.get(market["id"])
        if book is None or book.error is not None:
            book = self._books[market["id"]] = _Book()
            synced = asyncio.get_running_loop().create_future()
            book.task = asyncio.create_task(self._follow(market, book, synced))
            await synced
        else:
            async with book.updated:
                await book.updated.wait_for(lambda: book.version > book.returned or book.error is not None)
        if book.error is not None:
            raise book.error
        book.returned = book.version
        return self._book_dict(market, book, limit)

    def _book_dict(self, market: dict, book: _Book, limit: int | None) -> dict:
        bids = sorted(((float(p), float(q)) for p, q in book.bids.items()), reverse=True)
        asks = sorted((float(p), float(q)) for p, q in book.asks.items())
        n = limit or None
        return {"symbol": market["symbol"], "bids": [list(x) for x in bids[:n]], "asks": [list(x) for x in asks[:n]],
                "nonce": book.last_id, "timestamp": None, "datetime": None}

    async def _follow(self, market: dict, book: _Book, synced: asyncio.Future) -> None:
        if self._ws_session is None:
            self._ws_session = aiohttp.ClientSession()
        url = self.urls["api"]["rest"].replace("http", "ws", 1) + f"/ws/{market['id']}@depth"
        try:
            async with self._ws_session.ws_connect(url) as ws:
                # subscribed once the handshake is answered: the snapshot is taken after that
                snapshot = asyncio.create_task(self.request("depth", "public", "GET",
                                                            {"symbol": market["id"], "limit": 5000}))
                recv = asyncio.create_task(ws.receive())
                while True:
                    waiting = {recv} if book.last_id is not None else {recv, snapshot}
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if snapshot in done and book.last_id is None:
                        raw = snapshot.result()
                        book.bids = {p: q for p, q in raw["bids"]}
                        book.asks = {p: q for p, q in raw["asks"]}
                        book.last_id = raw["lastUpdateId"]
                        pending, book.buffer = book.buffer, []
                        for e in pending:  # drop what the snapshot holds, then apply in order
                            book.apply(e)
                        if not synced.done():
                            synced.set_result(None)
                    if recv in done:
                        msg = recv.result()
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = json.loads(msg.data)
                        if book.last_id is None:
                            book.buffer.append(event)
                        else:
                            book.apply(event)
                        recv = asyncio.create_task(ws.receive())
                    book.version += 1
                    async with book.updated:
                        book.updated.notify_all()
        except Exception as e:
            book.error = e if isinstance(e, X.BaseError) else X.NetworkError(f"{self.id} depth stream: {e}")
        else:
            book.error = X.NetworkError(f"{self.id} depth stream closed")
        if not synced.done():
            synced.set_exception(book.error)
        async with book.updated:
            book.updated.notify_all()

    async def close(self):
        """Close the WebSocket streams and the HTTP session."""
        for book in self._books.values():
            if book.task is not None:
                book.task.cancel()
                with contextlib.suppress(BaseException):
                    await book.task
        if self._ws_session is not None:
            await self._ws_session.close()
        await super().close()
