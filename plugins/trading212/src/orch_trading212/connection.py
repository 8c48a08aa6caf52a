"""One connected Trading 212 account: each operation composes the local rules, the ticker mapping, a
request from :mod:`orch_trading212.protocol`, the transport and the parser.

Trading 212 has no client order id and placement is not idempotent, so the connection remembers what it
sent under orch's client order id (ticker, signed quantity, type, prices, the server time it left). A
lookup by client order id then searches the active orders and the order history for that order and says
so in ``raw_status``; a lookup this process cannot match (it did not send the order) is "cannot tell"
(BrokerUnavailable), never "absent".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import httpx
import trio

from orch.context import ConnectContext
from orch.errors import (BrokerError, BrokerUnavailable, ConfigError, NotSupported, OrderNotFound,
                         ProtocolError)
from orch.models import (Account, Fill, Instrument, Order, OrderFilter, OrderRef, OrderRequest, OrderType,
                         Position, Quote)

from orch_trading212 import protocol, rules, symbols
from orch_trading212.persist import LocalState, state_dir
from orch_trading212.protocol import Credentials
from orch_trading212.settings import DEMO_URL, Trading212Settings, resolve_base_url

CATALOG_TTL = 600.0  # Trading 212 refreshes instruments every 10 minutes
SCHEDULE_TTL = 3600.0
MAX_HISTORY_PAGES = 20
# An order sent at server time T shows createdAt within this window (clock resolution, queueing).
MATCH_BEFORE = timedelta(seconds=5)
MATCH_AFTER = timedelta(minutes=5)
MATCH_NOTE = "matched by ticker, quantity, type and time; Trading 212 has no client order id"


@attrs.frozen
class Intent:
    """What this process sent under a client order id."""

    ticker: str
    quantity: Decimal  # signed: negative sells
    type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    sent_at: datetime  # server clock

    def to_data(self) -> dict[str, Any]:
        return {"ticker": self.ticker, "quantity": str(self.quantity), "type": self.type.value,
                "limit_price": None if self.limit_price is None else str(self.limit_price),
                "stop_price": None if self.stop_price is None else str(self.stop_price),
                "sent_at": self.sent_at.isoformat()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Intent:
        def dec(value: Any) -> Decimal | None:
            return None if value is None else Decimal(str(value))

        return cls(str(data["ticker"]), Decimal(str(data["quantity"])), OrderType(data["type"]),
                   dec(data.get("limit_price")), dec(data.get("stop_price")),
                   datetime.fromisoformat(str(data["sent_at"])))


class Trading212Connection:
    """What ``orch_connect`` returns. ``http_transport`` lets tests swap the wire."""

    def __init__(self, settings: Trading212Settings, context: ConnectContext, *,
                 http_transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        if not settings.api_key.is_set:
            from orch.config import env_var_name

            raise ConfigError("is not set", path=f"brokers.{self.broker}.api_key",
                              hint=f"set it in the config or {env_var_name(self.broker, 'api_key')}")
        self.base_url = resolve_base_url(settings, live=context.live, broker=self.broker, logger=self.logger)
        self.practice = settings.practice
        self.credentials = Credentials(settings.api_key, settings.secret_key)
        if self.credentials.scheme == "legacy":
            self.logger.info("%s: no secret_key: using the legacy API-key header (Trading 212 now issues key "
                             "and secret pairs)", self.broker)
        self.http = protocol_session(self, context, http_transport, wall_clock)
        self._catalog: dict[str, symbols.InstrumentMeta] = {}
        self._catalog_at: float | None = None
        self._catalog_lock = trio.Lock()
        self._schedules: dict[int, Any] | None = None
        self._schedules_at: float | None = None
        self._currency = "EUR"
        self._intents: dict[str, Intent] = {}
        self._ids: dict[str, str] = {}  # client order id -> Trading 212 order id
        # The history holds finished orders only, and a finished order never changes: every one a lookup
        # has read is kept, with the pages below which nothing has been read yet (per ticker filter), so a
        # lookup deeper than one call's page budget goes on from there instead of failing every time.
        self._finished: dict[str, Order] = {}
        self._walked: dict[str | None, set[str]] = {}
        self._unread: dict[str | None, list[protocol.HttpRequest]] = {}
        self._started: set[str] = set()  # client order ids place_order was called with in this process
        self._sending: dict[str, Intent] = {}  # client order id -> intent, while its order request is out
        self._account_id = ""
        self.local = LocalState(state_dir(context.limiter.store), self.base_url.split("://")[-1],
                                clock=wall_clock)
        self.history_page = protocol.HISTORY_PAGE

    def __repr__(self) -> str:
        mode = "practice" if self.practice else "LIVE"
        return f"<Trading212Connection {self.broker} {mode} {self.base_url} auth={self.credentials.scheme}>"

    async def open(self) -> Trading212Connection:
        """Prove the key works (AuthError otherwise) with the positions list: its window is 1 s where the
        account summary's is 5 s, and every CLI command is a new process sharing the account's windows."""
        await self.http.call(protocol.list_positions())
        return self

    async def aclose(self) -> None:
        await self.http.aclose()

    def _remember_summary(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("currency"):
            self._currency = str(data["currency"])
        if isinstance(data, dict) and data.get("id") is not None:
            self._account_id = str(data["id"])

    # ----------------------------------------------------------------------------- metadata

    async def catalog(self) -> dict[str, symbols.InstrumentMeta]:
        """Instruments metadata, cached for 10 minutes (the endpoint allows one call per 50 s)."""
        async with self._catalog_lock:
            now = trio.current_time()
            if self._catalog_at is None or now - self._catalog_at > CATALOG_TTL:
                try:
                    items = self.local.load_instruments(CATALOG_TTL)
                    if items is None:
                        items = await self.http.call(protocol.instruments())
                        self.local.save_instruments(items)
                    self._catalog = protocol.parse_instruments(items, broker=self.broker)
                    self._catalog_at = now
                except BrokerError:
                    if self._catalog_at is None:
                        raise
                    self.logger.warning("%s: instruments refresh failed; using the cached list", self.broker)
            return self._catalog

    async def schedules(self) -> dict[int, Any]:
        now = trio.current_time()
        if self._schedules is None or self._schedules_at is None or now - self._schedules_at > SCHEDULE_TTL:
            self._schedules = protocol.parse_exchanges(await self.http.call(protocol.exchanges()), broker=self.broker)
            self._schedules_at = now
        return self._schedules

    async def ticker(self, instrument: Instrument) -> str:
        return symbols.resolve(instrument, await self.catalog(), broker=self.broker)

    async def market_open(self, instrument: Instrument, *, extended: bool = False) -> bool | None:
        """From the exchange working schedules: is the instrument's market open now (server time)?"""
        ticker = await self.ticker(instrument)
        meta = (await self.catalog())[ticker]
        schedule = (await self.schedules()).get(meta.working_schedule_id) if meta.working_schedule_id else None
        if schedule is None:
            return None
        now = datetime.fromtimestamp(self.http.server_time(), timezone.utc)
        return protocol.is_open(schedule[1], now, extended=extended)

    # ----------------------------------------------------------------------------- account

    async def account(self) -> Account:
        try:
            data = await self.http.call(protocol.account_summary())
        except BrokerError as exc:
            if exc.status != 404:
                raise
            # A server without the summary endpoint (mid-2025 API): the legacy cash + info pair.
            cash = await self.http.call(protocol.account_cash())
            info = await self.http.call(protocol.account_info())
            self._remember_summary({"currency": info.get("currencyCode"), "id": info.get("id")})
            return protocol.parse_legacy_account(cash, info, paper=self.practice, broker=self.broker)
        self._remember_summary(data)
        return protocol.parse_account(data, paper=self.practice, broker=self.broker)

    async def positions(self) -> list[Position]:
        data = await self.http.call(protocol.list_positions())
        if not isinstance(data, list):
            raise ProtocolError("expected a list of positions", broker=self.broker)
        catalog = self._catalog  # positions carry their instrument; no metadata call needed
        return [protocol.parse_position(item, catalog, account_currency=self._currency, broker=self.broker)
                for item in data]

    # ----------------------------------------------------------------------------- orders

    async def place_order(self, request: OrderRequest) -> Order:
        rules.check_order(request, self.settings, broker=self.broker)
        if request.client_order_id:
            self._started.add(request.client_order_id)
        try:
            ticker = await self.ticker(request.instrument)
        except BrokerError as exc:
            # Only the metadata was asked for: the order provably never left.
            exc.request_sent = False  # type: ignore[attr-defined]
            raise
        wire = protocol.place_order(request, ticker)
        if request.client_order_id:
            intent = Intent(ticker, protocol.signed_quantity(request), request.type, request.limit_price,
                            request.stop_price, datetime.fromtimestamp(self.http.server_time(), timezone.utc))
            self._intents[request.client_order_id] = intent
            # Written before the request leaves: a process that dies now can still be matched later.
            self.local.save_intent(self._account_id, request.client_order_id, intent.to_data())
        if request.client_order_id:
            self._sending[request.client_order_id] = intent
        try:
            data = await self.http.call(wire)
        finally:
            self._sending.pop(request.client_order_id or "", None)
        try:
            # The catalog's instrument: its real price currency (GBX, EUR) and the ticker in broker_ids.
            order = protocol.parse_order(data or {}, self._catalog, broker=self.broker)
        except ProtocolError as exc:
            # Trading 212 accepted the order (2xx) but its answer is unreadable: the order exists.
            raise BrokerUnavailable(f"order accepted but its answer was unreadable ({exc.message})",
                                    broker=self.broker) from exc
        order = attrs.evolve(order, client_order_id=request.client_order_id)
        if request.client_order_id:
            self._bind(request.client_order_id, order.broker_order_id)
        return order

    def _bind(self, coid: str, order_id: str) -> None:
        """Remember which Trading 212 order a client order id is, here and for later processes (so one
        order is never matched to two client order ids)."""
        self._ids[coid] = order_id
        intent = self._intents.get(coid)
        if intent is not None:
            self.local.save_intent(self._account_id, coid, {**intent.to_data(), "order_id": order_id})

    def _claimed(self, coid: str) -> set[str]:
        saved = {str(v["order_id"]) for k, v in self.local.load_intents(self._account_id).items()
                 if k != coid and isinstance(v, dict) and v.get("order_id") is not None}
        return saved | {oid for other, oid in self._ids.items() if other != coid}

    def _known_id(self, ref: OrderRef) -> str | None:
        if ref.broker_order_id is not None:
            return ref.broker_order_id
        return self._ids.get(ref.client_order_id) if ref.client_order_id else None

    async def _history_ticker(self, ref: OrderRef) -> str | None:
        intent = self._intent(ref.client_order_id)
        if intent is not None:
            return intent.ticker
        if ref.instrument is None:
            return None
        try:
            return await self.ticker(ref.instrument)
        except BrokerError:
            return None

    async def _history(self, ticker: str | None, stop: Callable[[Order], bool] | None = None,
                       limit: int | None = None):
        """Order history pages, newest first, until ``stop(order)`` or ``limit`` orders. Yields
        (order, fill) pairs; raises BrokerUnavailable when the page budget ends before the history does."""
        request: protocol.HttpRequest | None = protocol.history_orders(ticker=ticker, limit=self.history_page)
        seen = 0
        for _ in range(MAX_HISTORY_PAGES):
            if request is None:
                return
            page = protocol.parse_history_orders(await self.http.call(request), self._catalog, broker=self.broker)
            for order, fill in page.items:
                yield order, fill
                seen += 1
                if (stop is not None and stop(order)) or (limit is not None and seen >= limit):
                    return
            request = protocol.next_page(page.next_path)
        if request is not None:
            # Not BrokerUnavailable: the broker answered every page, it is our search that stops. Counted
            # as a failure it opened the circuit and every later lookup and order was refused.
            raise BrokerError(f"order history longer than {MAX_HISTORY_PAGES} pages; cannot tell",
                              broker=self.broker, hint="the order stays as last known; look it up by hand")

    async def _in_history(self, order_id: str, ticker: str | None) -> Order | None:
        if order_id in self._finished:
            return self._finished[order_id]
        walked = self._walked.setdefault(ticker, set())
        # Newest first from the top down to what earlier lookups read, then on from each page where one
        # stopped; at most MAX_HISTORY_PAGES pages a call (the history endpoint allows 6 a minute).
        queue = [protocol.history_orders(ticker=ticker, limit=self.history_page), *self._unread.pop(ticker, [])]
        unread: list[protocol.HttpRequest] = []
        budget, found = MAX_HISTORY_PAGES, None
        while queue:
            request: protocol.HttpRequest | None = queue.pop(0)
            while request is not None:
                if budget == 0 or found is not None:
                    unread.append(request)
                    break
                budget -= 1
                page = protocol.parse_history_orders(await self.http.call(request), self._catalog,
                                                     broker=self.broker)
                request = protocol.next_page(page.next_path)
                for order, _ in page.items:
                    if order.broker_order_id in walked:
                        request = None  # everything older was read before
                        break
                    if order.broker_order_id:
                        self._finished[order.broker_order_id] = order
                        walked.add(order.broker_order_id)
                    if order.broker_order_id == order_id:
                        found = order
        if unread:
            self._unread[ticker] = unread
        if found is not None or not unread:
            return found
        raise BrokerError(f"order {order_id} is not in the {len(walked)} history orders read so far; the older "
                          "pages are read by the next lookups", broker=self.broker,
                          hint="the order stays as last known until then")

    async def get_order(self, ref: OrderRef) -> Order | None:
        order_id = self._known_id(ref)
        intent = self._intent(ref.client_order_id)
        if order_id is not None:
            found = await self._by_id(order_id, ref)
        elif intent is not None:
            found = await self._match(ref.client_order_id, intent)
        elif ref.client_order_id in self._started:
            # place_order was called in this process but stopped before the order request left.
            return None
        else:
            raise BrokerUnavailable(
                f"cannot look up {ref.client_order_id!r}: Trading 212 has no client order ids and this process "
                "did not send it", broker=self.broker,
                hint="find it with `orch trading212 orders`/history by ticker, quantity and time")
        if found is not None and ref.client_order_id:
            found = attrs.evolve(found, client_order_id=ref.client_order_id)
        return found

    def _intent(self, coid: str | None) -> Intent | None:
        if coid is None:
            return None
        if coid not in self._intents:
            saved = self.local.load_intents(self._account_id).get(coid)
            if saved is not None:
                try:
                    self._intents[coid] = Intent.from_data(saved)
                except (KeyError, ValueError, TypeError):
                    return None
        return self._intents.get(coid)

    async def _by_id(self, order_id: str, ref: OrderRef) -> Order | None:
        try:
            data = await self.http.call(protocol.get_order(order_id))
            return protocol.parse_order(data, self._catalog, broker=self.broker, instrument=ref.instrument)
        except OrderNotFound:
            pass  # not pending: filled, cancelled and rejected orders are in the history
        found = await self._in_history(order_id, await self._history_ticker(ref))
        if found is not None and ref.instrument is not None:
            found = attrs.evolve(found, instrument=ref.instrument)
        return found

    def _matches(self, order: Order, intent: Intent, claimed: set[str]) -> bool:
        if order.broker_order_id in claimed or order.type is not intent.type:
            return False
        ticker = order.instrument.broker_ids.get(self.broker)
        if ticker != intent.ticker:
            return False
        signed = order.qty if order.side.value == "buy" else -(order.qty or 0)
        if signed != intent.quantity:
            return False
        if intent.limit_price is not None and order.limit_price != intent.limit_price:
            return False
        if intent.stop_price is not None and order.stop_price != intent.stop_price:
            return False
        created = order.created_at
        return created is None or intent.sent_at - MATCH_BEFORE <= created <= intent.sent_at + MATCH_AFTER

    async def _match(self, coid: str, intent: Intent) -> Order | None:
        """The order this process sent as ``coid``, found among active orders, then the history."""
        active = protocol.parse_orders(await self.http.call(protocol.list_orders()), self._catalog,
                                       broker=self.broker)
        # Claims are read after every await: a twin sent meanwhile may have been bound while we waited.
        candidates = [o for o in active if self._matches(o, intent, self._claimed(coid))]
        if not candidates:
            def older(order: Order) -> bool:
                return order.created_at is not None and order.created_at < intent.sent_at - MATCH_BEFORE

            async for order, _ in self._history(intent.ticker, stop=older):
                if self._matches(order, intent, set()):
                    candidates.append(order)
            claimed = self._claimed(coid)
            candidates = [o for o in candidates if o.broker_order_id not in claimed]
        if not candidates:
            return None
        twins = [other for other, sent in self._sending.items() if other != coid and _twin(sent, intent)]
        if twins:
            # An identical order of ours is still on its way: the order found may be its, and only its
            # answer will tell. Cannot tell yet; the lookup (or the reconcile at start) comes back later.
            raise BrokerUnavailable(f"cannot tell {coid!r} from an identical order still being sent",
                                    broker=self.broker)
        # The earliest match after the send is ours; later twins would be other sends.
        candidates.sort(key=lambda o: (o.created_at is None, o.created_at, int(o.broker_order_id)))
        chosen = candidates[0]
        self._bind(coid, chosen.broker_order_id)
        self.logger.info("%s: order %s found as Trading 212 order %s (%s)", self.broker, coid,
                         chosen.broker_order_id, MATCH_NOTE)
        return attrs.evolve(chosen, raw_status=f"{chosen.raw_status} ({MATCH_NOTE})")

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        order_id = self._known_id(ref)
        if order_id is None:
            found = await self.get_order(ref)
            if found is None:
                raise OrderNotFound(f"no order matches {ref.client_order_id!r}", broker=self.broker)
            order_id = found.broker_order_id
        data = await self.http.call(protocol.cancel_order(order_id))
        if data:
            return protocol.parse_order(data, self._catalog, broker=self.broker, instrument=ref.instrument)
        return None

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        ticker = await self.ticker(filter.instrument) if filter.instrument is not None else None
        orders: list[Order] = []
        if filter.status in ("open", "all"):
            active = protocol.parse_orders(await self.http.call(protocol.list_orders()), self._catalog,
                                           broker=self.broker)
            orders += [o for o in active if ticker is None or o.instrument.broker_ids.get(self.broker) == ticker]
        if filter.status in ("closed", "all"):
            def done(order: Order) -> bool:
                return filter.since is not None and order.created_at is not None and order.created_at < filter.since

            async for order, _ in self._history(ticker, stop=done, limit=filter.limit):
                if order.status.is_final and not done(order):
                    orders.append(order)
        if filter.since is not None:
            orders = [o for o in orders if o.created_at is None or o.created_at >= filter.since]
        orders.sort(key=lambda o: (o.created_at is not None, o.created_at), reverse=True)
        return orders[:filter.limit]

    async def list_fills(self, since: datetime | None, instrument: Instrument | None) -> list[Fill]:
        ticker = await self.ticker(instrument) if instrument is not None else None
        fills: list[Fill] = []

        def older(order: Order) -> bool:
            return since is not None and order.created_at is not None and order.created_at < since

        async for order, fill in self._history(ticker, stop=older):
            if fill is not None and (since is None or fill.timestamp >= since):
                fills.append(fill if instrument is None else attrs.evolve(fill, instrument=instrument))
        fills.sort(key=lambda f: f.timestamp)
        return fills

    # ----------------------------------------------------------------------------- market data

    async def quote(self, instrument: Instrument) -> Quote:
        raise NotSupported("quotes", "Trading 212's API has no quotes or market data", broker=self.broker,
                           hint="route quotes to another broker (orch picks one that has them); the only price "
                                "Trading 212 gives is a held position's currentPrice")


def _twin(a: Intent, b: Intent) -> bool:
    return (a.ticker, a.quantity, a.type, a.limit_price, a.stop_price) == (
        b.ticker, b.quantity, b.type, b.limit_price, b.stop_price)


def protocol_session(conn: Trading212Connection, context: ConnectContext,
                     http_transport: httpx.AsyncBaseTransport | None, wall_clock: Callable[[], float]) -> Any:
    from orch_trading212.transport import HttpSession

    return HttpSession(base_url=conn.base_url, credentials=conn.credentials, limiter=context.limiter,
                       timeout=float(conn.settings.timeout_seconds), broker=conn.broker,
                       transport=http_transport, wall_clock=wall_clock)


__all__ = ["DEMO_URL", "Intent", "MATCH_NOTE", "Trading212Connection"]
