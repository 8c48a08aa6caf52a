"""orch's DEGIRO plugin (UNOFFICIAL): the hook implementations. Glue only; the work is in
:class:`orch_degiro.connection.DegiroConnection`."""

from __future__ import annotations

from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Instrument, Market, Order, OrderClass, OrderFilter,
                         OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults, TimeInForce)

from orch_degiro.settings import LIVE_URL, DegiroSettings

NAME = "degiro"

RISK_NOTICE = (
    "UNOFFICIAL: DEGIRO offers no API. This plugin replays its private web-trader API, which DEGIRO does not "
    "allow for automated use; using it may breach DEGIRO's terms of service (client agreement), DEGIRO may "
    "block the account or "
    "demand a captcha, and every API login can trigger a login-alert e-mail. DEGIRO has no paper account: "
    "every command against real DEGIRO trades real money and needs --live."
)

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    order_classes=frozenset({OrderClass.SIMPLE}),
    native_client_order_id=False,
    notional_orders=False,
    fractional=False,
    short_selling=False,
    extended_hours=False,
    replace_order=False,
    stream_quotes=False,
    stream_orders=False,
    list_fills=False,
    quotes=True,
    notes=(
        "no client order ids: orders placed through a connection are known by the id DEGIRO returned; a lookup "
        "by an unknown client order id proves absence only when DEGIRO shows no order for the product today",
        "quotes come from DEGIRO's vwd price feed (one poll per quote; feedQuality other than R is delayed)",
        "every order is checked (checkOrder) then confirmed; a session that expires is renewed by one login",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="DEGIRO (unofficial web API)",
        official=False,
        markets=frozenset({Market.EU_STOCKS, Market.US_STOCKS, Market.GLOBAL_STOCKS}),
        capabilities=CAPABILITIES,
        settings_type=DegiroSettings,
        # Community advice is 1-2 s between calls; order requests closer than ~0.75 s get 429. A burst of
        # 10 covers one command (login, config, client, account info, the call) before the pacing starts.
        rate_limits=RateLimitDefaults(requests_per_minute=60, burst=10, orders_per_second=1),
        endpoints={"live": LIVE_URL},
        # Derived from base_url (true only for a loopback simulator): real DEGIRO is always live.
        paper_flag="paper",
        risk_notice=RISK_NOTICE,
    )


@hookimpl
async def orch_connect(settings: DegiroSettings, context: Any) -> Any:
    from orch_degiro.connection import DegiroConnection

    connection = DegiroConnection(settings, context)
    try:
        return await connection.open()
    except BaseException:
        await connection.aclose()
        raise


@hookimpl
async def orch_place_order(conn: Any, request: OrderRequest) -> Order:
    return await conn.place_order(request)


@hookimpl
async def orch_cancel_order(conn: Any, ref: OrderRef) -> Order | None:
    return await conn.cancel_order(ref)


@hookimpl
async def orch_get_order(conn: Any, ref: OrderRef) -> Order | None:
    return await conn.get_order(ref)


@hookimpl
async def orch_list_orders(conn: Any, filter: OrderFilter) -> list[Order]:
    return await conn.list_orders(filter)


@hookimpl
async def orch_quote(conn: Any, instrument: Instrument) -> Quote:
    return await conn.quote(instrument)


@hookimpl
async def orch_account(conn: Any) -> Account:
    return await conn.account()


@hookimpl
async def orch_positions(conn: Any) -> list[Position]:
    return await conn.positions()


@hookimpl
def orch_simulator() -> Any:
    from orch_degiro.sim import SPEC

    return SPEC
