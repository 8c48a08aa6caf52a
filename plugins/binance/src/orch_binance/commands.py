"""``orch binance …`` commands beyond orch's standard ones (``balance``, ``permissions``, ``order``… come
from the core): ``filters SYMBOL`` shows the exchangeInfo rules orders are checked against, and ``watch``
follows the user data stream and records each executionReport (order state, fills and fees) in the
journal."""

from __future__ import annotations

from contextlib import nullcontext
from decimal import Decimal
from typing import Any

import click

from orch.cli.app import app
from orch.cli.runner import Mode, mode_options, run_with_orchestrator

NAME = "binance"


def add_commands(group: click.Group) -> None:
    group.add_command(filters_command)
    group.add_command(watch_command)


@click.command("filters")
@click.argument("symbol")
@mode_options
def filters_command(symbol: str, mode: Mode) -> None:
    """The symbol's exchangeInfo filters (tick, step, minimum notional) that orders are rounded to and
    checked against.  Example: orch binance filters BTCUSDT"""

    async def go(orch: Any) -> dict[str, Any]:
        from orch.models import Instrument, Market

        from orch_binance.protocol import tidy

        mode.check(orch, NAME)
        client = await orch.client(NAME)
        # The connection's own cache: the same rules place_order uses.
        conn = client._require_conn()
        rules = await conn.symbol_rules(conn.symbol(Instrument(symbol, Market.CRYPTO)))
        shown = {"symbol": rules.symbol, "status": rules.status, "base": rules.base_asset, "quote": rules.quote_asset,
                  "tick_size": rules.tick_size, "min_price": rules.min_price, "max_price": rules.max_price,
                 "step_size": rules.step_size, "min_qty": rules.min_qty, "max_qty": rules.max_qty,
                 "min_notional": rules.min_notional, "max_notional": rules.max_notional,
                 "notional_filter": rules.notional_filter, "order_types": list(rules.order_types)}
        return {k: tidy(v) if isinstance(v, Decimal) else v for k, v in shown.items()}

    data = run_with_orchestrator(go, mode=mode)
    width = max(len(k) for k in data)
    human = "\n".join(f"{k.ljust(width)}  {', '.join(v) if isinstance(v, list) else v}" for k, v in data.items())
    app().emit(data, human)


@click.command("watch")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N order updates.")
@mode_options
def watch_command(mode: Mode, seconds: float | None, count: int | None) -> None:
    """Follow the user data stream (WebSocket API) and record every order update and fill of orders in the
    journal, printing each.  Example: orch binance watch --seconds 60"""

    async def go(orch: Any) -> int:
        import trio

        from orch.cli.render import order_line

        mode.check(orch, NAME)
        client = await orch.client(NAME)
        conn = client._require_conn()
        stream = conn.user_data()
        seen = 0
        try:
            with trio.move_on_after(seconds) if seconds else nullcontext():
                async for report in stream:
                    record(orch.journal, report)
                    click.echo(order_line(report.order))
                    seen += 1
                    if count and seen >= count:
                        break
        finally:
            await stream.aclose()
        return seen

    run_with_orchestrator(go, mode=mode)


def record(journal: Any, report: Any) -> None:
    """One executionReport into the journal: the fill (idempotent on its trade id), then the order's state
    if orch placed it (orders placed elsewhere keep only their fills)."""
    if report.fill is not None:
        journal.record_fill(report.fill, source="stream")
    coid = report.order.client_order_id
    if coid and journal.get(coid, broker=NAME) is not None:
        journal.record_order(coid, report.order, source="stream")
