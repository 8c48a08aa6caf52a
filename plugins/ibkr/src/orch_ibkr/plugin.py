"""orch's Interactive Brokers plugin: the hook implementations. Glue only; the work is in
:class:`orch_ibkr.connection.IbkrConnection`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Instrument, Market, Order, OrderClass, OrderFilter,
                         OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults, TimeInForce)

from orch_ibkr.settings import LIVE_PORT, PAPER_PORT, IbkrSettings

NAME = "ibkr"

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT,
                           OrderType.TRAILING_STOP}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC}),
    order_classes=frozenset({OrderClass.SIMPLE, OrderClass.BRACKET}),
    native_client_order_id=True,   # orch's client order id travels as IB's orderRef
    notional_orders=False,
    fractional=False,
    short_selling=True,
    extended_hours=True,           # outsideRth
    stream_orders=True,
    quotes=True,
    notes=(
        "needs a running TWS or IB Gateway with the socket API enabled (paper port 7497 / 4002)",
        "bracket: parent, take-profit (LMT) and stop-loss (STP / STP LMT) sent with transmit 0, 0, 1",
        "orders are found by client order id among open orders and this client's executions",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="Interactive Brokers (TWS / IB Gateway)",
        official=True,
        markets=frozenset({Market.US_STOCKS, Market.GLOBAL_STOCKS, Market.FOREX, Market.FUTURES,
                           Market.OPTIONS}),
        capabilities=CAPABILITIES,
        settings_type=IbkrSettings,
        # TWS allows 50 client messages per second: a 50-message burst window of one second.
        rate_limits=RateLimitDefaults(requests_per_minute=3000, burst=50),
        endpoints={"paper": f"tcp://127.0.0.1:{PAPER_PORT}", "live": f"tcp://127.0.0.1:{LIVE_PORT}"},
        paper_flag="paper",
    )


@hookimpl
async def orch_connect(settings: IbkrSettings, context: Any) -> Any:
    from orch_ibkr.connection import IbkrConnection

    connection = IbkrConnection(settings, context)
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
async def orch_stream_orders(conn: Any) -> AsyncIterator[Order]:
    async for order in conn.order_updates():
        yield order


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
def orch_commands(group: Any) -> None:
    from orch_ibkr.cli import add_commands

    add_commands(group)


@hookimpl
def orch_simulator() -> Any:
    from orch_ibkr.sim import SPEC

    return SPEC
