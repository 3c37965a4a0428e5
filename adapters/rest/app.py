"""The aiohttp application: Binance-shaped REST endpoints and WebSocket streams over the venue's ZeroMQ protocol."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import zmq.asyncio
from aiohttp import WSMsgType, web
from kabuto.adapters.rest import errors as E
from kabuto.adapters.rest.apikeys import API_KEY_HEADER, ApiKey, Verifier
from kabuto.adapters.rest.marketfeed import MarketFeed
from kabuto.adapters.rest.orders import Order
from kabuto.adapters.rest.ratelimit import ORDER_HEADER, WEIGHT_HEADER, Window
from kabuto.adapters.rest.userstream import balance_event, execution_report, now_ms
from kabuto.adapters.rest.venuelink import ANSWER_TIMEOUT, VenueSession, credentials
from kabuto.gateway import protocol as P
from kabuto.gateway.client import venue_info

log = logging.getLogger(__name__)

SIGNED_PARAMS = ("timestamp", "recvWindow", "signature")
SIDES = {"BUY": "buy", "SELL": "sell"}
STP_MODES = {"EXPIRE_MAKER": "cancel_oldest", "EXPIRE_TAKER": "cancel_newest", "EXPIRE_BOTH": "cancel_both",
             "DECREMENT": "decrement"}
RESP_TYPES = ("ACK", "RESULT", "FULL")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
SYNC_WAIT = 5.0  # seconds a depth request waits for a book the adapter is resyncing
WS_QUEUE = 10_000  # events queued for one WebSocket connection before it is closed as too slow
LISTEN_KEY_CHARS = 60


def depth_weight(limit: int) -> int:
    """The request weight of a depth snapshot of `limit` levels a side."""
    return 1 if limit <= 100 else 5 if limit <= 500 else 10 if limit <= 1000 else 50


class Params:
    """A request's parameters (query string and form body merged), each read at most once, all read by the end."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.values: dict[str, str] = {}
        for k, v in pairs:
            if k in self.values:
                raise E.BadRequest(-1101, f"Duplicate values for parameter '{k}'.")
            self.values[k] = v
        self.read: set[str] = set()

    def get(self, name: str, default: str | None = None) -> str | None:
        """An optional parameter."""
        self.read.add(name)
        v = self.values.get(name)
        if v == "":
            raise E.BadRequest(-1105, f"Parameter '{name}' was empty.")
        return default if v is None else v

    def need(self, name: str) -> str:
        """A mandatory parameter."""
        v = self.get(name)
        if v is None:
            raise E.BadRequest(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return v

    def choice(self, name: str, allowed, code: int, default: str | None = None) -> str | None:
        """An optional parameter that must be one of `allowed`."""
        v = self.get(name, default)
        if v is not None and v not in allowed:
            raise E.BadRequest(code, f"Invalid {name} '{v}': one of {', '.join(allowed)}.")
        return v

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An optional non-negative integer parameter."""
        v = self.get(name)
        if v is None:
            return default
        if not v.isdigit() or len(v) > 18:
            raise E.BadRequest(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                      "'^[0-9]{1,18}$'.")
        return int(v)

    def done(self) -> None:
        """Raise for any parameter the endpoint does not take."""
        unread = sorted(set(self.values) - self.read - set(SIGNED_PARAMS))
        if unread:
            raise E.BadRequest(-1103, f"An unknown parameter was sent: {', '.join(unread)}.")


class RestAdapter:
    """The adapter's state: the venue connection, per-account sessions, the market feed, keys and limits."""

    def __init__(self, data_dir: Path, key_file: Path, api_keys: dict[str, ApiKey], public_account: str,
                 weight_limit: int = 6000, order_limit: int = 1000, cod: bool = False,
                 venue_timeout: float = ANSWER_TIMEOUT):
        self.data_dir = Path(data_dir)
        self.key_file = Path(key_file)
        self.verifier = Verifier(api_keys)
        self.public_account = public_account
        self.weights = Window(weight_limit, 60)
        self.order_counts = Window(order_limit, 10)
        self.cod = cod
        self.venue_timeout = venue_timeout
        self.ctx = zmq.asyncio.Context()
        self.info = venue_info(self.data_dir)
        self.sessions: dict[str, asyncio.Task] = {}
        self.listen_keys: dict[str, ApiKey] = {}  # listen key -> the API key that made it
        self.instruments: dict[str, dict] = {}
        self.symbols: list[str] = []
        self.public: VenueSession | None = None
        self.feed: MarketFeed | None = None

    async def start(self) -> None:
        """Log the public session on (instruments) and start following the market data feed."""
        cred = credentials(self.data_dir, self.key_file, self.public_account)
        self.public = VenueSession(self.ctx, self.info["orders"], cred, self.public_account,
                                   timeout=self.venue_timeout)
        info = await self.public.start()
        self.instruments = info["instruments"]
        self.symbols = list(info["symbols"])
        self.feed = MarketFeed(self.ctx, self.info["market_data"], self.info["snapshots"], self.symbols, cred)
        await self.feed.start()

    async def close(self) -> None:
        """Log every session out and close the sockets."""
        for task in self.sessions.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                await task.result().close()
        if self.public is not None:
            await self.public.close()
        if self.feed is not None:
            self.feed.close()
        self.ctx.term()

    async def session(self, account: str) -> VenueSession:
        """The account's venue session, logged on (and its CurveZMQ key provisioned) on first use."""
        task = self.sessions.get(account)
        if task is None:
            task = self.sessions[account] = asyncio.ensure_future(self._open(account))
        try:
            return await asyncio.shield(task)
        except Exception:
            if self.sessions.get(account) is task:
                del self.sessions[account]
            raise

    async def _open(self, account: str) -> VenueSession:
        cred = credentials(self.data_dir, self.key_file, account)
        s = VenueSession(self.ctx, self.info["orders"], cred, account, cod=self.cod, timeout=self.venue_timeout)
        try:
            await s.start()
            live = await s.request([P.ORDERS, None, None])
        except Exception:
            s.sock.close(linger=0)
            raise
        s.orders.seed(live[2])
        log.info("account %s: venue session open", account)
        return s


# ---------------------------------------------------------------------------------------------- plumbing

ADAPTER = web.AppKey("adapter", RestAdapter)


def _adapter(request: web.Request) -> RestAdapter:
    return request.app[ADAPTER]


async def _params(request: web.Request) -> tuple[Params, str]:
    try:
        body = (await request.read()).decode() if request.can_read_body else ""
    except UnicodeDecodeError:
        raise E.BadRequest(-1100, "The body is not UTF-8 text.") from None
    try:
        pairs = parse_qsl(request.query_string, keep_blank_values=True, strict_parsing=bool(request.query_string))
        pairs += parse_qsl(body, keep_blank_values=True, strict_parsing=True) if body else []
    except ValueError:
        raise E.BadRequest(-1100, "The query string or body is not application/x-www-form-urlencoded "
                                  "parameters (JSON bodies are not accepted).") from None
    return Params(pairs), body


def _spend(request: web.Request, who: str, weight: int, orders: int = 0) -> None:
    a = _adapter(request)
    request["limit_who"] = who
    a.weights.check(who, weight)
    a.order_counts.check(who, orders)
    a.weights.spend(who, weight)
    a.order_counts.spend(who, orders)


async def _signed(request: web.Request, weight: int = 1, orders: int = 0) -> tuple[Params, ApiKey]:
    a = _adapter(request)
    params, body = await _params(request)
    key = a.verifier.verify(request.headers.get(API_KEY_HEADER), request.query_string, body, params.values)
    _spend(request, key.key, weight, orders)
    return params, key


async def _public(request: web.Request, weight: int = 1) -> Params:
    params, _ = await _params(request)
    _spend(request, request.remote or "?", weight)
    return params


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every error as JSON {"code", "msg", "reason"}; rate limit headers on every answer."""
    try:
        response = await handler(request)
    except E.RestError as e:
        response = web.json_response(e.body(), status=e.status)
        if isinstance(e, E.TooManyRequests):
            response.headers["Retry-After"] = str(e.retry_after)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        response = web.json_response({"code": -1000, "msg": f"{e.reason}: {request.method} {request.path}",
                                      "reason": "malformed"}, status=e.status)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        response = web.json_response({"code": -1000, "msg": "internal error", "reason": None}, status=500)
    who = request.get("limit_who")
    if who is not None and not response.prepared:
        a = _adapter(request)
        response.headers[WEIGHT_HEADER] = str(a.weights.used(who))
        response.headers[ORDER_HEADER] = str(a.order_counts.used(who))
    return response


def _symbol(a: RestAdapter, params: Params) -> str:
    sym = params.need("symbol")
    if sym not in a.instruments:
        raise E.RestError(400, -1121, f"Invalid symbol '{sym}'.", "unknown_symbol")
    return sym


def _decimal_text(params: Params, name: str, required: bool) -> str | None:
    """A price or quantity as plain decimal text (checked here only for its characters; the venue checks the rest)."""
    v = params.need(name) if required else params.get(name)
    if v is not None and not all(c in "0123456789." for c in v):
        raise E.BadRequest(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9.]+$'.")
    return v


async def _venue_answer(session: VenueSession, msg: list, code: int) -> list:
    answer = await session.request(msg)
    if answer and isinstance(answer[0], str) and answer[0] == P.ERROR:
        raise E.venue_error(answer[2], f"{answer[2]}: {answer[3]}", code)
    return answer


def _rejected(reports: list, code: int, what: str) -> None:
    """Raise for a command the venue answered with an error or a rejected report."""
    if reports and isinstance(reports[0], str):  # an error answer
        raise E.venue_error(reports[2], f"{what} refused: {reports[2]}: {reports[3]}", code)
    for r in reports:
        if r[P.R_EV] == P.EV_REJECTED:
            raise E.venue_error(r[P.R_REASON], f"{what} rejected: {r[P.R_REASON]}", code)


def _find(session: VenueSession, params: Params, code: int) -> Order:
    """The order named by origClientOrderId or orderId (one of them), as the adapter knows it."""
    cl = params.get("origClientOrderId")
    oid = params.integer("orderId")
    if (cl is None) == (oid is None):
        raise E.BadRequest(-1102, "Send exactly one of 'orderId' and 'origClientOrderId'.")
    order = session.orders.get(cl_oid=cl) if cl is not None else session.orders.get(oid=oid)
    if order is None:
        raise E.RestError(400, code, "Unknown order sent.", "unknown_order")
    return order


# ---------------------------------------------------------------------------------------------- public


async def ping(request: web.Request) -> web.Response:
    """GET /api/v3/ping."""
    (await _public(request)).done()
    return web.json_response({})


async def server_time(request: web.Request) -> web.Response:
    """GET /api/v3/time."""
    (await _public(request)).done()
    return web.json_response({"serverTime": now_ms()})


TRADING_STATUS = {"continuous": "TRADING", "limit_up": "TRADING", "limit_down": "TRADING", "call": "AUCTION_MATCH",
                  "halted": "HALT"}


def symbol_info(a: RestAdapter, sym: str) -> dict:
    """One instrument in exchangeInfo's shape."""
    inst = a.instruments[sym]
    base, _, quote = sym.rpartition("-")
    tick, lot = Decimal(inst["tick_size"]), Decimal(inst["lot_size"])
    status = a.feed.status(sym)
    return {"symbol": sym, "status": TRADING_STATUS.get(status[0], "BREAK"), "baseAsset": base, "quoteAsset": quote,
            "baseAssetPrecision": max(0, -lot.as_tuple().exponent),
            "quotePrecision": max(0, -tick.as_tuple().exponent),
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK"],
            "selfTradePreventionModes": list(STP_MODES), "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "isSpotTradingAllowed": True, "permissions": ["SPOT"],
            "filters": [{"filterType": "PRICE_FILTER", "minPrice": inst["tick_size"],
                         "maxPrice": f"{tick * (1 << 40):f}", "tickSize": inst["tick_size"]},
                        {"filterType": "LOT_SIZE", "minQty": inst["min_qty"], "maxQty": f"{lot * (1 << 40):f}",
                         "stepSize": inst["lot_size"]}]
            + ([{"filterType": "PERCENT_PRICE_BAND", "bandPct": inst["band_pct"]}] if inst.get("band_pct") else []),
            "kabuto": {"status": status[0], "reason": status[1], "until": status[2],
                       "band_pct": inst.get("band_pct")}}


async def exchange_info(request: web.Request) -> web.Response:
    """GET /api/v3/exchangeInfo[?symbol=S | ?symbols=["A","B"]]."""
    a = _adapter(request)
    params = await _public(request, 10)
    one, many = params.get("symbol"), params.get("symbols")
    params.done()
    if one is not None and many is not None:
        raise E.BadRequest(-1106, "Send 'symbol' or 'symbols', not both.")
    syms = a.symbols
    if one is not None:
        syms = [one]
    elif many is not None:
        try:
            syms = json.loads(many)
        except ValueError:
            syms = None
        if not isinstance(syms, list) or not all(isinstance(s, str) for s in syms):
            raise E.BadRequest(-1100, "'symbols' must be a JSON array of symbol strings.")
    for s in syms:
        if s not in a.instruments:
            raise E.RestError(400, -1121, f"Invalid symbol '{s}'.", "unknown_symbol")
    return web.json_response({
        "timezone": "UTC", "serverTime": now_ms(),
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                        "limit": a.weights.limit},
                       {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                        "limit": a.order_counts.limit}],
        "exchangeFilters": [], "symbols": [symbol_info(a, s) for s in syms]})


async def depth(request: web.Request) -> web.Response:
    """GET /api/v3/depth?symbol=S[&limit=N]."""
    a = _adapter(request)
    params, _ = await _params(request)
    limit = params.integer("limit", 100)
    _spend(request, request.remote or "?", depth_weight(limit))
    sym = _symbol(a, params)
    params.done()
    if limit not in DEPTH_LIMITS:
        raise E.BadRequest(-1100, f"limit must be one of {', '.join(map(str, DEPTH_LIMITS))}.")
    if not await a.feed.wait_synced(sym, SYNC_WAIT):
        raise E.VenueUnavailable(f"the book of {sym} is not in sync with the venue yet")
    return web.json_response(a.feed.depth(sym, limit))


async def trades(request: web.Request) -> web.Response:
    """GET /api/v3/trades?symbol=S[&limit=N]: the most recent trades, oldest first."""
    a = _adapter(request)
    params = await _public(request)
    sym = _symbol(a, params)
    limit = params.integer("limit", 500)
    params.done()
    if not 1 <= limit <= 1000:
        raise E.BadRequest(-1100, "limit must be 1 to 1000.")
    rows = list(a.feed.trades[sym])[-limit:]
    return web.json_response(rows)


# ---------------------------------------------------------------------------------------------- orders


async def new_order(request: web.Request) -> web.Response:
    """POST /api/v3/order."""
    a = _adapter(request)
    params, key = await _signed(request, orders=1)
    sym = _symbol(a, params)
    side = SIDES.get(params.need("side"))
    if side is None:
        raise E.BadRequest(-1117, "Invalid side: BUY or SELL.")
    otype = params.choice("type", ("LIMIT", "MARKET", "LIMIT_MAKER"), -1116)
    if otype is None:
        raise E.BadRequest(-1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
    tifs = ("GTC", "IOC", "FOK") if otype == "LIMIT" else ("IOC", "FOK") if otype == "MARKET" else ()
    tif = params.choice("timeInForce", tifs, -1115)
    tif = "POST" if otype == "LIMIT_MAKER" else tif or ("GTC" if otype == "LIMIT" else "IOC")
    qty = _decimal_text(params, "quantity", True)
    px = _decimal_text(params, "price", otype != "MARKET")
    if otype == "MARKET" and px is not None:
        raise E.BadRequest(-1106, "Parameter 'price' sent when not required.")
    protect = _decimal_text(params, "protectPrice", False)
    stp = params.choice("selfTradePreventionMode", tuple(STP_MODES), -1130)
    resp = params.choice("newOrderRespType", RESP_TYPES, -1130, "FULL")
    cl = params.get("newClientOrderId")
    params.done()
    session = await a.session(key.account)
    cl = cl if cl is not None else session.next_cl_oid()
    session.orders.meta[cl] = ("market" if otype == "MARKET" else "limit", tif)
    cmd = [P.NEW, None, cl, sym, side, "market" if otype == "MARKET" else "limit", px, qty, tif,
           STP_MODES.get(stp)] + ([protect] if protect is not None else [])
    reports = await session.request(cmd)
    _rejected(reports, E.NEW_REJECTED, "new order")
    oid = next(r[P.R_OID] for r in reports if r[P.R_EV] == P.EV_ACCEPTED)
    order = session.orders.get(oid=oid)
    out = order.binance(with_fills=resp == "FULL")
    if resp == "ACK":
        out = {k: out[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
    return web.json_response(out)


async def cancel_order(request: web.Request) -> web.Response:
    """DELETE /api/v3/order."""
    a = _adapter(request)
    params, key = await _signed(request)
    params.get("symbol")  # optional: a client order id names one order of the account
    session = await a.session(key.account)
    order = _find(session, params, E.CANCEL_REJECTED)
    params.done()
    reports = await session.request([P.CANCEL, None, order.cl_oid])
    _rejected(reports, E.CANCEL_REJECTED, "cancel")
    return web.json_response(order.binance())


async def amend_order(request: web.Request) -> web.Response:
    """PUT /api/v3/order: a new price and/or a new open quantity (Kabuto's amend)."""
    a = _adapter(request)
    params, key = await _signed(request, orders=1)
    params.get("symbol")
    session = await a.session(key.account)
    order = _find(session, params, E.NEW_REJECTED)
    px = _decimal_text(params, "price", False)
    qty = _decimal_text(params, "quantity", False)
    params.done()
    if px is None and qty is None:
        raise E.BadRequest(-1102, "Send 'price', 'quantity' or both.")
    reports = await session.request([P.AMEND, None, order.cl_oid, px, qty])
    _rejected(reports, E.NEW_REJECTED, "amend")
    return web.json_response(order.binance())


async def cancel_all(request: web.Request) -> web.Response:
    """DELETE /api/v3/openOrders[?symbol=S]: every live order of the account (in one symbol)."""
    a = _adapter(request)
    params, key = await _signed(request)
    sym = _symbol(a, params) if "symbol" in params.values else None
    params.done()
    session = await a.session(key.account)
    answer, reports = await session.request([P.MASS_CANCEL, None, sym, None])
    if answer[0] == P.ERROR:
        raise E.venue_error(answer[2], f"cancel all refused: {answer[2]}: {answer[3]}", E.CANCEL_REJECTED)
    _rejected(reports, E.CANCEL_REJECTED, "cancel all")
    out = []
    for r in reports:
        order = session.orders.get(oid=r[P.R_OID])
        if order is not None:
            out.append(order.binance())
    return web.json_response(out)


async def open_orders(request: web.Request) -> web.Response:
    """GET /api/v3/openOrders[?symbol=S]: the venue's list of the account's live orders."""
    a = _adapter(request)
    params, key = await _signed(request, 1)
    sym = _symbol(a, params) if "symbol" in params.values else None
    params.done()
    session = await a.session(key.account)
    rows = (await _venue_answer(session, [P.ORDERS, None, sym], -1000))[2]
    session.orders.seed(rows)
    return web.json_response([session.orders.get(oid=row[1]).binance() for row in rows])


async def query_order(request: web.Request) -> web.Response:
    """GET /api/v3/order: an order by origClientOrderId or orderId (live, or finished and remembered)."""
    a = _adapter(request)
    params, key = await _signed(request)
    params.get("symbol")
    session = await a.session(key.account)
    order = _find(session, params, E.NO_SUCH_ORDER)
    params.done()
    return web.json_response(order.binance())


async def account(request: web.Request) -> web.Response:
    """GET /api/v3/account: the account's balances (a venue with risk on)."""
    a = _adapter(request)
    params, key = await _signed(request, 10)
    params.done()
    session = await a.session(key.account)
    answer = await session.request([P.BALANCES, None])
    if answer[0] == P.ERROR:
        if answer[2] == "malformed":
            raise E.RestError(400, -1020, "The venue keeps no balances (it runs with risk off).", "malformed")
        raise E.venue_error(answer[2], f"{answer[2]}: {answer[3]}", -1000)
    balances = []
    for asset, (total, held) in sorted(answer[3].items()):
        free = Decimal(total) - Decimal(held)
        balances.append({"asset": asset, "free": f"{free:f}", "locked": held})
    return web.json_response({"makerCommission": 0, "takerCommission": 0, "canTrade": True, "canWithdraw": False,
                              "canDeposit": False, "updateTime": now_ms(), "accountType": "SPOT",
                              "balances": balances, "permissions": ["SPOT"], "kabuto": {"account": key.account}})


# ---------------------------------------------------------------------------------------------- user data stream


async def listen_key(request: web.Request) -> web.Response:
    """POST, PUT, DELETE /api/v3/userDataStream: create, keep alive, close a listen key (API key only)."""
    a = _adapter(request)
    params, _ = await _params(request)
    key = a.verifier.key(request.headers.get(API_KEY_HEADER))
    _spend(request, key.key, 1)
    if request.method == "POST":
        params.done()
        await a.session(key.account)
        lk = secrets.token_urlsafe(45)[:LISTEN_KEY_CHARS]
        a.listen_keys[lk] = key
        return web.json_response({"listenKey": lk})
    lk = params.need("listenKey")
    params.done()
    if a.listen_keys.get(lk) != key:
        raise E.RestError(400, -1125, "This listenKey does not exist.", "not_authorized")
    if request.method == "DELETE":
        del a.listen_keys[lk]
    return web.json_response({})


# ---------------------------------------------------------------------------------------------- WebSocket


class Subscriber:
    """One WebSocket connection: its streams and a queue of events written in order."""

    def __init__(self, a: RestAdapter, ws: web.WebSocketResponse, combined: bool):
        self.a = a
        self.ws = ws
        self.combined = combined
        self.queue: asyncio.Queue = asyncio.Queue(WS_QUEUE)
        self.streams: dict[str, tuple] = {}  # stream name -> (registry, callback)
        self.too_slow = False

    def _push(self, stream: str, event: dict) -> None:
        self.enqueue({"stream": stream, "data": event} if self.combined else event)

    def enqueue(self, item: dict) -> None:
        """Queue one message for the connection (closing it when it is too far behind)."""
        if self.too_slow:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.too_slow = True
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)

    def resolve(self, name: str) -> str:
        """The canonical stream name; an error for a name that names no stream."""
        sym, at, kind = name.rpartition("@")
        if not at:
            if name in self.a.listen_keys:
                return name
            raise E.RestError(400, -1125, f"'{name}' is neither a stream nor a listen key.", "malformed")
        if kind not in ("depth", "trade", "status"):
            raise E.BadRequest(-1100, f"Unknown stream kind '{kind}': depth, trade or status.")
        if sym not in self.a.instruments:
            lower = {s.lower(): s for s in self.a.symbols}
            if sym.lower() not in lower:
                raise E.RestError(400, -1121, f"Invalid symbol '{sym}'.", "unknown_symbol")
            sym = lower[sym.lower()]
        return f"{sym}@{kind}"

    async def subscribe(self, names: list[str]) -> None:
        """Subscribe to streams (all names are checked before any is subscribed)."""
        resolved = [(n, self.resolve(n)) for n in names]
        for given, name in resolved:
            if given in self.streams:
                continue
            if "@" in name:
                registry = self.a.feed.listeners.setdefault(name, set())
                cb = functools.partial(self._push, given)
            else:
                session = await self.a.session(self.a.listen_keys[name].account)
                registry = session.listeners
                cb = self._user_callback(given, session)
            registry.add(cb)
            self.streams[given] = (registry, cb)

    def _user_callback(self, given: str, session: VenueSession):
        def on_report(r: list) -> None:
            if r[0] in P.BALANCE_EVS:
                self._push(given, balance_event(r))
            else:
                order = session.orders.get(oid=r[P.R_OID]) if r[P.R_OID] is not None else None
                self._push(given, execution_report(r, order))
        return on_report

    def unsubscribe(self, names: list[str]) -> None:
        """Stop streams (names not subscribed are ignored)."""
        for n in names:
            registry, cb = self.streams.pop(n, (None, None))
            if registry is not None:
                registry.discard(cb)

    async def write(self) -> None:
        """Send queued events until the connection ends (or falls too far behind)."""
        while True:
            item = await self.queue.get()
            if item is None:
                await self.ws.close(code=1008, message=b"too slow: events queued past the limit")
                return
            await self.ws.send_str(json.dumps(item, separators=(",", ":")))


async def _ws_request(sub: Subscriber, text: str) -> dict:
    msg_id = None
    try:
        try:
            msg = json.loads(text)
        except ValueError:
            raise E.BadRequest(-1100, "The message is not JSON.") from None
        if not isinstance(msg, dict):
            raise E.BadRequest(-1100, "A request is a JSON object.")
        msg_id = msg.get("id")
        if msg_id is not None and not isinstance(msg_id, int | str):
            msg_id = None
            raise E.BadRequest(-1100, "id must be an integer, a string or null.")
        if set(msg) - {"method", "params", "id"}:
            raise E.BadRequest(-1103, f"Unknown fields: {', '.join(sorted(set(msg) - {'method', 'params', 'id'}))}.")
        method, names = msg.get("method"), msg.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(sub.streams), "id": msg_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            raise E.BadRequest(-1100, "method must be SUBSCRIBE, UNSUBSCRIBE or LIST_SUBSCRIPTIONS.")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise E.BadRequest(-1100, "params must be a list of stream names.")
        if method == "SUBSCRIBE":
            await sub.subscribe(names)
        else:
            sub.unsubscribe(names)
        return {"result": None, "id": msg_id}
    except E.RestError as e:
        return {"error": e.body(), "id": msg_id}


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /ws, /ws/{streams} (raw events) and /stream?streams=a/b (combined: {"stream", "data"})."""
    a = _adapter(request)
    combined = request.path == "/stream"
    names = request.match_info.get("streams") if not combined else request.query.get("streams")
    names = [n for n in (names or "").split("/") if n]
    sub = Subscriber(a, web.WebSocketResponse(heartbeat=30), combined)
    try:
        await sub.subscribe(names)
    except E.RestError as e:
        return web.json_response(e.body(), status=e.status)
    ws = sub.ws
    await ws.prepare(request)
    writer = asyncio.create_task(sub.write())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                sub.enqueue(await _ws_request(sub, msg.data))
            elif msg.type == WSMsgType.BINARY:
                sub.enqueue({"error": E.BadRequest(-1100, "Binary frames are not accepted.").body(), "id": None})
    finally:
        sub.unsubscribe(list(sub.streams))
        writer.cancel()
    return ws


def build_app(adapter: RestAdapter) -> web.Application:
    """The aiohttp application serving the adapter's endpoints."""
    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024)
    app[ADAPTER] = adapter
    r = app.router
    r.add_get("/api/v3/ping", ping)
    r.add_get("/api/v3/time", server_time)
    r.add_get("/api/v3/exchangeInfo", exchange_info)
    r.add_get("/api/v3/depth", depth)
    r.add_get("/api/v3/trades", trades)
    r.add_post("/api/v3/order", new_order)
    r.add_delete("/api/v3/order", cancel_order)
    r.add_put("/api/v3/order", amend_order)
    r.add_get("/api/v3/order", query_order)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_delete("/api/v3/openOrders", cancel_all)
    r.add_get("/api/v3/account", account)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/api/v3/userDataStream", listen_key)
    r.add_get("/ws", websocket)
    r.add_get("/ws/{streams:.+}", websocket)
    r.add_get("/stream", websocket)
    return app


async def serve(adapter: RestAdapter, host: str, port: int, ready=None) -> None:
    """Start the adapter and serve until cancelled; ready(url) is called once it listens."""
    await adapter.start()
    runner = web.AppRunner(build_app(adapter), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    url = f"http://{host}:{bound}"
    if ready is not None:
        ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await adapter.close()

