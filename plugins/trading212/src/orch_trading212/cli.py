"""``orch trading212 …`` commands beyond the standard ones: ``instruments`` (the cached metadata, ticker
mapping both ways) and ``hours`` (market open or closed now, from the exchange working schedules)."""

from __future__ import annotations

from typing import Any

import click

from orch.cli.app import app
from orch.cli.runner import Mode, mode_options, run_with_orchestrator
from orch.routing import classify

from orch_trading212 import symbols


async def _instruments(orch: Any, mode: Mode, name: str, search: str | None) -> list[dict[str, Any]]:
    mode.check(orch, name)
    conn = (await orch.client(name))._require_conn()  # the plugin's own connection: metadata is T212-only
    rows = []
    for meta in (await conn.catalog()).values():
        symbol, market, currency = symbols.to_symbol(meta.ticker, meta)
        text = f"{meta.ticker} {symbol} {meta.name} {meta.isin or ''}".upper()
        if search is None or search.upper() in text:
            rows.append({"ticker": meta.ticker, "symbol": symbol, "market": market.value, "currency": currency,
                         "name": meta.name, "isin": meta.isin, "type": meta.type})
    return sorted(rows, key=lambda r: r["symbol"])


async def _hours(orch: Any, mode: Mode, name: str, symbol: str) -> dict[str, Any]:
    mode.check(orch, name)
    conn = (await orch.client(name))._require_conn()
    from orch.models import Instrument

    instrument = Instrument(symbol.strip().upper(), classify(symbol))
    ticker = await conn.ticker(instrument)
    return {"symbol": instrument.symbol, "ticker": ticker, "open": await conn.market_open(instrument),
            "extended_open": await conn.market_open(instrument, extended=True)}


def add_commands(group: click.Group) -> None:
    name = group.name or "trading212"

    @group.command("instruments")
    @click.argument("search", required=False)
    @mode_options
    def instruments(search: str | None, mode: Mode) -> None:
        """Trading 212's instruments (cached metadata) with orch's symbol for each ticker."""
        rows = run_with_orchestrator(lambda orch: _instruments(orch, mode, name, search), mode=mode)
        lines = [f"{r['symbol']:<10} {r['ticker']:<14} {r['market']:<10} {r['currency']:<4} {r['name']}"
                 for r in rows] or ["no instrument matches"]
        app().emit(rows, "\n".join(lines))

    @group.command("hours")
    @click.argument("symbol")
    @mode_options
    def hours(symbol: str, mode: Mode) -> None:
        """Whether SYMBOL's market is open now, from Trading 212's exchange working schedules."""
        result = run_with_orchestrator(lambda orch: _hours(orch, mode, name, symbol), mode=mode)
        word = {True: "open", False: "closed", None: "unknown (no schedule)"}
        app().emit(result, f"{result['symbol']} ({result['ticker']}): {word[result['open']]}"
                           f"; extended hours {word[result['extended_open']]}")
