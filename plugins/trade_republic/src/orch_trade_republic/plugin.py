"""orch's Trade Republic plugin (UNOFFICIAL): the hook implementations. Glue only; the work is in
:class:`orch_trade_republic.connection.TradeRepublicConnection`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Instrument, Market, Order, OrderClass, OrderFilter,
                         OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults, TimeInForce)

from orch_trade_republic.settings import API_URL, TradeRepublicSettings

NAME = "trade_republic"

RISK_NOTICE = (
    "Trade Republic offers no API: this plugin speaks the private web API of its web app. Automated use "
    "may breach Trade Republic's terms and get the account locked; the API changes without notice and an "
    "order may then fail or behave differently. There is no paper account: everything but the local "
    "simulator is real money. Logins push an approval to your phone.")

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    order_classes=frozenset({OrderClass.SIMPLE}),
    # clientProcessId is derived from orch's id, but Trade Republic's order lists are not known to echo it.
    native_client_order_id=False,
    notional_orders=False,
    fractional=False,
    short_selling=False,
    extended_hours=False,
    stream_quotes=True,
    quotes=True,
    notes=(
        "instruments are ISINs: a ticker is looked up with Trade Republic's search; broker_ids "
        "{'trade_republic': 'ISIN' or 'ISIN.LSX'} skips the search",
        "stop = stop-market; expiry gfd (day) or gtc (gtd exists but orch cannot name a date)",
        "whole shares only; prices in EUR",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="Trade Republic (unofficial)",
        official=False,
        markets=frozenset({Market.EU_STOCKS, Market.US_STOCKS}),
        capabilities=CAPABILITIES,
        settings_type=TradeRepublicSettings,
        # Not published. The web app itself opens dozens of subscriptions at once (an instrument and a ticker
        # per position), so the budget allows bursts of that size at a modest sustained pace.
        rate_limits=RateLimitDefaults(requests_per_minute=300, burst=60),
        endpoints={"live": API_URL},
        # No paper account: the non-live flag is true only for a loopback simulator (see settings.py).
        paper_flag="simulator",
        risk_notice=RISK_NOTICE,
    )


@hookimpl
async def orch_connect(settings: TradeRepublicSettings, context: Any) -> Any:
    from orch_trade_republic.connection import TradeRepublicConnection

    connection = TradeRepublicConnection(settings, context)
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
async def orch_stream_quotes(conn: Any, instruments: list[Instrument]) -> AsyncIterator[Quote]:
    stream = conn.stream_quotes(instruments)
    try:
        async for quote in stream:
            yield quote
    finally:
        await stream.aclose()


@hookimpl
async def orch_account(conn: Any) -> Account:
    return await conn.account()


@hookimpl
async def orch_positions(conn: Any) -> list[Position]:
    return await conn.positions()


@hookimpl
def orch_commands(group: Any) -> None:
    from orch_trade_republic.cli import register

    register(group)


@hookimpl
def orch_simulator() -> Any:
    from orch_trade_republic.sim import SPEC

    return SPEC
