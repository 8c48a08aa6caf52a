"""orch's Alpaca plugin: the hook implementations. Glue only; the work is in
:class:`orch_alpaca.connection.AlpacaConnection`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Fill, Instrument, Market, Order, OrderClass,
                         OrderFilter, OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults,
                         TimeInForce)

from orch_alpaca.settings import LIVE_URL, PAPER_URL, AlpacaSettings

NAME = "alpaca"

CAPABILITIES = Capabilities(
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    order_classes=frozenset({OrderClass.SIMPLE, OrderClass.BRACKET, OrderClass.OCO, OrderClass.OTO}),
    native_client_order_id=True,
    notional_orders=True,
    fractional=True,
    short_selling=True,
    extended_hours=True,
    post_only=False,
    iceberg=False,
    replace_order=True,
    stream_quotes=True,
    stream_orders=True,
    list_fills=True,
    quotes=True,
    notes=(
        "crypto: market, limit and stop_limit orders; time_in_force gtc or ioc; simple orders only",
        "extended_hours: limit orders with time_in_force day",
        "notional orders: simple market orders (day for stocks)",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="Alpaca",
        official=True,
        markets=frozenset({Market.US_STOCKS, Market.CRYPTO}),
        capabilities=CAPABILITIES,
        settings_type=AlpacaSettings,
        rate_limits=RateLimitDefaults(requests_per_minute=200),
        endpoints={"paper": PAPER_URL, "live": LIVE_URL},
        paper_flag="paper",
        # Alpaca's own variable names (its SDKs read them), tried after orch's ORCH_ALPACA_API_KEY etc.
        secret_env={"api_key": "APCA_API_KEY_ID", "secret_key": "APCA_API_SECRET_KEY"},
    )


@hookimpl
async def orch_connect(settings: AlpacaSettings, context: Any) -> Any:
    from orch_alpaca.connection import AlpacaConnection

    connection = AlpacaConnection(settings, context)
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
async def orch_replace_order(conn: Any, ref: OrderRef, qty: Any, limit_price: Any, stop_price: Any) -> Order:
    return await conn.replace_order(ref, qty, limit_price, stop_price)


@hookimpl
async def orch_list_fills(conn: Any, since: Any, instrument: Instrument | None) -> list[Fill]:
    return await conn.list_fills(since, instrument)


@hookimpl
async def orch_stream_orders(conn: Any) -> AsyncIterator[Order]:
    stream = conn.trade_updates()
    try:
        async for update in stream:
            yield update.order
    finally:
        await stream.aclose()


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
def orch_simulator() -> Any:
    # Imported here: starlette and the simulation kit are only needed when a simulator is asked for.
    from orch_alpaca.sim import SPEC

    return SPEC
