"""One connected Binance Spot account: each operation composes the symbol rules (exchangeInfo, cached),
the local refusals of :mod:`orch_binance.rules`, a request from :mod:`orch_binance.protocol`, the transport
and the parser. The hooks in :mod:`orch_binance.plugin` call these methods and nothing else.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
import httpx
import trio

from orch.context import ConnectContext
from orch.errors import (BrokerUnavailable, ConfigError, InvalidOrder, NotSupported, OrderNotFound, ProtocolError,
                         UnknownInstrument)
from orch.models import (Account, Fill, Instrument, Order, OrderClass, OrderFilter, OrderRef, OrderRequest,
                         OrderType, Position, Quote)
from orch.settings import unset_secrets

from orch_binance import filters, protocol, rules, streams
from orch_binance.filters import SymbolRules
from orch_binance.protocol import Credentials
from orch_binance.settings import BinanceSettings, resolve_endpoints
from orch_binance.transport import HttpSession
from orch_binance.wsclient import BackgroundStream, Connector, StreamPolicy, open_websocket, run_stream


class BinanceConnection:
    """What ``orch_connect`` returns. ``http_transport`` lets tests swap the wire; ``wall_clock`` stamps
    signed requests (epoch seconds)."""

    def __init__(self, settings: BinanceSettings, context: ConnectContext, *,
                 http_transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time, ws_connect: Connector | None = None,
                 stream_policy: StreamPolicy | None = None) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        missing = unset_secrets(settings)
        if missing:
            from orch.config import env_var_name

            raise ConfigError("is not set", path=f"brokers.{self.broker}.{missing[0]}",
                              hint=f"set it in the config or {env_var_name(self.broker, missing[0])}")
        self.endpoints = resolve_endpoints(settings, live=context.live, broker=self.broker)
        for notice in self.endpoints.notices:
            self.logger.warning("%s: %s", self.broker, notice)
        self.credentials = Credentials(settings.api_key, settings.secret_key)
        self.http = HttpSession(base_url=self.endpoints.rest, credentials=self.credentials, limiter=context.limiter,
                                timeout=float(settings.timeout_seconds), recv_window=settings.recv_window,
                                broker=self.broker, transport=http_transport, wall_clock=wall_clock)
        self._nursery = context.nursery
        self._limiter = context.limiter
        self._ws_connect = ws_connect or open_websocket
        silence = float(settings.stream_silence_seconds)
        self.stream_policy = stream_policy or StreamPolicy(silence=silence, probe=min(10.0, silence))
        self._wall_clock = wall_clock
        self._rules: dict[str, SymbolRules] = {}
        self._rules_at: float | None = None
        self._ttl = float(settings.exchange_info_ttl_minutes) * 60
        quotes = settings.symbols.spot_trading.quote_assets
        self.home = quotes[0] if quotes else "USDT"
        self._symbols: dict[str, Instrument] = {}
        for symbol in settings.market_data.streaming.symbols:
            self._symbols[symbol.upper()] = protocol.instrument_for(symbol.upper())

    def __repr__(self) -> str:
        mode = "testnet" if self.endpoints.testnet else "LIVE"
        return f"<BinanceConnection {self.broker} {mode} {self.endpoints.rest}>"

    async def open(self) -> BinanceConnection:
        """Measure the server clock, then prove the keys work (AuthError otherwise)."""
        await self.http.sync_time()
        await self.account()
        await self.load_exchange_info()
        return self

    async def aclose(self) -> None:
        await self.http.aclose()

    # ----------------------------------------------------------------------------- symbols and filters

    def symbol(self, instrument: Instrument) -> str:
        symbol = rules.to_symbol(instrument, broker=self.broker)
        self._symbols.setdefault(symbol, instrument)
        return symbol

    async def load_exchange_info(self) -> dict[str, SymbolRules]:
        """Every symbol's filters (one request of weight 20), kept for ``exchange_info_ttl_minutes``: with
        them, bad quantities and unknown symbols are refused before anything is sent."""
        data = await self.http.call(protocol.exchange_info())
        if not isinstance(data, dict):
            raise ProtocolError("exchangeInfo is not an object", broker=self.broker)
        self._adopt_limits(data)
        self._rules = filters.parse_exchange_info(data)
        self._rules_at = trio.current_time()
        return self._rules

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        """The symbol's filters; UnknownInstrument for a symbol Binance does not list."""
        if self._rules_at is None or trio.current_time() - self._rules_at >= self._ttl:
            await self.load_exchange_info()
        found = self._rules.get(symbol)
        if found is None:
            raise UnknownInstrument(f"{symbol!r} is not listed by Binance", broker=self.broker)
        return found

    async def _listed(self, symbol: str) -> bool:
        try:
            await self.symbol_rules(symbol)
        except UnknownInstrument:
            return False
        return True

    def _adopt_limits(self, data: dict[str, Any]) -> None:
        """Binance's own figures: its order limits become the orders budget's, and a request-weight limit
        below the configured one is adopted (a higher one is the operator's choice to ignore)."""
        ten_seconds = day = None
        for limit in data.get("rateLimits") or ():
            try:
                kind, interval, number, value = (limit["rateLimitType"], limit["interval"], int(limit["intervalNum"]),
                                                 int(limit["limit"]))
            except (KeyError, TypeError, ValueError):
                continue
            if value <= 0:
                continue
            if kind == "ORDERS" and interval == "SECOND" and number == 10:
                ten_seconds = value
            elif kind == "ORDERS" and interval == "DAY" and number == 1:
                day = value
            elif kind == "REQUEST_WEIGHT" and interval == "MINUTE" and number == 1:
                observe = getattr(self._limiter, "observe", None)
                rules = getattr(self._limiter, "rules", ())
                if observe is not None and rules and rules[0].name == "weight":
                    observe(limit=value, rule="weight")
        self.http.set_order_limits(ten_seconds, day)

    # ----------------------------------------------------------------------------- account

    async def account(self) -> Account:
        data = await self.http.call(protocol.account())
        return protocol.parse_account(data, testnet=self.endpoints.testnet, home=self.home, broker=self.broker)

    async def positions(self) -> list[Position]:
        return protocol.positions_from_account(await self.account(), home=self.home, broker=self.broker)

    # ----------------------------------------------------------------------------- orders

    async def place_order(self, request: OrderRequest) -> Order:
        rules.check_capabilities(request, self.settings, broker=self.broker)
        symbol = self.symbol(request.instrument)
        symbol_rules = await self.symbol_rules(symbol)
        # Every local check first: a refused order costs no request at all.
        kind, params = rules.order_params(request, symbol_rules, self.settings, broker=self.broker)
        if request.type in (OrderType.STOP, OrderType.STOP_LIMIT) and request.order_class is OrderClass.SIMPLE:
            # Which of Binance's trigger types this is depends on where the market is now (weight 2).
            last = protocol.parse_price(await self.http.call(protocol.ticker_price(symbol)), broker=self.broker)
            if rules.is_take_profit(request, last):
                rules.check_toggle("take_profit", self.settings, broker=self.broker)
                kind, params = rules.order_params(request, symbol_rules, self.settings, broker=self.broker,
                                                  take_profit=True)
        call = protocol.new_order(params) if kind == "order" else protocol.new_oco(params)
        data = await self.http.call(call)
        try:
            if kind == "oco":
                return protocol.parse_order_list(data or {}, broker=self.broker, instrument=request.instrument)
            return protocol.parse_order(data or {}, broker=self.broker, instrument=request.instrument)
        except ProtocolError as exc:
            raise BrokerUnavailable(f"order accepted but its answer was unreadable ({exc.message})",
                                    broker=self.broker) from exc

    def _ref_symbol(self, ref: OrderRef) -> tuple[str, Instrument]:
        if ref.instrument is None:
            raise InvalidOrder(f"{self.broker}: Binance needs the order's symbol to look it up or cancel it "
                               "(give the instrument)")
        return self.symbol(ref.instrument), ref.instrument

    async def get_order(self, ref: OrderRef) -> Order | None:
        symbol, instrument = self._ref_symbol(ref)
        if not await self._listed(symbol):
            return None  # no order can exist for a symbol Binance does not list
        # With both ids Binance finds the order by orderId and refuses (-2013) unless the client id matches:
        # an orderId of some other order can never be taken for ours.
        request = protocol.query_order(symbol, order_id=ref.broker_order_id, client_order_id=ref.client_order_id)
        try:
            data = await self.http.call(request)
        except (OrderNotFound, UnknownInstrument):
            return None
        return protocol.parse_order(data, broker=self.broker, instrument=instrument)

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        symbol, instrument = self._ref_symbol(ref)
        data = await self.http.call(protocol.cancel_order(symbol, order_id=ref.broker_order_id,
                                                          client_order_id=ref.client_order_id))
        return None if data is None else protocol.parse_order(data, broker=self.broker, instrument=instrument)

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        if filter.status == "open":
            symbol = self.symbol(filter.instrument) if filter.instrument else None
            data = await self.http.call(protocol.open_orders(symbol))
            orders = protocol.parse_orders(data, broker=self.broker, instruments=self._symbols)
        else:
            start = None if filter.since is None else int(filter.since.timestamp() * 1000)
            wanted = [self.symbol(filter.instrument)] if filter.instrument else sorted(self._symbols)
            orders = []
            for symbol in wanted:
                data = await self.http.call(protocol.all_orders(symbol, start_time=start, limit=filter.limit))
                orders += protocol.parse_orders(data, broker=self.broker, instruments=self._symbols)
            if filter.status == "closed":
                orders = [o for o in orders if o.status.is_final]
        orders.sort(key=lambda o: o.created_at.timestamp() if o.created_at else 0, reverse=True)
        return orders[: filter.limit]

    async def list_fills(self, since: datetime | None, instrument: Instrument | None) -> list[Fill]:
        """myTrades of ``instrument``, or of every symbol this connection knows (the config's streaming
        symbols and those traded since connecting): Binance has no account-wide trade list."""
        start = None if since is None else int(since.timestamp() * 1000)
        wanted = {self.symbol(instrument): instrument} if instrument else dict(self._symbols)
        fills: list[Fill] = []
        for symbol, inst in sorted(wanted.items()):
            data = await self.http.call(protocol.my_trades(symbol, start_time=start))
            fills += protocol.parse_trades(data, inst, broker=self.broker)
        return sorted(fills, key=lambda f: f.timestamp)

    # ----------------------------------------------------------------------------- market data

    async def quote(self, instrument: Instrument) -> Quote:
        """One ``ticker/24hr`` call: best bid/ask, the last price and the server's time (``closeTime``)."""
        symbol = self.symbol(instrument)
        await self.symbol_rules(symbol)
        data = await self.http.call(protocol.ticker_24hr(symbol))
        return protocol.parse_ticker_24hr(data, instrument, broker=self.broker)

    async def book_ticker(self, instrument: Instrument) -> dict[str, Any]:
        return await self.http.call(protocol.book_ticker(self.symbol(instrument)))

    async def ticker_price(self, instrument: Instrument) -> dict[str, Any]:
        return await self.http.call(protocol.ticker_price(self.symbol(instrument)))

    # ----------------------------------------------------------------------------- streams

    def stream_market(self, instruments: Sequence[Instrument], *, quotes_only: bool = False) -> BackgroundStream:
        """bookTicker, trade and kline (at ``market_data.streaming.intervals``) for ``instruments``, on one
        combined-stream connection that reconnects, resubscribes and reports gaps. Items are Quotes,
        Klines and Gaps (only Quotes with ``quotes_only``)."""
        if not self.settings.market_data.streaming.enabled:
            raise NotSupported("stream_quotes", f"brokers.{self.broker}.market_data.streaming.enabled is false",
                               broker=self.broker)
        mapping = {self.symbol(i): i for i in instruments}
        # Klines are subscribed even for quotes alone: bookTicker carries no time, and a kline (every 2 s) gives
        # the server's clock to stamp quotes with on a symbol that trades rarely.
        intervals = tuple(self.settings.market_data.streaming.intervals) or ("1m",)
        url = f"{self.endpoints.stream}/ws"

        async def runner(deliver: Any) -> None:
            await run_stream(url, lambda: streams.MarketStreamSession(mapping, intervals=intervals, broker=self.broker),
                             deliver, connect=self._ws_connect, policy=self.stream_policy, broker=self.broker,
                             logger=self.logger)

        accept = (lambda item: isinstance(item, Quote)) if quotes_only else (lambda item: True)
        return BackgroundStream(self._nursery, [runner], lossy=True, name=f"{self.broker} market streams",
                                logger=self.logger, accept=accept)

    def stream_quotes(self, instruments: Sequence[Instrument]) -> BackgroundStream:
        return self.stream_market(instruments, quotes_only=True)

    def user_data(self) -> BackgroundStream:
        """executionReport events from the WebSocket API user data stream (``userDataStream.subscribe.
        signature``; the REST listenKey endpoints were retired in February 2026)."""

        def session() -> streams.UserDataSession:
            return streams.UserDataSession(self.credentials, timestamp_ms=lambda: self.http.clock.timestamp(
                int(self._wall_clock() * 1000)), recv_window=self.settings.recv_window, broker=self.broker,
                instruments=self._symbols)

        limiter, connect = self._limiter, self._ws_connect

        @asynccontextmanager
        async def charged(url: str) -> Any:
            await limiter.acquire(2)  # userDataStream.subscribe.signature weighs 2, like any request
            async with connect(url) as ws:
                yield ws

        async def runner(deliver: Any) -> None:
            await run_stream(self.endpoints.ws_api, session, deliver, connect=charged,
                             policy=attrs.evolve(self.stream_policy, silence=max(self.stream_policy.silence, 60.0)),
                             broker=self.broker, logger=self.logger)

        return BackgroundStream(self._nursery, [runner], name=f"{self.broker} user data", logger=self.logger,
                                accept=lambda item: isinstance(item, streams.ExecutionReport))
