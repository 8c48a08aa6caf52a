"""orch's XTB plugin: the hook implementations. Glue only; the work is in
:class:`orch_xtb.connection.XtbConnection`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Instrument, Market, Order, OrderFilter, OrderRef,
                         OrderRequest, Position, Quote, RateLimitDefaults)

from orch_xtb.rules import ORDER_CLASSES, ORDER_TYPES, TIME_IN_FORCE
from orch_xtb.settings import SHUTDOWN_NOTICE, XTB_HOST, XtbSettings

NAME = "xtb"

CAPABILITIES = Capabilities(
    order_types=ORDER_TYPES,
    time_in_force=TIME_IN_FORCE,
    order_classes=ORDER_CLASSES,
    native_client_order_id=True,
    notional_orders=False,
    fractional=True,
    short_selling=True,
    extended_hours=False,
    replace_order=True,
    stream_quotes=True,
    stream_orders=False,
    list_fills=False,
    quotes=True,
    notes=(
        "quantities are units: lots × contract size (EURUSD 1000 = 0.01 lot)",
        "bracket/oto: the stop-loss and take-profit are set on the trade itself (sl/tp)",
        "a sell against open buy trades closes the oldest one large enough (one trade per request)",
        "client order ids travel in customComment; lookups search open trades and the last month of history",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="XTB (xStation5 xAPI)",
        official=True,
        markets=frozenset({Market.FOREX, Market.CFD}),
        capabilities=CAPABILITIES,
        settings_type=XtbSettings,
        # XTB: at least 200 ms between commands on a connection, i.e. one request per 0.2 s window.
        rate_limits=RateLimitDefaults(requests_per_minute=300, burst=1),
        endpoints={"demo": f"wss://{XTB_HOST}/demo", "live": f"wss://{XTB_HOST}/real"},
        paper_flag="demo",
        service_notice=SHUTDOWN_NOTICE,
    )


@hookimpl
async def orch_connect(settings: XtbSettings, context: Any) -> Any:
    from orch_xtb.connection import XtbConnection

    connection = XtbConnection(settings, context)
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
    from orch_xtb.sim import SPEC

    return SPEC


@hookimpl
def orch_commands(group: Any) -> None:
    from orch_xtb.cli import add_commands

    add_commands(group)
