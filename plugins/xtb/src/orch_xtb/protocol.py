"""XTB's xAPI without I/O: commands as values, replies into orch models and errors.

Every command is one JSON object ``{"command", "arguments"?, "customTag"?}`` in one text frame; every reply
is ``{"status": true, "returnData": …}`` or ``{"status": false, "errorCode", "errorDescr"}``. Numbers go
out exactly as their Decimal text (:func:`encode` writes JSON itself, never through a float) and come in
through ``parse_float=Decimal``. The password is revealed only inside :func:`encode`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from orch.errors import (AuthError, BrokerError, BrokerUnavailable, InsufficientFunds, OrderNotFound,
                         OrderRejected, PermissionDenied, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Account, Instrument, Market, Order, OrderStatus, OrderType, Position, Quote, Side,
                         TimeInForce, to_decimal)
from orch.parsing import integer, json_loads, one_line, utc_from_millis
from orch.secret import REDACTED, Secret

from orch_xtb.symbols import XtbSymbol, from_lots

BROKER = "xtb"

# tradeTransInfo.cmd
BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP = range(6)
# tradeTransInfo.type
OPEN, PENDING, CLOSE, MODIFY, DELETE = range(5)
# tradeTransactionStatus.requestStatus
ERROR, REQUEST_PENDING, ACCEPTED, REJECTED = 0, 1, 3, 4

_CMD_SIDE = {BUY: Side.BUY, SELL: Side.SELL, BUY_LIMIT: Side.BUY, SELL_LIMIT: Side.SELL, BUY_STOP: Side.BUY,
             SELL_STOP: Side.SELL}
_REQUEST_STATUS = {ERROR: "ERROR", REQUEST_PENDING: "PENDING", ACCEPTED: "ACCEPTED", REJECTED: "REJECTED"}


# ------------------------------------------------------------------------------------------ commands


def _masked(arguments: Mapping[str, Any] | None) -> str:
    if arguments is None:
        return "None"
    return repr({k: REDACTED if isinstance(v, Secret) else v for k, v in arguments.items()})


@frozen
class Command:
    """One command for the main socket. ``trade`` marks a tradeTransaction (the limiter counts orders);
    ``resource`` says what an unknown-symbol/no-such-transaction error means here."""

    command: str
    arguments: Mapping[str, Any] | None = field(default=None, repr=_masked, hash=False)
    trade: bool = False
    resource: str | None = None


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, Secret):
        out.append(json.dumps(value.reveal()))
    elif isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        # Plain notation: XTB's parser wants 0.01, never 1E-2.
        out.append(format(value, "f"))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot send a {type(value).__name__} to XTB")


def to_json(data: Any) -> str:
    out: list[str] = []
    _write(data, out)
    return "".join(out)


def payload(command: Command, *, tag: str | None = None, stream_session: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"command": command.command}
    if stream_session is not None:
        body["streamSessionId"] = stream_session
    if command.arguments is not None:
        body["arguments"] = dict(command.arguments)
    if tag is not None:
        body["customTag"] = tag
    return body


def encode(command: Command, *, tag: str | None = None) -> str:
    """The frame to send. The only place a password is revealed."""
    return to_json(payload(command, tag=tag))


def login(user_id: Secret, password: Secret, app_name: str = "orch") -> Command:
    return Command("login", {"userId": user_id, "password": password, "appName": app_name})


def logout() -> Command:
    return Command("logout")


def ping() -> Command:
    return Command("ping")


def get_all_symbols() -> Command:
    return Command("getAllSymbols")


def get_symbol(symbol: str) -> Command:
    return Command("getSymbol", {"symbol": symbol}, resource="instrument")


def get_margin_level() -> Command:
    return Command("getMarginLevel")


def get_trades(opened_only: bool = True) -> Command:
    return Command("getTrades", {"openedOnly": opened_only})


def get_trades_history(start_ms: int = 0, end_ms: int = 0) -> Command:
    """Closed trades between two epoch-millisecond instants; 0/0 is XTB's "the last month"."""
    return Command("getTradesHistory", {"start": start_ms, "end": end_ms})


def get_trade_records(orders: Sequence[int]) -> Command:
    return Command("getTradeRecords", {"orders": list(orders)})


def get_tick_prices(symbols: Sequence[str], *, timestamp_ms: int = 0, level: int = 0) -> Command:
    return Command("getTickPrices", {"level": level, "symbols": list(symbols), "timestamp": timestamp_ms},
                   resource="instrument")


def get_server_time() -> Command:
    return Command("getServerTime")


@frozen
class TradeTransInfo:
    cmd: int
    type: int
    symbol: str
    volume: Decimal
    price: Decimal
    order: int = 0
    sl: Decimal = Decimal(0)
    tp: Decimal = Decimal(0)
    expiration: int = 0
    offset: int = 0
    custom_comment: str = ""

    def wire(self) -> dict[str, Any]:
        return {"cmd": self.cmd, "customComment": self.custom_comment, "expiration": self.expiration,
                "offset": self.offset, "order": self.order, "price": self.price, "sl": self.sl,
                "symbol": self.symbol, "tp": self.tp, "type": self.type, "volume": self.volume}


def trade_transaction(info: TradeTransInfo) -> Command:
    return Command("tradeTransaction", {"tradeTransInfo": info.wire()}, trade=True, resource="instrument")


def trade_transaction_status(order: int) -> Command:
    return Command("tradeTransactionStatus", {"order": order}, resource="order")


def open_cmd(side: Side, kind: OrderType) -> int:
    """BUY/SELL for market orders, BUY_LIMIT/SELL_LIMIT, BUY_STOP/SELL_STOP for pending ones."""
    base = {OrderType.MARKET: BUY, OrderType.LIMIT: BUY_LIMIT, OrderType.STOP: BUY_STOP}[kind]
    return base + (0 if side is Side.BUY else 1)


# ------------------------------------------------------------------------------------------ replies


@contextmanager
def reading(what: str, *, broker: str = BROKER) -> Iterator[None]:
    """A missing or malformed field is a ProtocolError naming what was being read."""
    try:
        yield
    # LookupError: a missing key or index; ArithmeticError: decimal's InvalidOperation/Overflow and
    # OverflowError (a number or a timestamp far out of range).
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ProtocolError(f"unreadable {what} ({type(exc).__name__}: {str(exc)[:200]})", broker=broker) from None


def order_number(data: Any, *, broker: str = BROKER) -> int:
    """The ``order`` number of a tradeTransaction answer."""
    with reading("transaction answer", broker=broker):
        return integer(data["order"])


def decode(frame: str | bytes, *, broker: str = BROKER) -> dict[str, Any]:
    try:
        data = json_loads(frame)
    except ValueError as exc:
        raise ProtocolError(f"unreadable reply: {type(exc).__name__}", broker=broker) from None
    if not isinstance(data, dict):
        raise ProtocolError("reply is not a JSON object", broker=broker)
    return data


# errorCode → (class, hint). Codes whose outcome is unknown map to BrokerUnavailable so that the journal
# looks an order up instead of marking it rejected.
_AUTH = {"BE005", "EX004", "EX007", "BE117", "EX017", "BE004"}
_UNAVAILABLE = {"BE000", "EX001", "EX002", "EX003", "EX005", "EX008", "BE019", "BE103", "BE200"}
_RATE = {"BE014", "BE016", "BE017"}
_PERMISSION = {"EX006", "EX010", "EX011", "BE018", "BE094", "BE095"}
_UNKNOWN_SYMBOL = {"BE101", "BE115", "BE116"}
_HINTS = {
    "BE005": "check brokers.xtb.api_key (the account id) and secret_key (its password)",
    "EX007": "this login/password pair is blocked for 10 minutes after failed attempts",
    "EX017": "the account belongs to another platform's server (demo vs real, or another white-label)",
    "BE103": "the session is gone; orch logs in again on the next request",
    "EX008": "XTB allows 50 connections per IP",
}


def error_for(code: str, description: str, *, command: Command | None = None, broker: str = BROKER,
              retry_after: float = 1.0) -> BrokerError:
    """The orch error for an xAPI ``status: false`` answer, keeping XTB's code and text."""
    code, description = one_line(code, 40), one_line(description)
    text = description or "no description"
    common = dict(broker=broker, broker_code=code, broker_message=description, hint=_HINTS.get(code))
    trade = command is not None and command.trade
    if code in _AUTH:
        return AuthError(f"login refused: {text}", **common)
    if code in _RATE:
        # xAPI names no wait; orch waits the configured cool-down (rate_limits.cool_down_seconds).
        return RateLimited(f"requests too frequent: {text}", retry_after=retry_after, **common)
    if code in _UNAVAILABLE:
        return BrokerUnavailable(f"{text}", **common)
    if code in _PERMISSION:
        if trade:
            return OrderRejected(text, **common)
        return PermissionDenied(text, **common)
    if code in _UNKNOWN_SYMBOL:
        return UnknownInstrument(f"unknown symbol: {text}", **common)
    if code == "BE098" and command is not None and command.resource == "order":
        return OrderNotFound(f"no such transaction: {text}", **common)
    if code == "BE009":
        return InsufficientFunds(text, **common)
    if trade and code.startswith("BE"):
        # Validation and market refusals (price, volume, SL/TP, market closed, off quotes…): XTB proved
        # the transaction was not taken.
        return OrderRejected(text, **common)
    if code in ("EX000", "BE104", "BE110", "BE102", "BE105", "BE106"):
        return ProtocolError(f"XTB refused the command format: {text}", **common)
    return BrokerError(text, **common)


def result(reply: Mapping[str, Any], command: Command | None = None, *, broker: str = BROKER,
           retry_after: float = 1.0) -> Any:
    """``returnData`` of a successful reply (the whole reply for login), or the mapped error."""
    status = reply.get("status")
    if status is True:
        if command is not None and command.command == "login":
            return dict(reply)
        return reply.get("returnData")
    if status is False:
        return_error = error_for(str(reply.get("errorCode") or "?"), str(reply.get("errorDescr") or ""),
                                 command=command, broker=broker, retry_after=retry_after)
        raise return_error
    raise ProtocolError("reply has no boolean status", broker=broker)


def stream_session_id(login_reply: Mapping[str, Any], *, broker: str = BROKER) -> str:
    value = login_reply.get("streamSessionId")
    if not isinstance(value, str) or not value:
        raise ProtocolError("login reply has no streamSessionId", broker=broker)
    return value


# ------------------------------------------------------------------------------------------ models


def from_ms(value: Any) -> datetime | None:
    if value in (None, 0, ""):
        return None
    return utc_from_millis(value)


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def parse_account(data: Mapping[str, Any], *, account_id: str, paper: bool, broker: str = BROKER) -> Account:
    with reading("margin level", broker=broker):
        raw = {k: str(data[k]) for k in ("margin", "margin_level", "credit") if data.get(k) is not None}
        return Account(broker=broker, account_id=account_id, currency=str(data["currency"]),
                       cash=to_decimal(data["balance"]), equity=to_decimal(data["equity"]),
                       buying_power=max(Decimal(0), to_decimal(data["margin_free"])), paper=paper, raw=raw)


@frozen
class TradeRecord:
    order: int
    order2: int
    position: int
    cmd: int
    symbol: str
    volume: Decimal
    open_price: Decimal
    close_price: Decimal | None
    closed: bool
    sl: Decimal
    tp: Decimal
    profit: Decimal | None
    custom_comment: str
    comment: str
    open_time: datetime | None
    close_time: datetime | None
    expiration: datetime | None

    @property
    def pending(self) -> bool:
        return self.cmd not in (BUY, SELL)

    @property
    def side(self) -> Side:
        return _CMD_SIDE[self.cmd]


def _optional(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def parse_trade(record: Mapping[str, Any], *, broker: str = BROKER) -> TradeRecord:
    with reading("trade record", broker=broker):
        cmd = integer(record["cmd"])
        if cmd not in _CMD_SIDE:
            raise ValueError(f"cmd {cmd} is not a trade")
        return TradeRecord(
            order=integer(record["order"]), order2=integer(record.get("order2") or record["order"]),
            position=integer(record.get("position") or record["order"]), cmd=cmd, symbol=str(record["symbol"]),
            volume=to_decimal(record["volume"]), open_price=to_decimal(record["open_price"]),
            close_price=_optional(record.get("close_price")), closed=bool(record.get("closed")),
            sl=to_decimal(record.get("sl") or 0), tp=to_decimal(record.get("tp") or 0),
            profit=_optional(record.get("profit")), custom_comment=str(record.get("customComment") or ""),
            comment=str(record.get("comment") or ""), open_time=from_ms(record.get("open_time")),
            close_time=from_ms(record.get("close_time")), expiration=from_ms(record.get("expiration")))


def parse_trades(data: Any, *, broker: str = BROKER) -> list[TradeRecord]:
    if not isinstance(data, list):
        raise ProtocolError("expected a list of trade records", broker=broker)
    with reading("trade records", broker=broker):
        kept = [r for r in data if integer(r.get("cmd", -1)) in _CMD_SIDE]
    return [parse_trade(r, broker=broker) for r in kept]


def order_from_trade(trade: TradeRecord, instrument: Instrument, info: XtbSymbol | None, *,
                     broker: str = BROKER) -> Order:
    """The orch order a trade record stands for.

    * an open trade (cmd BUY/SELL) is its opening order, filled at ``open_price``;
    * a closed record whose ``order`` differs from its ``position`` is a closing order, filled at
      ``close_price`` on the other side;
    * a pending record (BUY_LIMIT…SELL_STOP) is a resting order, a closed pending one was deleted.
    """
    with reading("trade record", broker=broker):
        return _order_from_trade(trade, instrument, info, broker=broker)


def _order_from_trade(trade: TradeRecord, instrument: Instrument, info: XtbSymbol | None, *, broker: str) -> Order:
    qty = from_lots(trade.volume, info)
    comment = trade.custom_comment or None
    common = dict(broker=broker, broker_order_id=str(trade.order), instrument=instrument, qty=qty,
                  client_order_id=comment, created_at=trade.open_time)
    if trade.pending:
        kind = OrderType.LIMIT if trade.cmd in (BUY_LIMIT, SELL_LIMIT) else OrderType.STOP
        prices = {"limit_price": trade.open_price} if kind is OrderType.LIMIT else {"stop_price": trade.open_price}
        status, raw = (OrderStatus.CANCELED, "deleted") if trade.closed else (OrderStatus.ACCEPTED, "pending")
        return Order(side=trade.side, type=kind, status=status, raw_status=raw,
                     time_in_force=TimeInForce.DAY if trade.expiration else TimeInForce.GTC,
                     updated_at=trade.close_time or trade.open_time, **prices, **common)
    closing = trade.closed and trade.order != trade.position
    if closing:
        side = Side.SELL if trade.side is Side.BUY else Side.BUY
        return Order(side=side, type=OrderType.MARKET, status=OrderStatus.FILLED, raw_status="close",
                     filled_qty=qty, avg_fill_price=trade.close_price, updated_at=trade.close_time, **common)
    return Order(side=trade.side, type=OrderType.MARKET, status=OrderStatus.FILLED,
                 raw_status="closed" if trade.closed else "open", filled_qty=qty, avg_fill_price=trade.open_price,
                 updated_at=trade.open_time, **common)


@frozen
class TransactionStatus:
    order: int
    request_status: int
    message: str | None
    custom_comment: str
    ask: Decimal | None
    bid: Decimal | None

    @property
    def name(self) -> str:
        return _REQUEST_STATUS.get(self.request_status, str(self.request_status))

    @property
    def final(self) -> bool:
        return self.request_status in (ERROR, ACCEPTED, REJECTED)


def parse_transaction_status(data: Mapping[str, Any], *, broker: str = BROKER) -> TransactionStatus:
    with reading("transaction status", broker=broker):
        return TransactionStatus(order=integer(data["order"]), request_status=integer(data["requestStatus"]),
                                 message=None if data.get("message") is None else one_line(data["message"]),
                                 custom_comment=str(data.get("customComment") or ""),
                                 ask=_optional(data.get("ask")), bid=_optional(data.get("bid")))


def refusal(status: TransactionStatus, *, broker: str = BROKER) -> OrderRejected:
    """XTB's REJECTED/ERROR answer to a transaction: an explicit refusal."""
    message = status.message or f"transaction {status.order} {status.name.lower()}"
    cls = InsufficientFunds if "money" in message.lower() or "margin" in message.lower() else OrderRejected
    return cls(message, broker=broker, broker_code=status.name, broker_message=status.message)


def parse_tick(record: Mapping[str, Any], instrument: Instrument, *, broker: str = BROKER) -> Quote:
    with reading("tick record", broker=broker):
        when = from_ms(record["timestamp"])
        if when is None:
            raise ValueError("no timestamp")
        return Quote(broker=broker, instrument=instrument, timestamp=when, bid=to_decimal(record["bid"]),
                     ask=to_decimal(record["ask"]), bid_size=_optional(record.get("bidVolume")),
                     ask_size=_optional(record.get("askVolume")))


def parse_quotations(data: Any, symbol: str, instrument: Instrument, *, broker: str = BROKER) -> Quote:
    with reading("tick prices", broker=broker):
        rows = [r for r in data["quotations"] if r.get("symbol") == symbol and integer(r.get("level") or 0) == 0]
    if not rows:
        raise UnknownInstrument(f"no price for {symbol}", broker=broker)
    return parse_tick(rows[-1], instrument, broker=broker)


def positions_from_trades(trades: Sequence[TradeRecord], symbols: Mapping[str, XtbSymbol],
                          instrument_for: Any, *, broker: str = BROKER) -> list[Position]:
    """Open trades (not pending orders) netted per symbol: XTB reports one record per trade, orch one
    position per instrument (negative for a net short)."""
    with reading("open trades", broker=broker):
        return _positions(trades, symbols, instrument_for, broker=broker)


def _positions(trades: Sequence[TradeRecord], symbols: Mapping[str, XtbSymbol], instrument_for: Any, *,
               broker: str) -> list[Position]:
    grouped: dict[str, list[TradeRecord]] = {}
    for trade in trades:
        if not trade.pending and not trade.closed:
            grouped.setdefault(trade.symbol, []).append(trade)
    positions = []
    for symbol, group in sorted(grouped.items()):
        info = symbols.get(symbol)
        signed = [(from_lots(t.volume, info) * (1 if t.side is Side.BUY else -1), t) for t in group]
        qty = sum((q for q, _ in signed), Decimal(0))
        if qty == 0:
            continue
        same_side = [(abs(q), t.open_price) for q, t in signed if (q > 0) == (qty > 0)]
        size = sum((q for q, _ in same_side), Decimal(0))
        average = sum((q * p for q, p in same_side), Decimal(0)) / size
        current = next((t.close_price for t in group if t.close_price is not None), None)
        profits = [t.profit for t in group if t.profit is not None]
        instrument: Instrument = instrument_for(symbol)
        positions.append(Position(
            broker=broker, instrument=instrument, qty=qty,
            avg_price=average.quantize(Decimal(1).scaleb(-(info.precision if info else 5))),
            market_value=None if current is None else qty * current,
            unrealized_pl=sum(profits, Decimal(0)) if profits else None, currency=instrument.currency))
    return positions


def market_of(info: XtbSymbol | None) -> Market:
    return info.market if info is not None else Market.CFD
