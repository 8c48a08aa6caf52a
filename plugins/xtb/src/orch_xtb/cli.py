"""``orch xtb …`` commands beyond the standard ones: ``symbols`` (the cached symbol records: lot size,
contract size, precision), ``trades`` (open trades and pending orders with their order numbers, sl and
tp) and ``protect`` (set a trade's stop-loss/take-profit: xAPI type MODIFY).

Closing is deliberately not a command of its own: ``orch xtb order sell EURUSD 1000`` closes an open buy
trade and goes through the journal like every order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from orch.cli.app import app
from orch.cli.runner import Mode, mode_options, run_with_orchestrator
from orch.errors import UsageError
from orch.models import to_decimal

from orch_xtb import protocol


async def _conn(orch: Any, mode: Mode, name: str) -> Any:
    mode.check(orch, name)
    return (await orch.client(name))._require_conn()


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        raise UsageError(f"{option} {value!r} is not a number") from None


def add_commands(group: click.Group) -> None:
    name = group.name or "xtb"

    @group.command("symbols")
    @click.argument("search", required=False)
    @mode_options
    def symbols(search: str | None, mode: Mode) -> None:
        """XTB's symbols as cached at login (getAllSymbols, at most max_instruments)."""

        async def go(orch: Any) -> list[dict[str, Any]]:
            conn = await _conn(orch, mode, name)
            rows = []
            for symbol in conn.symbols.names():
                info = conn.symbols.find(symbol)
                if search is None or search.upper() in f"{symbol} {info.description}".upper():
                    rows.append({"symbol": symbol, "market": info.market.value, "currency": info.currency_profit,
                                 "contract_size": info.contract_size, "lot_min": info.lot_min,
                                 "lot_step": info.lot_step, "qty_step": info.qty_step, "precision": info.precision})
            return rows

        rows = run_with_orchestrator(go, mode=mode)
        lines = [f"{r['symbol']:<10} {r['market']:<6} {r['currency']:<4} contract {r['contract_size']:f}  "
                 f"qty step {r['qty_step'].normalize():f}  precision {r['precision']}" for r in rows]
        app().emit(rows, "\n".join(lines) or "no symbol matches")

    @group.command("trades")
    @mode_options
    def trades(mode: Mode) -> None:
        """Open trades and pending orders, with XTB's order numbers, sl and tp."""

        async def go(orch: Any) -> list[dict[str, Any]]:
            conn = await _conn(orch, mode, name)
            records = protocol.parse_trades(await conn.socket.call(protocol.get_trades(True)), broker=name)
            return [{"order": r.order, "symbol": r.symbol, "side": r.side.value, "pending": r.pending,
                     "qty": conn._order(r).qty, "open_price": r.open_price, "sl": r.sl, "tp": r.tp,
                     "profit": r.profit, "client_order_id": r.custom_comment or None} for r in records]

        rows = run_with_orchestrator(go, mode=mode)
        lines = [f"{r['order']:<10} {r['symbol']:<8} {r['side']:<4} {r['qty']:f} @ {r['open_price']:f}"
                 f"{'  (pending)' if r['pending'] else ''}  sl {r['sl']:f}  tp {r['tp']:f}" for r in rows]
        app().emit(rows, "\n".join(lines) or "No open trades.")

    @group.command("protect")
    @click.argument("order", type=int)
    @click.option("--sl", default=None, help="Stop-loss price (0 removes it).")
    @click.option("--tp", default=None, help="Take-profit price (0 removes it).")
    @mode_options
    def protect(order: int, sl: str | None, tp: str | None, mode: Mode) -> None:
        """Set the stop-loss and/or take-profit of open trade (or pending order) ORDER."""
        levels = {"sl": _decimal(sl, "--sl"), "tp": _decimal(tp, "--tp")}
        if levels["sl"] is None and levels["tp"] is None:
            raise UsageError("give --sl and/or --tp")

        async def go(orch: Any) -> Any:
            return await (await _conn(orch, mode, name)).protect(order, **levels)

        result = run_with_orchestrator(go, mode=mode)
        app().emit(result, f"{name}: order {result.broker_order_id} protected (sl {levels['sl'] or '-'}, "
                           f"tp {levels['tp'] or '-'})")
