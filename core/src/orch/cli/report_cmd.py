"""``orch report``: execution quality per broker from the journal (no broker is contacted).

Per broker: orders by state, fills, filled value, slippage and fees.

* Slippage is measured against the quote recorded with the order when it was sent (``quote_at_submit``):
  the ask for a buy, the bid for a sell (else last, else mid), in basis points, positive when the fill
  was worse than that quote. The average is weighted by filled value.
* Fees are those the brokers reported on fills recorded in the journal; for a filled order with no fee
  on record, the fee is estimated from the broker's commission in the broker guide (marked estimated).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from orch.cli.app import app
from orch.cli.render import num
from orch.models import Market
from orch.cli.runner import json_option, parse_since, run_with_orchestrator

BPS = Decimal(10000)
_CENTS = Decimal("0.01")


def _ibkr_fee(qty: Decimal, value: Decimal, market: Market) -> Decimal:
    if market is Market.FOREX:
        # Fixed forex pricing is by value, not by unit: 0.2 bps, at least 2 (USD 0.005 "per share" on
        # 20,000 EUR would read as 100).
        return max(value * Decimal("0.00002"), Decimal(2))
    # Fixed pricing: 0.005 per share, at least 1, at most 1% of the trade value.
    return min(max(qty * Decimal("0.005"), Decimal(1)), value * Decimal("0.01"))


def _free(qty: Decimal, value: Decimal, market: Market) -> Decimal:
    return Decimal(0)


# The broker guide's commission column: (description, estimate(qty, value, market) -> fee in the trade
# currency).
COMMISSIONS: dict[str, tuple[str, Callable[[Decimal, Decimal, Market], Decimal] | None]] = {
    "alpaca": ("commission-free", _free),
    "binance": ("0.1% of the trade value", lambda qty, value, market: value * Decimal("0.001")),
    "ibkr": ("0.005 per share, min 1, max 1% of value; forex 0.2 bps of value, min 2", _ibkr_fee),
    "trading212": ("commission-free", _free),
    "xtb": ("no commission (paid in the spread)", _free),
    "trade_republic": ("no commission per the guide", _free),
    "degiro": ("varies by exchange (not estimated)", None),
}


def reference_price(side: str, quote: Any) -> Decimal | None:
    if quote is None:
        return None
    preferred = quote.ask if side == "buy" else quote.bid
    return preferred if preferred is not None else (quote.last if quote.last is not None else quote.mid)


def slippage_bps(side: str, fill_price: Decimal, reference: Decimal) -> Decimal:
    """Positive = the fill was worse for us than the reference."""
    diff = fill_price - reference if side == "buy" else reference - fill_price
    return diff / reference * BPS


def broker_report(name: str, entries: list[Any], fills: list[Any]) -> dict[str, Any]:
    states: dict[str, int] = {}
    for entry in entries:
        states[entry.state.value] = states.get(entry.state.value, 0) + 1
    fills_by_order: dict[str, list[Any]] = {}
    for fill in fills:
        if fill.client_order_id is not None:
            fills_by_order.setdefault(fill.client_order_id, []).append(fill)

    value: dict[str, Decimal] = {}
    fees: dict[str, Decimal] = {}
    estimated: dict[str, Decimal] = {}
    not_estimated = 0
    weighted, weight, worst, best, measured = Decimal(0), Decimal(0), None, None, 0
    description, estimate = COMMISSIONS.get(name, ("unknown (not in the broker guide)", None))
    for entry in entries:
        if not entry.filled_qty or entry.avg_fill_price is None:
            continue
        currency = entry.request.instrument.currency
        filled_value = entry.filled_qty * entry.avg_fill_price
        value[currency] = value.get(currency, Decimal(0)) + filled_value
        side = entry.request.side.value
        reference = reference_price(side, entry.quote_at_submit)
        if reference:
            bps = slippage_bps(side, entry.avg_fill_price, reference)
            weighted += bps * filled_value
            weight += filled_value
            worst = bps if worst is None or bps > worst else worst
            best = bps if best is None or bps < best else best
            measured += 1
        recorded = [f for f in fills_by_order.get(entry.client_order_id, []) if f.fee]
        if recorded:
            for f in recorded:
                key = f.fee_currency or currency
                fees[key] = fees.get(key, Decimal(0)) + f.fee
        elif estimate is not None:
            fee = estimate(entry.filled_qty, filled_value, entry.request.instrument.market)
            estimated[currency] = estimated.get(currency, Decimal(0)) + fee
        else:
            not_estimated += 1

    def q(d: Decimal | None) -> str | None:
        return None if d is None else num(d.quantize(_CENTS))

    return {
        "broker": name, "orders": len(entries), "states": dict(sorted(states.items())),
        "filled_orders": sum(1 for e in entries if e.filled_qty), "fills": len(fills),
        "filled_value": {c: num(v) for c, v in sorted(value.items())},
        "slippage_bps": {"orders_measured": measured, "average": q(weighted / weight) if weight else None,
                         "best": q(best), "worst": q(worst)},
        "fees": {c: num(v) for c, v in sorted(fees.items())},
        "estimated_fees": {c: num(v.quantize(Decimal("1e-8")).normalize()) for c, v in sorted(estimated.items())},
        "fees_not_estimated": not_estimated, "commission_model": description,
    }


def _text(reports: list[dict[str, Any]]) -> str:
    if not reports:
        return "No orders in the journal."
    lines = []
    for r in reports:
        states = ", ".join(f"{k} {v}" for k, v in r["states"].items())
        lines.append(f"{r['broker']}: {r['orders']} orders ({states}); {r['filled_orders']} filled, "
                     f"{r['fills']} fill records")
        if r["filled_value"]:
            lines.append("  filled value: " + ", ".join(f"{v} {c}" for c, v in r["filled_value"].items()))
        s = r["slippage_bps"]
        if s["orders_measured"]:
            lines.append(f"  slippage vs quote at submit: avg {s['average']} bps (best {s['best']}, worst "
                         f"{s['worst']}) over {s['orders_measured']} orders")
        else:
            lines.append("  slippage: no filled order with a quote at submit")
        fee_bits = [f"{v} {c}" for c, v in r["fees"].items()]
        fee_bits += [f"~{v} {c} estimated" for c, v in r["estimated_fees"].items()]
        if r["fees_not_estimated"]:
            fee_bits.append(f"{r['fees_not_estimated']} orders not estimated")
        lines.append(f"  fees: {', '.join(fee_bits) or '0'}  (commission: {r['commission_model']})")
    return "\n".join(lines)


@click.command("report")
@json_option
@click.option("--broker", default=None, help="Only this broker.")
@click.option("--since", default=None, help="ISO date/time, 'today', or a span such as 7d.")
@click.option("--limit", type=click.IntRange(1), default=100000, show_default=True,
              help="At most this many recent orders per broker.")
def report_command(broker: str | None, since: str | None, limit: int) -> None:
    """Execution quality per broker from the journal: orders, fills, slippage (bps vs the quote at
    submit) and fees (reported, else estimated from the broker guide's commissions).

    \b
    Example:
      orch report --broker alpaca --since 7d
    """
    moment = parse_since(since) if since else None

    async def go(orch: Any) -> list[dict[str, Any]]:
        entries = orch.journal.history(broker, since=moment, limit=limit)
        fills = orch.journal.fills(broker, since=moment, limit=limit)
        names = sorted({e.broker for e in entries} | ({broker} if broker else set()))
        return [broker_report(n, [e for e in entries if e.broker == n], [f for f in fills if f.broker == n])
                for n in names]

    reports = run_with_orchestrator(go, reconcile=False)
    app().emit(reports, _text(reports))
