"""The Alpaca simulator over loopback with raw HTTP and websocket clients: status codes, error bodies,
rate-limit headers, order semantics, market data, stream framing and injected faults."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from email.utils import parsedate_to_datetime

import httpx
import msgpack
import pytest
import trio
import trio_websocket

from orch.sim.clock import ALL_CLOSED, ALL_OPEN, SimClock
from orch.sim.runner import start_simulator

from orch_alpaca.sim import SIM_KEY_ID, SIM_SECRET_KEY, SPEC, AlpacaSim

AUTH = {"APCA-API-KEY-ID": SIM_KEY_ID, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
async def running(nursery):
    return await start_simulator(nursery, SPEC, clock=SimClock(wall=ALL_OPEN))


@pytest.fixture
def sim(running) -> AlpacaSim:
    return AlpacaSim.of(running.engine)


@pytest.fixture
async def client(running):
    async with httpx.AsyncClient(base_url=running.url, headers=AUTH) as http:
        yield http


def order(**fields):
    return {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1", **fields}


async def place(client, **fields) -> dict:
    answer = await client.post("/v2/orders", json=order(**fields))
    assert answer.status_code == 200, answer.text
    return answer.json()


# ------------------------------------------------------------------------------------- auth, budget


async def test_unauthorized_body_and_rate_limit_headers_on_every_answer(running, client):
    for headers in ({}, {**AUTH, "APCA-API-SECRET-KEY": "wrong"}, {"APCA-API-KEY-ID": "PKNOPE"}):
        async with httpx.AsyncClient(base_url=running.url) as anonymous:
            answer = await anonymous.get("/v2/account", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"message": "unauthorized."}
        assert "x-ratelimit-limit" in answer.headers
    good = await client.get("/v2/account")
    assert good.status_code == 200
    assert good.headers["x-ratelimit-limit"] == "200"
    assert int(good.headers["x-ratelimit-remaining"]) == 199
    reset = int(good.headers["x-ratelimit-reset"])
    served = parsedate_to_datetime(good.headers["date"]).timestamp()
    assert 0 < reset - served <= 61


async def test_rate_limit_429_body_and_counters(sim, client):
    sim.options.rate_limit = 3
    answers = [await client.get("/v2/clock") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json() == {"code": 42910000, "message": "too many requests"}
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "3" for a in answers)
    assert sim.counters.requests == 4
    assert sim.counters.rate_limited == 1
    assert sim.counters.endpoints["GET /v2/clock"] == 4
    # Market data has its own budget.
    assert (await client.get("/v2/stocks/quotes/latest", params={"symbols": "AAPL"})).status_code == 200


# ------------------------------------------------------------------------------------- orders


async def test_order_json_shape_and_market_fill(running, sim, client):
    placed = await place(client, qty=2.0, client_order_id="shape-1")
    assert placed["status"] == "new" and placed["filled_qty"] == "0"
    uuid.UUID(placed["id"])
    uuid.UUID(placed["asset_id"])
    assert placed["qty"] == "2" and placed["client_order_id"] == "shape-1"
    assert all(RFC3339.match(placed[k]) for k in ("created_at", "updated_at", "submitted_at"))
    ask = running.engine.quote("AAPL").ask
    running.engine.step()
    filled = (await client.get(f"/v2/orders/{placed['id']}")).json()
    assert filled["status"] == "filled"
    assert Decimal(filled["filled_avg_price"]) == ask
    assert filled["filled_qty"] == "2" and RFC3339.match(filled["filled_at"])
    assert sim.counters.orders_created == 1
    by_client = (await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "shape-1"})).json()
    assert by_client["id"] == placed["id"]
    position = (await client.get("/v2/positions/AAPL")).json()
    assert position["qty"] == "2" and position["side"] == "long"
    assert Decimal(position["avg_entry_price"]) == ask
    activities = (await client.get("/v2/account/activities", params={"activity_types": "FILL"})).json()
    assert [(a["order_id"], a["qty"], a["side"]) for a in activities] == [(placed["id"], "2", "buy")]


async def test_duplicate_client_order_id_among_active_orders(client):
    first = await place(client, type="limit", limit_price="1.5", time_in_force="gtc", client_order_id="dup")
    again = await client.post("/v2/orders", json=order(type="limit", limit_price="1.5", client_order_id="dup"))
    assert again.status_code == 422
    assert again.json() == {"code": 40010001, "message": "client_order_id must be unique"}
    assert (await client.delete(f"/v2/orders/{first['id']}")).status_code == 204
    # Unique among active orders only: once cancelled, the id may be used again.
    await place(client, type="limit", limit_price="1.5", client_order_id="dup")


async def test_insufficient_buying_power_and_qty(running, client):
    answer = await client.post("/v2/orders", json=order(qty="5000"))
    assert answer.status_code == 403
    body = answer.json()
    assert body["code"] == 40310000 and body["message"] == "insufficient buying power"
    assert body["buying_power"] == "200000"
    assert Decimal(body["cost_basis"]) == 5000 * running.engine.quote("AAPL").ask
    sell = await client.post("/v2/orders", json=order(symbol="BTC/USD", side="sell", time_in_force="gtc"))
    assert sell.status_code == 403
    assert sell.json()["message"] == "insufficient balance for BTC (requested: 1, available: 0)"
    assert sell.json()["available"] == "0"


async def test_unknown_symbols(client):
    answer = await client.post("/v2/orders", json=order(symbol="NOSUCHSYMBOL"))
    assert (answer.status_code, answer.json()) == (422, {"code": 40010001, "message": "asset NOSUCHSYMBOL not found"})
    asset = await client.get("/v2/assets/NOSUCHSYMBOL")
    assert asset.status_code == 404 and asset.json()["code"] == 40410000
    position = await client.get("/v2/positions/AAPL")
    assert (position.status_code, position.json()["code"]) == (404, 40410000)


async def test_sub_penny_and_extended_hours(client):
    answer = await client.post("/v2/orders", json=order(type="limit", limit_price="290.123"))
    assert answer.status_code == 422
    assert answer.json() == {"code": 42210000, "message": "invalid limit_price 290.123. sub-penny increment does "
                                                           "not fulfill minimum pricing criteria"}
    answer = await client.post("/v2/orders", json=order(extended_hours=True))
    assert answer.status_code == 422 and 'only type="limit"' in answer.json()["message"]


async def test_cancel_semantics(running, client):
    resting = await place(client, type="limit", limit_price="10", time_in_force="gtc")
    cancel = await client.delete(f"/v2/orders/{resting['id']}")
    assert (cancel.status_code, cancel.content) == (204, b"")
    assert (await client.get(f"/v2/orders/{resting['id']}")).json()["status"] == "canceled"
    again = await client.delete(f"/v2/orders/{resting['id']}")
    assert again.status_code == 422 and again.json()["code"] == 42210000
    unknown = await client.delete(f"/v2/orders/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()) == (404, {"code": 40410000, "message": "order not found"})
    first = await place(client, type="limit", limit_price="10", time_in_force="gtc")
    second = await place(client, type="limit", limit_price="11", time_in_force="gtc")
    everything = await client.delete("/v2/orders")
    assert everything.status_code == 207
    assert sorted(e["id"] for e in everything.json()) == sorted([first["id"], second["id"]])
    assert {e["status"] for e in everything.json()} == {200}
    assert (await client.get("/v2/orders")).json() == []


async def test_replace_creates_a_new_order(client):
    old = await place(client, type="limit", limit_price="10", time_in_force="gtc", client_order_id="r-1")
    answer = await client.patch(f"/v2/orders/{old['id']}", json={"limit_price": 10.5, "qty": 3})
    assert answer.status_code == 200
    new = answer.json()
    assert new["id"] != old["id"] and new["replaces"] == old["id"]
    assert (new["limit_price"], new["qty"], new["status"]) == ("10.5", "3", "new")
    replaced = (await client.get(f"/v2/orders/{old['id']}")).json()
    assert replaced["status"] == "replaced" and replaced["replaced_by"] == new["id"]
    assert RFC3339.match(replaced["replaced_at"])
    market = await place(client)
    refused = await client.patch(f"/v2/orders/{market['id']}", json={"qty": 2})
    assert refused.status_code == 422


async def test_listing_filters(running, client):
    a = await place(client, type="limit", limit_price="10", time_in_force="gtc")
    b = await place(client, symbol="MSFT", side="buy", type="limit", limit_price="10", time_in_force="gtc")
    c = await place(client)
    running.engine.step()
    ids = lambda answer: [o["id"] for o in answer.json()]  # noqa: E731
    assert ids(await client.get("/v2/orders")) == [b["id"], a["id"]]
    assert ids(await client.get("/v2/orders", params={"status": "closed"})) == [c["id"]]
    ascending = await client.get("/v2/orders", params={"status": "all", "direction": "asc"})
    assert ids(ascending) == [a["id"], b["id"], c["id"]]
    assert ids(await client.get("/v2/orders", params={"status": "all", "limit": 1})) == [c["id"]]
    assert ids(await client.get("/v2/orders", params={"symbols": "MSFT,TSLA"})) == [b["id"]]
    assert ids(await client.get("/v2/orders", params={"status": "all", "side": "sell"})) == []
    after = (await client.get(f"/v2/orders/{a['id']}")).json()["created_at"]
    assert ids(await client.get("/v2/orders", params={"status": "all", "after": after})) == [c["id"], b["id"]]
    bad = await client.get("/v2/orders", params={"status": "sideways"})
    assert bad.status_code == 422


async def test_bracket_legs_nested(running, client):
    entry = await place(client, type="limit", limit_price="150", time_in_force="gtc", order_class="bracket",
                        take_profit={"limit_price": 250}, stop_loss={"stop_price": 140, "limit_price": 139.5})
    assert entry["order_class"] == "bracket"
    assert [(leg["type"], leg["status"], leg["side"]) for leg in entry["legs"]] == [
        ("limit", "held", "sell"), ("stop_limit", "held", "sell")]
    nested = (await client.get("/v2/orders", params={"nested": "true"})).json()
    assert [o["id"] for o in nested] == [entry["id"]] and len(nested[0]["legs"]) == 2
    flat = (await client.get("/v2/orders", params={"nested": "false"})).json()
    assert len(flat) == 3 and all(o["legs"] is None for o in flat)
    assert (await client.delete(f"/v2/orders/{entry['id']}")).status_code == 204
    statuses = {o["status"] for o in (await client.get("/v2/orders", params={"status": "all"})).json()}
    assert statuses == {"canceled"}


async def test_positions_close(running, client):
    running.engine.config.fill_on_submit = True
    await place(client, qty="4")
    closing = await client.delete("/v2/positions/AAPL", params={"percentage": "50"})
    assert closing.status_code == 200
    assert (closing.json()["side"], closing.json()["qty"]) == ("sell", "2")
    assert (await client.get("/v2/positions/AAPL")).json()["qty"] == "2"
    everything = await client.delete("/v2/positions", params={"cancel_orders": "true"})
    assert everything.status_code == 207
    assert [(e["symbol"], e["status"]) for e in everything.json()] == [("AAPL", 200)]
    assert (await client.get("/v2/positions")).json() == []


async def test_clock_calendar_assets(running, client):
    clock = (await client.get("/v2/clock")).json()
    assert clock["is_open"] is True
    assert clock["timestamp"].startswith("2024-06-04T10:00:") and clock["timestamp"].endswith("-04:00")
    assert clock["next_close"] == "2024-06-04T16:00:00.000000-04:00"
    running.engine.clock.set(ALL_CLOSED)
    assert (await client.get("/v2/clock")).json()["is_open"] is False
    calendar = (await client.get("/v2/calendar", params={"start": "2024-06-01", "end": "2024-06-05"})).json()
    assert [d["date"] for d in calendar] == ["2024-06-03", "2024-06-04", "2024-06-05"]
    assert (calendar[0]["open"], calendar[0]["close"]) == ("09:30", "16:00")
    crypto = (await client.get("/v2/assets", params={"asset_class": "crypto"})).json()
    assert crypto and all(a["class"] == "crypto" and "min_order_size" in a for a in crypto)
    btc = (await client.get("/v2/assets/BTC/USD")).json()
    assert (btc["symbol"], btc["exchange"], btc["tradable"], btc["shortable"]) == ("BTC/USD", "CRYPTO", True, False)
    by_id = (await client.get(f"/v2/assets/{btc['id']}")).json()
    assert by_id["symbol"] == "BTC/USD"


async def test_off_hours_orders_show_accepted(running, client):
    running.engine.clock.set(ALL_CLOSED)
    placed = await place(client)
    assert placed["status"] == "accepted"
    running.engine.step()
    assert (await client.get(f"/v2/orders/{placed['id']}")).json()["filled_qty"] == "0"


# ------------------------------------------------------------------------------------- market data


async def test_market_data_rest(running, client):
    quote = running.engine.quote("AAPL")
    latest = (await client.get("/v2/stocks/quotes/latest", params={"symbols": "AAPL,NOSUCHSYMBOL", "feed": "sip"}))
    assert list(latest.json()["quotes"]) == ["AAPL"]
    record = latest.json()["quotes"]["AAPL"]
    assert (record["bp"], record["ap"]) == (float(quote.bid), float(quote.ask))
    single = (await client.get("/v2/stocks/AAPL/quotes/latest")).json()
    assert single["symbol"] == "AAPL" and "ap" in single["quote"]
    bogus = await client.get("/v2/stocks/quotes/latest", params={"symbols": "AAPL", "feed": "bogus"})
    assert bogus.status_code == 400
    bars = (await client.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Min", "limit": 3})).json()
    assert len(bars["bars"]["AAPL"]) == 3 and bars["next_page_token"] is None
    async with httpx.AsyncClient(base_url=running.url) as anonymous:
        assert (await anonymous.get("/v2/stocks/quotes/latest", params={"symbols": "AAPL"})).status_code == 401
        crypto = await anonymous.get("/v1beta3/crypto/us/latest/quotes", params={"symbols": "BTC/USD,ETH/USD"})
        assert crypto.status_code == 200 and set(crypto.json()["quotes"]) == {"BTC/USD", "ETH/USD"}
        trades = (await anonymous.get("/v1beta3/crypto/us/latest/trades", params={"symbols": "BTC/USD"})).json()
        assert trades["trades"]["BTC/USD"]["tks"] in ("B", "S")


# ------------------------------------------------------------------------------------- faults


async def test_injected_errors_look_like_alpaca(running, client):
    running.faults.set(error_burst=1)
    answer = await client.get("/v2/account")
    assert answer.status_code == 503
    assert answer.json() == {"code": 50010000, "message": "internal server error"}
    running.faults.set(rate_limit_burst=1, retry_after=2)
    answer = await client.get("/v2/account")
    assert (answer.status_code, answer.json()) == (429, {"code": 42910000, "message": "too many requests"})
    assert (await client.get("/v2/account")).status_code == 200


async def test_order_accepted_but_answer_lost(running, sim, client):
    running.faults.set(drop_after_accept_burst=1)
    with pytest.raises(httpx.TransportError):
        await client.post("/v2/orders", json=order(client_order_id="lost-1"))
    assert sim.counters.orders_created == 1
    found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "lost-1"})
    assert found.status_code == 200 and found.json()["symbol"] == "AAPL"


# ------------------------------------------------------------------------------------- websockets


async def _json(ws) -> list | dict:
    return json.loads(await ws.get_message())


async def test_market_data_stream_json(running, sim):
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/iex") as ws:
        assert await _json(ws) == [{"T": "success", "msg": "connected"}]
        await ws.send_message(json.dumps({"action": "subscribe", "quotes": ["AAPL"]}))
        assert await _json(ws) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await ws.send_message(json.dumps({"action": "auth", "key": SIM_KEY_ID, "secret": SIM_SECRET_KEY}))
        assert await _json(ws) == [{"T": "success", "msg": "authenticated"}]
        await ws.send_message(json.dumps({"action": "subscribe", "quotes": ["AAPL"], "trades": ["AAPL"]}))
        reply = (await _json(ws))[0]
        assert (reply["T"], reply["quotes"], reply["trades"]) == ("subscription", ["AAPL"], ["AAPL"])
        # A second connection on the same key and endpoint is refused.
        async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/iex") as other:
            await _json(other)
            await other.send_message(json.dumps({"action": "auth", "key": SIM_KEY_ID, "secret": SIM_SECRET_KEY}))
            assert await _json(other) == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
        running.engine.clock.advance(5)
        running.engine.step()
        kinds = set()
        with trio.fail_after(10):
            while not {"q", "t"} <= kinds:
                message = await ws.get_message()
                assert isinstance(message, str)
                for item in json.loads(message):
                    assert item["S"] == "AAPL" and RFC3339.match(item["t"])
                    kinds.add(item["T"])


async def test_market_data_stream_msgpack_and_auth_failure(running):
    headers = [("Content-Type", "application/msgpack")]
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v1beta3/crypto/us", extra_headers=headers) as ws:
        assert msgpack.unpackb(await ws.get_message()) == [{"T": "success", "msg": "connected"}]
        await ws.send_message(msgpack.packb({"action": "auth", "key": SIM_KEY_ID, "secret": SIM_SECRET_KEY}))
        assert msgpack.unpackb(await ws.get_message())[0]["msg"] == "authenticated"
        await ws.send_message(msgpack.packb({"action": "subscribe", "quotes": ["BTC/USD"]}))
        assert msgpack.unpackb(await ws.get_message())[0]["quotes"] == ["BTC/USD"]
        running.engine.clock.advance(5)
        running.engine.step()
        with trio.fail_after(10):
            frame = await ws.get_message()
        assert isinstance(frame, bytes)
        quote = msgpack.unpackb(frame)[0]
        assert (quote["T"], quote["S"]) == ("q", "BTC/USD")
        assert isinstance(quote["t"], msgpack.Timestamp)
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/sip") as ws:
        await ws.get_message()
        await ws.send_message(json.dumps({"action": "auth", "key": SIM_KEY_ID, "secret": "wrong"}))
        assert await _json(ws) == [{"T": "error", "code": 402, "msg": "auth failed"}]


async def test_trade_updates_stream(running, sim, client):
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/stream") as ws:
        await ws.send_message(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert await _json(ws) == {"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}}
        await ws.send_message(json.dumps({"action": "authenticate",
                                          "data": {"key_id": SIM_KEY_ID, "secret_key": SIM_SECRET_KEY}}))
        frame = await ws.get_message()
        assert isinstance(frame, bytes)  # paper sends JSON in binary frames
        assert json.loads(frame)["data"]["status"] == "authorized"
        await ws.send_message(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert await _json(ws) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        placed = await place(client, qty="3")
        running.engine.step()
        with trio.fail_after(10):
            new, fill = await _json(ws), await _json(ws)
        assert (new["stream"], new["data"]["event"], new["data"]["order"]["id"]) == ("trade_updates", "new",
                                                                                     placed["id"])
        data = fill["data"]
        assert data["event"] == "fill" and data["order"]["status"] == "filled"
        assert (data["qty"], data["position_qty"]) == ("3", "3")
        assert Decimal(data["price"]) == Decimal(data["order"]["filled_avg_price"])
        uuid.UUID(data["execution_id"])
        assert RFC3339.match(data["timestamp"])


async def test_websocket_drop_fault(running):
    running.faults.set(ws_drop_after=1)
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/iex") as ws:
        assert await _json(ws) == [{"T": "success", "msg": "connected"}]
        await ws.send_message(json.dumps({"action": "auth", "key": SIM_KEY_ID, "secret": SIM_SECRET_KEY}))
        with pytest.raises(trio_websocket.ConnectionClosed), trio.fail_after(10):
            await ws.get_message()
    assert running.faults.counters["ws_dropped_connections"] == 1


async def test_trailing_stop_and_notional_orders(running, client):
    running.engine.config.fill_on_submit = True
    bought = await place(client, qty=None, notional="500")
    assert (bought["notional"], bought["qty"], bought["status"]) == ("500", None, "filled")
    assert Decimal(bought["filled_qty"]) * Decimal(bought["filled_avg_price"]) <= 500
    await place(client, qty="10")
    trailing = await place(client, side="sell", type="trailing_stop", trail_price="5", time_in_force="gtc",
                           qty="10")
    assert (trailing["type"], trailing["trail_price"], trailing["status"]) == ("trailing_stop", "5", "new")
    last = running.engine.quote("AAPL").last
    assert Decimal(trailing["hwm"]) == last
    assert Decimal(trailing["stop_price"]) == last - 5
    percent = await client.post("/v2/orders", json=order(side="sell", type="trailing_stop", trail_percent=1.5,
                                                         time_in_force="ioc"))
    assert percent.status_code == 422 and "DAY or GTC" in percent.json()["message"]


async def test_market_data_auth_timeout(running, sim):
    sim.options.auth_timeout = 0.2
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/test") as ws:
        assert await _json(ws) == [{"T": "success", "msg": "connected"}]
        with trio.fail_after(10):
            assert await _json(ws) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
            with pytest.raises(trio_websocket.ConnectionClosed):
                await ws.get_message()


async def test_silenced_streams_stay_open(running, sim):
    running.faults.set(ws_silent=True)
    async with trio_websocket.open_websocket_url(f"{running.ws_url}/v2/iex") as ws:
        with trio.fail_after(10):
            while running.faults.counters["ws_silenced_messages"] < 1:
                await trio.sleep(0.01)
        running.faults.set(ws_silent=False)
        await ws.send_message(json.dumps({"action": "subscribe", "quotes": ["AAPL"]}))
        # The first frame the client ever sees is the answer to this: "connected" was swallowed.
        assert await _json(ws) == [{"T": "error", "code": 401, "msg": "not authenticated"}]


async def test_fill_activities_partial_fills_and_short_sales(running, client):
    running.engine.config.partial_fills = True
    running.engine.market.set_price("AAPL", bid="199.90", ask="200.00", size="100")
    big = await place(client, qty="250")
    for _ in range(3):
        running.engine.step()
    assert (await client.get(f"/v2/orders/{big['id']}")).json()["status"] == "filled"
    await place(client, side="sell", qty="300")
    running.engine.step()
    running.engine.step()
    running.engine.step()
    activities = (await client.get("/v2/account/activities/FILL", params={"direction": "asc"})).json()
    assert [(a["type"], a["side"], a["qty"], a["cum_qty"], a["leaves_qty"]) for a in activities] == [
        ("partial_fill", "buy", "100", "100", "150"), ("partial_fill", "buy", "100", "200", "50"),
        ("fill", "buy", "50", "250", "0"),
        ("partial_fill", "sell", "100", "100", "200"), ("partial_fill", "sell", "100", "200", "100"),
        ("fill", "sell_short", "100", "300", "0")]
    page = (await client.get("/v2/account/activities", params={"activity_types": "FILL", "page_size": 2})).json()
    assert [a["id"] for a in page] == [a["id"] for a in reversed(activities)][:2]
    rest = (await client.get("/v2/account/activities", params={"activity_types": "FILL",
                                                                "page_token": page[-1]["id"]})).json()
    assert [a["id"] for a in rest] == [a["id"] for a in reversed(activities)][2:]
