"""The shared test class every broker plugin passes against its own simulator.

A plugin's test module holds one class::

    from orch.testing.conformance import BrokerConformance

    class TestAlpacaConformance(BrokerConformance):
        broker = "alpaca"

and pytest runs every ``test_*`` method below against that broker: the plugin is loaded as orch loads it,
its simulator (``orch_simulator()``) serves on a loopback port, and each test connects an
:class:`orch.client.BrokerClient` through real sockets. Time is trio's :class:`~trio.testing.MockClock`
(simulator and client alike), so waits for fills, Retry-After and reconnect backoff cost no wall-clock
time.

Class attributes tune the kit to a broker (all optional): the symbols to use per market
(``stock_symbol``, ``crypto_symbol``, ``forex_symbol``; markets the broker does not serve are skipped),
``invalid_qty`` (a quantity the plugin must refuse locally), ``unsupported`` (which missing capability the
NotSupported check uses), and the bounds below. Override :meth:`BrokerConformance.prepare` for set-up
against the simulator (``harness.sim.running`` is the :class:`orch.sim.runner.RunningSim`).

What each test proves is in its docstring and in docs/conformance.md.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import aclosing
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

import pytest
import trio
from trio.testing import MockClock

from orch.config import secret_fields
from orch.errors import (AuthError, InvalidOrder, NotSupported, OrderRejected, RateLimited,
                         UnknownInstrument)
from orch.models import (Instrument, Market, Order, OrderClass, OrderFilter, OrderRef, OrderRequest,
                         OrderStatus, OrderType, Side, StopLoss, TakeProfit, TimeInForce)
from orch.testing import checks
from orch.testing.conformance_streams import QuoteStreamChecks
from orch.testing.harness import Harness, open_harness, wrong_credentials

__all__ = ["BrokerConformance"]

_STOCK_MARKETS = (Market.US_STOCKS, Market.EU_STOCKS, Market.GLOBAL_STOCKS)


def new_client_order_id() -> str:
    return f"orch-conf-{uuid.uuid4().hex[:20]}"


def _probe_request(capability: str, instrument: Instrument, price: Decimal) -> OrderRequest | None:
    """An order needing ``capability`` (a name as :func:`orch.client.check_order_capabilities` uses),
    valid in every other respect."""
    base: dict[str, Any] = {"instrument": instrument, "side": Side.BUY, "qty": Decimal(1),
                            "client_order_id": new_client_order_id()}
    limit = {"type": OrderType.LIMIT, "limit_price": price}
    kind, _, value = capability.partition(":")
    if kind == "post_only":
        return OrderRequest(**base, **limit, post_only=True)
    if kind == "iceberg":
        return OrderRequest(**{**base, "qty": Decimal(10)}, **limit, iceberg_qty=Decimal(1))
    if kind == "notional_orders":
        return OrderRequest(**{**base, "qty": None}, notional=Decimal(100))
    if kind == "fractional":
        return OrderRequest(**{**base, "qty": Decimal("0.5")})
    if kind == "extended_hours":
        return OrderRequest(**base, **limit, extended_hours=True)
    if kind == "order_type":
        order_type = OrderType(value)
        extra: dict[str, Any] = {"type": order_type}
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            extra["limit_price"] = price
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            extra["stop_price"] = price * 2
        if order_type is OrderType.TRAILING_STOP:
            extra["trail_percent"] = Decimal(5)
        return OrderRequest(**base, **extra)
    if kind == "time_in_force":
        return OrderRequest(**base, **limit, time_in_force=TimeInForce(value))
    if kind == "order_class":
        legs = {"take_profit": TakeProfit(price * 2), "stop_loss": StopLoss(price / 2)}
        if OrderClass(value) is OrderClass.OTO:
            legs = {"take_profit": TakeProfit(price * 2)}
        return OrderRequest(**base, **limit, order_class=OrderClass(value), **legs)
    return None


class BrokerConformance(QuoteStreamChecks):
    """Subclass with ``broker = "<entry-point name>"``. See the module docstring."""

    broker: ClassVar[str] = ""
    # Trio tests whether or not the project sets pytest-trio's trio_mode.
    pytestmark: ClassVar[list[Any]] = [pytest.mark.trio]

    # Symbols per market; the broker's BrokerInfo.markets decides which are used.
    stock_symbol: ClassVar[str | None] = "AAPL"
    crypto_symbol: ClassVar[str | None] = "BTC/USD"
    forex_symbol: ClassVar[str | None] = "EUR/USD"
    # Refused by every simulator (orch.sim.instruments.UNKNOWN_SYMBOL).
    unknown_symbol: ClassVar[str] = "NOSUCHSYMBOL"

    order_qty: ClassVar[Decimal] = Decimal(1)
    # A quantity the plugin must refuse before sending (finer than any lot size).
    invalid_qty: ClassVar[Decimal] = Decimal("0.0000000001")
    # The capability the NotSupported check uses ("post_only", "order_type:trailing_stop",
    # "time_in_force:opg", "order_class:bracket", "notional_orders", "fractional", "extended_hours",
    # "iceberg", "replace_order", "list_fills", "stream_quotes", "stream_orders"); None: the first the
    # plugin's capabilities lack.
    unsupported: ClassVar[str | None] = None
    price_increment: ClassVar[Decimal] = Decimal("0.01")

    # Bounds, in seconds of trio time unless said otherwise.
    fill_polls: ClassVar[int] = 30
    poll_interval: ClassVar[float] = 1.0
    price_tolerance: ClassVar[Decimal] = Decimal("0.02")  # relative distance of a fill from the quote
    quote_max_age: ClassVar[float] = 120.0
    rate_limit_burst: ClassVar[int] = 2  # the default RetryPolicy makes 3 attempts
    retry_after: ClassVar[float] = 1.0
    autojump_threshold: ClassVar[float] = 0.0

    # ------------------------------------------------------------------------------------ fixtures

    @pytest.fixture
    def orch_clock(self) -> MockClock:
        """Trio's mock clock for the whole test: simulator, limiter, retries and streams share it.
        pytest-trio takes the clock only from a test's own arguments, so every test names it."""
        return MockClock(autojump_threshold=self.autojump_threshold)

    @pytest.fixture
    async def orch_harness(self, orch_clock: MockClock) -> Any:
        if not self.broker:
            pytest.fail(f"{type(self).__name__} must set broker = '<plugin name>'")
        async with open_harness(self.broker) as harness:
            await self.prepare(harness)
            yield harness

    async def prepare(self, harness: Harness) -> None:
        """Override for broker-specific set-up once the simulator runs and the client is connected."""

    # ------------------------------------------------------------------------------------ helpers

    def instruments(self, harness: Harness) -> dict[str, Instrument]:
        """The instruments to use, by kind (``stock``, ``crypto``, ``forex``), for the markets the
        broker serves. Override to add exchanges, currencies or broker ids."""
        markets = harness.loaded.info.markets
        found: dict[str, Instrument] = {}
        stock_market = next((m for m in _STOCK_MARKETS if m in markets), None)
        if self.stock_symbol and stock_market is not None:
            found["stock"] = Instrument(self.stock_symbol, stock_market)
        if self.crypto_symbol and Market.CRYPTO in markets:
            quote_ccy = self.crypto_symbol.replace("-", "/").partition("/")[2] or "USD"
            found["crypto"] = Instrument(self.crypto_symbol, Market.CRYPTO, currency=quote_ccy)
        if self.forex_symbol and Market.FOREX in markets:
            quote_ccy = self.forex_symbol.replace("-", "/").partition("/")[2] or "USD"
            found["forex"] = Instrument(self.forex_symbol, Market.FOREX, currency=quote_ccy)
        return found

    def trade_instrument(self, harness: Harness) -> Instrument:
        instruments = self.instruments(harness)
        if not instruments:
            pytest.skip(f"{self.broker}: no symbol configured for any market it serves")
        return next(iter(instruments.values()))

    def time_in_force(self, harness: Harness, instrument: Instrument, *, resting: bool) -> TimeInForce:
        """DAY for stocks, GTC elsewhere (crypto venues rarely take DAY), whichever the plugin supports;
        IOC as a last resort for an order that fills at once."""
        preferred = ([TimeInForce.DAY, TimeInForce.GTC] if instrument.market in _STOCK_MARKETS
                     else [TimeInForce.GTC, TimeInForce.DAY])
        if not resting:
            preferred.append(TimeInForce.IOC)
        supported = harness.capabilities.time_in_force
        return next((tif for tif in preferred if tif in supported), next(iter(sorted(supported))))

    async def reference_quote(self, harness: Harness, instrument: Instrument) -> Any:
        """The broker's quote; for a broker declaring no quotes (``Capabilities.quotes = False``), its
        refusal is checked and the simulator's own market quote stands in as the reference price."""
        if not harness.capabilities.quotes:
            await self.check_quote_refused(harness, instrument)
            return harness.sim.quote(self.simulator_symbol(instrument), self.broker, instrument)
        quote = await harness.client.quote(instrument)
        checks.check_quote(quote, self.broker, instrument, now=harness.sim.now(), max_age=self.quote_max_age)
        return quote

    def simulator_symbol(self, instrument: Instrument) -> str:
        """The simulator market's symbol for ``instrument`` (override when the plugin's symbols differ from
        :mod:`orch.sim`'s)."""
        return instrument.symbol

    async def check_quote_refused(self, harness: Harness, instrument: Instrument) -> None:
        """A broker without quotes refuses them with NotSupported, from the client and from the plugin's own
        hook, and sends nothing."""
        before = harness.sim.request_count()
        with pytest.raises(NotSupported):
            await harness.client.quote(instrument)
        with pytest.raises(NotSupported):
            await harness.hook("orch_quote")(harness.conn, instrument)
        sent = harness.sim.requests_since(before)
        assert not sent, (f"{self.broker}: refusing a quote sent {len(sent)} request(s): "
                          f"{[f'{r.method} {r.path}' for r in sent]}")

    async def wait_for_status(self, harness: Harness, ref: OrderRef, wanted: set[OrderStatus],
                              *, allowed: set[OrderStatus]) -> Order:
        """Poll get_order until the order reaches one of ``wanted`` (at most ``fill_polls`` polls); any
        status outside ``wanted | allowed`` on the way fails at once."""
        last = None
        for _ in range(self.fill_polls):
            last = await harness.client.get_order(ref)
            assert last is not None, f"{self.broker}: get_order({ref}) found nothing for an order it accepted"
            checks.check_order(last, self.broker)
            if last.status in wanted:
                return last
            assert last.status in allowed, (
                f"{self.broker}: order {last.broker_order_id} went to {last.status.value} "
                f"({last.raw_status!r}, reason {last.reject_reason!r}); expected one of "
                f"{sorted(s.value for s in wanted | allowed)}")
            await trio.sleep(self.poll_interval)
        raise AssertionError(f"{self.broker}: order {ref} still {last.status.value if last else '?'} after "
                             f"{self.fill_polls} polls {self.poll_interval:g}s apart; expected "
                             f"{sorted(s.value for s in wanted)}")

    def far_limit_price(self, bid: Decimal) -> Decimal:
        """Half the bid, on the price grid: a buy there rests and never fills."""
        price = (bid / 2).quantize(self.price_increment, rounding=ROUND_DOWN)
        return max(price, self.price_increment)

    # ------------------------------------------------------------------------------------ tests

    async def test_bad_credentials_are_an_auth_error(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """Refused keys surface as AuthError from connect (the broker's refusal, not a local guess),
        and are not retried into a lock-out."""
        h = orch_harness
        section = wrong_credentials(h.section, h.loaded.info.settings_type)
        if section == h.section:
            pytest.skip(f"{self.broker}: its Settings have no Secret fields")
        before = h.sim.request_count()
        with pytest.raises(AuthError):
            await h.connect(h.settings_from(section))
        sent = h.sim.request_count() - before
        assert sent >= 1, f"{self.broker}: AuthError raised without asking the simulator"
        assert sent <= 3, f"{self.broker}: {sent} requests with refused keys (an AuthError must not be retried)"

    async def test_account_and_positions_are_well_formed(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """Account: id, currency code, Decimal cash/equity/buying power, paper; positions: Decimal
        quantities, no zero positions, currency codes."""
        h = orch_harness
        checks.check_account(await h.client.account(), self.broker)
        positions = await h.client.positions()
        assert isinstance(positions, list), f"{self.broker}: positions() returned {type(positions).__name__}"
        for position in positions:
            checks.check_position(position, self.broker)

    async def test_quotes_are_sane_and_fresh(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """For each market the broker serves: bid ≤ ask, both positive Decimals, an aware timestamp
        close to the simulator's time. A broker declaring no quotes must refuse them (NotSupported)
        without sending anything."""
        h = orch_harness
        instruments = self.instruments(h)
        if not instruments:
            pytest.skip(f"{self.broker}: no symbol configured for any market it serves")
        for instrument in instruments.values():
            if h.capabilities.quotes:
                await self.reference_quote(h, instrument)
            else:
                await self.check_quote_refused(h, instrument)

    async def test_market_order_fills(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A market buy is accepted with our client order id, fills completely within a bounded number
        of polls at a price near the quote, and the position grows by the quantity."""
        h = orch_harness
        instrument = self.trade_instrument(h)
        quote = await self.reference_quote(h, instrument)
        held_before = await self._held(h, instrument)
        coid = new_client_order_id()
        request = OrderRequest(instrument, Side.BUY, qty=self.order_qty, type=OrderType.MARKET,
                               time_in_force=self.time_in_force(h, instrument, resting=False),
                               client_order_id=coid)
        placed = await h.client.place_order(request)
        checks.check_order(placed, self.broker)
        if h.capabilities.native_client_order_id:
            assert placed.client_order_id == coid, (
                f"{self.broker}: placed order carries client_order_id {placed.client_order_id!r}, sent {coid!r}")
        assert placed.status not in (OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED), (
            f"{self.broker}: market order came back {placed.status.value} ({placed.raw_status!r})")
        filled = await self.wait_for_status(
            h, OrderRef(broker_order_id=placed.broker_order_id, instrument=instrument), {OrderStatus.FILLED},
            allowed={OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
        assert filled.filled_qty == self.order_qty, (
            f"{self.broker}: filled_qty {filled.filled_qty}, ordered {self.order_qty}")
        assert filled.avg_fill_price is not None, f"{self.broker}: a filled order without avg_fill_price"
        reference = quote.ask if quote.ask is not None else quote.mid
        distance = abs(filled.avg_fill_price - reference) / reference
        assert distance <= self.price_tolerance, (
            f"{self.broker}: filled at {filled.avg_fill_price}, {distance:.2%} away from the ask {reference} "
            f"(tolerance {self.price_tolerance:.0%})")
        held_after = await self._held(h, instrument)
        assert held_after - held_before == self.order_qty, (
            f"{self.broker}: position went from {held_before} to {held_after} after buying {self.order_qty}")

    async def _held(self, h: Harness, instrument: Instrument) -> Decimal:
        total = Decimal(0)
        for position in await h.client.positions():
            checks.check_position(position, self.broker)
            if checks.same_instrument(position.instrument, instrument):
                total += position.qty
        return total

    async def test_limit_order_lifecycle(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A buy limit far below the market rests; it is found by client order id and by broker id, is
        listed among open orders, cancels, then reads back canceled and leaves the open list."""
        h = orch_harness
        instrument = self.trade_instrument(h)
        quote = await self.reference_quote(h, instrument)
        price = self.far_limit_price(quote.bid)
        coid = new_client_order_id()
        request = OrderRequest(instrument, Side.BUY, qty=self.order_qty, type=OrderType.LIMIT, limit_price=price,
                               time_in_force=self.time_in_force(h, instrument, resting=True), client_order_id=coid)
        placed = await h.client.place_order(request)
        checks.check_order(placed, self.broker)
        open_states = {OrderStatus.NEW, OrderStatus.ACCEPTED}
        assert placed.status in open_states, (
            f"{self.broker}: a limit buy at {price} (bid {quote.bid}) came back {placed.status.value} "
            f"({placed.raw_status!r})")
        assert placed.filled_qty == 0, f"{self.broker}: a limit far below the market filled {placed.filled_qty}"
        await trio.sleep(self.poll_interval * 3)  # let the simulator step: it must still rest

        if h.capabilities.native_client_order_id:
            by_coid = await h.client.get_order(OrderRef(client_order_id=coid, instrument=instrument))
            assert by_coid is not None, f"{self.broker}: get_order by client_order_id {coid!r} found nothing"
            assert by_coid.broker_order_id == placed.broker_order_id, (
                f"{self.broker}: client_order_id {coid!r} found order {by_coid.broker_order_id}, "
                f"placed {placed.broker_order_id}")
            assert by_coid.status in open_states, f"{self.broker}: resting order reads {by_coid.status.value}"
        by_id = await h.client.get_order(OrderRef(broker_order_id=placed.broker_order_id, instrument=instrument))
        assert by_id is not None, f"{self.broker}: get_order by broker id {placed.broker_order_id} found nothing"
        checks.check_order(by_id, self.broker)
        assert by_id.status in open_states and by_id.filled_qty == 0
        assert checks.same_instrument(by_id.instrument, instrument)
        assert by_id.side is Side.BUY and by_id.type is OrderType.LIMIT
        assert by_id.limit_price == price, f"{self.broker}: limit_price reads {by_id.limit_price}, sent {price}"
        if h.capabilities.native_client_order_id:
            assert by_id.client_order_id == coid

        listed = await h.client.list_orders(OrderFilter(status="open"))
        ids = [o.broker_order_id for o in listed]
        assert placed.broker_order_id in ids, f"{self.broker}: open orders {ids} lack {placed.broker_order_id}"
        for order in listed:
            checks.check_order(order, self.broker)

        ref = OrderRef(broker_order_id=placed.broker_order_id, client_order_id=coid, instrument=instrument)
        answer = await h.client.cancel_order(ref)
        if answer is not None:
            checks.check_order(answer, self.broker)
            assert answer.broker_order_id == placed.broker_order_id
        await self.wait_for_status(h, OrderRef(broker_order_id=placed.broker_order_id, instrument=instrument),
                                   {OrderStatus.CANCELED},
                                   allowed={OrderStatus.PENDING_CANCEL, OrderStatus.NEW, OrderStatus.ACCEPTED})
        still_open = [o.broker_order_id for o in await h.client.list_orders(OrderFilter(status="open"))]
        assert placed.broker_order_id not in still_open, f"{self.broker}: a canceled order is still listed open"

    async def test_unknown_order_is_a_proven_absence(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """get_order for a client order id never used returns None: the proof of absence the journal
        needs before it may resend."""
        h = orch_harness
        if not h.capabilities.native_client_order_id:
            pytest.skip(f"{self.broker}: no native client order ids")
        instrument = self.trade_instrument(h)
        found = await h.client.get_order(OrderRef(client_order_id=new_client_order_id(), instrument=instrument))
        assert found is None, f"{self.broker}: get_order for an id never used returned {found!r}"

    def _unsupported_probe(self, harness: Harness) -> str | None:
        if self.unsupported is not None:
            return self.unsupported
        caps = harness.capabilities
        simple = [("post_only", caps.post_only), ("iceberg", caps.iceberg),
                  ("notional_orders", caps.notional_orders), ("fractional", caps.fractional),
                  ("extended_hours", caps.extended_hours)]
        for name, supported in simple:
            if not supported:
                return name
        for order_type in OrderType:
            if order_type not in caps.order_types:
                return f"order_type:{order_type.value}"
        for tif in TimeInForce:
            if tif not in caps.time_in_force:
                return f"time_in_force:{tif.value}"
        for cls in OrderClass:
            if cls not in caps.order_classes:
                return f"order_class:{cls.value}"
        for name in ("replace_order", "list_fills", "stream_quotes", "stream_orders"):
            if not getattr(caps, name):
                return name
        return None

    async def test_unsupported_capability_is_refused_before_any_request(self, orch_harness: Harness,
                                                                        orch_clock: MockClock) -> None:
        """A request needing a capability the plugin does not declare raises NotSupported, from the
        client and from the plugin's own hook, and nothing reaches the simulator."""
        h = orch_harness
        probe = self._unsupported_probe(h)
        if probe is None:
            pytest.skip(f"{self.broker}: declares every capability the kit can probe")
        instrument = self.trade_instrument(h)
        quote = await self.reference_quote(h, instrument)
        request = _probe_request(probe, instrument, self.far_limit_price(quote.bid))
        before = h.sim.request_count()
        if request is not None:
            with pytest.raises(NotSupported):
                await h.client.place_order(request)
            with pytest.raises(NotSupported):
                await h.hook("orch_place_order")(h.conn, request)
        elif probe == "replace_order":
            with pytest.raises(NotSupported):
                await h.client.replace_order(OrderRef(client_order_id=new_client_order_id()), qty=Decimal(1))
        elif probe == "list_fills":
            with pytest.raises(NotSupported):
                await h.client.list_fills()
        elif probe == "stream_quotes":
            with pytest.raises(NotSupported):
                h.client.stream_quotes([instrument])
        elif probe == "stream_orders":
            with pytest.raises(NotSupported):
                h.client.stream_orders()
        else:
            pytest.fail(f"unknown capability probe {probe!r} (see BrokerConformance.unsupported)")
        await trio.sleep(0)
        sent = h.sim.requests_since(before)
        assert not sent, (f"{self.broker}: refusing {probe} sent {len(sent)} request(s): "
                          f"{[f'{r.method} {r.path}' for r in sent]}")

    async def test_unknown_symbol_is_unknown_instrument(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A symbol the broker does not list: quote raises UnknownInstrument; an order for it is refused
        explicitly (UnknownInstrument or OrderRejected) and leaves no order behind."""
        h = orch_harness
        instrument = self.trade_instrument(h)
        unknown = Instrument(self.unknown_symbol, instrument.market, currency=instrument.currency)
        if h.capabilities.quotes:
            with pytest.raises(UnknownInstrument):
                await h.client.quote(unknown)
        coid = new_client_order_id()
        request = OrderRequest(unknown, Side.BUY, qty=self.order_qty,
                               time_in_force=self.time_in_force(h, instrument, resting=False),
                               client_order_id=coid)
        with pytest.raises((UnknownInstrument, OrderRejected)):
            await h.client.place_order(request)
        if h.capabilities.native_client_order_id:
            assert await h.client.get_order(OrderRef(client_order_id=coid, instrument=unknown)) is None

    async def test_invalid_quantity_is_refused_locally(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A negative quantity cannot even be expressed (OrderRequest refuses it); a quantity finer than
        the broker's lot size is refused by the plugin with InvalidOrder, and nothing is sent."""
        h = orch_harness
        instrument = self.trade_instrument(h)
        with pytest.raises(InvalidOrder):
            OrderRequest(instrument, Side.BUY, qty=Decimal(-1), client_order_id=new_client_order_id())
        tif = self.time_in_force(h, instrument, resting=False)
        request = OrderRequest(instrument, Side.BUY, qty=self.invalid_qty, time_in_force=tif,
                               client_order_id=new_client_order_id())
        before = h.sim.request_count()
        try:
            await h.client.place_order(request)
        except InvalidOrder:
            pass
        except NotSupported as exc:
            if exc.capability == "fractional":
                pytest.skip(f"{self.broker}: declares no fractional quantities; set invalid_qty to a whole "
                            "quantity the plugin refuses locally")
            raise
        else:
            pytest.fail(f"{self.broker}: qty {self.invalid_qty} was accepted (expected InvalidOrder)")
        with pytest.raises(InvalidOrder):
            await h.hook("orch_place_order")(h.conn, request)
        sent = h.sim.requests_since(before)
        assert not sent, f"{self.broker}: refusing qty {self.invalid_qty} sent {len(sent)} request(s)"

    async def test_rate_limit_burst_is_absorbed(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A burst of 429s on idempotent calls is waited out (Retry-After honoured, no request sent
        early) and retried: every call succeeds and no RateLimited reaches the caller."""
        h = orch_harness
        instrument = self.trade_instrument(h)
        calls = [("account", h.client.account), ("positions", h.client.positions),
                 ("list_orders", lambda: h.client.list_orders(OrderFilter(status="open")))]
        if h.capabilities.quotes:
            calls.append(("quote", lambda: h.client.quote(instrument)))
        for name, call in calls:
            before = h.sim.request_count()
            h.sim.inject_rate_limit(self.rate_limit_burst, retry_after=self.retry_after)
            try:
                await call()
            except RateLimited as exc:
                raise AssertionError(f"{self.broker}: {name} let a RateLimited through after a burst of "
                                     f"{self.rate_limit_burst} 429s: {exc}") from None
            records = h.sim.requests_since(before)
            limited = [r for r in records if r.fault_status == 429]
            assert len(limited) == self.rate_limit_burst, (
                f"{self.broker}: {name}: the simulator answered {len(limited)} 429s, expected "
                f"{self.rate_limit_burst} (did the call reach it?)")
            for earlier, later in zip(records, records[1:]):
                if earlier.fault_status == 429:
                    waited = later.time - earlier.time
                    assert waited >= self.retry_after - 1e-6, (
                        f"{self.broker}: {name}: sent again {waited:.3f}s after a 429 with "
                        f"Retry-After {self.retry_after:g}s")
            h.sim.reset_faults()

    async def test_secrets_never_leak(self, orch_harness: Harness, orch_clock: MockClock,
                                      caplog: pytest.LogCaptureFixture) -> None:
        """Across a whole session at DEBUG (connect, account, quote, order, cancel, 429s, refused keys,
        errors), no credential appears in a log record, an error message, or the repr of the settings,
        the connection, the client or its metrics."""
        caplog.set_level(logging.DEBUG)
        h = orch_harness
        texts: list[str] = []
        client = await h.connect()
        texts += [repr(client), repr(h.connections[client]), repr(h.settings), str(h.settings),
                  repr(h.loaded.info)]
        instrument = self.trade_instrument(h)
        await client.account()
        await client.positions()
        h.sim.inject_rate_limit(1, retry_after=self.retry_after)
        await client.account()
        if h.capabilities.quotes:
            quote = await client.quote(instrument)
            price = self.far_limit_price(quote.bid)
            order = await client.place_order(OrderRequest(
                instrument, Side.BUY, qty=self.order_qty, type=OrderType.LIMIT, limit_price=price,
                time_in_force=self.time_in_force(h, instrument, resting=True),
                client_order_id=new_client_order_id()))
            await client.cancel_order(OrderRef(broker_order_id=order.broker_order_id, instrument=instrument))
            try:
                await client.quote(Instrument(self.unknown_symbol, instrument.market))
            except Exception as exc:  # noqa: BLE001 - its text is what is checked
                texts.append(str(exc))
        if h.capabilities.stream_quotes:
            async with aclosing(client.stream_quotes([instrument])) as stream:
                with trio.fail_after(self.stream_first_quote_timeout):
                    await stream.__anext__()
        wrong = wrong_credentials(h.section, h.loaded.info.settings_type)
        try:
            await h.connect(h.settings_from(wrong))
        except Exception as exc:  # noqa: BLE001 - its text is what is checked
            texts.append(str(exc))
            texts.append(repr(exc))
        texts.append(str(client.metrics()))
        texts.append(caplog.text)
        texts += [record.getMessage() for record in caplog.records]

        names = secret_fields(h.loaded.info.settings_type)
        secrets = [str(section[name]) for section in (h.section, wrong) for name in names
                   if isinstance(section.get(name), str)]
        assert secrets, f"{self.broker}: no credential values found in the simulator's config section"
        everything = "\n".join(texts)
        for secret in dict.fromkeys(secrets):
            assert secret not in everything, (
                f"{self.broker}: a credential ({secret[:3]}…, {len(secret)} chars) appears in logs, errors or "
                f"reprs")
