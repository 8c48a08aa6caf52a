"""Serving simulators on loopback: ASGI through hypercorn, TCP through trio, in-process, in a thread and in
a subprocess, with faults applied on the wire and the /__sim__ control endpoint."""

import json
from decimal import Decimal

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from trio_websocket import ConnectionClosed, open_websocket_url

from orch.sim import (ALL_OPEN, SimClock, SimulatorSpec, engine_factory, run_simulator_in_subprocess,
                      run_simulator_in_thread, start_simulator)
from orch.sim.example import API_KEY, SPEC as EXAMPLE
from orch.sim.runner import load_spec

HEADERS = {"X-Api-Key": API_KEY}


def tiny_app(engine, faults):
    async def hello(request):
        return JSONResponse({"broker": engine.broker, "now": engine.now().isoformat()})

    return Starlette(routes=[Route("/hello", hello)])


TINY = SimulatorSpec(broker="tiny", kind="asgi", build=tiny_app, make_engine=engine_factory("tiny"),
                     config_for=lambda host, port: {"base_url": f"http://{host}:{port}", "key": "k"})


async def echo_upper(stream):
    async for data in stream:
        await stream.send_all(data.upper())


ECHO = SimulatorSpec(broker="echo", kind="tcp", tcp_handler=lambda engine, faults: echo_upper,
                     make_engine=engine_factory("echo"),
                     config_for=lambda host, port: {"host": host, "port": port})


@pytest.fixture
async def example(nursery):
    sim = await start_simulator(nursery, EXAMPLE, clock=SimClock(wall=ALL_OPEN))
    sim.engine.market.set_price("AAPL", "100")
    async with httpx.AsyncClient(base_url=sim.url, headers=HEADERS, timeout=5) as client:
        yield sim, client
    sim.stop()


async def test_a_tiny_asgi_app_is_served_on_a_free_loopback_port(nursery):
    sim = await start_simulator(nursery, TINY)
    assert sim.host == "127.0.0.1" and sim.port > 0
    assert sim.config == {"base_url": f"http://127.0.0.1:{sim.port}", "key": "k"}
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{sim.url}/hello")
    assert response.json()["broker"] == "tiny"
    sim.stop()


async def test_a_tcp_protocol_is_served_with_trio(nursery):
    sim = await start_simulator(nursery, ECHO, control=True)
    assert sim.url == f"tcp://127.0.0.1:{sim.port}"
    stream = await trio.open_tcp_stream(sim.host, sim.port)
    await stream.send_all(b"reqMktData")
    assert await stream.receive_some(100) == b"REQMKTDATA"
    await stream.aclose()
    async with httpx.AsyncClient() as client:  # TCP simulators get /__sim__ on a port of their own
        status = (await client.get(sim.control_url)).json()
    assert status["broker"] == "echo"
    sim.stop()


async def test_a_failing_tcp_handler_does_not_stop_the_server(nursery):
    calls = []

    async def flaky(stream):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        await stream.send_all(b"ok")

    spec = SimulatorSpec(broker="flaky", kind="tcp", tcp_handler=lambda e, f: flaky,
                         make_engine=engine_factory("flaky"), config_for=lambda h, p: {})
    sim = await start_simulator(nursery, spec)
    first = await trio.open_tcp_stream(sim.host, sim.port)
    assert await first.receive_some(10) == b""  # closed by the server
    second = await trio.open_tcp_stream(sim.host, sim.port)
    assert await second.receive_some(10) == b"ok"
    sim.stop()


async def test_orders_round_trip_over_http(example):
    sim, client = example
    response = await client.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "3",
                                                     "client_order_id": "c-1"})
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["filled_qty"], body["avg_fill_price"]) == ("filled", "3", "100.01")
    assert (await client.get("/v1/orders:by_client_id/c-1")).json()["id"] == body["id"]
    assert (await client.get("/v1/positions")).json()[0]["qty"] == "3"
    unknown = await client.post("/v1/orders", json={"symbol": "NOSUCHSYMBOL", "side": "buy", "qty": "1"})
    assert unknown.status_code == 404
    assert (await client.get("/v1/account", headers={"X-Api-Key": "wrong"})).status_code == 401


async def test_injected_errors_reach_the_client(example):
    sim, client = example
    sim.faults.set(rate_limit_burst=1, retry_after=2)
    limited = await client.get("/v1/account")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    sim.faults.set(error_burst=1)
    assert (await client.get("/v1/account")).status_code == 503
    assert (await client.get("/v1/account")).status_code == 200
    assert sim.faults.counters["http_429"] == 1 and sim.faults.counters["http_5xx"] == 1


async def test_a_lost_response_is_a_transport_error_but_the_order_exists(example):
    sim, client = example
    sim.faults.set(drop_after_accept_burst=1)
    with pytest.raises(httpx.TransportError):
        await client.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "1",
                                              "client_order_id": "lost-1"})
    found = await client.get("/v1/orders:by_client_id/lost-1")
    assert found.status_code == 200 and found.json()["status"] == "filled"
    assert len(sim.engine.orders()) == 1


async def test_a_hanging_response_times_out_but_the_order_exists(example):
    sim, client = example
    sim.faults.set(drop_after_accept_burst=1, drop_mode="hang")
    with pytest.raises(httpx.TimeoutException):
        await client.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "1",
                                              "client_order_id": "hung-1"}, timeout=0.5)
    assert sim.engine.find_order(client_order_id="hung-1") is not None


async def test_the_control_endpoint_changes_faults_clock_prices_and_sessions(example):
    sim, client = example
    response = await client.put("/__sim__/faults", json={"error_burst": 1, "latency": 0.01})
    assert response.status_code == 200 and sim.faults.plan.latency == 0.01
    assert (await client.get("/v1/account")).status_code == 503
    assert (await client.put("/__sim__/faults", json={"bogus": 1})).status_code == 400
    await client.put("/__sim__/faults", json={"reset": True})
    assert sim.faults.plan.latency == 0

    moved = await client.post("/__sim__/clock", json={"now": "2024-06-02T12:00:00Z", "frozen": True})
    assert moved.json()["now"].startswith("2024-06-02T12:00:00")
    assert not sim.engine.market.symbol_is_open("AAPL", sim.engine.now())
    await client.post("/__sim__/sessions", json={"open": True})
    assert sim.engine.market.symbol_is_open("AAPL", sim.engine.now())

    quote = (await client.post("/__sim__/price", json={"symbol": "AAPL", "mid": "123.45"})).json()["quote"]
    assert quote["bid"] == "123.43" and quote["ask"] == "123.47"
    account = (await client.get("/__sim__/account")).json()
    assert account["account_id"] == "EX0001" and Decimal(account["cash"]["USD"]) == 100_000
    assert (await client.get("/__sim__/nowhere")).status_code == 404


async def test_order_events_stream_over_a_websocket(example):
    sim, client = example
    async with open_websocket_url(f"{sim.ws_url}/v1/stream", extra_headers=[("X-Api-Key", API_KEY)]) as ws:
        await trio.sleep(0.05)  # let the handler subscribe before the order exists
        await client.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "2"})
        with trio.fail_after(5):
            events = [json.loads(await ws.get_message()) for _ in range(2)]
    assert [e["event"] for e in events] == ["new", "fill"]
    assert events[1]["fill"] == {"qty": "2", "price": "100.01"}


async def test_websocket_drops_close_the_connection(example):
    sim, client = example
    sim.faults.set(ws_drop_after=1)
    async with open_websocket_url(f"{sim.ws_url}/v1/stream", extra_headers=[("X-Api-Key", API_KEY)]) as ws:
        await trio.sleep(0.05)
        await client.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "2"})
        with trio.fail_after(5):
            assert json.loads(await ws.get_message())["event"] == "new"
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
    assert info.value.reason.code == 1011
    assert sim.faults.counters["ws_dropped_connections"] == 1


async def test_the_background_step_fills_resting_orders_as_prices_move(nursery):
    sim = await start_simulator(nursery, EXAMPLE, clock=SimClock(wall=ALL_OPEN), step_interval=0.02)
    sim.engine.market.set_price("AAPL", "100")
    resting = sim.engine.place_order(symbol="AAPL", side="buy", qty=1, type="limit", limit_price="95.00")
    with sim.engine.subscribe(kinds=["fill"]) as fills:
        sim.engine.market.set_price("AAPL", "94")
        with trio.fail_after(5):
            event = await fills.receive.receive()
    assert event.order.id == resting.id
    sim.stop()


def test_a_threaded_simulator_serves_synchronous_clients():
    with run_simulator_in_thread(EXAMPLE) as sim:
        sim.call(sim.engine.market.force_sessions, True)
        with httpx.Client(base_url=sim.url, headers=HEADERS, timeout=5) as client:
            placed = client.post("/v1/orders", json={"symbol": "MSFT", "side": "buy", "qty": "1"})
            assert placed.status_code == 201 and placed.json()["status"] == "filled"
        assert sim.call(lambda: len(sim.engine.orders())) == 1
        assert len(sim.engine.fills()) == 1  # the engine is thread-safe to read directly
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sim.url}/v1/account", headers=HEADERS, timeout=2)


def test_a_simulator_in_a_subprocess_is_controlled_over_http():
    with run_simulator_in_subprocess("orch.sim.example:SPEC") as sim:
        assert sim.broker == "example" and sim.config["base_url"] == sim.url
        with httpx.Client(base_url=sim.url, headers=HEADERS, timeout=10) as client:
            assert client.get("/v1/account").json()["account_id"] == "EX0001"
            client.put("/__sim__/faults", json={"error_burst": 1})
            assert client.get("/v1/account").status_code == 503
        process = sim.process
    assert process.returncode == 0


def test_specs_are_checked_and_loaded():
    with pytest.raises(ValueError, match="kind 'asgi' needs build"):
        SimulatorSpec(broker="x", kind="asgi", make_engine=engine_factory("x"), config_for=lambda h, p: {})
    with pytest.raises(ValueError, match="'asgi' or 'tcp'"):
        SimulatorSpec(broker="x", kind="udp", build=tiny_app, make_engine=engine_factory("x"),
                      config_for=lambda h, p: {})
    with pytest.raises(TypeError):
        engine_factory("x", partial_filz=True)
    assert load_spec("orch.sim.example:SPEC") is EXAMPLE
    with pytest.raises(TypeError, match="not a SimulatorSpec"):
        load_spec("orch.sim.example:API_KEY")
