"""The TWS / IB Gateway socket protocol, sans-IO: framing, the handshake, the requests orch sends and the
messages it reads, at server versions 176-178 (the text protocol; protobuf starts at 201).

Every message is a 4-byte big-endian length, then ASCII fields each ended by NUL; field 0 is the message
id. Nothing here does I/O: builders return bytes, :class:`FrameBuffer` turns received bytes into field
lists, parsers turn field lists into small records.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import field, frozen

from orch.errors import (BrokerError, BrokerUnavailable, InsufficientFunds, OrderNotFound, OrderRejected,
                         PermissionDenied, ProtocolError, RateLimited, UnknownInstrument)
from orch.parsing import one_line

MIN_VERSION = 176
MAX_VERSION = 178
API_PREFIX = b"API\0"
MAX_FRAME = 16 * 1024 * 1024  # TWS never sends more; a bigger prefix means a desynchronised stream
UNSET_DOUBLE = "1.7976931348623157E308"
UNSET_DECIMAL = str(2 ** 127 - 1)  # TWS's "no value" for Decimal fields (sizes)
MAX_EXPONENT = 40  # no price, size or amount TWS sends comes near 1e40; beyond is a corrupt field
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z: the last second a datetime can hold


class In:
    """Incoming message ids (TWS -> client)."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERROR = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    TICK_GENERIC = 45
    TICK_STRING = 46
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    TICK_REQ_PARAMS = 81
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


class Out:
    """Outgoing message ids (client -> TWS)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    REQ_COMPLETED_ORDERS = 99


# ------------------------------------------------------------------------------------------ framing


def text(value: Any) -> str:
    """One field as TWS writes it: empty for None, 1/0 for booleans, plain decimals (never exponents)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def price_text(value: Decimal | None) -> str:
    """A price as ib_async writes one (``150.0``); empty when unset."""
    if value is None:
        return ""
    out = format(value, "f")
    return out if "." in out else out + ".0"


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def encode(*fields: Any) -> bytes:
    """A framed message from its fields (field 0 is the message id)."""
    payload = b"".join(text(f).encode("ascii") + b"\0" for f in fields)
    return frame(payload)


def frame_count(data: bytes) -> int:
    """How many framed messages ``data`` holds (the handshake prefix aside)."""
    if data.startswith(API_PREFIX):
        data = data[len(API_PREFIX):]
    count = offset = 0
    while offset + 4 <= len(data):
        offset += 4 + struct.unpack(">I", data[offset:offset + 4])[0]
        count += 1
    return count


def decode_payload(payload: bytes) -> list[str]:
    if not payload.endswith(b"\0"):
        raise ProtocolError(f"TWS message not NUL-terminated: {payload[:40]!r}", broker="ibkr")
    # TWS writes text fields (company names, error texts) in UTF-8; a broken byte is replaced, never fatal.
    return payload[:-1].decode("utf-8", errors="replace").split("\0")


class FrameBuffer:
    """Accumulates received bytes and yields complete messages as lists of fields."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= 4:
            (size,) = struct.unpack(">I", self._buffer[:4])
            if size > MAX_FRAME:
                raise ProtocolError(f"TWS frame length {size} exceeds {MAX_FRAME}", broker="ibkr")
            if len(self._buffer) < 4 + size:
                break
            payload = bytes(self._buffer[4:4 + size])
            del self._buffer[:4 + size]
            messages.append(decode_payload(payload))
        return messages


# ------------------------------------------------------------------------------------------ handshake


def hello(min_version: int = MIN_VERSION, max_version: int = MAX_VERSION) -> bytes:
    """The client's first bytes: ``API\\0`` then the framed version range."""
    return API_PREFIX + frame(f"v{min_version}..{max_version}".encode("ascii"))


def parse_hello_reply(fields: Sequence[str]) -> tuple[int, str]:
    """TWS answers the hello with exactly two fields: its chosen version and its connection time."""
    if len(fields) != 2:
        raise ProtocolError(f"unexpected TWS handshake reply with {len(fields)} fields", broker="ibkr")
    try:
        version = int(fields[0])
    except ValueError:
        raise ProtocolError(f"TWS handshake reply has no server version: {fields[0]!r}", broker="ibkr") from None
    return version, fields[1]


def parse_version_range(text_range: str) -> tuple[int, int]:
    """``v157..178`` (optionally followed by connect options) -> (157, 178), for the fake TWS."""
    head = text_range.split(" ", 1)[0]
    if not head.startswith("v") or ".." not in head:
        raise ValueError(f"bad version range {text_range!r}")
    low, high = head[1:].split("..", 1)
    return int(low), int(high)


def start_api(client_id: int, capabilities: str = "") -> bytes:
    return encode(Out.START_API, 2, client_id, capabilities)


# ------------------------------------------------------------------------------------------ contracts


@frozen
class Contract:
    """IB's contract: what ``reqContractDetails`` resolves and every order names. ``con_id`` is IB's id."""

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    con_id: int = 0
    last_trade_date: str = ""
    strike: Decimal | None = None
    right: str = ""
    multiplier: str = ""
    primary_exchange: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    def block(self, *, primary: bool = True) -> list[str]:
        """The 12-field contract block (11 without primaryExchange, as openOrder writes it)."""
        fields = [text(self.con_id), self.symbol, self.sec_type, self.last_trade_date,
                  price_text(self.strike if self.strike is not None else Decimal(0)), self.right,
                  self.multiplier, self.exchange]
        if primary:
            fields.append(self.primary_exchange)
        fields += [self.currency, self.local_symbol, self.trading_class]
        return fields


@frozen
class ContractDetails:
    contract: Contract
    min_tick: Decimal
    long_name: str = ""
    order_types: str = ""
    valid_exchanges: str = ""
    time_zone: str = ""
    min_size: Decimal = Decimal(1)
    size_increment: Decimal = Decimal(1)


def req_contract_details(req_id: int, contract: Contract) -> bytes:
    return encode(Out.REQ_CONTRACT_DATA, 8, req_id, *contract.block(), 0, "", "", "")


def _int(value: str, what: str) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        raise ProtocolError(f"TWS sent {value[:40]!r} for {what}, expected an integer", broker="ibkr") from None


def dec(value: str, what: str = "number") -> Decimal | None:
    """A TWS number as an exact Decimal; None for empty, unset (max double or max Decimal) or
    ``Infinite``. A number of absurd magnitude is a ProtocolError (arithmetic on it would fail later)."""
    if value in ("", "Infinite", "-Infinite", UNSET_DECIMAL) or value.upper().startswith("1.7976931348623157E"):
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ProtocolError(f"TWS sent {value[:40]!r} for {what}, expected a number", broker="ibkr") from None
    if not result.is_finite():
        return None
    if result and abs(result.adjusted()) > MAX_EXPONENT:
        raise ProtocolError(f"TWS sent {value[:40]!r} for {what}, out of range", broker="ibkr")
    return result


def field_at(fields: Sequence[str], index: int, what: str) -> str:
    """Field ``index`` of a message; a message too short for it is a ProtocolError naming the field."""
    if index >= len(fields):
        kind = fields[0] if fields else "?"
        raise ProtocolError(f"TWS message {kind} has {len(fields)} fields, no {what}", broker="ibkr")
    return fields[index]


def int_at(fields: Sequence[str], index: int, what: str) -> int:
    return _int(field_at(fields, index, what), what)


def parse_contract_data(fields: Sequence[str]) -> tuple[int, ContractDetails]:
    """contractData (10) at version >= 164 (no version field)."""
    f = list(fields)
    if len(f) < 20:
        raise ProtocolError(f"contractData with {len(f)} fields", broker="ibkr")
    req_id = _int(f[1], "reqId")
    contract = Contract(symbol=f[2], sec_type=f[3], last_trade_date=f[4], strike=dec(f[5], "strike"),
                        right=f[6], exchange=f[7], currency=f[8], local_symbol=f[9], trading_class=f[11],
                        con_id=_int(f[12], "conId"), multiplier=f[14], primary_exchange=f[20] if len(f) > 20 else "")
    min_tick = dec(f[13], "minTick") or Decimal("0.01")
    if min_tick < 0 or min_tick.adjusted() < -12:
        # The tick checks prices with ``%``: a negative or vanishing tick would make that meaningless.
        raise ProtocolError(f"TWS sent minTick {f[13][:40]!r} for {f[2][:20]!r}", broker="ibkr")
    details = ContractDetails(contract=contract, min_tick=min_tick,
                              order_types=f[15], valid_exchanges=f[16], long_name=f[19])
    return req_id, details


# ------------------------------------------------------------------------------------------ requests


def req_ids() -> bytes:
    return encode(Out.REQ_IDS, 1, 1)


def req_current_time() -> bytes:
    return encode(Out.REQ_CURRENT_TIME, 1)


def req_managed_accounts() -> bytes:
    return encode(Out.REQ_MANAGED_ACCTS, 1)


def req_positions() -> bytes:
    return encode(Out.REQ_POSITIONS, 1)


def cancel_positions() -> bytes:
    return encode(Out.CANCEL_POSITIONS, 1)


def req_open_orders() -> bytes:
    return encode(Out.REQ_OPEN_ORDERS, 1)


def req_all_open_orders() -> bytes:
    return encode(Out.REQ_ALL_OPEN_ORDERS, 1)


def req_completed_orders(api_only: bool = False) -> bytes:
    return encode(Out.REQ_COMPLETED_ORDERS, api_only)


def req_account_summary(req_id: int, tags: Iterable[str], group: str = "All") -> bytes:
    return encode(Out.REQ_ACCOUNT_SUMMARY, 1, req_id, group, ",".join(tags))


def cancel_account_summary(req_id: int) -> bytes:
    return encode(Out.CANCEL_ACCOUNT_SUMMARY, 1, req_id)


def req_executions(req_id: int, client_id: int = 0, account: str = "", time: str = "", symbol: str = "",
                   sec_type: str = "", exchange: str = "", side: str = "") -> bytes:
    return encode(Out.REQ_EXECUTIONS, 3, req_id, client_id, account, time, symbol, sec_type, exchange, side)


def req_market_data_type(kind: int) -> bytes:
    return encode(Out.REQ_MARKET_DATA_TYPE, 1, kind)


def req_mkt_data(req_id: int, contract: Contract, *, generic_ticks: str = "", snapshot: bool = True) -> bytes:
    return encode(Out.REQ_MKT_DATA, 11, req_id, *contract.block(), 0, generic_ticks, snapshot, 0, "")


def cancel_mkt_data(req_id: int) -> bytes:
    return encode(Out.CANCEL_MKT_DATA, 2, req_id)


def cancel_order(order_id: int) -> bytes:
    return encode(Out.CANCEL_ORDER, 1, order_id, "")


def req_global_cancel() -> bytes:
    return encode(Out.REQ_GLOBAL_CANCEL, 1)


@frozen
class IbOrder:
    """The order fields orch sets; everything else goes out as TWS's defaults."""

    action: str                       # BUY / SELL
    total_quantity: Decimal
    order_type: str                   # MKT LMT STP "STP LMT" TRAIL
    lmt_price: Decimal | None = None
    aux_price: Decimal | None = None  # stop trigger, or the trailing amount
    tif: str = "DAY"
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False
    account: str = ""
    trailing_percent: Decimal | None = None
    trail_stop_price: Decimal | None = None
    oca_group: str = ""


def place_order_fields(order_id: int, contract: Contract, order: IbOrder,
                       server_version: int = MAX_VERSION) -> list[str]:
    """placeOrder's fields in TWS's order (114 at version 178; faProfile adds one below 177)."""
    f: list[str] = [text(Out.PLACE_ORDER), text(order_id), *contract.block(), "", "",
                    order.action, text(order.total_quantity), order.order_type, price_text(order.lmt_price),
                    price_text(order.aux_price), order.tif, order.oca_group, order.account, "O", "0",
                    order.order_ref, text(order.transmit), text(order.parent_id),
                    "0", "0", "0", "0", text(order.outside_rth), "0", "",   # block..hidden, sharesAllocation
                    "0.0", "", "", "", "", ""]                            # discretionaryAmt..faPercentage
    if server_version < 177:
        f.append("")                                                     # faProfile
    f += ["", "0", "", "-1", "0",                                        # modelCode..ocaType
          "", "", "0", "", "",                                           # rule80A..percentOffset
          "0", "0", "",                                                  # eTradeOnly, firmQuoteOnly, nbbo
          "0", "", "", "", "", "",                                       # auctionStrategy..stockRangeUpper
          "0", "", "", "", "",                                           # overridePct..deltaNeutralAuxPrice
          "0", "", price_text(order.trail_stop_price), price_text(order.trailing_percent),
          "", "", "",                                                    # scale init/subs/increment
          "", "", "", "",                                                # scaleTable..hedgeType
          "0", "", "", "0",                                              # optOutSmart..notHeld
          "0",                                                           # deltaNeutralContract
          "", "",                                                        # algoStrategy, algoId
          "0", "",                                                       # whatIf, orderMiscOptions
          "0", "0", "0",                                                 # solicited, randomize x2
          "0",                                                           # conditions
          "", "", "", "", "", "", "0",                                   # adjusted...
          "", "", "", "",                                                # extOperator, softDollar, cashQty
          "", "", "", "",                                                # mifid2
          "0", "0", "0", "0",                                            # hedge/oms/discretionary/priceMgmt
          "", "", "0", "", ""]                                           # duration..manualOrderTime
    return f


def place_order(order_id: int, contract: Contract, order: IbOrder, server_version: int = MAX_VERSION) -> bytes:
    return encode(*place_order_fields(order_id, contract, order, server_version))


@frozen
class PlacedOrder:
    """What the fake TWS reads from a placeOrder (and what the unit tests check)."""

    order_id: int
    contract: Contract
    order: IbOrder


def parse_place_order(fields: Sequence[str], server_version: int = MAX_VERSION) -> PlacedOrder:
    f = list(fields)
    shift = 1 if server_version < 177 else 0  # faProfile
    if len(f) < 70 + shift:
        raise ProtocolError(f"placeOrder with {len(f)} fields", broker="ibkr")
    contract = Contract(con_id=_int(f[2], "conId"), symbol=f[3], sec_type=f[4], last_trade_date=f[5],
                        strike=dec(f[6], "strike"), right=f[7], multiplier=f[8], exchange=f[9],
                        primary_exchange=f[10], currency=f[11], local_symbol=f[12], trading_class=f[13])
    quantity = dec(f[17], "totalQuantity")
    order = IbOrder(action=f[16], total_quantity=quantity if quantity is not None else Decimal(0),
                    order_type=f[18], lmt_price=dec(f[19], "lmtPrice"), aux_price=dec(f[20], "auxPrice"),
                    tif=f[21], oca_group=f[22], account=f[23], order_ref=f[26], transmit=f[27] != "0",
                    parent_id=_int(f[28], "parentId"), outside_rth=f[33] == "1",
                    trail_stop_price=dec(f[68 + shift], "trailStopPrice"),
                    trailing_percent=dec(f[69 + shift], "trailingPercent"))
    return PlacedOrder(order_id=_int(f[1], "orderId"), contract=contract, order=order)


# ------------------------------------------------------------------------------------------ incoming


@frozen
class ErrorMsg:
    req_id: int
    code: int
    message: str
    advanced: str = ""


def parse_error(fields: Sequence[str]) -> ErrorMsg:
    f = list(fields)
    if len(f) < 5:
        raise ProtocolError(f"error message with {len(f)} fields", broker="ibkr")
    return ErrorMsg(req_id=_int(f[2], "id"), code=_int(f[3], "errorCode"), message=one_line(f[4], 500),
                    advanced=f[5] if len(f) > 5 else "")


@frozen
class OrderStatusMsg:
    order_id: int
    status: str
    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal | None
    perm_id: int
    parent_id: int
    last_fill_price: Decimal | None
    client_id: int
    why_held: str = ""


def parse_order_status(fields: Sequence[str]) -> OrderStatusMsg:
    f = list(fields)
    if len(f) < 11:
        raise ProtocolError(f"orderStatus with {len(f)} fields", broker="ibkr")
    avg = dec(f[5], "avgFillPrice")
    return OrderStatusMsg(order_id=_int(f[1], "orderId"), status=f[2], filled=dec(f[3]) or Decimal(0),
                          remaining=dec(f[4]) or Decimal(0), avg_fill_price=avg if avg else None,
                          perm_id=_int(f[6], "permId"), parent_id=_int(f[7], "parentId"),
                          last_fill_price=dec(f[8]), client_id=_int(f[9], "clientId"), why_held=f[10])


@frozen
class OpenOrderMsg:
    order_id: int
    contract: Contract
    order: IbOrder
    client_id: int
    perm_id: int
    status: str


class _Reader:
    def __init__(self, fields: Sequence[str], start: int) -> None:
        self.f = list(fields)
        self.i = start

    def next(self) -> str:
        if self.i >= len(self.f):
            raise ProtocolError(f"openOrder ended early at field {self.i}", broker="ibkr")
        value = self.f[self.i]
        self.i += 1
        return value

    def skip(self, n: int) -> None:
        for _ in range(n):
            self.next()


def parse_open_order(fields: Sequence[str], server_version: int = MAX_VERSION) -> OpenOrderMsg:
    """openOrder (5) without a version field (>= 145); read in sequence because a few blocks are
    conditional. Stops at the status field: orch needs nothing after it."""
    f = list(fields)
    if len(f) < 26:
        raise ProtocolError(f"openOrder with {len(f)} fields", broker="ibkr")
    contract = Contract(con_id=_int(f[2], "conId"), symbol=f[3], sec_type=f[4], last_trade_date=f[5],
                        strike=dec(f[6], "strike"), right=f[7], multiplier=f[8], exchange=f[9],
                        currency=f[10], local_symbol=f[11], trading_class=f[12])
    r = _Reader(f, 26)
    r.skip(8)                                   # outsideRth .. faPercentage
    if server_version < 177:
        r.skip(1)                               # faProfile
    r.skip(23)                                  # modelCode .. nbboPriceCap
    parent_id = _int(r.next(), "parentId")
    r.skip(2)                                   # triggerMethod, volatility
    r.skip(1)                                   # volatilityType
    if r.next():                                # deltaNeutralOrderType
        r.skip(8)
    r.skip(3)                                   # deltaNeutralAuxPrice, continuousUpdate, referencePriceType
    trail_stop = dec(r.next(), "trailStopPrice")
    trailing_percent = dec(r.next(), "trailingPercent")
    r.skip(3)                                   # basisPoints, basisPointsType, comboLegsDescrip
    r.skip(8 * _int(r.next(), "comboLegsCount"))
    r.skip(_int(r.next(), "orderComboLegsCount"))
    r.skip(2 * _int(r.next(), "smartComboRoutingParamsCount"))
    r.skip(2)                                   # scaleInitLevelSize, scaleSubsLevelSize
    increment = dec(r.next(), "scalePriceIncrement")
    if increment is not None and increment > 0:
        r.skip(7)
    if r.next():                                # hedgeType
        r.skip(1)
    r.skip(4)                                   # optOutSmartRouting .. notHeld
    if r.next() == "1":                         # deltaNeutralContract
        r.skip(3)
    if r.next():                                # algoStrategy
        r.skip(2 * _int(r.next(), "algoParamsCount"))
    r.skip(2)                                   # solicited, whatIf
    status = r.next()
    quantity = dec(f[14], "totalQuantity")
    order = IbOrder(action=f[13], total_quantity=quantity if quantity is not None else Decimal(0),
                    order_type=f[15], lmt_price=dec(f[16], "lmtPrice"), aux_price=dec(f[17], "auxPrice"),
                    tif=f[18], oca_group=f[19], account=f[20], order_ref=f[23], parent_id=parent_id,
                    trail_stop_price=trail_stop, trailing_percent=trailing_percent)
    return OpenOrderMsg(order_id=_int(f[1], "orderId"), contract=contract, order=order,
                        client_id=_int(f[24], "clientId"), perm_id=_int(f[25], "permId"), status=status)


@frozen
class Execution:
    req_id: int
    order_id: int
    contract: Contract
    exec_id: str
    time: str
    account: str
    side: str          # BOT / SLD
    shares: Decimal
    price: Decimal
    perm_id: int
    client_id: int
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str


def parse_execution(fields: Sequence[str]) -> Execution:
    f = list(fields)
    if len(f) < 27:
        raise ProtocolError(f"execDetails with {len(f)} fields", broker="ibkr")
    contract = Contract(con_id=_int(f[3], "conId"), symbol=f[4], sec_type=f[5], last_trade_date=f[6],
                        strike=dec(f[7]), right=f[8], multiplier=f[9], exchange=f[10], currency=f[11],
                        local_symbol=f[12], trading_class=f[13])
    return Execution(req_id=_int(f[1], "reqId"), order_id=_int(f[2], "orderId"), contract=contract,
                     exec_id=f[14], time=f[15], account=f[16], side=f[18], shares=dec(f[19]) or Decimal(0),
                     price=dec(f[20]) or Decimal(0), perm_id=_int(f[21], "permId"),
                     client_id=_int(f[22], "clientId"), cum_qty=dec(f[24]) or Decimal(0),
                     avg_price=dec(f[25]) or Decimal(0), order_ref=f[26])


@frozen
class Commission:
    exec_id: str
    commission: Decimal
    currency: str
    realized_pnl: Decimal | None


def parse_commission(fields: Sequence[str]) -> Commission:
    f = list(fields)
    if len(f) < 6:
        raise ProtocolError(f"commissionReport with {len(f)} fields", broker="ibkr")
    return Commission(exec_id=f[2], commission=dec(f[3]) or Decimal(0), currency=f[4], realized_pnl=dec(f[5]))


@frozen
class PositionMsg:
    account: str
    contract: Contract
    position: Decimal
    avg_cost: Decimal | None


def parse_position(fields: Sequence[str]) -> PositionMsg:
    f = list(fields)
    if len(f) < 16:
        raise ProtocolError(f"position with {len(f)} fields", broker="ibkr")
    contract = Contract(con_id=_int(f[3], "conId"), symbol=f[4], sec_type=f[5], last_trade_date=f[6],
                        strike=dec(f[7]), right=f[8], multiplier=f[9], exchange=f[10], currency=f[11],
                        local_symbol=f[12], trading_class=f[13])
    return PositionMsg(account=f[2], contract=contract, position=dec(f[14]) or Decimal(0),
                       avg_cost=dec(f[15]))


@frozen
class SummaryRow:
    req_id: int
    account: str
    tag: str
    value: str
    currency: str


def parse_account_summary(fields: Sequence[str]) -> SummaryRow:
    f = list(fields)
    if len(f) < 7:
        raise ProtocolError(f"accountSummary with {len(f)} fields", broker="ibkr")
    return SummaryRow(req_id=_int(f[2], "reqId"), account=f[3], tag=f[4], value=f[5], currency=f[6])


@frozen
class Tick:
    req_id: int
    tick_type: int
    value: str


def parse_tick(fields: Sequence[str]) -> Tick:
    """tickPrice (1), tickSize (2), tickString (46), tickGeneric (45): version, reqId, type, value."""
    f = list(fields)
    if len(f) < 5:
        raise ProtocolError(f"tick message with {len(f)} fields", broker="ibkr")
    return Tick(req_id=_int(f[2], "reqId"), tick_type=_int(f[3], "tickType"), value=f[4])


def req_id_of(fields: Sequence[str]) -> int | None:
    """The request id a reply belongs to, for the messages that carry one."""
    msg_id = int_at(fields, 0, "message id")
    if msg_id in (In.TICK_PRICE, In.TICK_SIZE, In.TICK_GENERIC, In.TICK_STRING, In.TICK_SNAPSHOT_END,
                  In.MARKET_DATA_TYPE, In.CONTRACT_DATA_END, In.ACCOUNT_SUMMARY, In.ACCOUNT_SUMMARY_END,
                  In.EXECUTION_DATA_END, In.ACCOUNT_UPDATE_MULTI, In.ACCOUNT_UPDATE_MULTI_END):
        return int_at(fields, 2, "reqId")
    if msg_id in (In.CONTRACT_DATA, In.EXECUTION_DATA, In.TICK_REQ_PARAMS):
        return int_at(fields, 1, "reqId")
    return None


# Tick types orch reads (TickTypeEnum): live and delayed.
BID, ASK, LAST, BID_SIZE, ASK_SIZE, LAST_TIMESTAMP = 1, 2, 4, 0, 3, 45
DELAYED_BID, DELAYED_ASK, DELAYED_LAST, DELAYED_BID_SIZE, DELAYED_ASK_SIZE = 66, 67, 68, 69, 70
DELAYED_LAST_TIMESTAMP = 88
MARKET_DATA_TYPES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}


@frozen
class QuoteTicks:
    """What a snapshot request collected."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    last: Decimal | None = None
    timestamp: int | None = None
    data_type: int = 1
    delayed: bool = False
    extra: tuple[str, ...] = field(default=())


def collect_ticks(ticks: Iterable[Tick], data_type: int = 1) -> QuoteTicks:
    values: dict[str, Any] = {}
    delayed = data_type in (3, 4)
    for tick in ticks:
        t = tick.tick_type
        if t in (DELAYED_BID, DELAYED_ASK, DELAYED_LAST, DELAYED_BID_SIZE, DELAYED_ASK_SIZE,
                 DELAYED_LAST_TIMESTAMP):
            delayed = True
        if t in (BID, DELAYED_BID):
            values["bid"] = dec(tick.value, "bid")
        elif t in (ASK, DELAYED_ASK):
            values["ask"] = dec(tick.value, "ask")
        elif t in (LAST, DELAYED_LAST):
            values["last"] = dec(tick.value, "last")
        elif t in (BID_SIZE, DELAYED_BID_SIZE):
            values["bid_size"] = dec(tick.value, "bid size")
        elif t in (ASK_SIZE, DELAYED_ASK_SIZE):
            values["ask_size"] = dec(tick.value, "ask size")
        elif t in (LAST_TIMESTAMP, DELAYED_LAST_TIMESTAMP):
            stamp = _int(tick.value, "timestamp")
            if not 0 <= stamp <= LATEST_TIME:
                raise ProtocolError(f"TWS sent {tick.value[:40]!r} for the last trade time, out of range",
                                    broker="ibkr")
            values["timestamp"] = stamp
    for name in ("bid", "ask", "last"):
        # TWS sends -1 (or 0) for "no bid/ask" rather than leaving the tick out.
        if values.get(name) is not None and values[name] <= 0:
            values[name] = None
    return QuoteTicks(data_type=data_type, delayed=delayed, **values)


# ------------------------------------------------------------------------------------------ errors

# Notices and warnings: logged, never an error for a request (2100-2199 are farm/status notices).
WARNING_CODES = frozenset({165, 399, 404, 434, 492, 2100, 10167, 10285})
CONNECTIVITY_LOST, RESTORED_DATA_LOST, RESTORED_DATA_KEPT = 1100, 1101, 1102
MARKET_DATA_CODES = frozenset({354, 10089, 10090, 10168, 10197})
ORDER_REJECTION_CODES = frozenset({103, 104, 105, 106, 107, 109, 110, 111, 116, 117, 135, 136, 201, 203, 382,
                                   383, 387, 388, 10006})
PACING_WINDOW = 1.0  # seconds: TWS counts 50 messages per second


def is_warning(code: int) -> bool:
    return code in WARNING_CODES or 2100 <= code <= 2199


def error_for(err: ErrorMsg, *, broker: str = "ibkr", what: str = "") -> Exception:
    """The orch error for a TWS error message, keeping IB's code and text."""
    code, text_ = err.code, err.message
    kwargs: dict[str, Any] = {"broker": broker, "broker_code": code, "broker_message": text_}
    subject = f"{what}: " if what else ""
    if code == 200:
        return UnknownInstrument(f"{subject}no security definition found (IB: {text_})", **kwargs)
    if code == 100:
        return RateLimited(f"{subject}TWS message rate exceeded (50/s)", retry_after=PACING_WINDOW, **kwargs)
    if code in MARKET_DATA_CODES:
        return PermissionDenied(f"{subject}market data not permitted: {text_}",
                                hint="without a live subscription set market_data_type = 3 (delayed)", **kwargs)
    if code == 10147:
        return OrderNotFound(f"{subject}TWS does not know this order: {text_}", **kwargs)
    if code == 161:
        return OrderRejected(f"{subject}not cancellable: {text_}", **kwargs)
    if code in ORDER_REJECTION_CODES:
        reason = text_.split("reason:", 1)[1].strip() if "reason:" in text_ else text_
        lowered = reason.lower()
        cls = InsufficientFunds if any(w in lowered for w in ("insufficient", "buying power", "margin",
                                                                "equity")) else OrderRejected
        return cls(f"{subject}order rejected: {reason or text_}", **kwargs)
    if code == 326:
        return BrokerUnavailable(f"{subject}client id already in use at TWS ({text_})",
                                 hint="another API client uses this client_id: pick another", **kwargs)
    if code in (502, 504, CONNECTIVITY_LOST, 1300, 2110):
        return BrokerUnavailable(f"{subject}{text_}", **kwargs)
    if code == 321 and "read-only" in text_.lower():
        return PermissionDenied(f"{subject}the TWS API is read-only: {text_}",
                                hint="untick 'Read-Only API' in TWS API settings", **kwargs)
    return BrokerError(f"{subject}{text_}", **kwargs)
