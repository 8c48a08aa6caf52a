"""orch's Binance Spot plugin: the hook implementations. Glue only; the work is in
:class:`orch_binance.connection.BinanceConnection`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Fill, Instrument, Market, Order, OrderClass,
                         OrderFilter, OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults,
                         TimeInForce)

from orch_binance.settings import LIVE_URL, TESTNET_URL, BinanceSettings

NAME = "binance"


CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    order_classes=frozenset({OrderClass.SIMPLE, OrderClass.OCO}),
    native_client_order_id=True,
    notional_orders=True,
    fractional=True,
    short_selling=False,
    extended_hours=False,
    post_only=True,
    iceberg=True,
    replace_order=False,
    stream_quotes=True,
    stream_orders=True,
    list_fills=True,
    quotes=True,
    notes=(
        "spot only: USDT-M and COIN-M futures are refused (NotSupported)",
        "stop orders are STOP_LOSS(_LIMIT), or TAKE_PROFIT(_LIMIT) when the stop is beyond the market "
        "(a sell above it, a buy below it); post_only limit orders are LIMIT_MAKER",
        "notional orders are market orders by quoteOrderQty",
        "quantities are rounded down to the lot step, limit prices to the tick in the trader's favour",
        "looking an order up or cancelling it needs its instrument (Binance requires the symbol)",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="Binance Spot",
        official=True,
        markets=frozenset({Market.CRYPTO}),
        capabilities=CAPABILITIES,
        settings_type=BinanceSettings,
        # Binance's published spot limits: 6000 request weight per minute, 100 orders per 10 seconds.
        rate_limits=RateLimitDefaults(requests_per_minute=6000, weight_per_minute=6000, orders_per_second=10),
        endpoints={"testnet": TESTNET_URL, "live": LIVE_URL},
        paper_flag="testnet",
        secret_env={"api_key": "BINANCE_API_KEY", "secret_key": "BINANCE_API_SECRET"},
    )


@hookimpl
async def orch_connect(settings: BinanceSettings, context: Any) -> Any:
    from orch_binance.connection import BinanceConnection

    connection = BinanceConnection(settings, context)
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
async def orch_list_fills(conn: Any, since: Any, instrument: Instrument | None) -> list[Fill]:
    return await conn.list_fills(since, instrument)


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
async def orch_stream_orders(conn: Any) -> AsyncIterator[Order]:
    stream = conn.user_data()
    try:
        async for report in stream:
            yield report.order
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
    from orch_binance.sim import SPEC

    return SPEC


@hookimpl
def orch_commands(group: Any) -> None:
    from orch_binance.commands import add_commands

    add_commands(group)
