"""BrokerClient: one connected broker behind the resilience layer, with metrics.

The plugin loader hands over the plugin's own hook implementations as a mapping (hook name →
function, e.g. ``"orch_quote"``); the client calls them directly. Every call passes, in order:

1. capability checks (a request the plugin cannot serve fails with NotSupported before any I/O);
2. ``limiter.acquire(0)``: wait out a 429 penalty, fail fast during a 418 ban (nothing sent), outside
   the deadline so a penalty does not eat the call's time; the plugin itself charges the real cost.
   A separate budget the plugin declared for this operation (``limiter.budget(name, rules, ops=…)``,
   Alpaca's market data for ``quote``) is waited out the same way;
3. the circuit breaker (CircuitOpen while the broker is known to be down: nothing sent);
4. ``trio.fail_after(timeout)``: running late becomes BrokerUnavailable;
5. retry with backoff for idempotent calls only. ``place_order`` and ``replace_order`` are never
   retried: a timeout there leaves the order's fate unknown, and only the journal, after asking the
   broker, may decide to send again.

A RateLimited from the plugin also feeds the limiter (a 429 penalizes the budget, a 418 halts it), so
every caller sharing the budget slows down, not only the one that was told.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import trio

from orch.context import ConnectContext
from orch.errors import BrokerUnavailable, InvalidOrder, NotSupported, OrchError, RateLimited
from orch.models import (Account, BrokerInfo, Capabilities, Fill, Instrument, Order, OrderFilter,
                         OrderRef, OrderRequest, Position, Quote)
from orch.resilience.breaker import CircuitBreaker, is_unhealthy
from orch.resilience.limiter import BudgetHalted, RateLimiter
from orch.resilience.metrics import BrokerMetrics, LatencyReservoir
from orch.resilience.retry import RetryPolicy
from orch.resilience.timeouts import deadline
from orch.secret import mask
from orch.settings import BrokerSettings

# Binance's shortest IP ban; used when a 418 comes without a Retry-After.
DEFAULT_BAN_SECONDS = 120.0


def check_order_capabilities(caps: Capabilities, request: OrderRequest, broker: str) -> None:
    """Raise NotSupported for the first thing in ``request`` the broker's plugin cannot do."""

    def refuse(capability: str, what: str) -> NotSupported:
        return NotSupported(capability, f"not supported: {what}", broker=broker)

    if request.type not in caps.order_types:
        raise refuse(f"order_type:{request.type.value}", f"{request.type.value} orders")
    if request.time_in_force not in caps.time_in_force:
        raise refuse(f"time_in_force:{request.time_in_force.value}",
                     f"time in force {request.time_in_force.value}")
    if request.order_class not in caps.order_classes:
        raise refuse(f"order_class:{request.order_class.value}", f"{request.order_class.value} orders")
    if request.notional is not None and not caps.notional_orders:
        raise refuse("notional_orders", "orders by notional amount")
    if request.qty is not None and request.qty != request.qty.to_integral_value() and not caps.fractional:
        raise refuse("fractional", f"fractional quantities ({request.qty})")
    if request.extended_hours and not caps.extended_hours:
        raise refuse("extended_hours", "extended-hours orders")
    if request.post_only and not caps.post_only:
        raise refuse("post_only", "post-only orders")
    if request.iceberg_qty is not None and not caps.iceberg:
        raise refuse("iceberg", "iceberg orders")


class BrokerClient:
    """One broker: ``hooks`` is the plugin's own table (hook name → implementation)."""

    def __init__(self, name: str, hooks: Mapping[str, Callable[..., Any]], settings: BrokerSettings,
                 info: BrokerInfo, limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None, retry: RetryPolicy | None = None,
                 timeout: float | None = None, *, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._hooks = hooks
        self.settings = settings
        self.info = info
        self.limiter = limiter or RateLimiter.from_settings(settings.rate_limits, info.rate_limits,
                                                            name=name)
        self.breaker = breaker or CircuitBreaker(name)
        self.retry = retry or RetryPolicy()
        self.timeout = float(settings.timeout_seconds) if timeout is None else float(timeout)
        if self.timeout <= 0:
            raise ValueError(f"{name}: timeout must be positive, got {self.timeout}")
        self.logger = logger or logging.getLogger(f"orch.broker.{name}")
        self._conn: Any = None
        self._latency = LatencyReservoir()
        self._calls = self._errors = self._attempts = 0
        self._last_error: str | None = None

    # ----------------------------------------------------------------------------- plumbing

    @property
    def capabilities(self) -> Capabilities:
        return self.info.capabilities

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _hook(self, op: str, capability: str | None = None) -> Callable[..., Any]:
        if capability is not None and not getattr(self.capabilities, capability):
            raise NotSupported(capability, f"not supported: {capability.replace('_', ' ')}",
                               broker=self.name)
        hook = self._hooks.get(f"orch_{op}")
        if hook is None:
            raise NotSupported(capability or op, f"the plugin does not implement {op}",
                               broker=self.name)
        return hook

    def _require_conn(self) -> Any:
        if self._conn is None:
            raise RuntimeError(f"{self.name}: not connected (call connect() first)")
        return self._conn

    def _note_error(self, exc: BaseException) -> None:
        self._last_error = mask(f"{type(exc).__name__}: {exc}")

    def _feed_limiter(self, exc: RateLimited) -> None:
        if isinstance(exc, BudgetHalted):
            return  # the limiter's own refusal
        # A refusal that names a separate budget (Alpaca's market data) slows only that budget: penalizing
        # the main one would stall order placement behind a burst of quotes. An unknown name is treated as
        # the main budget, the cautious reading.
        separate = getattr(self.limiter, "budgets", {})
        limiter = separate.get(exc.budget, self.limiter) if exc.budget else self.limiter
        banned = exc.banned_until is not None or exc.status == 418
        rules = {rule.name for rule in getattr(self.limiter, "rules", ())}
        if not banned and exc.budget not in separate and exc.budget in rules:
            # A refusal naming one window of the main budget (Binance's order count): only what that window
            # charges (orders) waits, quotes and account reads go on.
            self.limiter.fill(exc.budget, exc.retry_after)
            return
        if banned:
            seconds = exc.retry_after if exc.retry_after is not None else DEFAULT_BAN_SECONDS
            reason = exc.message.removeprefix(f"{exc.broker}: ") if exc.broker else exc.message
            limiter.halt(trio.current_time() + seconds, mask(reason))
        else:
            limiter.penalize(exc.retry_after)

    async def _attempt(self, op: str, call: Callable[[], Any]) -> Any:
        try:
            return await self._guarded(op, call)
        except Exception as exc:
            self._note_error(exc)
            raise

    async def _guarded(self, op: str, call: Callable[[], Any]) -> Any:
        await self.limiter.acquire(0)
        budgets_for = getattr(self.limiter, "budgets_for", None)
        for budget in budgets_for(op) if budgets_for else ():
            await budget.acquire(0)
        self._attempts += 1
        with self.breaker.guard():
            started = trio.current_time()
            try:
                with deadline(self.timeout, what=op, broker=self.name):
                    return await call()
            except RateLimited as exc:
                self._feed_limiter(exc)
                raise
            except OrchError:
                raise
            except Exception as exc:
                # A plugin bug or a transport error it failed to map: the outcome is unknown, so it is
                # treated as the broker being unavailable (never as a proven rejection).
                raise BrokerUnavailable(f"{op} failed: {type(exc).__name__}: {mask(str(exc))}",
                                        broker=self.name) from exc
            finally:
                self._latency.add(trio.current_time() - started)

    async def _call(self, op: str, hook: Callable[..., Any], *args: Any, idempotent: bool,
                    conn: bool = True) -> Any:
        if conn:
            args = (self._require_conn(), *args)
        self._calls += 1
        try:
            return await self.retry.run(lambda: self._attempt(op, lambda: hook(*args)),
                                        idempotent=idempotent, what=f"{self.name} {op}",
                                        logger=self.logger)
        except Exception:
            self._errors += 1
            raise

    # ----------------------------------------------------------------------------- connection

    async def connect(self, nursery: trio.Nursery, live: bool = False) -> Any:
        """Open the plugin's connection; its background tasks live in ``nursery``."""
        context = ConnectContext(broker=self.name, nursery=nursery, limiter=self.limiter, live=live,
                                 logger=self.logger)
        hook = self._hook("connect")
        self._conn = await self._call("connect", hook, self.settings, context, idempotent=True,
                                      conn=False)
        return self._conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with deadline(self.timeout, what="close", broker=self.name):
                await conn.aclose()

    # ----------------------------------------------------------------------------- orders

    async def place_order(self, request: OrderRequest) -> Order:
        """Submit once. Never retried: on BrokerUnavailable the order's fate is unknown."""
        if request.client_order_id is None:
            raise InvalidOrder(f"{self.name}: place_order needs a client_order_id (the journal assigns it)")
        check_order_capabilities(self.capabilities, request, self.name)
        return await self._call("place_order", self._hook("place_order"), request, idempotent=False)

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        return await self._call("cancel_order", self._hook("cancel_order"), ref, idempotent=True)

    async def get_order(self, ref: OrderRef) -> Order | None:
        return await self._call("get_order", self._hook("get_order"), ref, idempotent=True)

    async def list_orders(self, filter: OrderFilter | None = None) -> list[Order]:
        return await self._call("list_orders", self._hook("list_orders"), filter or OrderFilter(),
                                idempotent=True)

    async def replace_order(self, ref: OrderRef, qty: Any = None, limit_price: Any = None,
                            stop_price: Any = None) -> Order:
        """Never retried: a replace that timed out may have created the new order already."""
        hook = self._hook("replace_order", "replace_order")
        return await self._call("replace_order", hook, ref, qty, limit_price, stop_price, idempotent=False)

    async def list_fills(self, since: datetime | None = None,
                         instrument: Instrument | None = None) -> list[Fill]:
        hook = self._hook("list_fills", "list_fills")
        return await self._call("list_fills", hook, since, instrument, idempotent=True)

    # ----------------------------------------------------------------------------- quotes, account

    async def quote(self, instrument: Instrument) -> Quote:
        return await self._call("quote", self._hook("quote", "quotes"), instrument, idempotent=True)

    async def account(self) -> Account:
        return await self._call("account", self._hook("account"), idempotent=True)

    async def positions(self) -> list[Position]:
        return await self._call("positions", self._hook("positions"), idempotent=True)

    # ----------------------------------------------------------------------------- streams

    def stream_quotes(self, instruments: Iterable[Instrument]) -> AsyncIterator[Quote]:
        """An async iterator of quotes (use ``async with contextlib.aclosing(...)``). NotSupported and
        CircuitOpen are raised here, before anything is opened. The plugin reconnects by itself, so
        there is no retry and no deadline."""
        return self._stream(self._hook("stream_quotes", "stream_quotes"), list(instruments))

    def stream_orders(self) -> AsyncIterator[Order]:
        return self._stream(self._hook("stream_orders", "stream_orders"))

    def _stream(self, hook: Callable[..., Any], *args: Any) -> AsyncIterator[Any]:
        # A stream is long-lived: it must not hold the breaker's single half-open probe, so it is only
        # refused while the circuit is open.
        self.breaker.check()
        return self._relay(hook(self._require_conn(), *args))

    async def _relay(self, iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        self._calls += 1
        try:
            async for item in iterator:
                yield item
        except Exception as exc:
            self._errors += 1
            self._note_error(exc)
            if is_unhealthy(exc):
                self.breaker.record_failure(exc)
            raise
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    # ----------------------------------------------------------------------------- metrics

    def metrics(self) -> BrokerMetrics:
        return BrokerMetrics(
            broker=self.name, connected=self.connected, calls=self._calls, errors=self._errors,
            attempts=self._attempts, latency_p50=self._latency.percentile(50),
            latency_p99=self._latency.percentile(99), limiter=self.limiter.usage(),
            breaker_state=self.breaker.state.value,
            consecutive_failures=self.breaker.consecutive_failures, last_error=self._last_error)

    def __repr__(self) -> str:
        return f"<BrokerClient {self.name} {'connected' if self.connected else 'closed'}>"
