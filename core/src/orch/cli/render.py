"""Human-readable text for the trading commands (``--json`` prints the models instead)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any


def num(value: Decimal | int | float | None, places: int | None = None) -> str:
    """Plain notation, no exponent, no trailing zeros (``1E+2`` → ``100``); ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{places if places is not None else 3}f}"
    if isinstance(value, int):
        return str(value)
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
        return format(value, "f")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(c) for c in row] for row in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(len(r) for r in cells))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in cells)


def qty_text(qty: Decimal | None, notional: Decimal | None) -> str:
    return num(qty) if qty is not None else f"notional {num(notional)}"


def order_line(order: Any) -> str:
    """One line for a broker's order."""
    bits = [f"{order.broker}: {order.side.value} {qty_text(order.qty, order.notional)} "
            f"{order.instrument.symbol} {order.type.value}"]
    if order.limit_price is not None:
        bits.append(f"@ {num(order.limit_price)}")
    if order.stop_price is not None:
        bits.append(f"stop {num(order.stop_price)}")
    if order.time_in_force is not None:
        bits.append(order.time_in_force.value)
    bits.append(f"→ {order.status.value}")
    if order.filled_qty:
        bits.append(f"(filled {num(order.filled_qty)} @ {num(order.avg_fill_price)})")
    bits.append(f"[id {order.broker_order_id}" + (f", client id {order.client_order_id}]"
                                                  if order.client_order_id else "]"))
    if order.reject_reason:
        bits.append(f"reason: {order.reject_reason}")
    return " ".join(bits)


def entry_summary(entry: Any) -> list[str]:
    """A journal entry as a short block."""
    request = entry.request
    what = (f"{request.side.value} {qty_text(request.qty, request.notional)} {request.instrument.symbol} "
            f"{request.type.value}")
    if request.limit_price is not None:
        what += f" @ {num(request.limit_price)}"
    if request.stop_price is not None:
        what += f" stop {num(request.stop_price)}"
    lines = [f"{entry.client_order_id}  {entry.broker} [{entry.mode}]  {what}  {request.time_in_force.value}",
             f"  state: {entry.state.value}" + (f" (broker says {entry.raw_status})" if entry.raw_status else ""),
             f"  broker order id: {entry.broker_order_id or '-'}",
             f"  filled: {num(entry.filled_qty)}" + (f" @ {num(entry.avg_fill_price)}"
                                                     if entry.avg_fill_price is not None else ""),
             f"  created: {entry.created_at.isoformat(timespec='seconds')}  "
             f"updated: {entry.updated_at.isoformat(timespec='seconds')}"]
    if entry.reject_reason:
        code = f" [code {entry.broker_code}]" if entry.broker_code else ""
        lines.append(f"  rejected: {entry.reject_reason}{code}")
    elif entry.message:
        lines.append(f"  note: {entry.message}")
    if entry.replaces:
        lines.append(f"  resend of: {entry.replaces}")
    if entry.replaced_by:
        lines.append(f"  resent as: {entry.replaced_by}")
    return lines


def history_rows(entries: Iterable[Any]) -> str:
    rows = []
    for e in entries:
        r = e.request
        price = num(r.limit_price) if r.limit_price is not None else (
            f"stop {num(r.stop_price)}" if r.stop_price is not None else "")
        reason = e.reject_reason or ""
        rows.append((e.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), e.broker, e.mode,
                     e.client_order_id, r.side.value, qty_text(r.qty, r.notional), r.instrument.symbol,
                     r.type.value, price, e.state.value, num(e.filled_qty), reason))
    if not rows:
        return "No orders."
    return table(rows, ("TIME", "BROKER", "MODE", "ID", "SIDE", "QTY", "SYMBOL", "TYPE", "PRICE", "STATE",
                        "FILLED", "REASON"))


def account_line(account: Any) -> str:
    mode = "paper" if account.paper else "LIVE"
    return (f"{account.broker}  {account.account_id}  {account.currency}  cash {num(account.cash)}  "
            f"equity {num(account.equity)}  buying power {num(account.buying_power)}  "
            f"status {account.status}  [{mode}]")


def position_rows(positions: Iterable[Any]) -> list[tuple[str, ...]]:
    return [(p.broker, p.instrument.symbol, num(p.qty), num(p.avg_price), num(p.market_value),
             num(p.unrealized_pl), p.currency) for p in positions]


POSITION_HEADER = ("BROKER", "SYMBOL", "QTY", "AVG PRICE", "MARKET VALUE", "UNREALIZED P/L", "CCY")


def quote_line(quote: Any) -> str:
    delayed = "  (delayed)" if quote.delayed else ""
    return (f"{quote.broker}  {quote.instrument.symbol}  bid {num(quote.bid)} x {num(quote.bid_size)}  "
            f"ask {num(quote.ask)} x {num(quote.ask_size)}  last {num(quote.last)}  "
            f"{quote.timestamp.isoformat(timespec='seconds')}{delayed}")
