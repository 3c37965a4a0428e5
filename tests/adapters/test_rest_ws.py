"""The adapter's WebSocket streams (docs/rest-websocket.md) against a real venue and `kabuto rest`: depth diffs a
client syncs exactly as Binance documents, trades, trading status, the user data stream, and bad input."""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pytest
from restkit import API_KEY_HEADER, OPERATOR, Http, RestVenue

from tests.gateway.gatewaykit import raw_snapshot

WAIT = 60.0  # generous: only a broken adapter waits it out


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    v = RestVenue(tmp_path_factory.mktemp("rest-ws"))
    yield v
    assert v.stop() == (0, 0), "".join(v.rest.lines)


def ws_url(rv, path: str) -> str:
    return rv.url.replace("http://", "ws://") + path


async def next_json(ws, pred=lambda m: True) -> dict:
    """The next message matching pred."""
    deadline = time.monotonic() + WAIT
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if pred(data):
            return data


async def rest(http: Http, method: str, path: str, **params):
    return await asyncio.to_thread(http.ok, method, path, **params)


async def post_order(http: Http, sym: str, side: str, qty: str, px: str, **more) -> dict:
    return await rest(http, "POST", "/api/v3/order", symbol=sym, side=side, type="LIMIT", quantity=qty, price=px,
                      **more)


def test_a_client_keeps_a_local_book_from_depth_diffs_and_a_snapshot_as_binance_documents(rv):
    sym = "MDA-USD"
    alice, bob = rv.http("alice"), rv.http("bob")

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rv, f"/ws/{sym}@depth")) as ws:
            events = []

            async def reader():
                while True:
                    events.append(await next_json(ws))
            task = asyncio.create_task(reader())
            for i in range(4):  # 1. open the stream and buffer; the book moves meanwhile
                await post_order(alice, sym, "BUY", "1.000", f"{90 + i}.00")
            snapshot = (await asyncio.to_thread(rv.http().get, "/api/v3/depth", symbol=sym, limit=100))[2]  # 2.
            for i in range(3):
                await post_order(alice, sym, "SELL", "2.000", f"{100 + i}.00")
            await post_order(bob, sym, "BUY", "3.000", "101.00")  # trades 2.000 at 100, 1.000 at 101
            venue = raw_snapshot(rv.venue, sym)
            deadline = time.monotonic() + WAIT
            while not (events and events[-1]["u"] >= venue[3]) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            task.cancel()
            return events, snapshot, venue

    events, snapshot, venue = asyncio.run(scenario())
    assert all(e["e"] == "depthUpdate" and e["s"] == sym for e in events)
    assert all(b["U"] == a["u"] + 1 for a, b in zip(events, events[1:])), "the stream has no holes"
    book = {"b": {p: q for p, q in snapshot["bids"]}, "a": {p: q for p, q in snapshot["asks"]}}
    last = snapshot["lastUpdateId"]
    applied = [e for e in events if e["u"] > last]  # 3. drop what the snapshot holds
    assert applied and applied[0]["U"] <= last + 1 <= applied[0]["u"]  # 4. the first spans the snapshot's id + 1
    for e in applied:
        for side in ("b", "a"):
            for px, qty in e[side]:
                if Decimal(qty):
                    book[side][px] = qty
                else:
                    book[side].pop(px, None)
    assert applied[-1]["u"] == venue[3]
    bids = sorted(book["b"].items(), key=lambda kv: -Decimal(kv[0]))
    asks = sorted(book["a"].items(), key=lambda kv: Decimal(kv[0]))
    assert [list(x) for x in bids] == venue[4] and [list(x) for x in asks] == venue[5]
    assert venue[4] == [["93.00", "1.000"], ["92.00", "1.000"], ["91.00", "1.000"], ["90.00", "1.000"]]
    assert venue[5] == [["101.00", "1.000"], ["102.00", "2.000"]]


def test_the_trade_stream_carries_every_trade(rv):
    sym = "MDB-USD"

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rv, f"/ws/{sym}@trade")) as ws:
            await post_order(rv.http("alice"), sym, "SELL", "1.000", "10.00")
            await post_order(rv.http("bob"), sym, "BUY", "1.000", "10.00")
            return await next_json(ws)

    t = asyncio.run(scenario())
    assert (t["e"], t["s"], t["p"], t["q"], t["m"]) == ("trade", sym, "10.00", "1.000", False)
    assert isinstance(t["t"], int) and isinstance(t["T"], int)


def test_the_status_stream_tells_a_halt(rv):
    sym = "SES-USD"
    op = rv.venue.client(OPERATOR)

    async def scenario():
        url = ws_url(rv, f"/stream?streams={sym}@status")
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            op.wait_reply(op.halt(sym))
            return await next_json(ws)

    msg = asyncio.run(scenario())
    assert msg["stream"] == f"{sym}@status"
    assert (msg["data"]["e"], msg["data"]["s"], msg["data"]["status"]) == ("status", sym, "halted")
    info = rv.http().get("/api/v3/exchangeInfo", symbol=sym)[2]["symbols"][0]
    assert info["status"] == "HALT" and info["kabuto"]["status"] == "halted"


def test_the_user_data_stream_carries_the_accounts_order_and_fill_updates_only(rv):
    sym = "L3A-USD"
    carol, dave = rv.http("carol"), rv.http("dave")

    async def scenario():
        lk_carol = (await asyncio.to_thread(carol.raw, "POST", "/api/v3/userDataStream",
                                            headers={API_KEY_HEADER: carol.key.key}))[2]["listenKey"]
        lk_dave = (await asyncio.to_thread(dave.raw, "POST", "/api/v3/userDataStream",
                                           headers={API_KEY_HEADER: dave.key.key}))[2]["listenKey"]
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rv, f"/ws/{lk_carol}")) as wc, \
                s.ws_connect(ws_url(rv, f"/ws/{lk_dave}")) as wd:
            await post_order(carol, sym, "SELL", "2.000", "15.00", newClientOrderId="cx")
            new = await next_json(wc)
            await post_order(dave, sym, "BUY", "2.000", "15.00", newClientOrderId="dx")
            fill = await next_json(wc, lambda m: m["x"] == "TRADE")
            dave_events = [await next_json(wd), await next_json(wd)]
            return new, fill, dave_events

    new, fill, dave_events = asyncio.run(scenario())
    assert (new["e"], new["c"], new["x"], new["X"], new["S"], new["q"], new["p"]) == (
        "executionReport", "cx", "NEW", "NEW", "SELL", "2.000", "15.00")
    assert (fill["c"], fill["l"], fill["L"], fill["z"], fill["X"], fill["m"]) == (
        "cx", "2.000", "15.00", "2.000", "FILLED", True)
    assert [e["c"] for e in dave_events] == ["dx", "dx"] and dave_events[1]["m"] is False


def test_bad_websocket_requests_get_errors_and_the_connection_goes_on(rv):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(rv, "/ws")) as ws:
            answers = []
            for text in ("not json", "[1, 2]", json.dumps({"method": "SUBSCRIBE", "params": ["NOPE@depth"], "id": 1}),
                         json.dumps({"method": "SUBSCRIBE", "params": ["MDC-USD@candles"], "id": 2}),
                         json.dumps({"method": "DANCE", "id": 3}),
                         json.dumps({"method": "SUBSCRIBE", "params": ["mdc-usd@trade"], "id": 4}),
                         json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 5})):
                await ws.send_str(text)
                answers.append(await next_json(ws))
            await ws.send_bytes(b"\x00\x01")
            answers.append(await next_json(ws))
            return answers

    a = asyncio.run(scenario())
    assert a[0] == {"error": {"code": -1100, "msg": "The message is not JSON.", "reason": "malformed"}, "id": None}
    assert a[1]["error"]["code"] == -1100
    assert (a[2]["error"]["code"], a[2]["error"]["reason"], a[2]["id"]) == (-1121, "unknown_symbol", 1)
    assert (a[3]["error"]["code"], a[3]["id"]) == (-1100, 2)
    assert (a[4]["error"]["code"], a[4]["id"]) == (-1100, 3)
    assert a[5] == {"result": None, "id": 4} and a[6] == {"result": ["mdc-usd@trade"], "id": 5}
    assert a[7]["error"]["code"] == -1100


def test_an_unknown_listen_key_or_stream_is_refused_at_connect(rv):
    for path, code in (("/ws/not-a-listen-key", -1125), ("/ws/NOPE@depth", -1121)):
        status, _, body = Http(rv.url).raw("GET", path)
        assert (status, body["code"]) == (400, code)


def test_a_listen_key_can_only_be_closed_by_its_own_api_key(rv):
    erin, mm = rv.http("erin"), rv.http("mm1")
    lk = erin.raw("POST", "/api/v3/userDataStream", headers={API_KEY_HEADER: erin.key.key})[2]["listenKey"]
    status, _, body = mm.raw("DELETE", "/api/v3/userDataStream", f"listenKey={lk}",
                             headers={API_KEY_HEADER: mm.key.key})
    assert (status, body["code"], body["reason"]) == (400, -1125, "not_authorized")
    assert erin.raw("PUT", "/api/v3/userDataStream", f"listenKey={lk}",
                    headers={API_KEY_HEADER: erin.key.key})[0] == 200
    assert erin.raw("DELETE", "/api/v3/userDataStream", f"listenKey={lk}",
                    headers={API_KEY_HEADER: erin.key.key})[0] == 200
    assert Http(rv.url).raw("GET", f"/ws/{lk}")[0] == 400
