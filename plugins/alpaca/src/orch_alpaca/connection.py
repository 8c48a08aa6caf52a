"""One connected Alpaca account: each operation composes the local rules, the symbol mapping, a request
from :mod:`orch_alpaca.protocol`, the transport and the parser. The hooks in :mod:`orch_alpaca.plugin`
call these methods and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
import httpx

from orch.context import ConnectContext
from orch.errors import (BrokerUnavailable, ConfigError, NotSupported, OrderNotFound, ProtocolError,
                         UnknownInstrument)
from orch.models import (Account, Fill, Instrument, Market, Order, OrderFilter, OrderRef, OrderRequest, Position,
                         Quote, to_decimal)
from orch.settings import unset_secrets

from orch_alpaca import protocol, rules, streams, symbols
from orch_alpaca.protocol import Credentials
from orch_alpaca.settings import AlpacaSettings, resolve_endpoints
from orch_alpaca.transport import (BackgroundStream, Connector, HttpSession, StreamPolicy, market_data_limiter,
                                   open_websocket, run_stream)

FILL_PAGE = 100
MAX_FILL_PAGES = 50


class AlpacaConnection:
    """What ``orch_connect`` returns. ``http_transport`` and ``ws_connect`` let tests and simulators swap
    the wire (httpx.MockTransport, in-memory websockets) without touching anything else."""

    def __init__(self, settings: AlpacaSettings, context: ConnectContext, *,
                 http_transport: httpx.AsyncBaseTransport | None = None, ws_connect: Connector = open_websocket,
                 wall_clock: Callable[[], float] = time.time, stream_policy: StreamPolicy | None = None) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        missing = unset_secrets(settings)
        if missing:
            from orch.config import env_var_name

            raise ConfigError("is not set", path=f"brokers.{self.broker}.{missing[0]}",
                              hint=f"set it in the config or {env_var_name(self.broker, missing[0])}")
        self.endpoints = resolve_endpoints(settings, live=context.live, broker=self.broker)
        self.credentials = Credentials(settings.api_key, settings.secret_key)
        self.http = HttpSession(trading_url=self.endpoints.trading, data_url=self.endpoints.data,
                                credentials=self.credentials, limiter=context.limiter,
                                timeout=float(settings.timeout_seconds), broker=self.broker,
                                transport=http_transport, wall_clock=wall_clock,
                                data_limiter=market_data_limiter(
                                    context.limiter, settings.market_data.requests_per_minute))
        self._nursery = context.nursery
        self._ws_connect = ws_connect
        silence = float(settings.stream_silence_seconds)
        self.stream_policy = stream_policy or StreamPolicy(silence=silence, probe=min(10.0, silence))

    def __repr__(self) -> str:
        mode = "paper" if self.endpoints.paper else "LIVE"
        return f"<AlpacaConnection {self.broker} {mode} {self.endpoints.trading}>"

    async def open(self) -> AlpacaConnection:
        """Prove the keys work (AuthError otherwise) before anything else is attempted."""
        await self.account()
        return self

    async def aclose(self) -> None:
        await self.http.aclose()

    # ----------------------------------------------------------------------------- account

    async def account(self) -> Account:
        data = await self.http.call(protocol.get_account())
        return protocol.parse_account(data, paper=self.endpoints.paper, broker=self.broker)

    async def positions(self) -> list[Position]:
        return protocol.parse_positions(await self.http.call(protocol.list_positions()), broker=self.broker)

    # ----------------------------------------------------------------------------- orders

    def _symbol(self, instrument: Instrument) -> str:
        return symbols.to_alpaca(instrument, broker=self.broker)

    async def place_order(self, request: OrderRequest) -> Order:
        symbol = self._symbol(request.instrument)
        rules.check_order(request, self.settings, crypto=symbols.is_crypto_symbol(symbol), broker=self.broker)
        data = await self.http.call(protocol.create_order(request, symbol))
        try:
            return protocol.parse_order(data or {}, broker=self.broker, instrument=request.instrument)
        except ProtocolError as exc:
            # Alpaca accepted the order (2xx) but its answer is unreadable: the order exists, so this is
            # an unknown outcome for the journal to look up, never a rejection.
            raise BrokerUnavailable(f"order accepted but its answer was unreadable ({exc.message})",
                                    broker=self.broker) from exc

    async def _order_id(self, ref: OrderRef) -> str:
        if ref.broker_order_id is not None:
            return ref.broker_order_id
        order = await self._fetch(ref)
        return order.broker_order_id

    async def _fetch(self, ref: OrderRef) -> Order:
        if ref.broker_order_id is not None:
            request = protocol.get_order(ref.broker_order_id)
        else:
            request = protocol.get_order_by_client_id(ref.client_order_id)
        return protocol.parse_order(await self.http.call(request), broker=self.broker)

    async def get_order(self, ref: OrderRef) -> Order | None:
        try:
            return await self._fetch(ref)
        except OrderNotFound:
            return None

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        data = await self.http.call(protocol.cancel_order(await self._order_id(ref)))
        return None if data is None else protocol.parse_order(data, broker=self.broker)

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        request = protocol.list_orders(status=filter.status, limit=filter.limit, after=filter.since,
                                       symbols_=[self._symbol(filter.instrument)] if filter.instrument else ())
        return protocol.parse_orders(await self.http.call(request), broker=self.broker)

    async def replace_order(self, ref: OrderRef, qty: Any, limit_price: Any, stop_price: Any) -> Order:
        new = {name: None if value is None else to_decimal(value)
               for name, value in (("qty", qty), ("limit_price", limit_price), ("stop_price", stop_price))}
        crypto = None if ref.instrument is None else ref.instrument.market is Market.CRYPTO
        rules.check_replace(**new, settings=self.settings, crypto=crypto, broker=self.broker)
        data = await self.http.call(protocol.replace_order(await self._order_id(ref), **new))
        return protocol.parse_order(data, broker=self.broker)

    async def list_fills(self, since: datetime | None, instrument: Instrument | None) -> list[Fill]:
        wanted = symbols.compact(self._symbol(instrument)) if instrument is not None else None
        fills: list[Fill] = []
        token = None
        for _ in range(MAX_FILL_PAGES):
            page = await self.http.call(protocol.list_fill_activities(after=since, page_size=FILL_PAGE,
                                                                      page_token=token))
            if not isinstance(page, list):
                raise ProtocolError("expected a list of activities", broker=self.broker)
            for fill in protocol.parse_fill_activities(page, broker=self.broker):
                if wanted is None:
                    fills.append(fill)
                elif symbols.compact(fill.instrument.symbol) == wanted:
                    fills.append(attrs.evolve(fill, instrument=instrument))
            token = page[-1].get("id") if page else None
            if len(page) < FILL_PAGE or not token:
                break
        return fills

    # ----------------------------------------------------------------------------- market data

    def _require_subscription(self, crypto: bool) -> None:
        kind = "crypto" if crypto else "stocks"
        if not getattr(self.settings.market_data.subscription, kind):
            raise NotSupported(f"market_data.{kind}",
                               f"brokers.{self.broker}.market_data.subscription.{kind} is false",
                               broker=self.broker)

    async def quote(self, instrument: Instrument) -> Quote:
        symbol = self._symbol(instrument)
        crypto = symbols.is_crypto_symbol(symbol)
        self._require_subscription(crypto)
        feed = self.settings.market_data.data_feed
        if crypto:
            quotes, trades = protocol.latest_crypto_quotes([symbol]), protocol.latest_crypto_trades([symbol])
        else:
            quotes = protocol.latest_stock_quotes([symbol], feed=feed)
            trades = protocol.latest_stock_trades([symbol], feed=feed)
        quote = protocol.parse_latest_quote(await self.http.call(quotes), symbol, instrument, broker=self.broker,
                                            delayed=not crypto and feed == "delayed_sip")
        if quote.bid is None or quote.ask is None:
            # An empty book side (market closed) leaves only the last trade to price with.
            try:
                answer = await self.http.call(trades)
                last, _ = protocol.parse_latest_trade_price(answer, symbol, broker=self.broker)
            except UnknownInstrument:
                last = None
            quote = attrs.evolve(quote, last=last)
        return quote

    # ----------------------------------------------------------------------------- streams

    def stream_quotes(self, instruments: Sequence[Instrument]) -> BackgroundStream:
        if not self.settings.market_data.real_time_streaming:
            raise NotSupported("stream_quotes",
                               f"brokers.{self.broker}.market_data.real_time_streaming is false",
                               broker=self.broker)
        groups: dict[bool, dict[str, Instrument]] = {}
        for instrument in instruments:
            symbol = self._symbol(instrument)
            groups.setdefault(symbols.is_crypto_symbol(symbol), {})[symbol] = instrument
        for crypto in groups:
            self._require_subscription(crypto)
        delayed = self.settings.market_data.data_feed == "delayed_sip"
        runners = []
        for crypto, mapping in groups.items():
            url = self.endpoints.crypto_stream if crypto else self.endpoints.stock_stream
            runners.append(self._market_runner(url, mapping, delayed=delayed and not crypto))
        return BackgroundStream(self._nursery, runners, lossy=True, name=f"{self.broker} quotes",
                                logger=self.logger)

    def _market_runner(self, url: str, mapping: dict[str, Instrument], *, delayed: bool):
        def session() -> streams.MarketDataSession:
            return streams.MarketDataSession(self.credentials, mapping, broker=self.broker, delayed=delayed)

        async def runner(deliver) -> None:
            async def pick(item: Any) -> None:
                if isinstance(item, streams.Subscribed):
                    if item.missing:
                        self.logger.warning("%s: no market data subscription for %s", self.broker,
                                            ", ".join(item.missing))
                else:
                    await deliver(item)

            await run_stream(url, session, pick, connect=self._ws_connect, policy=self.stream_policy,
                             broker=self.broker, logger=self.logger)

        return runner

    def trade_updates(self) -> BackgroundStream:
        """Every trade_updates event (order state plus, for fills, the execution)."""

        async def runner(deliver) -> None:
            await run_stream(self.endpoints.trade_stream,
                             lambda: streams.TradeUpdatesSession(self.credentials, broker=self.broker), deliver,
                             connect=self._ws_connect, policy=self.stream_policy, broker=self.broker,
                             logger=self.logger)

        return BackgroundStream(self._nursery, [runner], name=f"{self.broker} trade_updates", logger=self.logger)
