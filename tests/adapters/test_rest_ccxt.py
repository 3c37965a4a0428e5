"""The ccxt exchange class (adapters/rest/ccxt_kabuto.py) against a live venue with risk on and a live
`kabuto rest`: markets, balances, orders, cancels, the order book by REST and watched over WebSocket, errors."""
from __future__ import annotations

import asyncio

import pytest
from ccxt.base import errors as X
from kabuto.adapters.rest.ccxt_kabuto import kabuto
from restkit import OPERATOR, RestVenue

TSLA = "TSLAx/USD"


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    v = RestVenue(tmp_path_factory.mktemp("rest-ccxt"), risk=True)
    op = v.venue.client(OPERATOR)
    for account, asset, amount in (("alice", "USD", "100000"), ("bob", "USD", "100000"), ("bob", "TSLAx", "50"),
                                   ("carol", "TSLAx", "5")):
        op.wait_reply(op.deposit(account, asset, amount))
    yield v
    assert v.stop() == (0, 0), "".join(v.rest.lines)


def exchange(rv, account: str, secret: str | None = None) -> kabuto:
    key = rv.keys[account]
    return kabuto({"apiKey": key.key, "secret": secret or key.secret, "urls": {"api": {"rest": rv.url}}})


def run(rv, account: str, body, secret: str | None = None):
    """Run body(exchange) on a fresh exchange object, closed afterwards."""
    async def main():
        ex = exchange(rv, account, secret)
        try:
            return await body(ex)
        finally:
            await ex.close()
    return asyncio.run(main())


def test_markets_carry_tick_lot_and_minimum(rv):
    async def body(ex):
        return await ex.load_markets()
    markets = run(rv, "alice", body)
    m = markets[TSLA]
    assert (m["id"], m["base"], m["quote"], m["active"]) == ("TSLAx-USD", "TSLAx", "USD", True)
    assert m["precision"] == {"amount": 0.001, "price": 0.01, "cost": None, "base": None, "quote": None} or \
        (m["precision"]["amount"], m["precision"]["price"]) == (0.001, 0.01)
    assert m["limits"]["amount"]["min"] == 0.001


def test_fetch_balance_gives_free_used_and_total(rv):
    async def body(ex):
        before = await ex.fetch_balance()
        order = await ex.create_order(TSLA, "limit", "sell", 2, 260)
        after = await ex.fetch_balance()
        await ex.cancel_order(order["id"])
        return before, after
    before, after = run(rv, "carol", body)
    assert before["TSLAx"] == {"free": 5.0, "used": 0.0, "total": 5.0}
    assert after["TSLAx"] == {"free": 3.0, "used": 2.0, "total": 5.0}


def test_create_fetch_open_and_cancel_an_order(rv):
    async def body(ex):
        order = await ex.create_order(TSLA, "limit", "buy", 1.5, 240.5, {"clientOrderId": "cc1"})
        listed = await ex.fetch_open_orders(TSLA)
        fetched = await ex.fetch_order(None, TSLA, {"clientOrderId": "cc1"})
        canceled = await ex.cancel_order(order["id"], TSLA)
        return order, listed, fetched, canceled, await ex.fetch_open_orders(TSLA)
    order, listed, fetched, canceled, after = run(rv, "alice", body)
    assert (order["status"], order["side"], order["price"], order["amount"], order["filled"]) == (
        "open", "buy", 240.5, 1.5, 0.0)
    assert [o["clientOrderId"] for o in listed] == ["cc1"] and fetched["id"] == order["id"]
    assert canceled["status"] == "canceled" and after == []


def test_an_order_that_trades_is_closed_with_its_fills(rv):
    async def body_bob(ex):
        return await ex.create_order(TSLA, "limit", "sell", 1, 251)

    async def body_alice(ex):
        return await ex.create_order(TSLA, "limit", "buy", 1, 251)
    maker = run(rv, "bob", body_bob)
    taker = run(rv, "alice", body_alice)
    assert taker["status"] == "closed" and taker["filled"] == 1.0 and taker["cost"] == 251.0
    assert taker["trades"][0]["price"] == 251.0 and taker["trades"][0]["takerOrMaker"] == "taker"

    async def check(ex):
        return await ex.fetch_order(maker["id"])
    assert run(rv, "bob", check)["status"] == "closed"


def test_cancel_all_orders_cancels_every_live_order_of_the_symbol(rv):
    async def body(ex):
        for px in (230, 231, 232):
            await ex.create_order(TSLA, "limit", "buy", 0.5, px)
        canceled = await ex.cancel_all_orders(TSLA)
        return canceled, await ex.fetch_open_orders(TSLA)
    canceled, after = run(rv, "bob", body)
    assert sorted(o["price"] for o in canceled) == [230.0, 231.0, 232.0] and after == []


def test_fetch_order_book_and_watch_order_book_follow_the_book(rv):
    async def body(ex):
        await ex.create_order(TSLA, "limit", "buy", 1, 233)
        for _ in range(6000):  # the depth follows the feed, which may come after the order's answer
            snap = await ex.fetch_order_book(TSLA)
            if snap["bids"]:
                break
            await asyncio.sleep(0.01)
        first = await ex.watch_order_book(TSLA)
        await ex.create_order(TSLA, "limit", "buy", 2, 234)
        for _ in range(100):  # each call returns after the next depth update
            book = await ex.watch_order_book(TSLA)
            if [234.0, 2.0] in book["bids"]:
                break
        await ex.cancel_all_orders(TSLA)
        return snap, first, book
    snap, first, book = run(rv, "alice", body)
    assert [233.0, 1.0] in snap["bids"] and isinstance(snap["nonce"], int)
    assert [233.0, 1.0] in first["bids"] and first["nonce"] >= snap["nonce"]
    assert book["bids"][0] == [234.0, 2.0] and book["nonce"] > first["nonce"]


def test_errors_are_ccxt_exceptions(rv):
    async def body(ex):
        out = []
        for call in (lambda: ex.create_order(TSLA, "limit", "buy", 1, 300),  # outside the band
                     lambda: ex.create_order(TSLA, "limit", "buy", 100000, 250),
                     lambda: ex.cancel_order("999999"),
                     lambda: ex.fetch_order_book("NOPE/USD")):
            try:
                await call()
                out.append(None)
            except X.BaseError as e:
                out.append(type(e))
        return out
    assert run(rv, "alice", body) == [X.InvalidOrder, X.InsufficientFunds, X.OrderNotFound, X.BadSymbol]


def test_a_wrong_secret_is_an_authentication_error(rv):
    async def body(ex):
        await ex.fetch_open_orders(TSLA)
    with pytest.raises(X.AuthenticationError):
        run(rv, "alice", body, secret="0" * 64)


def test_the_account_endpoint_lists_free_and_locked_per_asset(rv):
    http = rv.http("dave")
    op = rv.venue.client(OPERATOR)
    op.wait_reply(op.deposit("dave", "USD", "1000"))
    body = http.ok("GET", "/api/v3/account")
    assert body["balances"] == [{"asset": "USD", "free": "1000.000000", "locked": "0.000000"}]


def test_the_user_data_stream_carries_balance_updates_with_risk_on(rv):
    import json

    import aiohttp
    from restkit import API_KEY_HEADER
    erin = rv.http("erin")
    lk = erin.raw("POST", "/api/v3/userDataStream", headers={API_KEY_HEADER: erin.key.key})[2]["listenKey"]
    op = rv.venue.client(OPERATOR)

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(rv.url.replace("http", "ws") + f"/ws/{lk}") as ws:
            await asyncio.to_thread(lambda: op.wait_reply(op.deposit("erin", "USD", "250")))
            return [json.loads((await ws.receive(timeout=60)).data) for _ in range(2)]
    events = asyncio.run(scenario())
    by_kind = {e["e"]: e for e in events}
    assert by_kind["balanceUpdate"]["a"] == "USD" and by_kind["balanceUpdate"]["d"] == "250.000000"
    assert by_kind["outboundAccountPosition"]["B"] == [{"a": "USD", "f": "250.000000", "l": "0.000000"}]
