"""One connected Trade Republic account: each operation composes the local rules, the instrument
mapping (ticker → ISIN and venue), a subscription from :mod:`.protocol`, the transport and the parser.
The hooks in :mod:`.plugin` call these methods and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any


import httpx
import trio
from attrs import frozen

from orch.context import ConnectContext
from orch.errors import (AuthError, BrokerUnavailable, ConfigError, LiveTradingRefused, OrderNotFound,
                         ProtocolError, UnknownInstrument)
from orch.models import Account, Balance, Instrument, Order, OrderFilter, OrderRef, OrderRequest, Position, Quote
from orch.streaming import BackgroundStream

from orch_trade_republic import auth, protocol, rules
from orch_trade_republic.frames import Answer
from orch_trade_republic.session import Prompter, SessionManager, default_prompter
from orch_trade_republic.settings import EXCHANGES, TradeRepublicSettings
from orch_trade_republic.transport import (Connector, HttpSession, RequestSocket, StreamPolicy, open_websocket,
                                           run_stream)

MAX_CANDIDATES = 5


@frozen
class Resolved:
    isin: str
    exchange: str
    ticker: str
    name: str


class TradeRepublicConnection:
    """What ``orch_connect`` returns. ``http_transport``, ``ws_connect`` and ``prompter`` let tests swap
    the wire and the user."""

    def __init__(self, settings: TradeRepublicSettings, context: ConnectContext, *,
                 http_transport: httpx.AsyncBaseTransport | None = None, ws_connect: Connector = open_websocket,
                 prompter: Prompter | None = None, wall_clock: Callable[[], float] = time.time,
                 stream_policy: StreamPolicy | None = None) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        for name in ("username", "pin"):
            if not getattr(settings, name).is_set:
                from orch.config import env_var_name

                raise ConfigError("is not set", path=f"brokers.{self.broker}.{name}",
                                  hint=f"set it in the config or {env_var_name(self.broker, name)}")
        if not settings.simulator and not context.live:
            # Trade Republic has no paper account: anything but a loopback simulator is real money.
            raise LiveTradingRefused(f"brokers.{self.broker} points at Trade Republic itself ({settings.api_url}): "
                                     "real money, and the command has no --live",
                                     hint="add --live, or point api_url/ws_url at a simulator on loopback")
        timeout = float(settings.timeout_seconds)
        self.http = HttpSession(settings.api_url, limiter=context.limiter, timeout=timeout, broker=self.broker,
                                transport=http_transport, wall_clock=wall_clock)
        self.session = SessionManager(settings, self.http, broker=self.broker, logger=self.logger,
                                      prompter=prompter or default_prompter(self.logger), wall_clock=wall_clock)
        self._nursery = context.nursery
        self._ws_connect = ws_connect
        self.socket = RequestSocket(settings.ws_url, headers=self.session.ws_headers, locale=settings.locale,
                                    limiter=context.limiter, nursery=context.nursery, timeout=timeout,
                                    broker=self.broker, connect=ws_connect, logger=self.logger)
        silence = float(settings.stream_silence_seconds)
        self.stream_policy = stream_policy or StreamPolicy(silence=silence, probe=min(10.0, silence))
        self.sec_acc_no: str | None = None
        self._resolved: dict[tuple[str, str | None], Resolved] = {}
        self._infos: dict[str, protocol.InstrumentInfo] = {}
        self._tickers: dict[str, str] = {}  # ISIN -> ticker
        self._client_ids: dict[str, str] = {}  # clientProcessId -> orch client order id
        self._keepalive = trio.CancelScope()
        self._reauth_lock = trio.Lock()

    def __repr__(self) -> str:
        mode = "simulator" if self.settings.simulator else "LIVE"
        return f"<TradeRepublicConnection {self.broker} {mode} {self.settings.api_url}>"

    @property
    def simulated(self) -> bool:
        return self.settings.simulator

    async def open(self) -> TradeRepublicConnection:
        if not self.simulated:
            from orch_trade_republic.plugin import RISK_NOTICE

            self.logger.warning("%s (UNOFFICIAL, LIVE): %s", self.broker, RISK_NOTICE)
        await self.session.open()
        data, _ = await self.http.call(auth.account(), self.session.cookies())
        self.sec_acc_no = auth.parse_account(data, broker=self.broker)
        self._nursery.start_soon(self._keep_alive)
        return self

    async def _keep_alive(self) -> None:
        with self._keepalive:
            await self.session.keep_alive()

    async def aclose(self) -> None:
        self._keepalive.cancel()
        await self.socket.aclose()
        await self.http.aclose()

    async def _reauthenticate(self) -> None:
        async with self._reauth_lock:
            try:
                await self.session.refresh()
            except AuthError:
                await self.session.login()
            self.socket.reset()

    async def _request(self, payload: Mapping[str, Any], topic: str, *, order: bool = False) -> Any:
        try:
            return await self.socket.request(payload, topic=topic, order=order)
        except AuthError:
            if order:
                raise  # never resend an order: the caller decides after looking it up
            await self._reauthenticate()
            return await self.socket.request(payload, topic=topic, order=order)

    # ----------------------------------------------------------------------------- instruments

    async def instrument_info(self, isin: str) -> protocol.InstrumentInfo:
        info = self._infos.get(isin)
        if info is None:
            info = protocol.parse_instrument(await self._request(protocol.instrument(isin), "instrument"),
                                             broker=self.broker)
            self._infos[isin] = info
        return info

    async def resolve(self, instrument: Instrument) -> Resolved:
        """ISIN and venue for ``instrument``: ``broker_ids['trade_republic']`` (``ISIN`` or ``ISIN.VENUE``)
        wins, an ISIN as the symbol is taken as is, and a ticker is looked up with Trade Republic's search
        (cached). The venue is the instrument's own (a Trade Republic venue it must be active on), else
        ``default_exchange`` when active, else the first active one."""
        explicit = instrument.broker_ids.get(self.broker)
        wanted = instrument.exchange.upper() if instrument.exchange and instrument.exchange.upper() in EXCHANGES \
            else None
        key = (explicit or instrument.symbol.strip().upper(), wanted)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        if explicit:
            isin, _, venue = explicit.strip().upper().partition(".")
            wanted = venue or wanted
        else:
            isin = instrument.symbol.strip().upper()
        if protocol.ISIN.match(isin):
            info = await self.instrument_info(isin)
        else:
            info = await self._search(instrument.symbol)
        venues = info.active_venues()
        if wanted is not None:
            if wanted not in venues:
                raise UnknownInstrument(f"{instrument.symbol!r} ({info.isin}) is not active on {wanted} "
                                        f"(active: {', '.join(venues) or 'none'})", broker=self.broker)
            exchange = wanted
        elif self.settings.default_exchange in venues:
            exchange = self.settings.default_exchange
        elif venues:
            exchange = venues[0]
        else:
            raise UnknownInstrument(f"{instrument.symbol!r} ({info.isin}) is not tradable on any venue",
                                    broker=self.broker)
        ticker = info.symbol(exchange) or (instrument.symbol if not protocol.ISIN.match(instrument.symbol) else
                                           info.symbol() or info.isin)
        resolved = Resolved(info.isin, exchange, ticker, info.name)
        self._resolved[key] = resolved
        self._tickers.setdefault(info.isin, ticker if not protocol.ISIN.match(instrument.symbol) else ticker)
        return resolved

    async def _search(self, ticker: str) -> protocol.InstrumentInfo:
        results = protocol.parse_search(await self._request(protocol.search(ticker), "neonSearch"), broker=self.broker)
        for isin, _name in results[:MAX_CANDIDATES]:
            info = await self.instrument_info(isin)
            if info.known_as(ticker):
                return info
        raise UnknownInstrument(f"{ticker!r}: Trade Republic lists no instrument with this ticker",
                                broker=self.broker, hint="use the ISIN as the symbol")

    async def instrument_for(self, isin: str) -> Instrument:
        ticker = self._tickers.get(isin)
        exchange = self.settings.default_exchange
        if ticker is None:
            try:
                info = await self.instrument_info(isin)
                ticker = info.symbol(exchange) or info.symbol() or isin
            except UnknownInstrument:
                ticker = isin
            self._tickers[isin] = ticker
        return Instrument(ticker, protocol.market_of(isin), currency="EUR", exchange=exchange,
                          broker_ids={self.broker: isin})

    # ----------------------------------------------------------------------------- quotes

    async def quote(self, instrument: Instrument) -> Quote:
        r = await self.resolve(instrument)
        data = await self._request(protocol.ticker(r.isin, r.exchange), "ticker")
        return protocol.parse_ticker(data, instrument, broker=self.broker)

    def stream_quotes(self, instruments: Sequence[Instrument]) -> BackgroundStream:
        async def runner(deliver) -> None:
            subscriptions = []
            for instrument in instruments:
                r = await self.resolve(instrument)
                subscriptions.append((protocol.ticker(r.isin, r.exchange), instrument))

            async def on_answer(instrument: Instrument, answer: Answer) -> None:
                await deliver(protocol.parse_ticker(answer.data, instrument, broker=self.broker))

            await run_stream(self.settings.ws_url, self.session.ws_headers, subscriptions, on_answer,
                             locale=self.settings.locale, connect=self._ws_connect, policy=self.stream_policy,
                             broker=self.broker, logger=self.logger, on_auth_error=self._reauthenticate)

        return BackgroundStream(self._nursery, [runner], lossy=True, name=f"{self.broker} quotes")

    # ----------------------------------------------------------------------------- account

    async def _price(self, isin: str, exchange: str) -> Decimal | None:
        try:
            data = await self._request(protocol.ticker(isin, exchange), "ticker")
        except UnknownInstrument:
            return None
        quote = protocol.parse_ticker(data, Instrument(isin, protocol.market_of(isin)), broker=self.broker)
        return quote.bid or quote.last

    async def positions(self) -> list[Position]:
        assert self.sec_acc_no is not None
        holdings = protocol.parse_portfolio(
            await self._request(protocol.portfolio(self.sec_acc_no), "compactPortfolioByType"), broker=self.broker)
        out = []
        for holding in holdings:
            instrument = await self.instrument_for(holding.isin)
            price = await self._price(holding.isin, instrument.exchange or self.settings.default_exchange)
            value = None if price is None else holding.qty * price
            pl = None if value is None or holding.avg_price is None else value - holding.qty * holding.avg_price
            out.append(Position(broker=self.broker, instrument=instrument, qty=holding.qty,
                                avg_price=holding.avg_price, market_value=value, unrealized_pl=pl, currency="EUR"))
        return out

    async def account(self) -> Account:
        balances = protocol.parse_cash(await self._request(protocol.cash(), "cash"), broker=self.broker)
        available = protocol.parse_cash(await self._request(protocol.available_cash(), "availableCash"),
                                        broker=self.broker)
        currency = balances[0].currency if balances else "EUR"
        cash = sum((b.amount for b in balances if b.currency == currency), Decimal(0))
        buying = sum((b.amount for b in available if b.currency == currency), Decimal(0))
        invested = sum((p.market_value or Decimal(0) for p in await self.positions()), Decimal(0))
        return Account(broker=self.broker, account_id=self.sec_acc_no or "", currency=currency, cash=cash,
                       equity=cash + invested, buying_power=buying, paper=self.simulated,
                       balances=tuple(Balance(b.currency, b.amount) for b in balances))

    # ----------------------------------------------------------------------------- orders

    async def _order(self, item: Mapping[str, Any], client_order_id: str | None = None) -> Order:
        with protocol.reading("order", broker=self.broker):
            isin = str(item["instrumentId"])
        cpid = item.get("clientProcessId")
        coid = client_order_id or (self._client_ids.get(str(cpid)) if cpid else None)
        return protocol.parse_order(item, await self.instrument_for(isin), broker=self.broker, client_order_id=coid)

    async def place_order(self, request: OrderRequest) -> Order:
        rules.check_order(request, self.settings, broker=self.broker)
        r = await self.resolve(request.instrument)
        payload = protocol.create_order(request, r.isin, r.exchange)
        self._client_ids[payload["clientProcessId"]] = request.client_order_id
        data = await self._request(payload, "simpleCreateOrder", order=True)
        try:
            order = protocol.parse_order(data, request.instrument, broker=self.broker,
                                         client_order_id=request.client_order_id)
        except ProtocolError as exc:
            # The order was taken (an A answer) but the answer is unreadable: an unknown outcome for the
            # journal to look up, never a rejection.
            raise BrokerUnavailable(f"order accepted but its answer was unreadable ({exc.message})",
                                    broker=self.broker) from exc
        return order

    async def _items(self, *, terminated: bool) -> list[Mapping[str, Any]]:
        data = await self._request(protocol.orders(terminated=terminated), "orders")
        return protocol.order_items(data, broker=self.broker)

    async def get_order(self, ref: OrderRef) -> Order | None:
        """By broker id, or by client order id through the ``clientProcessId`` derived from it. None only
        when both order lists were read and neither holds it; if the lists do not carry
        ``clientProcessId`` a client-id lookup cannot prove absence and raises BrokerUnavailable."""
        cpid = protocol.client_process_id(ref.client_order_id) if ref.client_order_id else None
        carries_cpid = False
        seen = False
        for terminated in (False, True):
            for item in await self._items(terminated=terminated):
                seen = True
                carries_cpid = carries_cpid or "clientProcessId" in item
                if ref.broker_order_id is not None:
                    if str(item.get("id")) == ref.broker_order_id:
                        return await self._order(item, ref.client_order_id)
                elif cpid is not None and item.get("clientProcessId") == cpid:
                    return await self._order(item, ref.client_order_id)
        # Empty lists prove absence too: there is no order at all the client order id could be hiding in.
        if ref.broker_order_id is None and seen and not carries_cpid:
            raise BrokerUnavailable("cannot look an order up by client order id: Trade Republic's order lists "
                                    "do not carry clientProcessId", broker=self.broker,
                                    hint="match it by instrument, side and quantity")
        return None

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        lists = {"open": (False,), "closed": (True,), "all": (False, True)}[filter.status]
        wanted = (await self.resolve(filter.instrument)).isin if filter.instrument else None
        orders = []
        for terminated in lists:
            for item in await self._items(terminated=terminated):
                if wanted is not None and item.get("instrumentId") != wanted:
                    continue
                order = await self._order(item)
                if filter.since is not None and order.created_at is not None and order.created_at < filter.since:
                    continue
                orders.append(order)
        orders.sort(key=lambda o: o.created_at.timestamp() if o.created_at else 0.0, reverse=True)
        return orders[:filter.limit]

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        order_id = ref.broker_order_id
        if order_id is None:
            found = await self.get_order(ref)
            if found is None:
                raise OrderNotFound(f"no order with client order id {ref.client_order_id!r}", broker=self.broker)
            order_id = found.broker_order_id
        data = await self._request(protocol.cancel_order(order_id), "cancelOrder")
        if isinstance(data, Mapping) and "status" in data and "instrumentId" in data:
            return await self._order(data, ref.client_order_id)
        return None


