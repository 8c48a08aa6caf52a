"""The facade the CLI, the shell and Python users call: one process, several brokers, safely.

``Orchestrator`` owns the connected :class:`~orch.client.BrokerClient` of each broker it uses (connected
lazily, on first use), the router, the risk engine and the journal. Its :meth:`Orchestrator.place` is the
only road an order takes, and it is at-most-once (ARCHITECTURE.md, "Orders"):

1. route the symbol to a broker (the fallback if the chosen one cannot be reached), check risk;
2. assign a client order id and journal the intent (``PENDING_SUBMIT``) *before* anything is sent;
3. send; an explicit broker rejection is journaled as rejected, a local refusal (NotSupported,
   InvalidOrder) as rejected-before-sending; a timeout, reset, 5xx or ambiguous 429 leaves the order
   ``IN_FLIGHT`` and the broker is asked for it by client order id: what is found is recorded, a proven
   absence is recorded as such (only that allows a resend, with a new id), and an unanswerable lookup
   leaves the order in flight for :meth:`reconcile` at the next start.

Usage::

    async with Orchestrator.open(config, live=False) as orch:
        result = await orch.place(OrderRequest(...))
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio

from orch.client import BrokerClient
from orch.config import broker_settings, require_secrets
from orch.config_model import OrchConfig
from orch.errors import (BrokerError, BrokerUnavailable, ConfigError, InvalidOrder, LiveTradingRefused,
                         NotSupported, OrchError, OrderNotFound, OrderRejected, ProtocolError,
                         RateLimited, RiskRejected)
from orch.journal import Journal, JournalEntry, journal_path
from orch.models import (Account, Instrument, Market, Order, OrderFilter, OrderRef, OrderRequest, Position,
                         Quote, Side, utcnow)
from orch.plugins import load_gated, plugin_entry
from orch.resilience import RateLimiter, SqliteBudgetStore, budget_key
from orch.resilience.breaker import CircuitOpen
from orch.risk import OrderRateWindow, RiskEngine, RiskHalt
from orch.routing import RouteDecision, Router, classify, pair_quote_currency
from orch.secret import Secret, mask

log = logging.getLogger("orch.orchestrator")

# How long to keep asking a broker about an order whose submission outcome is unknown.
LOOKUP_ATTEMPTS = 4
LOOKUP_FIRST_DELAY = 0.25
# An open circuit (the failures that made the order uncertain may have opened it) is waited out for the
# lookup when it reopens within this many seconds: the answer is worth more than a fast "unknown".
LOOKUP_CIRCUIT_WAIT = 60.0


@attrs.frozen
class PlaceResult:
    """What :meth:`Orchestrator.place` did. ``order`` is the broker's view (None if it could not be
    learned yet); ``entry`` the journal row; ``outcome`` one of ``placed``, ``found_after_uncertain``."""

    entry: JournalEntry
    order: Order | None
    route: RouteDecision | None
    outcome: str


def paper_mode(name: str, settings: Any, paper_flag: str) -> bool:
    """True when the broker's section selects its paper/testnet/practice/demo endpoint."""
    value = getattr(settings, paper_flag, True)
    return True if value is None else bool(value)


def check_live_guard(name: str, settings: Any, paper_flag: str, live: bool) -> None:
    """A live endpoint needs both the config (``<paper_flag> = false``) and ``--live`` on the command.
    Any mismatch is refused: never a silent paper/live mix-up in either direction."""
    paper = paper_mode(name, settings, paper_flag)
    if not paper and not live:
        raise LiveTradingRefused(
            f"brokers.{name}.{paper_flag} is false, which selects the LIVE endpoint, but the command has "
            f"no --live", hint=f"add --live to trade with real money, or set {paper_flag} = true")
    if paper and live:
        raise LiveTradingRefused(
            f"--live given but brokers.{name}.{paper_flag} is true (paper endpoint)",
            hint=f"set {paper_flag} = false in the config to trade live, or drop --live")


def _sole(group: BaseExceptionGroup) -> BaseException:
    """The one exception inside nested single-member groups, else the group itself."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def build_router(config: OrchConfig, load: Callable[[str, Any], Any] = load_gated) -> Router:
    """The router for ``config``: enabled brokers' markets from config, else from their plugins. Loads
    plugins (through the opt-in gate) but connects nowhere, so ``orch route`` can explain offline."""
    plugin_markets = {}
    for name, settings in config.brokers.items():
        if isinstance(settings, dict) or not getattr(settings, "enabled", False):
            continue
        with contextlib.suppress(OrchError):
            plugin_markets[name] = load(name, {"enabled": True, "acknowledge_unofficial": getattr(
                settings, "acknowledge_unofficial", False)}).info.markets
    return Router.from_config(config, plugin_markets=plugin_markets)


class Orchestrator:
    def __init__(self, config: OrchConfig, journal: Journal, nursery: trio.Nursery, *, live: bool = False,
                 budget_store: Any = None, plugin_loader: Callable[[str, Any], Any] = load_gated) -> None:
        self.config = config
        self.journal = journal
        self.live = live
        self._nursery = nursery
        self._budget_store = budget_store
        self._load = plugin_loader
        self._clients: dict[str, BrokerClient] = {}
        self._connect_failed: dict[str, str] = {}
        self._locks: dict[str, trio.Lock] = {}
        self._order_window = OrderRateWindow()
        self.risk = RiskEngine(config.risk, {n: s for n, s in config.brokers.items()
                                             if not isinstance(s, dict)})

    # ------------------------------------------------------------------------------------ lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, config: OrchConfig, *, live: bool = False, journal_file: str | Path | None = None,
                   reconcile: bool = True, **kwargs: Any) -> AsyncIterator[Orchestrator]:
        """Open the journal (and the shared rate budget beside it), yield an orchestrator, close every
        broker connection on the way out. Unresolved orders of brokers that get connected are reconciled
        as they connect when ``reconcile`` is true."""
        path = Path(journal_file) if journal_file else journal_path(config.journal)
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(path)
        store = kwargs.pop("budget_store", None) or SqliteBudgetStore(path.parent / "rate-budget.sqlite3")
        try:
            async with trio.open_nursery() as nursery:
                orch = cls(config, journal, nursery, live=live, budget_store=store, **kwargs)
                orch._reconcile_on_connect = reconcile
                try:
                    yield orch
                finally:
                    with trio.CancelScope(shield=True):
                        await orch.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The body runs inside the connections' nursery, which wraps whatever it raises in a group:
            # callers must get the OrderRejected (or KeyboardInterrupt…) itself, not a group of one.
            raise _sole(group) from None
        finally:
            journal.close()
            close = getattr(store, "close", None)
            if close:
                close()

    _reconcile_on_connect = False

    async def aclose(self) -> None:
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    # ------------------------------------------------------------------------------------ brokers

    def enabled_brokers(self) -> list[str]:
        return sorted(name for name, s in self.config.brokers.items()
                      if not isinstance(s, dict) and getattr(s, "enabled", False))

    def loaded(self, name: str) -> Any:
        """The checked plugin of ``name`` (its ``info`` and hooks), through the unofficial opt-in, without
        connecting. ConfigError if the config has no usable section for it."""
        settings = broker_settings(self.config, name)
        return self._load(name, {"enabled": settings.enabled,
                                 "acknowledge_unofficial": settings.acknowledge_unofficial})

    def is_paper(self, name: str) -> bool:
        """Whether the config selects ``name``'s paper/testnet/practice/demo endpoint (no connection)."""
        return paper_mode(name, broker_settings(self.config, name), self.loaded(name).info.paper_flag)

    def _lock(self, name: str) -> trio.Lock:
        return self._locks.setdefault(name, trio.Lock())

    async def client(self, name: str) -> BrokerClient:
        """The connected client of ``name``, connecting on first use (live guard, secrets, plugin gate)."""
        if name in self._clients:
            return self._clients[name]
        async with self._lock(name):
            if name in self._clients:
                return self._clients[name]
            settings = broker_settings(self.config, name)
            if not getattr(settings, "enabled", False):
                raise ConfigError("the broker is disabled (enabled = false)", path=f"brokers.{name}.enabled",
                                  hint="set enabled = true to use it")
            loaded = self._load(name, {"enabled": settings.enabled,
                                       "acknowledge_unofficial": settings.acknowledge_unofficial})
            check_live_guard(name, settings, loaded.info.paper_flag, self.live)
            require_secrets(self.config, name)
            limiter = RateLimiter.from_settings(settings.rate_limits, loaded.info.rate_limits,
                                                store=self._budget_store, key=self._budget_key(name, settings),
                                                name=name)
            client = BrokerClient(name, loaded.hooks, settings, loaded.info, limiter)
            try:
                await client.connect(self._nursery, live=self.live)
            except OrchError as exc:
                self._connect_failed[name] = mask(str(exc))
                raise
            self._connect_failed.pop(name, None)
            self._clients[name] = client
        if self._reconcile_on_connect:
            await self.reconcile(name)
        return client

    @staticmethod
    def _budget_key(name: str, settings: Any) -> str:
        identity = [getattr(settings, field) for field in ("api_key", "username", "account_id", "client_id")
                    if isinstance(getattr(settings, field, None), (Secret, str, int))]
        identity += [str(getattr(settings, field)) for field in ("base_url", "host", "port")
                     if getattr(settings, field, None) not in (None, "")]
        return budget_key(name, *[i if isinstance(i, (Secret, str)) else str(i) for i in identity])

    async def restart(self, name: str) -> BrokerClient:
        client = self._clients.pop(name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        return await self.client(name)

    def clients(self) -> dict[str, BrokerClient]:
        return dict(self._clients)

    def connect_errors(self) -> dict[str, str]:
        return dict(self._connect_failed)

    def _available(self, name: str) -> bool:
        client = self._clients.get(name)
        if client is not None:
            return client.breaker.state.value != "open"
        return name not in self._connect_failed

    # ------------------------------------------------------------------------------------ routing

    def router(self) -> Router:
        return build_router(self.config, self._load)

    async def route(self, symbol: str, *, market: Any = None, broker: str | None = None) -> tuple[RouteDecision,
                                                                                                 BrokerClient]:
        """Choose a broker and connect to it; a broker that cannot connect is marked unavailable and the
        decision is taken again (so the fallback is used), unless the broker was named explicitly."""
        router = self.router()
        while True:
            decision = router.route(symbol, market=market, broker=broker, available=self._available)
            try:
                return decision, await self.client(decision.broker)
            except (BrokerUnavailable, RateLimited) as exc:
                if broker is not None:
                    raise
                log.warning("%s unavailable (%s); routing again", decision.broker, mask(str(exc)))
                self._connect_failed[decision.broker] = mask(str(exc))

    # ------------------------------------------------------------------------------------ orders

    def _halted(self) -> str | None:
        state = self.journal.halt_state()
        return state.reason if state else None

    def halt(self, reason: str) -> None:
        self.journal.set_halt(reason)

    def resume(self) -> None:
        self.journal.clear_halt()

    async def _reference_quote(self, client: BrokerClient, instrument: Instrument) -> Quote | None:
        if not client.capabilities.quotes:
            return None
        try:
            return await client.quote(instrument)
        except OrchError as exc:
            log.info("no reference quote for %s from %s: %s", instrument.symbol, client.name, mask(str(exc)))
            return None

    def _risk_needs_position(self, client: BrokerClient, request: OrderRequest) -> bool:
        """Only two rules look at the position; asking the broker on every order would cost a request."""
        if self.config.risk.max_position_per_symbol is not None:
            return True
        features = getattr(client.settings, "features", None)
        return request.side is Side.SELL and getattr(features, "short_selling", None) is False

    async def _position_qty(self, client: BrokerClient, instrument: Instrument) -> Decimal:
        try:
            positions = await client.positions()
        except OrchError:
            return Decimal(0)
        return sum((p.qty for p in positions if p.instrument.symbol.replace("/", "") ==
                    instrument.symbol.replace("/", "")), Decimal(0))

    async def place(self, request: OrderRequest, *, broker: str | None = None,
                    market: Any = None) -> PlaceResult:
        halted = self._halted()
        if halted:
            raise RiskRejected("halted", f"trading is halted ({halted}); run `orch resume` to lift it")
        instrument = request.instrument
        decision, client = await self.route(instrument.symbol, market=market or instrument.market,
                                            broker=broker)
        if instrument.market is not decision.market:
            instrument = attrs.evolve(instrument, market=decision.market)
            request = attrs.evolve(request, instrument=instrument)
        name = client.name
        quote = await self._reference_quote(client, instrument)
        position = (await self._position_qty(client, instrument)
                    if self._risk_needs_position(client, request) else Decimal(0))
        open_orders = self.journal.count_open(name)
        try:
            self.risk.check(name, request, quote=quote, position_qty=position, open_orders=open_orders,
                            orders_last_minute=self._order_window.count(name),
                            realized_pl_today=self._realized_pl_today(), halted=None)
        except RiskHalt as exc:
            self.halt(exc.halt_reason)
            raise
        coid = request.client_order_id or self.journal.new_client_order_id(name)
        request = request.with_client_order_id(coid)
        mode = "paper" if paper_mode(name, client.settings, client.info.paper_flag) else "live"
        with trio.CancelScope(shield=True):
            entry = self.journal.record_intent(name, request, mode=mode, quote_at_submit=quote)
        self._order_window.record(name)
        try:
            order = await client.place_order(request)
        except (NotSupported, InvalidOrder) as exc:
            # Raised by the plugin before any I/O: nothing left this process.
            with trio.CancelScope(shield=True):
                self.journal.record_rejection(coid, f"refused before sending: {exc}", source="submit")
            raise
        except OrderRejected as exc:
            with trio.CancelScope(shield=True):
                self.journal.record_rejection(coid, exc.reason, exc.broker_code, source="submit")
            log.info("%s order %s rejected: %s", name, coid, mask(str(exc)))
            raise
        except (BrokerUnavailable, RateLimited, ProtocolError, trio.Cancelled) as exc:
            if getattr(exc, "request_sent", True) is False:
                # An open circuit or a rate-limit ban refuses before anything is sent: provably not placed.
                with trio.CancelScope(shield=True):
                    self.journal.record_rejection(coid, f"not sent: {exc}", source="submit")
                raise
            with trio.CancelScope(shield=True):
                self.journal.mark_in_flight(coid, mask(f"{type(exc).__name__}: {exc}"), source="submit")
            log.warning("%s order %s in flight after %s; asking the broker", name, coid, type(exc).__name__)
            if isinstance(exc, trio.Cancelled):
                raise
            order = await self._resolve_uncertain(client, coid, request, exc)
            entry = self.journal.get(coid)
            return PlaceResult(entry, order, decision, "found_after_uncertain")
        except BrokerError as exc:
            # Any other broker error after the request may have left: unknown outcome, ask the broker.
            with trio.CancelScope(shield=True):
                self.journal.mark_in_flight(coid, mask(f"{type(exc).__name__}: {exc}"), source="submit")
            order = await self._resolve_uncertain(client, coid, request, exc)
            entry = self.journal.get(coid)
            return PlaceResult(entry, order, decision, "found_after_uncertain")
        with trio.CancelScope(shield=True):
            entry = self.journal.record_order(coid, order, "submit")
        log.info("%s order %s placed (%s): %s %s %s %s -> %s", name, coid, mode, request.side.value,
                 request.qty if request.qty is not None else f"notional {request.notional}",
                 instrument.symbol, request.type.value, order.status.value)
        return PlaceResult(entry, order, decision, "placed")

    async def _resolve_uncertain(self, client: BrokerClient, coid: str, request: OrderRequest,
                                 cause: BaseException) -> Order:
        """The request may or may not have reached the broker: ask, never resend blindly.

        "Not found" proves absence only once a request still in transit has had as long again as the call
        was given: a request that left, was held up (a slow proxy, a queue at the broker) and is handled
        after we gave up would otherwise create the order after we told the user it was safe to resend."""
        ref = OrderRef(client_order_id=coid, instrument=request.instrument)
        proof_after = trio.current_time() + client.timeout
        delay = LOOKUP_FIRST_DELAY
        last: BaseException = cause
        attempts = 0
        while attempts < LOOKUP_ATTEMPTS:
            attempts += 1
            await trio.sleep(delay)
            delay *= 2
            try:
                found = await client.get_order(ref)
            except OrderNotFound:
                found = None
            except CircuitOpen as exc:
                last = exc
                if exc.retry_in <= LOOKUP_CIRCUIT_WAIT:
                    delay = max(delay, exc.retry_in + LOOKUP_FIRST_DELAY)  # the next look is the probe
                continue
            except OrchError as exc:
                last = exc
                continue
            if found is None and trio.current_time() < proof_after:
                # Too early to prove absence: look once more when the grace is over.
                delay = max(delay, proof_after - trio.current_time())
                attempts = min(attempts, LOOKUP_ATTEMPTS - 1)
                continue
            with trio.CancelScope(shield=True):
                if found is not None:
                    self.journal.record_order(coid, found, "lookup")
                    return found
                self.journal.mark_not_found(coid, "the broker has no order with this client order id",
                                            source="lookup")
            raise BrokerUnavailable(
                f"order {coid} was not placed: the request failed ({mask(str(cause))}) and the broker has "
                f"no record of it", broker=client.name, hint="it is safe to send it again")
        raise BrokerUnavailable(
            f"order {coid}: outcome unknown after {mask(str(cause))}; the broker could not be asked "
            f"({mask(str(last))})", broker=client.name,
            hint=f"it stays in flight and is reconciled at the next start; see `orch order status --id {coid}`")

    def _realized_pl_today(self) -> Decimal:
        value = self.journal.get_value("realized_pl_today")
        return Decimal(value) if value else Decimal(0)

    async def reconcile(self, broker: str | None = None) -> list[JournalEntry]:
        """Ask the broker about every journaled order left pending, in flight or open, and record what it
        says. PENDING_SUBMIT rows (a process died between journal write and send) are looked up too.

        Lookups that fail are asked once more at the end of the pass when the broker answered others in
        between: a lookup can fail on what later ones settle (Trading 212 reads its order history a few
        pages per lookup and goes on from there), and the rows would otherwise wait for the next start."""
        results: list[JournalEntry] = []
        failed: list[JournalEntry] = []
        answered_after_failure = False
        for entry in self.journal.unresolved(broker):
            outcome = await self._reconcile_one(entry)
            if outcome is None:
                continue
            if outcome is False:
                failed.append(entry)
                continue
            answered_after_failure = answered_after_failure or bool(failed)
            if outcome is not True:
                results.append(outcome)
        if failed and answered_after_failure:
            for entry in failed:
                outcome = await self._reconcile_one(entry)
                if isinstance(outcome, JournalEntry):
                    results.append(outcome)
        return results

    async def _reconcile_one(self, entry: JournalEntry) -> JournalEntry | bool | None:
        """The updated row; True when the broker answered and nothing changed; False when the lookup
        failed; None when the broker is not connected."""
        client = self._clients.get(entry.broker)
        if client is None:
            return None
        ref = OrderRef(broker_order_id=entry.broker_order_id, client_order_id=entry.client_order_id,
                       instrument=entry.request.instrument)
        try:
            found = await client.get_order(ref)
        except OrderNotFound:
            found = None
        except OrchError as exc:
            log.warning("reconcile %s: %s", entry.client_order_id, mask(str(exc)))
            return False
        with trio.CancelScope(shield=True):
            if found is not None:
                return self.journal.record_order(entry.client_order_id, found, "reconcile")
            if entry.broker_order_id is None:
                return self.journal.mark_not_found(entry.client_order_id, "not at the broker after restart",
                                                   source="reconcile")
        return True

    async def cancel(self, order_id: str) -> Order | None:
        entry = self.journal.get(order_id)
        if entry is None:
            raise OrderNotFound(f"no order {order_id!r} in the journal",
                                hint="see `orch order history`")
        client = await self.client(entry.broker)
        ref = OrderRef(broker_order_id=entry.broker_order_id, client_order_id=entry.client_order_id,
                       instrument=entry.request.instrument)
        order = await client.cancel_order(ref)
        if order is None:
            order = await client.get_order(ref)
        if order is not None:
            with trio.CancelScope(shield=True):
                self.journal.record_order(entry.client_order_id, order, "cancel")
        return order

    async def refresh(self, order_id: str) -> JournalEntry:
        """Ask the broker for the current state of a journaled order and record it."""
        entry = self.journal.get(order_id)
        if entry is None:
            raise OrderNotFound(f"no order {order_id!r} in the journal", hint="see `orch order history`")
        client = await self.client(entry.broker)
        ref = OrderRef(broker_order_id=entry.broker_order_id, client_order_id=entry.client_order_id,
                       instrument=entry.request.instrument)
        found = await client.get_order(ref)
        if found is not None:
            with trio.CancelScope(shield=True):
                return self.journal.record_order(entry.client_order_id, found, "lookup")
        return entry

    # ------------------------------------------------------------------------------------ data

    async def quote(self, symbol: str, *, broker: str | None = None, market: Any = None) -> Quote:
        """A quote from the routed broker; when it has no prices (``Capabilities.quotes`` false, e.g.
        Trading 212) and no broker was named, from the next candidate that has them."""
        decision, client = await self.route(symbol, market=market, broker=broker)
        instrument = self.instrument(symbol, decision.market)
        if broker is None and not client.capabilities.quotes:
            for name in decision.candidates:
                if name == decision.broker or name in self._connect_failed:
                    continue
                try:
                    other = await self.client(name)
                except (BrokerUnavailable, RateLimited):
                    continue
                if other.capabilities.quotes:
                    return await other.quote(instrument)
        return await client.quote(instrument)

    @staticmethod
    def instrument(symbol: str, market: Any = None) -> Instrument:
        found = classify(symbol, market)
        currency = pair_quote_currency(symbol) if found in (Market.CRYPTO, Market.FOREX) else None
        return Instrument(symbol.strip().upper(), found, currency or "USD")

    async def accounts(self, brokers: list[str] | None = None) -> dict[str, Account | OrchError]:
        return await self._each(brokers, lambda c: c.account())

    async def positions(self, brokers: list[str] | None = None) -> dict[str, list[Position] | OrchError]:
        return await self._each(brokers, lambda c: c.positions())

    async def _each(self, brokers: list[str] | None, call: Callable[[BrokerClient], Any]) -> dict[str, Any]:
        """Run ``call`` on every broker concurrently; one broker failing does not hide the others."""
        names = brokers or self.enabled_brokers()
        results: dict[str, Any] = {}

        async def one(name: str) -> None:
            try:
                results[name] = await call(await self.client(name))
            except OrchError as exc:
                results[name] = exc

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(one, name)
        return {name: results[name] for name in names}

    async def list_orders(self, broker: str, filter: OrderFilter | None = None) -> list[Order]:
        return await (await self.client(broker)).list_orders(filter or OrderFilter())


def side_of(word: str) -> Side:
    try:
        return Side(word.lower())
    except ValueError:
        raise InvalidOrder(f"side must be buy or sell, got {word!r}") from None


def plugin_version(name: str) -> str | None:
    with contextlib.suppress(OrchError):
        return plugin_entry(name).version
    return None
