"""orch's Trading 212 plugin: the hook implementations. Glue only; the work is in
:class:`orch_trading212.connection.Trading212Connection`."""

from __future__ import annotations

from typing import Any

from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Fill, Instrument, Market, Order, OrderClass,
                         OrderFilter, OrderRef, OrderRequest, OrderType, Position, Quote, RateLimitDefaults,
                         TimeInForce)

from orch_trading212.settings import DEMO_URL, LIVE_URL, Trading212Settings

NAME = "trading212"

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    order_classes=frozenset({OrderClass.SIMPLE}),
    native_client_order_id=False,
    notional_orders=False,
    fractional=True,
    short_selling=False,
    extended_hours=True,
    post_only=False,
    iceberg=False,
    replace_order=False,
    stream_quotes=False,
    stream_orders=False,
    list_fills=True,
    quotes=False,
    notes=(
        "no quotes or market data: the API has no price endpoint (route quotes elsewhere)",
        "no client order id and placement is not idempotent: lookups match ticker, quantity, type and time",
        "no notional (value) orders, no bracket/OCO/OTO/trailing orders, no replace: cancel and place again",
        "no short selling: selling more than held is refused (selling-equity-not-owned)",
        "sells are negative quantities; time in force DAY or GOOD_TILL_CANCEL (market orders have none)",
        "extended_hours: market orders only",
        "Invest and Stocks ISA accounts only (no CFD); orders in the account's main currency",
        "live: non-market orders were once practice-only; check your account before relying on them",
    ),
)


@hookimpl
def orch_broker_info() -> BrokerInfo:
    return BrokerInfo(
        name=NAME,
        title="Trading 212",
        official=True,
        markets=frozenset({Market.EU_STOCKS, Market.US_STOCKS}),
        capabilities=CAPABILITIES,
        settings_type=Trading212Settings,
        # The guide's rate_limit (120/min) caps the total; each endpoint's own limit is in the plugin.
        rate_limits=RateLimitDefaults(requests_per_minute=120),
        endpoints={"practice": DEMO_URL, "live": LIVE_URL},
        paper_flag="practice",
        # The names many Trading 212 clients read, tried after orch's ORCH_TRADING212_API_KEY etc.
        secret_env={"api_key": "TRADING212_API_KEY", "secret_key": "TRADING212_API_SECRET"},
    )


@hookimpl
async def orch_connect(settings: Trading212Settings, context: Any) -> Any:
    from orch_trading212.connection import Trading212Connection

    connection = Trading212Connection(settings, context)
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
async def orch_account(conn: Any) -> Account:
    return await conn.account()


@hookimpl
async def orch_positions(conn: Any) -> list[Position]:
    return await conn.positions()


@hookimpl
def orch_simulator() -> Any:
    from orch_trading212.sim import SPEC

    return SPEC


@hookimpl
def orch_commands(group: Any) -> None:
    from orch_trading212.cli import add_commands

    add_commands(group)
