"""``orch demo``: a guided multi-broker session against the installed brokers' simulators, in-process.

It starts every installed official broker's simulator on loopback (one shared simulated clock, pinned to
open sessions), builds the broker guide's multi-broker configuration pointed at them, and then does what
a user would: route and place orders (AAPL to the stock broker, BTCUSDT to the crypto broker, EURUSD to
the forex broker, as far as those plugins are installed), then shows accounts, positions, the order
history from the journal and the execution report. Nothing touches the user's own journal: the demo keeps
its journal in a temporary directory unless ``journal_dir`` is given.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from orch.errors import OrchError
from orch.models import Market, OrderRequest, OrderType, Side, TimeInForce

Say = Callable[[str], None]

# (symbol, market word, side, qty, which routing key the demo expects to carry it)
DEMO_ORDERS = [
    ("AAPL", "US_STOCKS", Side.BUY, Decimal("10"), "default_broker"),
    ("BTCUSDT", "CRYPTO", Side.BUY, Decimal("0.01"), "crypto_broker"),
    ("EURUSD", "FOREX", Side.BUY, Decimal("20000"), "forex_broker"),
]


def demo_config_data(sims: dict[str, Any], journal_file: Path) -> dict[str, Any]:
    """The guide's multi-broker configuration, with each broker section pointing at its simulator."""
    brokers = {name: {"enabled": True, **sim.config} for name, sim in sims.items()}
    names = set(sims)
    default = "alpaca" if "alpaca" in names else (sorted(names)[0] if names else None)
    crypto = "binance" if "binance" in names else default
    forex = next((n for n in ("ibkr", "xtb") if n in names), None)
    routing = {"default_broker": default, "crypto_broker": crypto, "fallback_broker": default}
    if forex:
        routing["forex_broker"] = forex
    return {"brokers": brokers, "broker_routing": {k: v for k, v in routing.items() if v},
            "journal": {"path": str(journal_file)}, "logging": {"file": ""}}


async def run_demo(say: Say, *, brokers: list[str] | None = None, journal_dir: Path | None = None) -> int:
    """Run the demo, printing through ``say``. Returns the number of steps that failed (0 is success)."""
    from orch.config import config_from_data
    from orch.orchestrator import Orchestrator
    from orch.sim import SimClock, start_simulator
    from orch.simulators import available_simulators, session_time

    specs = available_simulators(brokers)
    if not specs:
        say("No broker plugin with a simulator is installed, so there is nothing to demonstrate.")
        say("Install one, e.g.:  pip install -e ./plugins/alpaca   (or: pip install 'orch[alpaca]')")
        return 0
    failures = 0
    with tempfile.TemporaryDirectory(prefix="orch-demo-") as scratch:
        journal_file = Path(journal_dir or scratch) / "journal.sqlite"
        clock = SimClock(wall=session_time())
        async with trio.open_nursery() as nursery:
            say(f"== Starting {len(specs)} broker simulator(s) on loopback (no account, no internet)")
            sims = {}
            for name, spec in specs.items():
                sims[name] = await start_simulator(nursery, spec, "127.0.0.1", 0, clock=clock)
                say(f"   {name:<12} {sims[name].url}")
            config = config_from_data(demo_config_data(sims, journal_file), source="orch demo")
            async with Orchestrator.open(config, journal_file=journal_file) as orch:
                failures += await _orders(orch, say)
                failures += await _accounts(orch, say)
                failures += await _positions(orch, say)
                _history(orch, say)
                _report(orch, say)
            nursery.cancel_scope.cancel()
    say("")
    say("Done." if not failures else f"Done, with {failures} step(s) failing (see above).")
    say("Next: `orch sim start alpaca` serves a simulator to point your own config at; `orch --help`.")
    return failures


async def _orders(orch: Any, say: Say) -> int:
    from orch.cli.render import order_line

    say("")
    say("== Routing and placing orders (each journaled before it is sent)")
    failures = 0
    for symbol, market, side, qty, key in DEMO_ORDERS:
        if key == "forex_broker" and not orch.config.broker_routing.forex_broker:
            say(f"   {symbol}: skipped (no forex broker installed; the IBKR or XTB plugin adds one)")
            continue
        try:
            decision = orch.router().route(symbol)
        except OrchError as exc:
            say(f"   {symbol}: not routed ({exc})")
            continue
        say(f"   {symbol} is {decision.market.value} → {decision.broker} ({decision.rule})")
        # Crypto venues have no trading day: good-till-cancelled is their usual time in force.
        tif = TimeInForce.GTC if decision.market is Market.CRYPTO else TimeInForce.DAY
        request = OrderRequest(instrument=orch.instrument(symbol, decision.market), side=side, qty=qty,
                               type=OrderType.MARKET, time_in_force=tif)
        try:
            result = await orch.place(request)
        except OrchError as exc:
            failures += 1
            say(f"   ✗ {exc}")
            continue
        order = result.order
        if order is not None and not order.status.is_final:
            # Market orders fill on the simulator's next matching step: show the settled state.
            order = await _settle(orch, result.entry.client_order_id) or order
        say(f"   ✓ {order_line(order)}" if order is not None else f"   ✓ {result.entry.client_order_id}")
    return failures


async def _settle(orch: Any, client_order_id: str) -> Any:
    for _ in range(20):
        entry = await orch.refresh(client_order_id)
        if entry.state.is_final:
            return entry.order
        await trio.sleep(0.1)
    return None


async def _accounts(orch: Any, say: Say) -> int:
    from orch.cli.render import account_line

    say("")
    say("== Accounts across brokers")
    failures = 0
    totals: dict[str, Decimal] = {}
    for name, result in (await orch.accounts()).items():
        if isinstance(result, OrchError):
            failures += 1
            say(f"   {name}: {result}")
            continue
        say(f"   {account_line(result)}")
        totals[result.currency] = totals.get(result.currency, Decimal(0)) + result.equity
    for currency, total in sorted(totals.items()):
        say(f"   total equity {currency}: {total:,.2f}")
    return failures


async def _positions(orch: Any, say: Say) -> int:
    from orch.cli.render import POSITION_HEADER, position_rows, table

    say("")
    say("== Positions")
    rows, failures = [], 0
    for name, result in (await orch.positions()).items():
        if isinstance(result, OrchError):
            failures += 1
            say(f"   {name}: {result}")
            continue
        rows += position_rows(result)
    say("   " + table(rows, POSITION_HEADER).replace("\n", "\n   ") if rows else "   none")
    return failures


def _history(orch: Any, say: Say) -> None:
    from orch.cli.render import history_rows

    say("")
    say("== Order history (from the journal)")
    say("   " + history_rows(orch.journal.history()).replace("\n", "\n   "))


def _report(orch: Any, say: Say) -> None:
    from orch.cli.report_cmd import _text, broker_report

    entries, fills = orch.journal.history(), orch.journal.fills()
    reports = [broker_report(name, [e for e in entries if e.broker == name], [f for f in fills if f.broker == name])
               for name in sorted({e.broker for e in entries})]
    say("")
    say("== Execution report (slippage against the quote at submission; fees)")
    say("   " + _text(reports).replace("\n", "\n   "))
