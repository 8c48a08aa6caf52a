"""One logged-in XTB account: each operation composes the local rules, the symbol cache, a command from
:mod:`orch_xtb.protocol`, the command socket and the parser. The hooks in :mod:`orch_xtb.plugin` call
these methods and nothing else.

How orch's words map onto xAPI:

* an order is a ``tradeTransaction`` (type OPEN) confirmed with ``tradeTransactionStatus``; its broker
  id is the order number XTB returns; ``customComment`` carries orch's client order id;
* a sell while buy trades are open on the symbol (or a buy while sell trades are) closes the oldest
  trade large enough (type CLOSE) instead of opening an opposite one; XTB closes one trade per request,
  so a quantity spanning several trades is refused with a hint;
* cancel is type DELETE (pending orders only); replace is type MODIFY (a pending order's price);
* positions are the open trades netted per symbol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import trio

from orch.context import ConnectContext
from orch.errors import (BrokerUnavailable, ConfigError, InvalidOrder, OrderNotFound, OrderRejected,
                         ProtocolError, UnknownInstrument)
from orch.models import (Account, Instrument, Market, Order, OrderClass, OrderFilter, OrderRef, OrderRequest,
                         OrderStatus, OrderType, Position, Quote, Side, TimeInForce, to_decimal)
from orch.settings import unset_secrets

from orch_xtb import protocol, rules, streams
from orch_xtb.protocol import TradeRecord, TradeTransInfo
from orch_xtb.settings import SHUTDOWN_NOTICE, XtbSettings, resolve_endpoints
from orch_xtb.symbols import SymbolCache, XtbSymbol, check_price, parse_symbol, to_lots, wanted_symbol
from orch_xtb.transport import (BackgroundStream, CommandSocket, Connector, StreamPolicy, open_websocket,
                                run_stream)

STATUS_POLLS = 10
STATUS_INTERVAL = 0.25


class XtbConnection:
    """What ``orch_connect`` returns. ``connect`` swaps the websocket opener (tests); ``wall_clock`` (epoch
    seconds) dates DAY expirations and history windows."""

    def __init__(self, settings: XtbSettings, context: ConnectContext, *, connect: Connector = open_websocket,
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
        cool_down = settings.rate_limits.cool_down_seconds
        unreachable = SHUTDOWN_NOTICE if self.endpoints.official_host else (
            f"brokers.{self.broker}.server must name a host that still serves xAPI; {SHUTDOWN_NOTICE}")
        self.socket = CommandSocket(
            self.endpoints.command, protocol.login(settings.api_key, settings.secret_key, settings.app_name),
            nursery=context.nursery, limiter=context.limiter, timeout=float(settings.timeout_seconds),
            broker=self.broker, connect=connect, cool_down=float(cool_down) if cool_down is not None else 1.0,
            unreachable=unreachable, logger=self.logger)
        self._nursery = context.nursery
        self._connect = connect
        self._wall_clock = wall_clock
        silence = float(settings.stream_silence_seconds)
        self.stream_policy = stream_policy or StreamPolicy(silence=silence, probe=min(5.0, silence))
        self.symbols = SymbolCache([], limit=settings.max_instruments, total=0)
        self._keepalive = trio.CancelScope()
        self._account_id = "demo" if settings.demo else "real"

    def __repr__(self) -> str:
        mode = "demo" if self.endpoints.demo else "REAL"
        return f"<XtbConnection {self.broker} {mode} {self.endpoints.command}>"

    async def open(self) -> XtbConnection:
        """Log in (AuthError for refused credentials) and fill the symbol cache."""
        await self.load_symbols()
        user = self.settings.api_key.reveal()
        # The account id is a credential here (it is the login): show only its tail.
        self._account_id = f"{'demo' if self.settings.demo else 'real'}-…{user[-3:]}"

        async def keepalive() -> None:
            with self._keepalive:
                await self.socket.keepalive(float(self.settings.keepalive_seconds))

        self._nursery.start_soon(keepalive, name=f"{self.broker} keep-alive")
        return self

    async def aclose(self) -> None:
        self._keepalive.cancel()
        await self.socket.aclose()

    # ----------------------------------------------------------------------------- symbols

    async def load_symbols(self) -> SymbolCache:
        data = await self.socket.call(protocol.get_all_symbols())
        if not isinstance(data, list):
            raise ProtocolError("getAllSymbols did not return a list", broker=self.broker)
        limit = self.settings.max_instruments
        kept = data if limit is None else data[:limit]
        self.symbols = SymbolCache([parse_symbol(r, broker=self.broker) for r in kept], limit=limit,
                                   total=len(data))
        return self.symbols

    async def symbol(self, instrument: Instrument) -> XtbSymbol:
        name = wanted_symbol(instrument, broker=self.broker)
        found = self.symbols.find(name)
        if found is not None:
            return found
        if not self.symbols.truncated:
            raise UnknownInstrument(f"{instrument.symbol!r} is not among XTB's symbols", broker=self.broker)
        info = parse_symbol(await self.socket.call(protocol.get_symbol(name)), broker=self.broker)
        if self.symbols.limit is None or len(self.symbols) < self.symbols.limit:
            self.symbols.add(info)
        return info

    def _instrument_for(self, symbol: str) -> Instrument:
        info = self.symbols.find(symbol)
        return info.instrument() if info is not None else Instrument(symbol, Market.CFD)

    def _order(self, trade: TradeRecord, instrument: Instrument | None = None) -> Order:
        return protocol.order_from_trade(trade, instrument or self._instrument_for(trade.symbol),
                                         self.symbols.find(trade.symbol), broker=self.broker)

    # ----------------------------------------------------------------------------- account

    async def account(self) -> Account:
        data = await self.socket.call(protocol.get_margin_level())
        return protocol.parse_account(data, account_id=self._account_id, paper=self.endpoints.demo,
                                      broker=self.broker)

    async def _open_trades(self) -> list[TradeRecord]:
        return protocol.parse_trades(await self.socket.call(protocol.get_trades(True)), broker=self.broker)

    async def positions(self) -> list[Position]:
        trades = await self._open_trades()
        infos = {t.symbol: info for t in trades if (info := self.symbols.find(t.symbol)) is not None}
        return protocol.positions_from_trades(trades, infos, self._instrument_for, broker=self.broker)

    # ----------------------------------------------------------------------------- quotes

    async def quote(self, instrument: Instrument) -> Quote:
        info = await self.symbol(instrument)
        data = await self.socket.call(protocol.get_tick_prices([info.symbol]))
        return protocol.parse_quotations(data, info.symbol, instrument, broker=self.broker)

    # ----------------------------------------------------------------------------- orders

    def _expiration(self, request: OrderRequest) -> int:
        if request.type is OrderType.MARKET or request.time_in_force is TimeInForce.GTC:
            return 0
        now = datetime.fromtimestamp(self._wall_clock(), tz=timezone.utc)
        end = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
        return protocol.to_ms(end)

    async def place_order(self, request: OrderRequest) -> Order:
        rules.check_order(request, self.settings, broker=self.broker)
        info = await self.symbol(request.instrument)
        assert request.qty is not None
        lots = to_lots(request.qty, info, broker=self.broker)
        sl = request.stop_loss.stop_price if request.stop_loss else Decimal(0)
        tp = request.take_profit.limit_price if request.take_profit else Decimal(0)
        for name, value in (("limit_price", request.limit_price), ("stop_price", request.stop_price),
                            ("stop_loss", sl), ("take_profit", tp)):
            if value:
                check_price(name, value, info, broker=self.broker)
        comment = request.client_order_id or ""
        if request.type is OrderType.MARKET:
            quote = await self.quote(request.instrument)
            price = quote.ask if request.side is Side.BUY else quote.bid
            assert price is not None
            closing = await self._trade_to_close(request, info, lots)
            if closing is not None:
                if request.order_class is not OrderClass.SIMPLE:
                    raise InvalidOrder(f"{self.broker}: this {request.side.value} closes trade {closing.order}; "
                                       "a closing order takes no stop-loss/take-profit")
                trans = TradeTransInfo(cmd=closing.cmd, type=protocol.CLOSE, symbol=info.symbol, volume=lots,
                                       price=price, order=closing.order, custom_comment=comment)
            else:
                trans = TradeTransInfo(cmd=protocol.open_cmd(request.side, OrderType.MARKET), type=protocol.OPEN,
                                       symbol=info.symbol, volume=lots, price=price, sl=sl, tp=tp,
                                       custom_comment=comment)
        else:
            level = request.limit_price if request.type is OrderType.LIMIT else request.stop_price
            assert level is not None
            trans = TradeTransInfo(cmd=protocol.open_cmd(request.side, request.type), type=protocol.OPEN,
                                   symbol=info.symbol, volume=lots, price=level, sl=sl, tp=tp,
                                   expiration=self._expiration(request), custom_comment=comment)
        return await self._transact(trans, request.instrument, fallback=request)

    async def _trade_to_close(self, request: OrderRequest, info: XtbSymbol, lots: Decimal) -> TradeRecord | None:
        """The open trade this market order should close, if it runs against open trades."""
        opposite = [t for t in await self._open_trades()
                    if t.symbol == info.symbol and not t.pending and t.side is not request.side]
        if not opposite:
            return None
        opposite.sort(key=lambda t: (t.open_time or datetime.min.replace(tzinfo=timezone.utc), t.order))
        for trade in opposite:
            if trade.volume >= lots:
                return trade
        largest = max(t.volume for t in opposite)
        raise InvalidOrder(f"{self.broker}: {request.side.value} {request.qty} {info.symbol} runs against "
                           f"{len(opposite)} open trade(s), none as large; XTB closes one trade per request "
                           f"(at most {(largest * info.contract_size).normalize():f} now)")

    async def _transact(self, trans: TradeTransInfo, instrument: Instrument, *,
                        fallback: OrderRequest | None = None) -> Order:
        data = await self.socket.call(protocol.trade_transaction(trans))
        try:
            number = protocol.order_number(data, broker=self.broker)
        except ProtocolError:
            # XTB took the request (status true) but its answer is unreadable: the outcome is unknown.
            raise BrokerUnavailable("transaction accepted but its order number was unreadable",
                                    broker=self.broker) from None
        status = await self._confirm(number)
        if status is not None and status.request_status in (protocol.ERROR, protocol.REJECTED):
            raise protocol.refusal(status, broker=self.broker)
        try:
            order = await self._by_number(number, instrument)
        except BrokerUnavailable:
            order = None
        if order is not None:
            return order
        # Accepted (or still pending) but not yet visible among the trades.
        side = fallback.side if fallback else Side.BUY
        return Order(broker=self.broker, broker_order_id=str(number), instrument=instrument, side=side,
                     type=fallback.type if fallback else OrderType.MARKET, status=OrderStatus.ACCEPTED,
                     raw_status=status.name if status else "PENDING", qty=fallback.qty if fallback else None,
                     client_order_id=trans.custom_comment or None,
                     limit_price=fallback.limit_price if fallback else None,
                     stop_price=fallback.stop_price if fallback else None)

    async def _confirm(self, number: int) -> protocol.TransactionStatus | None:
        """Poll tradeTransactionStatus until XTB says ACCEPTED, REJECTED or ERROR. None when the status
        could not be read: the transaction was taken, so this is not a refusal."""
        status = None
        for attempt in range(STATUS_POLLS):
            try:
                data = await self.socket.call(protocol.trade_transaction_status(number))
            except (BrokerUnavailable, OrderNotFound):
                return status
            status = protocol.parse_transaction_status(data, broker=self.broker)
            if status.final:
                return status
            await trio.sleep(STATUS_INTERVAL * (attempt + 1))
        return status

    async def _by_number(self, number: int, instrument: Instrument | None = None) -> Order | None:
        records = protocol.parse_trades(await self.socket.call(protocol.get_trade_records([number])),
                                        broker=self.broker)
        for record in records:
            if record.order == number:
                return self._order(record, instrument)
        return None

    async def _number(self, ref: OrderRef) -> int:
        if ref.broker_order_id is not None:
            try:
                return int(ref.broker_order_id)
            except ValueError:
                raise OrderNotFound(f"{ref.broker_order_id!r} is not an XTB order number", broker=self.broker) \
                    from None
        found = await self.get_order(ref)
        if found is None:
            raise OrderNotFound(f"no order with client order id {ref.client_order_id!r}", broker=self.broker)
        return int(found.broker_order_id)

    async def get_order(self, ref: OrderRef) -> Order | None:
        if ref.broker_order_id is not None:
            try:
                number = int(ref.broker_order_id)
            except ValueError:
                return None  # XTB order numbers are integers: this one cannot exist there
            order = await self._by_number(number, ref.instrument)
            if order is not None:
                return order
            try:
                data = await self.socket.call(protocol.trade_transaction_status(number))
            except OrderNotFound:
                return None
            status = protocol.parse_transaction_status(data, broker=self.broker)
            instrument = ref.instrument or Instrument("?", Market.CFD)
            refused = status.request_status in (protocol.ERROR, protocol.REJECTED)
            return Order(broker=self.broker, broker_order_id=str(number), instrument=instrument, side=Side.BUY,
                         type=OrderType.MARKET, status=OrderStatus.REJECTED if refused else OrderStatus.ACCEPTED,
                         raw_status=status.name, client_order_id=status.custom_comment or None,
                         reject_reason=status.message if refused else None)
        coid = ref.client_order_id
        # Open trades and pending orders first, then the closed ones (XTB's default window: a month).
        for command in (protocol.get_trades(True), protocol.get_trades_history(0, 0)):
            records = protocol.parse_trades(await self.socket.call(command), broker=self.broker)
            matches = [r for r in records if r.custom_comment == coid]
            if matches:
                # The record named by its own order number is the order itself (not a later partial close).
                matches.sort(key=lambda r: (r.order == r.position, r.order), reverse=True)
                return self._order(matches[0], ref.instrument)
        return None

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        number = await self._number(ref)
        records = protocol.parse_trades(await self.socket.call(protocol.get_trade_records([number])),
                                        broker=self.broker)
        record = next((r for r in records if r.order == number), None)
        if record is None:
            raise OrderNotFound(f"no order {number}", broker=self.broker)
        if not record.pending:
            raise OrderRejected(f"order {number} is a trade, not a pending order: close the position instead",
                                broker=self.broker)
        if record.closed:
            raise OrderRejected(f"order {number} is already deleted", broker=self.broker)
        trans = TradeTransInfo(cmd=record.cmd, type=protocol.DELETE, symbol=record.symbol, volume=record.volume,
                               price=record.open_price, order=number)
        await self._settle(trans)
        return await self._by_number(number, ref.instrument)

    async def _settle(self, trans: TradeTransInfo) -> None:
        data = await self.socket.call(protocol.trade_transaction(trans))
        status = await self._confirm(protocol.order_number(data, broker=self.broker))
        if status is not None and status.request_status in (protocol.ERROR, protocol.REJECTED):
            raise protocol.refusal(status, broker=self.broker)

    async def replace_order(self, ref: OrderRef, qty: Any, limit_price: Any, stop_price: Any) -> Order:
        number = await self._number(ref)
        records = protocol.parse_trades(await self.socket.call(protocol.get_trade_records([number])),
                                        broker=self.broker)
        record = next((r for r in records if r.order == number and r.pending and not r.closed), None)
        if record is None:
            raise OrderRejected(f"order {number} is not a pending order (only those can be modified)",
                                broker=self.broker)
        info = self.symbols.find(record.symbol)
        level = record.open_price
        new_price = limit_price if record.cmd in (protocol.BUY_LIMIT, protocol.SELL_LIMIT) else stop_price
        if new_price is not None:
            level = to_decimal(new_price)
        volume = record.volume
        if qty is not None:
            if info is None:
                raise InvalidOrder(f"{self.broker}: unknown lot size for {record.symbol}")
            volume = to_lots(to_decimal(qty), info, broker=self.broker)
        if info is not None:
            check_price("price", level, info, broker=self.broker)
        trans = TradeTransInfo(cmd=record.cmd, type=protocol.MODIFY, symbol=record.symbol, volume=volume,
                               price=level, order=number, sl=record.sl, tp=record.tp,
                               expiration=protocol.to_ms(record.expiration) if record.expiration else 0,
                               custom_comment=record.custom_comment)
        await self._settle(trans)
        order = await self._by_number(number, ref.instrument)
        if order is None:
            raise BrokerUnavailable(f"order {number} was modified but cannot be read back", broker=self.broker)
        return order

    async def protect(self, number: int, *, sl: Decimal | None, tp: Decimal | None) -> Order:
        """Set or change the stop-loss/take-profit of an open trade or pending order (type MODIFY)."""
        records = protocol.parse_trades(await self.socket.call(protocol.get_trade_records([number])),
                                        broker=self.broker)
        record = next((r for r in records if r.order == number and not r.closed), None)
        if record is None:
            raise OrderNotFound(f"no open trade or pending order {number}", broker=self.broker)
        trans = attrs.evolve(
            TradeTransInfo(cmd=record.cmd, type=protocol.MODIFY, symbol=record.symbol, volume=record.volume,
                           price=record.open_price, order=number, sl=record.sl, tp=record.tp,
                           custom_comment=record.custom_comment),
            **{k: v for k, v in (("sl", sl), ("tp", tp)) if v is not None})
        await self._settle(trans)
        order = await self._by_number(number)
        if order is None:
            raise BrokerUnavailable(f"trade {number} was modified but cannot be read back", broker=self.broker)
        return order

    async def close_trade(self, number: int, qty: Decimal | None = None, client_order_id: str = "") -> Order:
        """Close an open trade (all of it, or ``qty``) at the market (type CLOSE)."""
        records = await self._open_trades()
        record = next((r for r in records if r.order == number and not r.pending), None)
        if record is None:
            raise OrderNotFound(f"no open trade {number}", broker=self.broker)
        info = self.symbols.find(record.symbol)
        volume = record.volume if qty is None or info is None else to_lots(qty, info, broker=self.broker)
        instrument = self._instrument_for(record.symbol)
        quote = await self.quote(instrument)
        price = quote.bid if record.side is Side.BUY else quote.ask
        assert price is not None
        trans = TradeTransInfo(cmd=record.cmd, type=protocol.CLOSE, symbol=record.symbol, volume=volume,
                               price=price, order=number, custom_comment=client_order_id)
        return await self._transact(trans, instrument)

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        commands = []
        if filter.status in ("open", "all"):
            commands.append(protocol.get_trades(True))
        if filter.status in ("closed", "all"):
            since = protocol.to_ms(filter.since) if filter.since else 0
            commands.append(protocol.get_trades_history(since, 0))
        wanted = None
        if filter.instrument is not None:
            wanted = (await self.symbol(filter.instrument)).symbol
        orders: list[Order] = []
        for command in commands:
            for record in protocol.parse_trades(await self.socket.call(command), broker=self.broker):
                if wanted is not None and record.symbol != wanted:
                    continue
                if command.command == "getTrades" and not record.pending:
                    continue  # open trades are filled orders, not open ones
                order = self._order(record, filter.instrument)
                if filter.since is None or order.created_at is None or order.created_at >= filter.since:
                    orders.append(order)
        orders.sort(key=lambda o: (o.created_at or datetime.min.replace(tzinfo=timezone.utc),
                                   int(o.broker_order_id)), reverse=True)
        return orders[:filter.limit]

    # ----------------------------------------------------------------------------- streams

    def stream_quotes(self, instruments: Sequence[Instrument]) -> BackgroundStream:
        wanted = list(instruments)

        async def runner(deliver: Callable[[Any], Any]) -> None:
            mapping = {(await self.symbol(i)).symbol: i for i in wanted}

            async def session() -> streams.QuoteSession:
                return streams.QuoteSession(await self.socket.stream_session_id(), mapping, broker=self.broker)

            async def pick(item: Any) -> None:
                if not isinstance(item, streams.KeepAlive):
                    await deliver(item)

            await run_stream(self.endpoints.stream, session, pick, connect=self._connect,
                             policy=self.stream_policy, broker=self.broker, logger=self.logger)

        return BackgroundStream(self._nursery, [runner], name=f"{self.broker} quotes")
