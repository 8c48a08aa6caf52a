"""The simulated XTB back office around the shared :class:`~orch.sim.engine.Engine`.

XTB keeps one record per *trade* (hedging: a buy and a sell of EURUSD may both be open), while the engine
nets positions per symbol. So this module keeps xAPI's ledger — open trades, pending orders, closed
records, transaction statuses — and sends every execution to the engine (market orders for opens and
closes, limit/stop orders for pending ones), which prices them, moves the cash and checks margin.

Order numbers: every ``tradeTransaction`` gets a new number. An opening trade is recorded under that
number (``order = order2 = position``); a close gets its own closed record (``order`` = the close's
number, ``position`` = the trade closed). Pending orders that the engine fills become open trades under
the same number. Stop-loss/take-profit levels are checked whenever the ledger is refreshed (every
command, and every second for each streaming connection).
"""

from __future__ import annotations

import hmac
import threading
import weakref
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from attrs import define, field

from orch.models import OrderStatus
from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.instruments import UnknownSymbol
from orch.sim.orders import RejectCode

from orch_xtb.sim.catalog import LOT_MIN, LOT_STEP, Catalog, SimSymbol

SIM_USER = "40718253"  # an account id: registered as a secret, so nothing else may contain it
SIM_PASSWORD = "sim-xtb-password-0001"
SIM_ACCOUNT = "XTBDEMO01"
FIRST_ORDER = 500_001

BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP = range(6)
OPEN, PENDING, CLOSE, MODIFY, DELETE = range(5)
ERROR, REQUEST_PENDING, ACCEPTED, REJECTED = 0, 1, 3, 4


class XtbError(Exception):
    """An xAPI ``status: false`` answer."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


def ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


@define
class Trade:
    order: int
    position: int
    cmd: int
    symbol: str
    volume: Decimal
    open_price: Decimal
    open_time: datetime
    account_id: str
    sl: Decimal = Decimal(0)
    tp: Decimal = Decimal(0)
    custom_comment: str = ""
    expiration: datetime | None = None
    engine_id: str | None = None
    closed: bool = False
    close_price: Decimal | None = None
    close_time: datetime | None = None
    comment: str = ""
    profit: Decimal | None = None

    @property
    def pending(self) -> bool:
        return self.cmd not in (BUY, SELL)

    @property
    def buy(self) -> bool:
        return self.cmd in (BUY, BUY_LIMIT, BUY_STOP)


@define
class Request:
    order: int
    account_id: str
    request_status: int
    custom_comment: str = ""
    message: str | None = None
    price: Decimal | None = None
    ask: Decimal | None = None
    bid: Decimal | None = None


@define
class Counters:
    commands: dict[str, int] = field(factory=dict)
    logins: int = 0
    transactions: int = 0
    stream_connections: int = 0
    spacing_violations: int = 0
    lost_answers: int = 0  # tradeTransaction answers dropped by the fault plan


class XtbSim:
    """One simulated XTB server. ``users`` maps account ids (xAPI ``userId``) to (password, engine
    account id). Reach a running simulator's state with :meth:`of` (``XtbSim.of(running.engine)``)."""

    _registry: ClassVar[weakref.WeakKeyDictionary[Engine, XtbSim]] = weakref.WeakKeyDictionary()

    def __init__(self, engine: Engine, faults: Faults, *, users: dict[str, tuple[str, str]] | None = None) -> None:
        self.engine = engine
        self.faults = faults
        self.users = dict(users or {SIM_USER: (SIM_PASSWORD, SIM_ACCOUNT)})
        self.catalog = Catalog(engine.market)
        self.counters = Counters()
        self._lock = threading.RLock()
        self._seq = FIRST_ORDER - 1
        self._sessions: dict[str, str] = {}  # streamSessionId -> engine account id
        self.trades: dict[int, Trade] = {}
        self.closed: dict[int, Trade] = {}
        self.requests: dict[int, Request] = {}
        self.version = 0  # bumped on every ledger change (streams diff against it)
        # XTB closes a connection at the sixth command in a row sent less than 200 ms after the previous one.
        self.enforce_spacing = True
        XtbSim._registry[engine] = self

    @classmethod
    def of(cls, engine: Engine) -> XtbSim:
        return cls._registry[engine]

    # ---------------------------------------------------------------------------------- session

    def login(self, user: Any, password: Any) -> tuple[str, str]:
        """(engine account id, streamSessionId), or BE005."""
        entry = self.users.get(str(user))
        if entry is None or not isinstance(password, str) or not hmac.compare_digest(entry[0].encode(),
                                                                                      password.encode()):
            raise XtbError("BE005", "userPasswordCheck: Invalid login or password")
        with self._lock:
            self.counters.logins += 1
            session = f"{8469308861804289383 + self.counters.logins * 7919}"
            self._sessions[session] = entry[1]
            return entry[1], session

    def session_account(self, stream_session: Any) -> str | None:
        return self._sessions.get(str(stream_session))

    def end_session(self, stream_session: str | None) -> None:
        if stream_session is not None:
            self._sessions.pop(stream_session, None)

    # ---------------------------------------------------------------------------------- helpers

    def now(self) -> datetime:
        return self.engine.now()

    def symbol(self, name: Any) -> SimSymbol:
        found = self.catalog.get(str(name))
        if found is None:
            raise XtbError("BE115", f"Symbol {name} does not exist for given account")
        return found

    def _number(self) -> int:
        self._seq += 1
        return self._seq

    def quote(self, sym: SimSymbol) -> Any:
        return self.engine.quote(sym.symbol)

    def _profit(self, trade: Trade, price: Decimal, volume: Decimal | None = None) -> Decimal:
        sym = self.symbol(trade.symbol)
        units = (volume if volume is not None else trade.volume) * sym.contract_size
        diff = (price - trade.open_price) if trade.buy else (trade.open_price - price)
        account = self.engine.account(trade.account_id)
        rate = self.engine.market.fx_rate(sym.currency, account.currency, self.now())
        return (diff * units * rate).quantize(Decimal("0.01"))

    def _execute(self, account_id: str, sym: SimSymbol, buy: bool, volume: Decimal) -> tuple[Decimal | None, str]:
        """A market execution at the engine: (price, "") or (None, why it was refused)."""
        order = self.engine.place_order(account_id, symbol=sym.symbol, side="buy" if buy else "sell",
                                        qty=volume * sym.contract_size, type="market", time_in_force="ioc")
        if order.status is OrderStatus.FILLED:
            return order.avg_fill_price, ""
        if order.reject_code is RejectCode.INSUFFICIENT_BUYING_POWER:
            return None, "Not enough money"
        if order.status is OrderStatus.EXPIRED:
            return None, "Market closed"
        return None, order.reject_reason or "Order rejected"

    # ---------------------------------------------------------------------------------- refresh

    def refresh(self, account_id: str | None = None) -> None:
        """Bring the ledger up to date: pending orders the engine filled become trades, expired ones are
        deleted, stop-loss/take-profit levels that were reached close their trades."""
        with self._lock:
            now = self.now()
            for trade in list(self.trades.values()):
                if account_id is not None and trade.account_id != account_id:
                    continue
                if trade.pending:
                    self._refresh_pending(trade, now)
                else:
                    self._check_exits(trade)

    def _refresh_pending(self, trade: Trade, now: datetime) -> None:
        assert trade.engine_id is not None
        order = self.engine.get_order(trade.engine_id)
        if order.status is OrderStatus.FILLED:
            trade.cmd = BUY if trade.buy else SELL
            trade.open_price = order.avg_fill_price or trade.open_price
            trade.open_time = order.filled_at or now
            trade.engine_id = None
            self.version += 1
        elif not order.is_open or (trade.expiration is not None and now >= trade.expiration):
            if order.is_open:
                self.engine.cancel_order(trade.engine_id)
            self._archive(trade, None, now, "expired" if trade.expiration else "deleted")

    def _check_exits(self, trade: Trade) -> None:
        sym = self.symbol(trade.symbol)
        quote = self.quote(sym)
        price = quote.bid if trade.buy else quote.ask
        hit = None
        if trade.sl and ((trade.buy and price <= trade.sl) or (not trade.buy and price >= trade.sl)):
            hit = "[S/L]"
        elif trade.tp and ((trade.buy and price >= trade.tp) or (not trade.buy and price <= trade.tp)):
            hit = "[T/P]"
        if hit is not None:
            self._close(trade, trade.volume, self._number(), comment=hit, custom_comment="")

    def _archive(self, trade: Trade, price: Decimal | None, now: datetime, comment: str) -> None:
        trade.closed, trade.close_price, trade.close_time = True, price, now
        trade.comment = comment
        self.trades.pop(trade.order, None)
        self.closed[trade.order] = trade
        self.version += 1

    def _close(self, trade: Trade, volume: Decimal, number: int, *, comment: str, custom_comment: str) -> Decimal:
        sym = self.symbol(trade.symbol)
        price, why = self._execute(trade.account_id, sym, not trade.buy, volume)
        if price is None:
            raise XtbError("BE006" if why == "Market closed" else "BE099", why)
        now = self.now()
        profit = self._profit(trade, price, volume)
        record = Trade(order=number, position=trade.position, cmd=trade.cmd, symbol=trade.symbol, volume=volume,
                       open_price=trade.open_price, open_time=trade.open_time, account_id=trade.account_id,
                       custom_comment=custom_comment, closed=True, close_price=price, close_time=now,
                       comment=comment, profit=profit)
        self.closed[number] = record
        trade.volume -= volume
        if trade.volume == 0:
            trade.profit = profit
            self._archive(trade, price, now, comment)
        self.version += 1
        return price

    # ---------------------------------------------------------------------------------- views

    def trade_record(self, trade: Trade) -> dict[str, Any]:
        sym = self.catalog.get(trade.symbol)
        close_price, profit = trade.close_price, trade.profit
        if not trade.closed and not trade.pending and sym is not None:
            quote = self.quote(sym)
            close_price = quote.bid if trade.buy else quote.ask
            profit = self._profit(trade, close_price)
        return {
            "order": trade.order, "order2": trade.order, "position": trade.position, "cmd": trade.cmd,
            "symbol": trade.symbol, "volume": trade.volume, "open_price": trade.open_price,
            "open_time": ms(trade.open_time), "open_timeString": trade.open_time.strftime("%c"),
            "close_price": close_price, "close_time": ms(trade.close_time),
            "close_timeString": trade.close_time.strftime("%c") if trade.close_time else None,
            "closed": trade.closed, "sl": trade.sl, "tp": trade.tp, "profit": profit, "commission": Decimal(0),
            "storage": Decimal(0), "margin_rate": Decimal(0), "offset": 0, "digits": sym.precision if sym else 5,
            "comment": trade.comment, "customComment": trade.custom_comment,
            "expiration": ms(trade.expiration), "expirationString": None, "timestamp": ms(self.now()),
            "nominalValue": None, "spread": None, "taxes": Decimal(0),
        }

    def open_records(self, account_id: str) -> list[dict[str, Any]]:
        self.refresh(account_id)
        with self._lock:
            return [self.trade_record(t) for t in self.trades.values() if t.account_id == account_id]

    def history_records(self, account_id: str, start: int, end: int) -> list[dict[str, Any]]:
        self.refresh(account_id)
        with self._lock:
            now = self.now()
            since = now - timedelta(days=30) if not start else datetime.fromtimestamp(start / 1000, tz=now.tzinfo)
            until = now if not end else datetime.fromtimestamp(end / 1000, tz=now.tzinfo)
            return [self.trade_record(t) for t in self.closed.values()
                    if t.account_id == account_id and t.close_time is not None and since <= t.close_time <= until]

    def records_for(self, account_id: str, orders: list[Any]) -> list[dict[str, Any]]:
        self.refresh(account_id)
        with self._lock:
            found = []
            for number in orders:
                trade = self.trades.get(int(number)) or self.closed.get(int(number))
                if trade is not None and trade.account_id == account_id:
                    found.append(self.trade_record(trade))
            return found

    def margin_level(self, account_id: str) -> dict[str, Any]:
        self.refresh(account_id)
        with self._lock:
            account = self.engine.account(account_id)
            state = self.engine.account_state(account_id)
            now = self.now()
            unrealized = Decimal(0)
            margin = Decimal(0)
            for trade in self.trades.values():
                if trade.account_id != account_id or trade.pending:
                    continue
                sym = self.symbol(trade.symbol)
                quote = self.quote(sym)
                unrealized += self._profit(trade, quote.bid if trade.buy else quote.ask)
                notional = trade.volume * sym.contract_size * quote.mid
                margin += notional * self.engine.market.fx_rate(sym.currency, account.currency, now) / sym.leverage
            equity = state.equity
            balance = equity - unrealized
            margin = margin.quantize(Decimal("0.01"))
            return {"balance": balance.quantize(Decimal("0.01")), "credit": Decimal("0.00"),
                    "currency": account.currency, "equity": equity.quantize(Decimal("0.01")), "margin": margin,
                    "margin_free": (equity - margin).quantize(Decimal("0.01")),
                    "margin_level": (equity / margin * 100).quantize(Decimal("0.01")) if margin else Decimal(0)}

    def tick(self, sym: SimSymbol) -> dict[str, Any]:
        quote = self.quote(sym)
        return {"ask": quote.ask, "askVolume": int(quote.ask_size), "bid": quote.bid,
                "bidVolume": int(quote.bid_size), "high": quote.ask, "low": quote.bid, "level": 0,
                "spreadRaw": quote.ask - quote.bid, "spreadTable": (quote.ask - quote.bid).scaleb(sym.precision - 1),
                "symbol": sym.symbol, "timestamp": ms(quote.timestamp), "quoteId": 2}

    def status_of(self, account_id: str, number: Any) -> dict[str, Any]:
        with self._lock:
            request = self.requests.get(int(number))
            if request is None or request.account_id != account_id:
                raise XtbError("BE098", f"No such transaction: {number}")
            return {"ask": request.ask, "bid": request.bid, "customComment": request.custom_comment,
                    "message": request.message, "order": request.order, "requestStatus": request.request_status}

    # ---------------------------------------------------------------------------------- transactions

    def transaction(self, account_id: str, info: Any) -> int:
        """Take one tradeTransInfo; returns the request's order number (the outcome is in its status)."""
        if not isinstance(info, dict):
            raise XtbError("EX000", "Invalid parameters: tradeTransInfo")
        try:
            kind = int(info.get("type", OPEN))
            cmd = int(info["cmd"])
            volume = Decimal(str(info.get("volume", 0)))
            price = Decimal(str(info.get("price", 0)))
            sl = Decimal(str(info.get("sl") or 0))
            tp = Decimal(str(info.get("tp") or 0))
            order_no = int(info.get("order") or 0)
            expiration = int(info.get("expiration") or 0)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise XtbError("EX000", "Invalid parameters") from None
        comment = str(info.get("customComment") or "")
        if cmd not in range(6):
            raise XtbError("BE102", f"Unknown transaction type: cmd {cmd}")
        with self._lock:
            self.refresh(account_id)
            self.counters.transactions += 1
            if kind == OPEN:
                return self._open(account_id, info.get("symbol"), cmd, volume, price, sl, tp, expiration, comment)
            if kind == CLOSE:
                return self._close_request(account_id, order_no, volume, comment)
            if kind == MODIFY:
                return self._modify(account_id, order_no, volume, price, sl, tp, expiration, comment)
            if kind == DELETE:
                return self._delete(account_id, order_no, comment)
            raise XtbError("BE102", f"Unknown transaction type: type {kind}")

    def _check_volume(self, sym: SimSymbol, volume: Decimal) -> None:
        if volume < LOT_MIN or volume > sym.lot_max or volume % LOT_STEP != 0:
            raise XtbError("BE003", f"Invalid volume {volume} (min {LOT_MIN}, step {LOT_STEP}, max {sym.lot_max})")

    def _check_price(self, sym: SimSymbol, name: str, price: Decimal) -> None:
        if price and price % sym.info.tick_size != 0:
            raise XtbError("BE001" if name == "price" else "BE002", f"Invalid {name} {price} for {sym.symbol} "
                           f"(precision {sym.precision})")

    def _check_exit_levels(self, buy: bool, price: Decimal, sl: Decimal, tp: Decimal) -> None:
        if (sl and ((buy and sl >= price) or (not buy and sl <= price))) or (
                tp and ((buy and tp <= price) or (not buy and tp >= price))):
            raise XtbError("BE002", f"Invalid s/l or t/p price (sl {sl}, tp {tp}, price {price})")

    def _request(self, account_id: str, number: int, status: int, comment: str, sym: SimSymbol | None,
                 message: str | None = None, price: Decimal | None = None) -> int:
        quote = self.quote(sym) if sym is not None else None
        self.requests[number] = Request(order=number, account_id=account_id, request_status=status,
                                        custom_comment=comment, message=message, price=price,
                                        ask=quote.ask if quote else None, bid=quote.bid if quote else None)
        self.version += 1
        return number

    def _open(self, account_id: str, name: Any, cmd: int, volume: Decimal, price: Decimal, sl: Decimal,
              tp: Decimal, expiration: int, comment: str) -> int:
        sym = self.symbol(name)
        self._check_volume(sym, volume)
        for label, value in (("price", price if cmd not in (BUY, SELL) else Decimal(0)), ("sl", sl), ("tp", tp)):
            self._check_price(sym, label, value)
        buy = cmd in (BUY, BUY_LIMIT, BUY_STOP)
        quote = self.quote(sym)
        reference = (quote.ask if buy else quote.bid) if cmd in (BUY, SELL) else price
        self._check_exit_levels(buy, reference, sl, tp)
        number = self._number()
        now = self.now()
        if cmd in (BUY, SELL):
            filled, why = self._execute(account_id, sym, buy, volume)
            if filled is None:
                return self._request(account_id, number, REJECTED, comment, sym, why)
            self.trades[number] = Trade(order=number, position=number, cmd=cmd, symbol=sym.symbol, volume=volume,
                                        open_price=filled, open_time=now, account_id=account_id, sl=sl, tp=tp,
                                        custom_comment=comment)
            return self._request(account_id, number, ACCEPTED, comment, sym, None, filled)
        if price <= 0:
            raise XtbError("BE001", "Invalid price: a pending order needs a price")
        kind = "limit" if cmd in (BUY_LIMIT, SELL_LIMIT) else "stop"
        levels = {"limit_price": price} if kind == "limit" else {"stop_price": price}
        order = self.engine.place_order(account_id, symbol=sym.symbol, side="buy" if buy else "sell",
                                        qty=volume * sym.contract_size, type=kind, time_in_force="gtc", **levels)
        if order.status is OrderStatus.REJECTED:
            message = "Not enough money" if order.reject_code is RejectCode.INSUFFICIENT_BUYING_POWER else \
                order.reject_reason
            return self._request(account_id, number, REJECTED, comment, sym, message)
        expires = datetime.fromtimestamp(expiration / 1000, tz=now.tzinfo) if expiration else None
        self.trades[number] = Trade(order=number, position=number, cmd=cmd, symbol=sym.symbol, volume=volume,
                                    open_price=price, open_time=now, account_id=account_id, sl=sl, tp=tp,
                                    custom_comment=comment, expiration=expires, engine_id=order.id)
        self._refresh_pending(self.trades[number], now)
        return self._request(account_id, number, ACCEPTED, comment, sym, None, price)

    def _owned(self, account_id: str, order_no: int) -> Trade:
        trade = self.trades.get(order_no)
        if trade is None or trade.account_id != account_id:
            closed = self.closed.get(order_no)
            if closed is not None and closed.account_id == account_id:
                raise XtbError("BE097", f"Order {order_no} is already closed")
            raise XtbError("BE098", f"No such transaction: {order_no}")
        return trade

    def _close_request(self, account_id: str, order_no: int, volume: Decimal, comment: str) -> int:
        trade = self._owned(account_id, order_no)
        if trade.pending:
            raise XtbError("BE096", "A pending order cannot be closed; delete it instead")
        sym = self.symbol(trade.symbol)
        if volume <= 0 or volume > trade.volume or volume % LOT_STEP != 0:
            raise XtbError("BE003", f"Invalid volume {volume} (the trade holds {trade.volume})")
        number = self._number()
        price = self._close(trade, volume, number, comment="", custom_comment=comment)
        return self._request(account_id, number, ACCEPTED, comment, sym, None, price)

    def _modify(self, account_id: str, order_no: int, volume: Decimal, price: Decimal, sl: Decimal, tp: Decimal,
                expiration: int, comment: str) -> int:
        trade = self._owned(account_id, order_no)
        sym = self.symbol(trade.symbol)
        for label, value in (("sl", sl), ("tp", tp)):
            self._check_price(sym, label, value)
        number = self._number()
        if trade.pending:
            self._check_volume(sym, volume)
            self._check_price(sym, "price", price)
            self._check_exit_levels(trade.buy, price, sl, tp)
            assert trade.engine_id is not None
            kind = "limit_price" if trade.cmd in (BUY_LIMIT, SELL_LIMIT) else "stop_price"
            try:
                self.engine.modify_order(trade.engine_id, qty=volume * sym.contract_size, **{kind: price})
            except Exception as exc:  # noqa: BLE001 - the engine's refusal becomes XTB's
                raise XtbError("BE008", f"Modification denied: {exc}") from None
            trade.open_price, trade.volume = price, volume
            trade.expiration = datetime.fromtimestamp(expiration / 1000, tz=self.now().tzinfo) if expiration \
                else None
            self._refresh_pending(trade, self.now())
        else:
            quote = self.quote(sym)
            self._check_exit_levels(trade.buy, quote.bid if trade.buy else quote.ask, sl, tp)
        trade.sl, trade.tp = sl, tp
        return self._request(account_id, number, ACCEPTED, comment, sym)

    def _delete(self, account_id: str, order_no: int, comment: str) -> int:
        trade = self._owned(account_id, order_no)
        if not trade.pending:
            raise XtbError("BE007", f"Order {order_no} is an open trade: close it instead of deleting")
        assert trade.engine_id is not None
        try:
            self.engine.cancel_order(trade.engine_id)
        except Exception:  # noqa: BLE001 - filled meanwhile
            self._refresh_pending(trade, self.now())
            raise XtbError("BE097", f"Order {order_no} was executed meanwhile") from None
        self._archive(trade, None, self.now(), "deleted")
        return self._request(account_id, self._number(), ACCEPTED, comment, self.symbol(trade.symbol))

    def all_symbols(self) -> list[dict[str, Any]]:
        now_ms = ms(self.now()) or 0
        records = []
        for sym in self.catalog.all():
            try:
                records.append(self.catalog.record(sym, self.quote(sym), now_ms))
            except UnknownSymbol:
                continue
        return records
