"""``orch order …`` and ``orch <broker> order …``: place, look up, list and cancel orders.

Every placement goes through :meth:`Orchestrator.place` (journal first, at most once). The same command
objects serve both forms: ``broker=None`` routes the symbol (``orch order buy AAPL 1``), a broker name
pins it (``orch alpaca order buy AAPL 1 market --paper``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from orch.cli.app import app
from orch.cli.render import entry_summary, history_rows, order_line
from orch.cli.runner import (ChoiceParam, DecimalParam, Mode, json_option, mode_options, parse_since,
                             run_with_orchestrator)
from orch.errors import BrokerError, LiveTradingRefused, OrderNotFound, UsageError

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "ioc", "fok", "opg", "cls")
MARKETS = ("us_stocks", "eu_stocks", "global_stocks", "crypto", "forex", "cfd", "options", "futures")

# Names brokers' configs use for a default order type (the guide's IBKR block says LMT).
_TYPE_ALIASES = {"mkt": "market", "lmt": "limit", "stp": "stop", "stp lmt": "stop_limit", "stp_lmt": "stop_limit",
                 "stop_loss": "stop", "stop_loss_limit": "stop_limit", "trail": "trailing_stop",
                 "trailing": "trailing_stop"}


def market_option(function: Any) -> Any:
    return click.option("--market", type=ChoiceParam("--market", MARKETS), default=None,
                        help="The symbol's market, when its shape is ambiguous (BTC is a US ticker).")(function)


def _market(word: str | None) -> Any:
    from orch.models import Market

    return None if word is None else Market(word.upper())


def _default_type(settings: Any) -> tuple[str, str | None]:
    raw = getattr(getattr(settings, "trading_settings", None), "default_order_type", None)
    if not raw:
        return "market", None
    word = str(raw).strip().lower()
    word = _TYPE_ALIASES.get(word, word)
    return (word, str(raw)) if word in ORDER_TYPES else ("market", None)


def _default_tif(settings: Any, market: Any) -> str:
    from orch.models import Market

    raw = getattr(getattr(settings, "trading_settings", None), "default_time_in_force", None)
    if raw and str(raw).strip().lower() in TIFS:
        return str(raw).strip().lower()
    # A DAY order means nothing on a market that never closes; brokers refuse it for crypto.
    return "gtc" if market is Market.CRYPTO else "day"


def build_request(orch: Any, broker: str, symbol: str, side: str, qty: Decimal, kind: str | None,
                  price: Decimal | None, options: dict[str, Any]) -> Any:
    """The OrderRequest the command line describes; UsageError naming the argument for a bad combination,
    InvalidOrder (from the model) listing every remaining problem."""
    from orch.config import broker_settings
    from orch.models import OrderClass, OrderRequest, Side, StopLoss, TakeProfit, TimeInForce
    from orch.models import OrderType as OT

    settings = broker_settings(orch.config, broker)
    instrument = orch.instrument(symbol, _market(options.get("market")))
    from_config = None
    if kind is None:
        kind, from_config = _default_type(settings)
    where = f" (brokers.{broker}.trading_settings.default_order_type is {from_config})" if from_config else ""
    stop = options.get("stop_price")
    limit = None
    if kind == "market" and price is not None:
        raise UsageError(f"PRICE: a market order takes no price, got {price}{where}",
                         hint="write `limit PRICE` for a limit order")
    if kind == "limit":
        if price is None:
            raise UsageError(f"PRICE: a limit order needs a price{where}")
        limit = price
    elif kind == "stop":
        if price is not None and stop is not None and price != stop:
            raise UsageError(f"PRICE {price} and --stop-price {stop} disagree for a stop order")
        stop = price if price is not None else stop
        if stop is None:
            raise UsageError(f"PRICE: a stop order needs a stop price{where}")
    elif kind == "stop_limit":
        if price is None or stop is None:
            raise UsageError(f"a stop_limit order needs PRICE (the limit) and --stop-price{where}")
        limit = price
    elif kind == "trailing_stop":
        if price is not None:
            raise UsageError("PRICE: a trailing_stop order takes --trail-price or --trail-percent, not PRICE")
        if (options.get("trail_price") is None) == (options.get("trail_percent") is None):
            raise UsageError("a trailing_stop order needs exactly one of --trail-price and --trail-percent")
    if kind != "trailing_stop" and (options.get("trail_price") or options.get("trail_percent")):
        raise UsageError(f"--trail-price/--trail-percent apply to trailing_stop orders, not {kind}")
    if kind not in ("stop", "stop_limit") and stop is not None:
        raise UsageError(f"--stop-price applies to stop and stop_limit orders, not {kind}")

    take, loss, loss_limit = options.get("take_profit"), options.get("stop_loss"), options.get("stop_loss_limit")
    if loss_limit is not None and loss is None:
        raise UsageError("--stop-loss-limit needs --stop-loss")
    if options.get("oco"):
        if take is None or loss is None:
            raise UsageError("--oco needs both --take-profit and --stop-loss")
        order_class = OrderClass.OCO
    elif take is not None and loss is not None:
        order_class = OrderClass.BRACKET
    elif take is not None or loss is not None:
        order_class = OrderClass.OTO
    else:
        order_class = OrderClass.SIMPLE

    tif = options.get("tif") or _default_tif(settings, instrument.market)
    notional = options.get("notional", False)
    return OrderRequest(
        instrument=instrument, side=Side(side), qty=None if notional else qty, notional=qty if notional else None,
        type=OT(kind), limit_price=limit, stop_price=stop, trail_price=options.get("trail_price"),
        trail_percent=options.get("trail_percent"), time_in_force=TimeInForce(tif),
        extended_hours=bool(options.get("extended_hours")), client_order_id=options.get("client_order_id"),
        order_class=order_class, take_profit=TakeProfit(take) if take is not None else None,
        stop_loss=StopLoss(loss, loss_limit) if loss is not None else None,
        post_only=bool(options.get("post_only")), iceberg_qty=options.get("iceberg"))


def _place_options(function: Any) -> Any:
    decorators = [
        click.argument("symbol"),
        click.argument("qty", metavar="QTY", type=DecimalParam("QTY")),
        click.argument("kind", metavar="[TYPE]", required=False, type=ChoiceParam("TYPE", ORDER_TYPES)),
        click.argument("price", metavar="[PRICE]", required=False, type=DecimalParam("PRICE")),
        click.option("--stop-price", type=DecimalParam("--stop-price"), help="Stop (trigger) price."),
        click.option("--trail-price", type=DecimalParam("--trail-price"), help="Trailing distance in price."),
        click.option("--trail-percent", type=DecimalParam("--trail-percent"), help="Trailing distance in %."),
        click.option("--tif", type=ChoiceParam("--tif", TIFS), default=None,
                     help="Time in force (default: the broker's trading_settings, else day; gtc for crypto)."),
        click.option("--notional", is_flag=True, help="QTY is an amount of money, not a quantity."),
        click.option("--extended-hours", is_flag=True, help="Allow pre-market/after-hours execution."),
        click.option("--take-profit", type=DecimalParam("--take-profit"), help="Take-profit limit price."),
        click.option("--stop-loss", type=DecimalParam("--stop-loss"), help="Stop-loss trigger price."),
        click.option("--stop-loss-limit", type=DecimalParam("--stop-loss-limit"),
                     help="Limit price of the stop-loss leg (a stop-limit leg)."),
        click.option("--oco", is_flag=True, help="Take-profit and stop-loss as one-cancels-other."),
        click.option("--post-only", is_flag=True, help="Limit order that must add liquidity."),
        click.option("--iceberg", type=DecimalParam("--iceberg"), help="Visible quantity of an iceberg order."),
        click.option("--client-order-id", default=None,
                     help="Your own id for the order; the journal refuses one it has seen (no duplicates)."),
        market_option,
        mode_options,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def make_place_command(side: str, broker: str | None) -> click.Command:
    example = (f"orch {broker} order {side} AAPL 1 market --paper" if broker else
               f"orch order {side} AAPL 1 limit 180 --broker alpaca")

    @click.command(side, help=f"""{side.capitalize()} SYMBOL: QTY [TYPE] [PRICE].

    TYPE is market (default unless the broker's config says otherwise), limit, stop, stop_limit or
    trailing_stop; PRICE is the limit price (the stop price for stop orders). Quantities are exact
    decimals. The order is written to the journal before it is sent, and is never sent twice.

    \b
    Example:
      {example}
    """)
    @_place_options
    @(click.option("--broker", default=None, help="Send to this broker instead of routing.")
      if broker is None else (lambda f: f))
    def place(symbol: str, qty: Decimal, kind: str | None, price: Decimal | None, mode: Mode,
              **options: Any) -> None:
        chosen = broker or options.pop("broker", None)

        async def go(orch: Any) -> Any:
            decision = orch.router().route(symbol, market=_market(options.get("market")), broker=chosen)
            mode.check(orch, decision.broker)
            request = build_request(orch, decision.broker, symbol, side, qty, kind, price, options)
            return await orch.place(request, broker=chosen, market=request.instrument.market)

        result = run_with_orchestrator(go, mode=mode)
        _show_placed(result)

    return place


def _show_placed(result: Any) -> None:
    entry, order = result.entry, result.order
    data = {"outcome": result.outcome, "broker": entry.broker, "mode": entry.mode,
            "client_order_id": entry.client_order_id, "state": entry.state.value, "order": order,
            "route": result.route}
    lines = []
    if result.outcome == "found_after_uncertain":
        lines.append("the connection failed after the order was sent; the broker was asked and has it:")
    lines.append(order_line(order) if order is not None else f"{entry.broker}: {entry.state.value}")
    if result.route is not None and result.route.fallback_used:
        lines.append(f"  routed to the fallback broker {result.route.broker} (see `orch route "
                     f"{result.route.symbol}`)")
    lines.append(f"  journal: {entry.client_order_id} [{entry.mode}]")
    app().emit(data, "\n".join(lines))
    if order is not None and order.status.value == "rejected":
        raise click.exceptions.Exit(1)


# ------------------------------------------------------------------------------------------ status


def _find(orch: Any, order_id: str, broker: str | None) -> Any:
    entry = orch.journal.get(order_id, broker=broker)
    if entry is None:
        where = f" for {broker}" if broker else ""
        raise OrderNotFound(f"no order {order_id!r}{where} in the journal",
                            hint="ids: the journal's client order id, the broker's order id or the journal "
                                 "number; see `orch order history`")
    return entry


def make_status_command(broker: str | None) -> click.Command:
    @click.command("status")
    @click.argument("order_id", metavar="[ID]", required=False)
    @click.option("--id", "id_option", metavar="ID", default=None, help="The order (client id, broker id or #).")
    @click.option("--local", is_flag=True, help="Show the journal's view only; do not ask the broker.")
    @mode_options
    def status(order_id: str | None, id_option: str | None, local: bool, mode: Mode) -> None:
        """Show one order: the journal's record, refreshed from the broker, and its audit trail.

        \b
        Example:
          orch order status --id orch-01jd3k8x2m4q7w9e5r1t3y6v8
        """
        wanted = id_option or order_id
        if not wanted:
            raise UsageError("ID: give the order id (--id ID)")

        async def go(orch: Any) -> Any:
            entry = _find(orch, wanted, broker)
            note = None
            if not local:
                try:
                    mode.check(orch, entry.broker)
                    entry = await orch.refresh(entry.client_order_id)
                except (BrokerError, LiveTradingRefused) as exc:
                    note = f"the broker was not asked ({exc}); showing the journal's record"
            return entry, orch.journal.events(entry.client_order_id), note

        entry, events, note = run_with_orchestrator(go, mode=mode)
        if note:
            click.echo(f"warning: {note}", err=True)
        lines = entry_summary(entry) + ["  events:"]
        lines += [f"    {e.time.astimezone().strftime('%Y-%m-%d %H:%M:%S')}  {e.state.value:<20} {e.source:<9}"
                  + (" (ignored)" if not e.applied else "") + (f" {e.message}" if e.message else "")
                  for e in events]
        app().emit({"order": entry, "events": events}, "\n".join(lines))

    return status


def make_history_command(broker: str | None) -> click.Command:
    @click.command("history")
    @json_option
    @click.option("--rejected", is_flag=True, help="Only orders the broker rejected, with the reason.")
    @click.option("--since", default=None, help="ISO date/time, 'today', or a span such as 2h or 7d.")
    @click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
    @(click.option("--broker", "broker_option", default=None, help="Only this broker's orders.")
      if broker is None else (lambda f: f))
    def history(rejected: bool, since: str | None, limit: int, broker_option: str | None = None) -> None:
        """Orders from the journal, newest first (no broker is contacted).

        \b
        Example:
          orch alpaca order history --rejected
        """
        moment = parse_since(since) if since else None
        who = broker or broker_option

        async def go(orch: Any) -> Any:
            return orch.journal.history(who, rejected=rejected, since=moment, limit=limit)

        entries = run_with_orchestrator(go, reconcile=False)
        app().emit(entries, history_rows(entries))

    return history


def make_cancel_command(broker: str | None) -> click.Command:
    @click.command("cancel")
    @click.argument("order_id", metavar="ID")
    @mode_options
    def cancel(order_id: str, mode: Mode) -> None:
        """Ask the broker to cancel an order from the journal and record the answer."""

        async def go(orch: Any) -> Any:
            entry = _find(orch, order_id, broker)
            mode.check(orch, entry.broker)
            order = await orch.cancel(entry.client_order_id)
            return entry, order

        entry, order = run_with_orchestrator(go, mode=mode)
        human = order_line(order) if order is not None else f"{entry.broker}: cancel requested for " \
                                                              f"{entry.client_order_id}"
        app().emit({"client_order_id": entry.client_order_id, "order": order}, human)

    return cancel


def add_order_commands(group: click.Group, broker: str | None) -> click.Group:
    for command in (make_place_command("buy", broker), make_place_command("sell", broker),
                    make_status_command(broker), make_history_command(broker), make_cancel_command(broker)):
        group.add_command(command)
    return group


def make_order_group(broker: str | None) -> click.Group:
    where = f"{broker}" if broker else "the routed broker"
    group = click.Group("order", help=f"Place and follow orders at {where}: buy, sell, status, history, "
                                      "cancel.")
    return add_order_commands(group, broker)


order_group = make_order_group(None)
