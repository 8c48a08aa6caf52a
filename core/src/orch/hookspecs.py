"""The plugin contract: everything a broker plugin author needs to read.

A broker plugin is a distribution that declares an entry point in the ``orch.brokers`` group::

    [project.entry-points."orch.brokers"]
    mybroker = "orch_mybroker.plugin"

The entry-point *name* is the broker's name in config (``brokers.mybroker``) and on the command line
(``orch mybroker account``). The module it points at holds hook implementations decorated with
:data:`hookimpl`. The core imports it only when the broker is used (listing plugins reads metadata only).
An unofficial plugin (``BrokerInfo.official = False``) also declares ``keywords = ["orch-unofficial"]`` in
its ``[project]`` table, so the core can keep it unloaded until the user opts in without importing it;
the core refuses a plugin whose keyword and ``official`` disagree.

Hooks come in two kinds:

* **Per-broker hooks** (all below except :func:`orch_cli_ready`) are called only on the plugin of the broker
  being used, never broadcast. The asynchronous ones are plain ``async def`` functions; the core awaits
  them under its rate limiter, circuit breaker, timeouts and metrics (:mod:`orch.client`), and retries
  only the idempotent ones (reads, cancels, lookups, never a placement).
* **Broadcast hooks** go through pluggy as usual.

Required: :func:`orch_broker_info`, :func:`orch_connect`, :func:`orch_place_order`,
:func:`orch_cancel_order`, :func:`orch_get_order`, :func:`orch_list_orders`, :func:`orch_quote`,
:func:`orch_account`, :func:`orch_positions`. Optional hooks must be present exactly when the matching
capability in :class:`~orch.models.Capabilities` is declared; the core refuses a plugin whose capabilities
and hooks disagree, naming the mismatch.

Errors: raise only :mod:`orch.errors` classes, keeping the broker's own code and message on them.
The choice matters for safety: :class:`~orch.errors.OrderRejected` (and subclasses) tells the journal the
broker *proved* the order was refused; :class:`~orch.errors.BrokerUnavailable` means the outcome is unknown
(timeout, reset, 5xx) and makes the core look the order up before anything is resent. Never raise
OrderRejected for a request whose fate you do not know.

Secrets arrive as :class:`orch.secret.Secret`; call ``reveal()`` only where the value goes on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from orch.context import ConnectContext
    from orch.models import (Account, BrokerInfo, Fill, Instrument, Order, OrderFilter, OrderRef,
                             OrderRequest, Position, Quote)
    from orch.settings import BrokerSettings
    from orch.sim.spec import SimulatorSpec

PROJECT = "orch"
ENTRY_POINT_GROUP = "orch.brokers"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# --------------------------------------------------------------------------------- registration


@hookspec
def orch_broker_info() -> BrokerInfo:
    """Describe the broker (synchronous, no I/O).

    Return a :class:`~orch.models.BrokerInfo`: name (must equal the entry-point name), title, markets,
    ``official`` (False for unofficial web APIs: the core then loads the plugin only with
    ``enabled = true`` and ``acknowledge_unofficial = true``, and shows ``risk_notice``), capabilities,
    the attrs ``settings_type``, default endpoints per mode, ``paper_flag`` and default rate limits.
    """


# --------------------------------------------------------------------------------- connect family


@hookspec
async def orch_connect(settings: BrokerSettings, context: ConnectContext) -> Any:
    """Open and authenticate a connection; return a plugin-defined connection object.

    ``settings`` is an instance of the plugin's ``settings_type``. ``context`` gives the nursery to start
    background tasks in (stream readers, keep-alives: none may outlive it), the shared rate limiter to
    charge before every request and to feed the broker's usage headers, whether a live endpoint is
    permitted (``context.live``; the core has already refused live use without ``--live``), and a logger.

    The returned object must have ``async aclose()``. Raise AuthError for refused credentials,
    BrokerUnavailable when the broker cannot be reached, ConfigError for unusable settings.
    """


# --------------------------------------------------------------------------------- order family


@hookspec
async def orch_place_order(conn: Any, request: OrderRequest) -> Order:
    """Submit one order; return the broker's view of it.

    ``request.client_order_id`` is always set (the core assigned and journaled it): send it in the broker's
    own field where one exists. Before any I/O, raise NotSupported for a capability the broker lacks and
    InvalidOrder for values the broker will certainly refuse (tick, lot, size). OrderRejected /
    InsufficientFunds only for an explicit broker rejection. Timeouts, resets and 5xx: BrokerUnavailable.
    Never retry a placement inside the plugin: the core decides, after asking the broker.
    """


@hookspec
async def orch_cancel_order(conn: Any, ref: OrderRef) -> Order | None:
    """Ask the broker to cancel; return the order as it stands after the request, or None if the broker
    answered with no body. OrderNotFound if the broker does not know it; OrderRejected if it refuses
    (already filled, not cancellable)."""


@hookspec
async def orch_get_order(conn: Any, ref: OrderRef) -> Order | None:
    """Look an order up by broker id or client order id. Return None **only** when the broker proves the
    order does not exist (this is what allows a resend); raise BrokerUnavailable if it cannot tell.
    Brokers without native client order ids match on what the journal recorded (instrument, side,
    quantity, type, time window) and say so in the order's ``raw_status``."""


@hookspec
async def orch_list_orders(conn: Any, filter: OrderFilter) -> list[Order]:
    """Orders matching ``filter`` (open by default), newest first."""


@hookspec
async def orch_replace_order(conn: Any, ref: OrderRef, qty: Any, limit_price: Any, stop_price: Any) -> Order:
    """Optional (capability ``replace_order``): change quantity and/or prices; return the new order."""


@hookspec
async def orch_list_fills(conn: Any, since: Any, instrument: Instrument | None) -> list[Fill]:
    """Optional (capability ``list_fills``): executions since ``since`` (an aware datetime or None)."""


@hookspec
def orch_stream_orders(conn: Any) -> AsyncIterator[Order]:
    """Optional (capability ``stream_orders``): an async iterator of order updates as the broker pushes
    them. It reconnects and resubscribes by itself and ends only when cancelled."""


# --------------------------------------------------------------------------------- quote family


@hookspec
async def orch_quote(conn: Any, instrument: Instrument) -> Quote:
    """Latest bid/ask (and last trade where given). UnknownInstrument for a symbol the broker lacks;
    NotSupported (with a hint) when the broker's API has no prices."""


@hookspec
def orch_stream_quotes(conn: Any, instruments: list[Instrument]) -> AsyncIterator[Quote]:
    """Optional (capability ``stream_quotes``): an async iterator of quotes. It detects a silent
    connection, reconnects with backoff, resubscribes, and ends only when cancelled."""


# --------------------------------------------------------------------------------- account family


@hookspec
async def orch_account(conn: Any) -> Account:
    """Account summary: cash, equity, buying power, per-asset balances where the broker has several."""


@hookspec
async def orch_positions(conn: Any) -> list[Position]:
    """Open positions (negative qty for shorts)."""


# --------------------------------------------------------------------------------- extras


@hookspec
def orch_commands(group: click.Group) -> None:
    """Optional: add broker-specific click commands to ``orch <broker> …`` (e.g. ``orch ibkr accounts``).
    Called only when that broker's group is invoked, so ``orch --help`` imports no plugin."""


@hookspec
def orch_simulator() -> SimulatorSpec:
    """Optional but expected of every broker shipped with orch: the broker's offline simulator, speaking
    its real wire protocol on loopback (see :class:`orch.sim.spec.SimulatorSpec`). Used by
    ``orch sim start``, ``orch demo`` and the conformance kit :mod:`orch.testing`."""


@hookspec
def orch_cli_ready(cli: click.Group) -> None:
    """Broadcast: called once the CLI is built, for plugins that add top-level commands."""


REQUIRED_HOOKS = (
    "orch_broker_info", "orch_connect", "orch_place_order", "orch_cancel_order", "orch_get_order",
    "orch_list_orders", "orch_quote", "orch_account", "orch_positions",
)

# Optional hook -> the Capabilities flag that must be True exactly when the hook is implemented.
CAPABILITY_HOOKS = {
    "orch_replace_order": "replace_order",
    "orch_list_fills": "list_fills",
    "orch_stream_orders": "stream_orders",
    "orch_stream_quotes": "stream_quotes",
}

SYNC_HOOKS = ("orch_broker_info", "orch_commands", "orch_simulator", "orch_stream_orders",
              "orch_stream_quotes", "orch_cli_ready")
