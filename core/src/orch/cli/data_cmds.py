"""Account data and prices: ``account``, ``positions``, ``balance``, ``quote``, ``stream``, ``orders``.

Top-level ``orch account`` / ``orch positions`` cover every enabled broker (one failing broker does not
hide the others; the exit code is 1 if any failed) with totals per currency; ``orch <broker> account``
covers one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from orch.cli.app import app
from orch.cli.order_cmds import _market, market_option
from orch.cli.render import (POSITION_HEADER, account_line, num, order_line, position_rows, quote_line,
                             table)
from orch.cli.runner import Mode, mode_options, run_with_orchestrator
from orch.errors import OrchError, UsageError


async def routed_client(orch: Any, mode: Mode, symbol: str, market: Any, broker: str | None) -> Any:
    """Choose the broker for ``symbol`` (explicit or routed), check the mode flags, then connect (falling
    back when routing allows). Returns ``(decision, client)``."""
    first = orch.router().route(symbol, market=market, broker=broker)
    mode.check(orch, first.broker)
    return await orch.route(symbol, market=market, broker=broker)


def _targets(orch: Any, mode: Mode, broker: str | None) -> tuple[list[str], dict[str, OrchError]]:
    """Brokers to ask, and those refused by the mode flags before any connection."""
    names = [broker] if broker else orch.enabled_brokers()
    if not names:
        raise UsageError("no broker is enabled in the config", hint="set enabled = true in a brokers section; "
                                                                  "see `orch config init`")
    refused: dict[str, OrchError] = {}
    for name in names:
        try:
            mode.check(orch, name)
        except OrchError as exc:
            if broker:
                raise
            refused[name] = exc
    return [n for n in names if n not in refused], refused


async def _gather(orch: Any, mode: Mode, broker: str | None,
                  call: Callable[[Any, list[str]], Any]) -> dict[str, Any]:
    names, refused = _targets(orch, mode, broker)
    results = dict(await call(orch, names)) if names else {}
    results.update(refused)
    order = [broker] if broker else orch.enabled_brokers()
    return {name: results[name] for name in order if name in results}


def _errors(results: dict[str, Any], single: str | None) -> dict[str, str]:
    errors = {n: str(r) for n, r in results.items() if isinstance(r, OrchError)}
    if single and single in errors:
        raise results[single]
    return errors


def _totals(items: list[tuple[str, dict[str, Decimal]]]) -> dict[str, dict[str, str]]:
    totals: dict[str, dict[str, Decimal]] = {}
    for currency, figures in items:
        bucket = totals.setdefault(currency, {})
        for key, value in figures.items():
            if value is not None:
                bucket[key] = bucket.get(key, Decimal(0)) + value
    return {c: {k: num(v) for k, v in figures.items()} for c, figures in sorted(totals.items())}


def _finish(errors: dict[str, str]) -> None:
    if errors:
        raise click.exceptions.Exit(1)


def make_account_command(broker: str | None) -> click.Command:
    @click.command("account", help=f"Cash, equity and buying power at {broker}." if broker else
                   "Cash, equity and buying power at every enabled broker, with totals per currency.")
    @mode_options
    def account(mode: Mode) -> None:
        results = run_with_orchestrator(lambda orch: _gather(orch, mode, broker,
                                                             lambda o, n: o.accounts(n)), mode=mode)
        errors = _errors(results, broker)
        accounts = {n: r for n, r in results.items() if n not in errors}
        lines = [account_line(a) for a in accounts.values()]
        lines += [f"{n}  error: {e}" for n, e in errors.items()]
        totals = _totals([(a.currency, {"cash": a.cash, "equity": a.equity, "buying_power": a.buying_power})
                          for a in accounts.values()])
        if broker is None and totals:
            lines.append("totals: " + "; ".join(
                f"{c} cash {f['cash']} equity {f['equity']} buying power {f['buying_power']}"
                for c, f in totals.items()))
        data: dict[str, Any] = {"accounts": accounts, "errors": errors}
        if broker is None:
            data["totals"] = totals
        app().emit(accounts[broker] if broker and not errors else data, "\n".join(lines))
        _finish(errors)

    return account


def make_positions_command(broker: str | None) -> click.Command:
    @click.command("positions", help=f"Open positions at {broker}." if broker else
                   "Open positions at every enabled broker, with market value per currency.")
    @mode_options
    def positions(mode: Mode) -> None:
        results = run_with_orchestrator(lambda orch: _gather(orch, mode, broker,
                                                             lambda o, n: o.positions(n)), mode=mode)
        errors = _errors(results, broker)
        held = [p for n, r in results.items() if n not in errors for p in r]
        text = table(position_rows(held), POSITION_HEADER) if held else "No open positions."
        lines = [text] + [f"{n}  error: {e}" for n, e in errors.items()]
        totals = _totals([(p.currency, {"market_value": p.market_value, "unrealized_pl": p.unrealized_pl})
                          for p in held])
        if totals:
            lines.append("totals: " + "; ".join(
                f"{c} market value {f.get('market_value', '-')} unrealized P/L {f.get('unrealized_pl', '-')}"
                for c, f in totals.items()))
        app().emit(held if broker and not errors else {"positions": held, "errors": errors, "totals": totals},
                   "\n".join(lines))
        _finish(errors)

    return positions


def make_balance_command(broker: str) -> click.Command:
    @click.command("balance")
    @mode_options
    def balance(mode: Mode) -> None:
        """Balances per currency or asset (free and locked)."""

        async def go(orch: Any) -> Any:
            mode.check(orch, broker)
            return await (await orch.client(broker)).account()

        account = run_with_orchestrator(go, mode=mode)
        rows = [(b.asset, num(b.free), num(b.locked), num(b.total)) for b in account.balances]
        if not rows:
            rows = [(account.currency, num(account.cash), "0", num(account.cash))]
        data = [{"asset": r[0], "free": r[1], "locked": r[2], "total": r[3]} for r in rows]
        app().emit(data, table(rows, ("ASSET", "FREE", "LOCKED", "TOTAL")))

    return balance


def make_quote_command(broker: str | None) -> click.Command:
    def quote(symbol: str, mode: Mode, market: str | None, broker_option: str | None = None) -> None:

        async def go(orch: Any) -> Any:
            decision, client = await routed_client(orch, mode, symbol, _market(market), broker or broker_option)
            return await client.quote(orch.instrument(symbol, decision.market))

        result = run_with_orchestrator(go, mode=mode)
        app().emit(result, quote_line(result))

    command = mode_options(market_option(quote))
    if broker is None:
        command = click.option("--broker", "broker_option", default=None, help="Ask this broker.")(command)
    text = (f"Latest bid/ask/last for SYMBOL at {broker}." if broker else
            "Latest bid/ask/last for SYMBOL (routed to a broker unless --broker names one).")
    return click.command("quote", help=text)(click.argument("symbol")(command))


def make_orders_command(broker: str) -> click.Command:
    @click.command("orders")
    @click.option("--status", type=click.Choice(["open", "closed", "all"]), default="open", show_default=True)
    @click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
    @mode_options
    def orders(status: str, limit: int, mode: Mode) -> None:
        """Orders at the broker (open ones by default), newest first."""
        from orch.models import OrderFilter

        async def go(orch: Any) -> Any:
            mode.check(orch, broker)
            return await orch.list_orders(broker, OrderFilter(status=status, limit=limit))

        found = run_with_orchestrator(go, mode=mode)
        app().emit(found, "\n".join(order_line(o) for o in found) if found else f"No {status} orders.")

    return orders


@click.command("stream")
@click.argument("symbols", nargs=-1, required=True)
@click.option("--broker", default=None, help="Stream from this broker (default: the routed one).")
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after N quotes.")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=None, help="Stop after S seconds.")
@market_option
@mode_options
def stream_command(symbols: tuple[str, ...], broker: str | None, count: int | None, seconds: float | None,
                   market: str | None, mode: Mode) -> None:
    """Print live quotes for SYMBOLS until --count/--seconds (or Ctrl-C). With --json, one JSON object
    per line.

    \b
    Example:
      orch stream AAPL MSFT --broker alpaca --count 10
    """
    import trio

    from orch.models import to_data

    state = app()

    async def go(orch: Any) -> int:
        decision, client = await routed_client(orch, mode, symbols[0], _market(market), broker)
        instruments = [orch.instrument(s, _market(market) or (decision.market if i == 0 else None))
                       for i, s in enumerate(symbols)]
        seen = 0
        with trio.move_on_after(seconds) if seconds is not None else contextlib.nullcontext():
            async with contextlib.aclosing(client.stream_quotes(instruments)) as quotes:
                async for item in quotes:
                    click.echo(json.dumps(to_data(item), default=str) if state.as_json else quote_line(item))
                    seen += 1
                    if count is not None and seen >= count:
                        break
        return seen

    seen = run_with_orchestrator(go, mode=mode)
    if not state.as_json:
        click.echo(f"{seen} quote{'s' if seen != 1 else ''}", err=True)


account_command = make_account_command(None)
positions_command = make_positions_command(None)
quote_command = make_quote_command(None)
