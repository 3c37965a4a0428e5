"""The REST adapter (docs/rest-websocket.md) against a real `kabuto serve` and a real `kabuto rest`, over HTTP:
market data endpoints, signed order entry, order queries, account isolation and the errors."""
from __future__ import annotations

import time

import pytest
from restkit import API_KEY_HEADER, Http, RestProcess, RestVenue, fresh_timestamp, sign

from tests.gateway.gatewaykit import raw_snapshot


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    v = RestVenue(tmp_path_factory.mktemp("rest-api"))
    yield v
    assert v.stop() == (0, 0), "".join(v.rest.lines)


def order(http: Http, sym: str, side: str, qty: str, price: str | None = None, type: str = "LIMIT", **more):
    params = {"symbol": sym, "side": side, "type": type, "quantity": qty, **more}
    if price is not None:
        params["price"] = price
    return http.signed("POST", "/api/v3/order", **params)


def test_server_time_is_the_adapters_clock_in_milliseconds(rv):
    before = time.time_ns() // 1_000_000
    status, _, body = rv.http().get("/api/v3/time")
    assert status == 200 and before <= body["serverTime"] <= time.time_ns() // 1_000_000


def test_exchange_info_lists_every_instrument_with_tick_lot_min_qty_and_status(rv):
    status, _, body = rv.http().get("/api/v3/exchangeInfo")
    assert status == 200
    syms = {s["symbol"]: s for s in body["symbols"]}
    assert "TSLAx-USD" in syms and "AMZNx-USD" in syms
    amzn = syms["AMZNx-USD"]
    assert amzn["status"] == "TRADING" and amzn["baseAsset"] == "AMZNx" and amzn["quoteAsset"] == "USD"
    price, lot = amzn["filters"][0], amzn["filters"][1]
    assert price == {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "10995116277.76",
                     "tickSize": "0.01"}
    assert lot == {"filterType": "LOT_SIZE", "minQty": "0.010", "maxQty": "1099511627.776", "stepSize": "0.001"}
    assert syms["TSLAx-USD"]["kabuto"]["band_pct"] == "10"
    assert syms["ORC-USD"]["status"] == "HALT" and syms["ORC-USD"]["kabuto"]["status"] == "halted"


def test_a_limit_order_rests_and_is_listed_and_found_by_client_order_id(rv):
    alice = rv.http("alice")
    status, _, body = order(alice, "MDA-USD", "BUY", "1.500", "100.00", newClientOrderId="rest-a1")
    assert status == 200, body
    assert body["status"] == "NEW" and body["clientOrderId"] == "rest-a1" and body["origQty"] == "1.500"
    assert body["price"] == "100.00" and body["executedQty"] == "0.000" and body["fills"] == []
    listed = alice.ok("GET", "/api/v3/openOrders", symbol="MDA-USD")
    assert [(o["clientOrderId"], o["orderId"]) for o in listed] == [("rest-a1", body["orderId"])]
    found = alice.ok("GET", "/api/v3/order", symbol="MDA-USD", origClientOrderId="rest-a1")
    assert found["orderId"] == body["orderId"] and found["status"] == "NEW"
    assert alice.ok("GET", "/api/v3/order", orderId=body["orderId"])["clientOrderId"] == "rest-a1"


def test_a_crossing_order_fills_and_its_answer_carries_the_fills(rv):
    alice, bob = rv.http("alice"), rv.http("bob")
    assert order(alice, "MDB-USD", "SELL", "2.000", "50.00", newClientOrderId="m1")[0] == 200
    status, _, body = order(bob, "MDB-USD", "BUY", "3.000", "51.00", newClientOrderId="t1")
    assert status == 200, body
    assert body["status"] == "PARTIALLY_FILLED" and body["executedQty"] == "2.000"
    assert body["cummulativeQuoteQty"] == "100.00000"
    assert [(f["price"], f["qty"], f["isMaker"]) for f in body["fills"]] == [("50.00", "2.000", False)]
    maker = alice.ok("GET", "/api/v3/order", origClientOrderId="m1")
    assert maker["status"] == "FILLED" and maker["executedQty"] == "2.000"


def test_a_market_order_that_finds_nothing_expires(rv):
    status, _, body = order(rv.http("carol"), "SES-USD", "BUY", "1.000", type="MARKET")
    assert status == 200, body
    assert body["status"] == "EXPIRED" and body["type"] == "MARKET" and body["timeInForce"] == "IOC"


def test_cancel_by_client_order_id_and_by_order_id(rv):
    dave = rv.http("dave")
    a = order(dave, "L3A-USD", "BUY", "1.000", "10.00", newClientOrderId="c1")[2]
    b = order(dave, "L3A-USD", "BUY", "1.000", "11.00", newClientOrderId="c2")[2]
    assert dave.ok("DELETE", "/api/v3/order", symbol="L3A-USD", origClientOrderId="c1")["status"] == "CANCELED"
    assert dave.ok("DELETE", "/api/v3/order", symbol="L3A-USD", orderId=b["orderId"])["status"] == "CANCELED"
    assert dave.ok("GET", "/api/v3/openOrders", symbol="L3A-USD") == []
    assert dave.ok("GET", "/api/v3/order", orderId=a["orderId"])["status"] == "CANCELED"


def test_amend_changes_price_and_open_quantity(rv):
    erin = rv.http("erin")
    order(erin, "REF-USD", "SELL", "5.000", "20.00", newClientOrderId="am1")
    body = erin.ok("PUT", "/api/v3/order", symbol="REF-USD", origClientOrderId="am1", price="21.00", quantity="4.000")
    assert body["price"] == "21.00" and body["origQty"] == "4.000" and body["status"] == "NEW"
    [listed] = erin.ok("GET", "/api/v3/openOrders", symbol="REF-USD")
    assert listed["price"] == "21.00" and listed["kabuto"]["open"] == "4.000"


def test_cancel_all_cancels_every_live_order_of_the_symbol_and_lists_them(rv):
    mm = rv.http("mm1")
    for i in range(3):
        order(mm, "CAP-USD", "BUY", "1.000", f"1{i}.00", newClientOrderId=f"ca{i}")
    order(mm, "SEQ-USD", "BUY", "1.000", "10.00", newClientOrderId="keep")
    canceled = mm.ok("DELETE", "/api/v3/openOrders", symbol="CAP-USD")
    assert sorted(o["clientOrderId"] for o in canceled) == ["ca0", "ca1", "ca2"]
    assert all(o["status"] == "CANCELED" for o in canceled)
    assert mm.ok("GET", "/api/v3/openOrders", symbol="CAP-USD") == []
    assert [o["clientOrderId"] for o in mm.ok("GET", "/api/v3/openOrders", symbol="SEQ-USD")] == ["keep"]


@pytest.mark.parametrize("params, reason", [
    ({"price": "10.001"}, "bad_price"),
    ({"quantity": "0.0001"}, "bad_qty"),
    ({"symbol": "AMZNx-USD", "quantity": "0.005"}, "bad_qty"),
    ({"timeInForce": "FOK", "quantity": "1.000"}, "fok"),
])
def test_a_new_order_the_venue_rejects_is_2010_with_the_venue_reason(rv, params, reason):
    base = {"symbol": "MDC-USD", "side": "SELL", "type": "LIMIT", "quantity": "1.000", "price": "10.00"}
    status, _, body = rv.http("carol").signed("POST", "/api/v3/order", **{**base, **params})
    if reason == "fok":  # a FOK that cannot fill is not a reject: it expires
        assert status == 200 and body["status"] == "EXPIRED"
        return
    assert (status, body["code"], body["reason"]) == (400, -2010, reason), body


def test_a_duplicate_client_order_id_is_rejected(rv):
    carol = rv.http("carol")
    assert order(carol, "BAD-USD", "BUY", "1.000", "5.00", newClientOrderId="dup")[0] == 200
    status, _, body = order(carol, "BAD-USD", "BUY", "1.000", "5.00", newClientOrderId="dup")
    assert (status, body["code"], body["reason"]) == (400, -2010, "duplicate_oid")


def test_a_post_only_order_that_would_take_is_rejected(rv):
    alice, bob = rv.http("alice"), rv.http("bob")
    order(alice, "BTC-USD", "SELL", "0.10000", "100.00")
    status, _, body = order(bob, "BTC-USD", "BUY", "0.10000", "100.00", type="LIMIT_MAKER")
    assert (status, body["code"], body["reason"]) == (400, -2010, "would_take")


def test_canceling_an_unknown_order_is_2011_and_querying_it_2013(rv):
    status, _, body = rv.http("bob").signed("DELETE", "/api/v3/order", origClientOrderId="never")
    assert (status, body["code"], body["reason"]) == (400, -2011, "unknown_order")
    status, _, body = rv.http("bob").signed("GET", "/api/v3/order", origClientOrderId="never")
    assert (status, body["code"], body["reason"]) == (400, -2013, "unknown_order")


def test_an_account_cannot_see_or_cancel_another_accounts_orders(rv):
    alice, bob = rv.http("alice"), rv.http("bob")
    order(alice, "ETH-USD", "BUY", "1.0000", "10.00", newClientOrderId="mine")
    assert bob.ok("GET", "/api/v3/openOrders", symbol="ETH-USD") == []
    status, _, body = bob.signed("DELETE", "/api/v3/order", origClientOrderId="mine")
    assert (status, body["reason"]) == (400, "unknown_order")
    assert [o["clientOrderId"] for o in alice.ok("GET", "/api/v3/openOrders", symbol="ETH-USD")] == ["mine"]


def test_the_depth_snapshot_is_the_venues_book_at_its_update_id(rv):
    alice = rv.http("alice")
    order(alice, "HALT-USD", "BUY", "1.000", "99.00")
    order(alice, "HALT-USD", "BUY", "2.000", "98.00")
    order(alice, "HALT-USD", "SELL", "1.500", "101.00")
    venue = raw_snapshot(rv.venue, "HALT-USD")
    deadline = time.monotonic() + 60
    while True:  # the adapter's copy follows the feed
        status, headers, body = rv.http().get("/api/v3/depth", symbol="HALT-USD", limit=5)
        if body.get("lastUpdateId", -1) >= venue[3] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert status == 200 and int(headers["X-KABUTO-USED-WEIGHT-1M"]) >= 1
    assert body == {"lastUpdateId": venue[3], "bids": [["99.00", "1.000"], ["98.00", "2.000"]],
                    "asks": [["101.00", "1.500"]]}


def test_recent_trades_list_the_trades_oldest_first(rv):
    alice, bob = rv.http("alice"), rv.http("bob")
    order(alice, "SES-USD", "SELL", "1.000", "30.00")
    order(alice, "SES-USD", "SELL", "1.000", "31.00")
    order(bob, "SES-USD", "BUY", "2.000", "31.00")
    deadline = time.monotonic() + 60
    while len(body := rv.http().get("/api/v3/trades", symbol="SES-USD")[2]) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(t["price"], t["qty"], t["isBuyerMaker"]) for t in body] == [("30.00", "1.000", False),
                                                                          ("31.00", "1.000", False)]
    assert body[0]["id"] < body[1]["id"]


def test_balances_on_a_venue_with_risk_off_are_an_unsupported_operation(rv):
    status, _, body = rv.http("alice").signed("GET", "/api/v3/account")
    assert (status, body["code"], body["reason"]) == (400, -1020, "malformed")


# ---------------------------------------------------------------------------------------------- bad input


def test_a_missing_api_key_header_is_2014(rv):
    status, _, body = Http(rv.url).raw("GET", "/api/v3/openOrders", rv.http("alice").signed_query({}))
    assert (status, body["code"], body["reason"]) == (401, -2014, "not_authorized")


def test_an_unknown_api_key_is_2015(rv):
    q = rv.http("alice").signed_query({})
    status, _, body = Http(rv.url).raw("GET", "/api/v3/openOrders", q, headers={API_KEY_HEADER: "nobody"})
    assert (status, body["code"], body["reason"]) == (401, -2015, "not_authorized")


def test_a_signature_made_with_another_secret_is_1022(rv):
    alice, bob = rv.keys["alice"], rv.keys["bob"]
    q = Http(rv.url).signed_query({"symbol": "MDA-USD"}, key=bob)  # bob's secret under alice's key
    status, _, body = Http(rv.url).raw("GET", "/api/v3/openOrders", q, headers={API_KEY_HEADER: alice.key})
    assert (status, body["code"], body["reason"]) == (400, -1022, "not_authorized")


def test_a_parameter_changed_after_signing_is_1022(rv):
    alice = rv.keys["alice"]
    q = Http(rv.url).signed_query({"symbol": "MDA-USD"}, key=alice).replace("MDA-USD", "MDB-USD")
    status, _, body = Http(rv.url).raw("GET", "/api/v3/openOrders", q, headers={API_KEY_HEADER: alice.key})
    assert (status, body["code"]) == (400, -1022)


@pytest.mark.parametrize("offset", [-10_000, +5_000])
def test_a_timestamp_outside_the_receive_window_is_1021(rv, offset):
    http = rv.http("alice")
    status, _, body = http.raw("GET", "/api/v3/openOrders", http.signed_query({}, timestamp=fresh_timestamp() + offset),
                               headers={API_KEY_HEADER: http.key.key})
    assert (status, body["code"], body["reason"]) == (400, -1021, "not_authorized")


def test_a_replayed_request_is_1021_and_does_nothing(rv):
    http = rv.http("erin")
    q = http.signed_query({"symbol": "ETH-USD", "side": "BUY", "type": "LIMIT", "quantity": "1.000",
                           "price": "10.00", "newClientOrderId": "once"})
    first = http.raw("POST", "/api/v3/order", q, headers={API_KEY_HEADER: http.key.key})
    again = http.raw("POST", "/api/v3/order", q, headers={API_KEY_HEADER: http.key.key})
    assert first[0] == 200
    assert (again[0], again[2]["code"], again[2]["reason"]) == (400, -1021, "not_authorized")
    assert len(http.ok("GET", "/api/v3/openOrders", symbol="ETH-USD")) == 1


def test_a_receive_window_over_a_minute_is_rejected(rv):
    status, _, body = rv.http("alice").signed("GET", "/api/v3/openOrders", recvWindow=60001)
    assert (status, body["code"], body["reason"]) == (400, -1130, "malformed")


@pytest.mark.parametrize("params, code", [
    ({"side": "UP"}, -1117),
    ({"type": "STOP"}, -1116),
    ({"timeInForce": "GTX"}, -1115),
    ({"quantity": "1e3"}, -1100),
    ({"price": None}, -1102),
    ({"colour": "red"}, -1103),
    ({"selfTradePreventionMode": "NONE"}, -1130),
])
def test_bad_order_parameters_are_rejected_before_the_venue(rv, params, code):
    base = {"symbol": "MDC-USD", "side": "BUY", "type": "LIMIT", "quantity": "1.000", "price": "1.00"}
    merged = {k: v for k, v in {**base, **params}.items() if v is not None}
    status, _, body = rv.http("bob").signed("POST", "/api/v3/order", **merged)
    assert (status, body["code"], body["reason"]) == (400, code, "malformed"), body


def test_a_json_body_is_rejected_as_malformed(rv):
    key = rv.keys["bob"]
    status, _, body = Http(rv.url).raw("POST", "/api/v3/order", body='{"symbol": "MDC-USD", "side": "BUY"',
                                       headers={API_KEY_HEADER: key.key, "Content-Type": "application/json"})
    assert (status, body["code"], body["reason"]) == (400, -1100, "malformed")


def test_a_signed_form_body_is_accepted(rv):
    key = rv.keys["dave"]
    params = f"symbol=SEQ-USD&side=SELL&type=LIMIT&quantity=1.000&price=500.00&timestamp={fresh_timestamp()}"
    body = params + "&signature=" + sign(key.secret, params)
    status, _, answer = Http(rv.url).raw("POST", "/api/v3/order", body=body, headers={
        API_KEY_HEADER: key.key, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and answer["status"] == "NEW"


def test_a_duplicated_parameter_is_rejected(rv):
    http = rv.http("bob")
    q = "symbol=MDC-USD&symbol=MDB-USD&timestamp=" + str(fresh_timestamp())
    q += "&signature=" + sign(http.key.secret, q)
    status, _, body = http.raw("GET", "/api/v3/openOrders", q, headers={API_KEY_HEADER: http.key.key})
    assert (status, body["code"], body["reason"]) == (400, -1101, "malformed")


def test_an_unknown_endpoint_is_a_json_404(rv):
    status, _, body = Http(rv.url).raw("GET", "/api/v3/nothing")
    assert status == 404 and body["code"] == -1000 and body["reason"] == "malformed"


def test_a_body_over_64_kib_is_a_json_413(rv):
    status, _, body = Http(rv.url).raw("POST", "/api/v3/order", body="a=" + "x" * 70_000,
                                       headers={API_KEY_HEADER: rv.keys["carol"].key})
    assert status == 413 and body["code"] == -1000 and body["reason"] == "malformed"


def test_garbage_from_one_client_does_not_disturb_another(rv):
    garbage = Http(rv.url)
    for _ in range(20):
        answers = [garbage.raw("POST", "/api/v3/order", body=b"\xff\xfe{{{",
                               headers={API_KEY_HEADER: rv.keys["carol"].key}),
                   garbage.raw("GET", "/api/v3/openOrders", "timestamp=1&signature=00", headers={API_KEY_HEADER: "x"})]
        assert [(s, b["code"]) for s, _, b in answers] == [(400, -1100), (401, -2015)]
    status, _, body = order(rv.http("carol"), "MDC-USD", "BUY", "1.000", "2.00", newClientOrderId="after")
    assert status == 200 and body["status"] == "NEW"


def test_rate_limits_are_reported_in_headers_and_enforced(rv):
    limited = RestProcess(rv.data_dir, rv.key_file, ["--weight-limit", "5"])
    try:
        http = Http(limited.url, rv.keys["mm1"])
        used = []
        for _ in range(11):  # 5 a minute: one window turning over lets at most 10 through
            status, headers, body = http.signed("GET", "/api/v3/openOrders", symbol="MDC-USD")
            if status == 429:
                break
            used.append(int(headers["X-KABUTO-USED-WEIGHT-1M"]))
        assert status == 429, used
        assert body == {"code": -1003, "msg": body["msg"], "reason": "rate_limit"}
        assert int(headers["Retry-After"]) >= 1 and headers["X-KABUTO-USED-WEIGHT-1M"] == "5"
        assert all(b == a + 1 or b == 1 for a, b in zip([0] + used, used)), used
    finally:
        assert limited.stop() == 0


def test_exchange_info_for_some_symbols_and_its_bad_requests(rv):
    http = rv.http()
    status, _, body = http.get("/api/v3/exchangeInfo", symbols='["BTC-USD","ETH-USD"]')
    assert status == 200 and [s["symbol"] for s in body["symbols"]] == ["BTC-USD", "ETH-USD"]
    for params, code in (({"symbols": "BTC-USD"}, -1100), ({"symbols": '["NOPE"]'}, -1121),
                         ({"symbol": "BTC-USD", "symbols": '["BTC-USD"]'}, -1106)):
        assert http.get("/api/v3/exchangeInfo", **params)[2]["code"] == code


def test_an_ack_answer_carries_only_the_ids(rv):
    status, _, body = order(rv.http("dave"), "MDC-USD", "SELL", "1.000", "900.00", newClientOrderId="ack",
                            newOrderRespType="ACK")
    assert status == 200 and sorted(body) == ["clientOrderId", "orderId", "orderListId", "symbol", "transactTime"]
