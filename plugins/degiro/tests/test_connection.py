"""The DEGIRO connection against its simulator over loopback: the login flows (TOTP from a secret or a
prompt, in-app approval, a reused session), automatic re-login and its one-attempt limit, the session
rules, the order types, local refusals, and lookups without client order ids."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import attrs
import pyotp
import pytest
import trio

from orch.context import ConnectContext
from orch.errors import (AuthError, BrokerUnavailable, ConfigError, LiveTradingRefused, NotSupported,
                         OrderNotFound, PermissionDenied)
from orch.models import (Instrument, Market, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType, Side,
                         TimeInForce)
from orch.resilience.limiter import RateLimiter
from orch.sim.runner import start_simulator
from orch.testing.harness import open_harness

from orch_degiro.connection import DegiroConnection
from orch_degiro.plugin import orch_broker_info
from orch_degiro.sim import SIM_TOTP_SECRET, SPEC, DegiroSim

AAPL = Instrument("AAPL", Market.US_STOCKS)


@attrs.define
class Env:
    nursery: trio.Nursery
    running: Any
    sim: DegiroSim
    section: dict[str, Any]

    def settings(self, **changes: Any) -> Any:
        from orch.config import config_from_data

        section = {**self.section, **changes}
        section = {k: v for k, v in section.items() if v is not None}
        return config_from_data({"brokers": {"degiro": section}}, source="<test>", env={}).brokers["degiro"]

    def context(self, settings: Any = None, *, live: bool = False) -> ConnectContext:
        info = orch_broker_info()
        limits = (settings or self.settings()).rate_limits
        return ConnectContext(broker="degiro", nursery=self.nursery, live=live,
                              limiter=RateLimiter.from_settings(limits, info.rate_limits))

    @contextlib.asynccontextmanager
    async def connect(self, settings: Any = None, **kwargs: Any) -> AsyncIterator[DegiroConnection]:
        settings = settings or self.settings()
        conn = DegiroConnection(settings, self.context(settings), **kwargs)
        try:
            yield await conn.open()
        finally:
            await conn.aclose()


@pytest.fixture
async def env(autojump_clock) -> AsyncIterator[Env]:
    async with trio.open_nursery() as nursery:
        running = await start_simulator(nursery, SPEC)
        running.engine.market.force_sessions(True)
        yield Env(nursery, running, DegiroSim.of(running.engine), dict(running.config))
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------- login


async def test_totp_from_the_stored_secret(autojump_clock, env):
    async with env.connect() as conn:
        assert conn.client.int_account == 31337001 and conn.currency == "EUR"
        assert env.sim.counters["totp_checks"] == 1 and env.sim.counters["logins"] == 1
        assert (await conn.account()).paper is True


async def test_totp_from_the_prompt(autojump_clock, env):
    asked = []

    async def prompt() -> str:
        asked.append(1)
        return pyotp.TOTP(SIM_TOTP_SECRET).now()

    async with env.connect(env.settings(totp_secret=None), code_prompt=prompt) as conn:
        assert asked == [1] and conn.client is not None


async def test_a_wrong_code_at_the_prompt_is_an_auth_error(autojump_clock, env):
    async def prompt() -> str:
        return "000000" if pyotp.TOTP(SIM_TOTP_SECRET).now() != "000000" else "111111"

    with pytest.raises(AuthError):
        async with env.connect(env.settings(totp_secret=None), code_prompt=prompt):
            pass


async def test_mfa_without_secret_or_terminal_is_a_config_error_before_any_request(autojump_clock, env, monkeypatch):
    monkeypatch.setattr("orch_degiro.connection._terminal_prompt", lambda: None)
    with pytest.raises(ConfigError, match="totp_secret"):
        async with env.connect(env.settings(totp_secret=None)):
            pass
    assert env.sim.counters["login_requests"] == 0


async def test_in_app_approval_is_polled_until_approved(autojump_clock, env):
    env.sim.options.mfa = "in_app"
    env.sim.options.in_app_pending_polls = 2
    started = trio.current_time()
    async with env.connect(env.settings(mfa=False, totp_secret=None)) as conn:
        assert conn.client is not None
    # One password login, two pending polls, the approving poll; one poll per in_app_poll_seconds.
    assert env.sim.counters["login_requests"] == 4
    assert trio.current_time() - started >= 3


async def test_in_app_approval_that_never_comes_times_out(autojump_clock, env):
    env.sim.options.mfa = "in_app"
    env.sim.options.in_app_pending_polls = 10**6
    with pytest.raises(AuthError, match="not approved"):
        async with env.connect(env.settings(mfa=False, totp_secret=None, in_app_timeout_seconds=10)):
            pass


async def test_a_configured_session_is_reused_without_logging_in(autojump_clock, env):
    sid = env.sim.open_session()
    async with env.connect(env.settings(session=sid)) as conn:
        await conn.positions()
    assert env.sim.counters["login_requests"] == 0


async def test_an_expired_configured_session_falls_back_to_one_login(autojump_clock, env):
    async with env.connect(env.settings(session="0123456789ABCDEF0123456789ABCDEF.prod_b_1_1")) as conn:
        await conn.account()
    assert env.sim.counters["logins"] == 1


# ------------------------------------------------------------------------------------- re-login


async def test_expired_session_logs_in_again_once(autojump_clock, env):
    async with env.connect() as conn:
        env.sim.expire_all()
        account = await conn.account()
        assert account.cash > 0
        assert env.sim.counters["logins"] == 2


async def test_idle_timeout_then_relogin(autojump_clock, env):
    async with env.connect() as conn:
        for session in env.sim.sessions.values():  # as if 30 min passed without a call
            session.last_used -= env.sim.options.session_idle + 1
        await conn.positions()
        assert env.sim.counters["logins"] == 2


async def test_a_failed_automatic_login_is_never_retried(autojump_clock, env):
    async with env.connect() as conn:
        env.sim.expire_all()
        env.sim.password = "changed-elsewhere"
        with pytest.raises(AuthError, match="automatic login"):
            await conn.account()
        attempts, requests = env.sim.counters["login_requests"], env.sim.counters["requests"]
        for _ in range(3):
            with pytest.raises(AuthError, match="will not try again"):
                await conn.positions()
        # Refused locally: no login attempt and not even a request with the dead session.
        assert env.sim.counters["login_requests"] == attempts and env.sim.counters["requests"] == requests


async def test_confirm_after_the_session_expired_checks_again_and_places_once(autojump_clock, env):
    async with env.connect() as conn:
        product = await conn.product_for(AAPL)
        real_confirm = conn._send

        async def expire_before_confirm(request):
            if "/v5/order/" in request.url and request.method == "POST" and env.sim.counters["logins"] == 1:
                env.sim.expire_all()
            return await real_confirm(request)

        conn._send = expire_before_confirm
        order = await conn.place_order(OrderRequest(AAPL, Side.BUY, qty=1, type=OrderType.LIMIT,
                                                    limit_price=Decimal("50"), client_order_id="c-1"))
        assert env.sim.counters["logins"] == 2 and env.sim.counters["checks"] == 2
        assert len(env.running.engine.orders(status="all")) == 1
        assert order.instrument.broker_ids["degiro"] == str(product["id"])


# ------------------------------------------------------------------------------------- session rules


async def test_session_rules_at_the_simulator(autojump_clock, env):
    import httpx

    sid = env.sim.open_session()
    other = env.sim.open_session()
    base = env.running.url
    async with httpx.AsyncClient() as http:
        ok = await http.get(f"{base}/trading/secure/v5/update/31337001;jsessionid={sid}",
                            params={"orders": 0, "intAccount": 31337001, "sessionId": sid})
        assert ok.status_code == 200
        mixed = await http.get(f"{base}/trading/secure/v5/update/31337001;jsessionid={sid}",
                               params={"orders": 0, "intAccount": 31337001, "sessionId": other})
        assert mixed.status_code == 401
        wrong_account = await http.get(f"{base}/trading/secure/v5/update/99;jsessionid={sid}",
                                       params={"orders": 0, "intAccount": 99, "sessionId": sid})
        assert wrong_account.status_code == 403
        no_cookie = await http.get(f"{base}/login/secure/config")
        assert no_cookie.status_code == 401
        cookie = await http.get(f"{base}/login/secure/config", headers={"Cookie": f"JSESSIONID={sid}"})
        assert cookie.status_code == 200 and cookie.json()["data"]["clientId"]


async def test_a_wrong_int_account_is_permission_denied(autojump_clock, env):
    with pytest.raises(PermissionDenied):
        async with env.connect(env.settings(int_account=12345)):
            pass


# ------------------------------------------------------------------------------------- live rule


async def test_real_degiro_needs_live_and_nothing_is_sent_without_it(autojump_clock, env):
    settings = env.settings(base_url="https://trader.degiro.nl")
    assert settings.paper is False
    with pytest.raises(LiveTradingRefused, match="--live"):
        DegiroConnection(settings, env.context(live=False))


# ------------------------------------------------------------------------------------- orders


async def test_every_order_type_and_time_in_force(autojump_clock, env):
    async with env.connect() as conn:
        quote = await conn.quote(AAPL)
        low, high = (quote.bid / 2).quantize(Decimal("0.01")), (quote.ask * 2).quantize(Decimal("0.01"))
        requests = [
            OrderRequest(AAPL, Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=low, time_in_force=TimeInForce.GTC,
                         client_order_id="lim"),
            OrderRequest(AAPL, Side.BUY, qty=2, type=OrderType.STOP, stop_price=high, client_order_id="stp"),
            OrderRequest(AAPL, Side.BUY, qty=3, type=OrderType.STOP_LIMIT, stop_price=high,
                         limit_price=high + 1, time_in_force=TimeInForce.GTC, client_order_id="stl"),
        ]
        placed = [await conn.place_order(r) for r in requests]
        engine = {o.id: o for o in env.running.engine.orders(status="open")}
        for order, request in zip(placed, requests):
            sim_order = engine[order.broker_order_id]
            assert (sim_order.type, sim_order.time_in_force, sim_order.qty) == (
                request.type, request.time_in_force, request.qty)
            assert sim_order.limit_price == request.limit_price and sim_order.stop_price == request.stop_price
        listed = {o.broker_order_id: o for o in await conn.list_orders(OrderFilter())}
        assert {o.broker_order_id for o in placed} <= set(listed)
        assert listed[placed[2].broker_order_id].type is OrderType.STOP_LIMIT
        assert listed[placed[0].broker_order_id].client_order_id == "lim"
        found = await conn.get_order(OrderRef(client_order_id="stp"))
        assert found.broker_order_id == placed[1].broker_order_id and found.stop_price == high
        assert await conn.cancel_order(OrderRef(broker_order_id=placed[0].broker_order_id)) is None
        closed = await conn.list_orders(OrderFilter(status="closed"))
        assert [o.status for o in closed if o.broker_order_id == placed[0].broker_order_id] == [OrderStatus.CANCELED]


async def test_unsupported_requests_are_refused_before_any_request(autojump_clock, env):
    async with env.connect() as conn:
        before = env.sim.counters["requests"]
        for request, capability in [
            (OrderRequest(AAPL, Side.BUY, qty=1, type=OrderType.TRAILING_STOP, trail_percent=Decimal(2)),
             "order_type:trailing_stop"),
            (OrderRequest(AAPL, Side.BUY, qty=1, time_in_force=TimeInForce.IOC), "time_in_force:ioc"),
            (OrderRequest(AAPL, Side.BUY, notional=Decimal(100)), "notional_orders"),
            (OrderRequest(AAPL, Side.BUY, qty=Decimal("0.5")), "fractional"),
        ]:
            with pytest.raises(NotSupported) as caught:
                await conn.place_order(request)
            assert caught.value.capability == capability
        assert env.sim.counters["requests"] == before


async def test_lookup_by_an_unknown_client_order_id(autojump_clock, env):
    async with env.connect() as conn:
        msft = Instrument("MSFT", Market.US_STOCKS)
        # No order for the product today: a proven absence.
        assert await conn.get_order(OrderRef(client_order_id="never-sent", instrument=msft)) is None
        await conn.place_order(OrderRequest(msft, Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=Decimal("10"),
                                            client_order_id="mine"))
        # Another process's client order id, with orders for the product today: it cannot be told apart.
        with pytest.raises(BrokerUnavailable, match="cannot be matched"):
            await conn.get_order(OrderRef(client_order_id="someone-elses", instrument=msft))
        with pytest.raises(OrderNotFound):
            await conn.cancel_order(OrderRef(client_order_id="someone-elses", instrument=msft))


async def test_quotes_without_a_price_feed_are_not_supported_with_a_hint(autojump_clock, env):
    async with env.connect() as conn:
        product = await conn.product_for(AAPL)
        product["vwdId"] = None
        with pytest.raises(NotSupported) as caught:
            await conn.quote(AAPL)
        assert caught.value.capability == "quotes" and "last close" in str(caught.value)


async def test_the_harness_connects_through_the_core(autojump_clock):
    async with open_harness("degiro") as h:
        positions = await h.client.positions()
        assert isinstance(positions, list)


async def test_an_unreachable_host_is_broker_unavailable(autojump_clock, env):
    with trio.socket.socket() as probe:  # a loopback port nobody listens on
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BrokerUnavailable, match="cannot reach"):
        async with env.connect(env.settings(base_url=f"http://127.0.0.1:{port}")):
            pass


async def test_check_and_confirm_are_paced_as_degiro_requires(autojump_clock, env):
    # DEGIRO answers 429 to order requests closer than ~0.75 s; the plugin's order budget (1/s) spaces them.
    env.sim.options.order_interval = 0.75
    async with env.connect() as conn:
        for price in ("10", "11"):
            await conn.place_order(OrderRequest(AAPL, Side.BUY, qty=1, type=OrderType.LIMIT,
                                                limit_price=Decimal(price), client_order_id=f"p-{price}"))
    assert env.sim.counters["orders"] == 2


async def test_a_product_degiro_does_not_have_cannot_have_an_order(autojump_clock, env):
    async with env.connect() as conn:
        ref = OrderRef(client_order_id="lost", instrument=Instrument("NOSUCHSYMBOL", Market.US_STOCKS))
        assert await conn.get_order(ref) is None


async def test_the_risk_is_stated_when_connecting_to_real_degiro(autojump_clock, env, caplog):
    import httpx

    seen = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(400, json={"status": 3, "statusText": "badCredentials", "loginFailures": 1})

    settings = env.settings(base_url="https://trader.degiro.nl")
    conn = DegiroConnection(settings, env.context(settings, live=True), http_transport=httpx.MockTransport(refuse))
    with caplog.at_level("INFO", logger="orch.broker"), pytest.raises(AuthError):
        await conn.open()
    await conn.aclose()
    assert seen == ["https://trader.degiro.nl/login/secure/login"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "UNOFFICIAL" in r.getMessage()]
    assert len(warnings) == 1 and "terms of service" in warnings[0].getMessage()


# ------------------------------------------------------------------------------------- the next process


async def test_the_next_process_reuses_the_session(autojump_clock, env):
    import os

    from orch_degiro import state

    async with env.connect():
        pass
    async with env.connect() as conn:  # as the next orch command would
        await conn.account()
    assert env.sim.counters["logins"] == 1 and env.sim.counters["login_requests"] == 2
    path = state.state_file()
    assert os.stat(path).st_mode & 0o077 == 0
    text = path.read_text()
    for secret in (env.section["username"], env.section["password"], env.section["totp_secret"]):
        assert secret not in text


async def test_a_one_time_code_is_never_sent_twice_across_processes(autojump_clock, env):
    from orch_degiro import totp

    async with env.connect():
        pass
    env.sim.expire_all()
    totp._used.set({})  # a new process: only the state file remembers the step that was used
    started = trio.current_time()
    async with env.connect() as conn:
        await conn.positions()
    assert env.sim.counters["logins"] == 2 and env.sim.counters["totp_refused"] == 0
    assert trio.current_time() - started <= totp.STEP + 1  # waited for the next step, no longer


async def test_the_simulator_refuses_a_replayed_code(autojump_clock, env):
    import httpx

    from orch_degiro import totp

    body = {"username": env.section["username"], "password": env.section["password"],
            "oneTimePassword": pyotp.TOTP(SIM_TOTP_SECRET).at(totp.now())}
    async with httpx.AsyncClient() as http:
        first = await http.post(f"{env.running.url}/login/secure/login/totp", json=body)
        again = await http.post(f"{env.running.url}/login/secure/login/totp", json=body)
    assert first.json()["status"] == 0 and again.json()["status"] == 3
