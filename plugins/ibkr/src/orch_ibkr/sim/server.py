"""The fake TWS: one :class:`Session` per TCP connection, all sharing one :class:`TwsState` per engine.

It speaks the handshake, startApi (managedAccounts, nextValidId, farm notices), and the requests orch and
ib_async send at start-up and while trading; orders go to orch.sim's Engine, whose events come back as
openOrder / orderStatus / execDetails / commissionReport, and refusals as error messages (200, 201, 202,
10147, 161, 103, 100 for injected rate limits).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import trio

from orch.models import OrderStatus, OrderType
from orch.sim.engine import Engine
from orch.sim.faults import Faults, StreamState
from orch.sim.instruments import UnknownSymbol
from orch.sim.orders import EventKind, OrderEvent, SimError, SimOrder

from orch_ibkr import protocol
from orch_ibkr.protocol import Contract, FrameBuffer, IbOrder, Out
from orch_ibkr.sim import wire
from orch_ibkr.sim.contracts import Registry, SimContract

log = logging.getLogger("orch.sim.ibkr")

SERVER_VERSION = 178
LOWEST_VERSION = 176

_NAMES = {v: k.lower() for k, v in vars(Out).items() if not k.startswith("_")}
_TYPES = {"MKT": OrderType.MARKET, "LMT": OrderType.LIMIT, "STP": OrderType.STOP,
          "STP LMT": OrderType.STOP_LIMIT, "TRAIL": OrderType.TRAILING_STOP}
_TIFS = {"": "day", "DAY": "day", "GTC": "gtc", "IOC": "ioc", "FOK": "fok", "OPG": "opg"}
_SUMMARY_MONEY = ("NetLiquidation", "TotalCashValue", "SettledCash", "BuyingPower", "AvailableFunds",
                  "ExcessLiquidity", "EquityWithLoanValue", "GrossPositionValue", "FullAvailableFunds",
                  "FullExcessLiquidity", "InitMarginReq", "MaintMarginReq", "FullInitMarginReq",
                  "FullMaintMarginReq", "RegTEquity", "RegTMargin", "SMA", "AccruedCash",
                  "PreviousDayEquityWithLoanValue", "LookAheadAvailableFunds", "LookAheadExcessLiquidity",
                  "LookAheadInitMarginReq", "LookAheadMaintMarginReq")


def _now_text(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%d %H:%M:%S") + " UTC"


class TwsState:
    """What every connection to one fake TWS shares: the security master, order-id maps (IB order ids
    are per client id), next valid ids, open sessions, and switches tests flip."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = Registry(lambda: self.engine.market)
        self.ib_to_engine: dict[tuple[int, int], str] = {}
        self.engine_to_ib: dict[str, tuple[int, int]] = {}
        self.contract_of: dict[str, SimContract] = {}       # engine order id -> contract
        self.ib_orders: dict[str, IbOrder] = {}             # engine order id -> what the client sent
        self.next_ids: dict[int, int] = {}
        self.sessions: set[Session] = set()
        self.cancel_requested: set[str] = set()
        self.live_data_permitted = True    # False: live requests get delayed data (10167)
        self.delayed_data_permitted = True  # False too: 354, no data at all
        # TWS takes at most 50 client messages a second per connection; the excess gets error 100.
        self.max_messages_per_second: int | None = MAX_MESSAGES_PER_SECOND
        self.counters: dict[str, int] = {}

    @classmethod
    def of(cls, engine: Engine) -> TwsState:
        state = engine.__dict__.get("_ibkr_tws")
        if state is None:
            state = engine.__dict__["_ibkr_tws"] = cls(engine)
        return state

    def perm_id(self, order: SimOrder) -> int:
        return 1_000_000 + order.seq

    def drop_connections(self) -> int:
        """Close every client connection (a TWS restart or network drop, as the client sees it)."""
        sessions = list(self.sessions)
        for session in sessions:
            session.drop()
        return len(sessions)

    def note(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1


MAX_MESSAGES_PER_SECOND = 50


class _Closed(Exception):
    pass


class Session:
    def __init__(self, state: TwsState, stream: trio.SocketStream, faults: Faults) -> None:
        self.state = state
        self.engine = state.engine
        self.stream = stream
        self.faults = faults
        self.version = SERVER_VERSION
        self.client_id: int | None = None
        self.data_type = 1
        self.staged: dict[int, tuple[protocol.PlacedOrder, SimContract]] = {}
        self.children: dict[int, list[protocol.PlacedOrder]] = {}
        self.positions_subscribed = False
        self.streams: dict[int, tuple[SimContract, bool]] = {}   # reqId -> contract, delayed
        self._quote_feed: Any = None
        self._nursery: Any = None
        self._send_lock = trio.Lock()
        self._scope = trio.CancelScope()
        self._arrivals: deque[float] = deque()  # trio time of the messages of the last second
        self._outgoing = StreamState()  # the fault plan's ws_* faults apply to the TWS socket too
        self._mute = False  # a hung session: reads on, answers nothing

    # ----------------------------------------------------------------------------- plumbing

    async def send(self, *messages: bytes) -> None:
        async with self._send_lock:
            # The stream faults (ws_drop_*, ws_silent) on TWS's one socket: a drop closes it, as TWS
            # restarting or a network cut does; silence swallows what it would send.
            action = self.faults.stream_message(self._outgoing)
            if action == "silence" or self._mute:
                return
            if action == "drop":
                self.drop()
                return
            await self.stream.send_all(b"".join(messages))

    def drop(self) -> None:
        self._scope.cancel()

    def _lose_answer(self) -> None:
        """The order stands; its answer is lost: the socket is cut (drop_mode "reset") or goes mute and
        stays open, as a hung TWS does ("hang")."""
        if self.faults.plan.drop_mode == "hang":
            self._mute = True
            return
        raise _Closed

    def _over_pace(self) -> int | None:
        """Count one message; the messages of the last second when that is over the limit (the message is
        then refused and not counted), else None."""
        limit = self.state.max_messages_per_second
        if limit is None:
            return None
        now = trio.current_time()
        while self._arrivals and self._arrivals[0] <= now - 1.0:
            self._arrivals.popleft()
        if len(self._arrivals) >= limit:
            return len(self._arrivals) + 1
        self._arrivals.append(now)
        return None

    async def _read_exactly(self, buffer: bytearray, n: int) -> bytes:
        while len(buffer) < n:
            data = await self.stream.receive_some(65536)
            if not data:
                raise _Closed
            buffer += data
        out = bytes(buffer[:n])
        del buffer[:n]
        return out

    async def run(self) -> None:
        with self._scope:
            try:
                await self._run()
            except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                self.state.sessions.discard(self)
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.stream.aclose()

    async def _run(self) -> None:
        raw = bytearray()
        if await self._read_exactly(raw, 4) != protocol.API_PREFIX:
            return
        frames = FrameBuffer()
        size = int.from_bytes(await self._read_exactly(raw, 4), "big")
        version_range = (await self._read_exactly(raw, size)).decode("ascii", "replace")
        try:
            low, high = protocol.parse_version_range(version_range)
        except ValueError:
            return
        if high < LOWEST_VERSION or low > SERVER_VERSION:
            return  # no common version: real TWS just closes
        self.version = min(high, SERVER_VERSION)
        await self.send(wire.hello_reply(self.version, _now_text(self.engine.now())))
        # Reading and handling are apart: TWS paces messages as they arrive, and a message must not look
        # late because the one before it was still being answered.
        arrived, arrivals = trio.open_memory_channel[tuple[int, list[str], Any, int | None]](math.inf)

        async def read() -> None:
            with arrived:
                for arrival in self._arrived(frames.feed(bytes(raw))):
                    arrived.send_nowait(arrival)
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while data := await self.stream.receive_some(65536):
                        for arrival in self._arrived(frames.feed(data)):
                            arrived.send_nowait(arrival)

        async with trio.open_nursery() as nursery:
            try:
                nursery.start_soon(read)
                async for arrival in arrivals:
                    await self._dispatch(arrival, nursery)
            except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                nursery.cancel_scope.cancel()

    # ----------------------------------------------------------------------------- dispatch

    def _arrived(self, messages: list[list[str]]) -> list[tuple[int, list[str], Any, int | None]]:
        """Count the messages of one read as they arrive, before any is handled: TWS paces arrivals, and
        handling an earlier message (answering it) must not make a later one look late. Each comes back
        with its fault decision and, when it broke the pace, the count that did."""
        arrivals = []
        for fields in messages:
            try:
                msg_id = int(fields[0])
            except (ValueError, IndexError):
                continue
            name = _NAMES.get(msg_id, f"msg{msg_id}")
            self.state.note(name)
            decision = self.faults.before_request("MSG", name)
            arrivals.append((msg_id, fields, decision, None if decision.status is not None else self._over_pace()))
        return arrivals

    async def _dispatch(self, arrival: tuple[int, list[str], Any, int | None], nursery: trio.Nursery) -> None:
        msg_id, fields, decision, received = arrival
        name = _NAMES.get(msg_id, f"msg{msg_id}")
        if decision.delay:
            await trio.sleep(decision.delay)
        if decision.status is not None:
            if decision.kind in ("429", "418"):
                await self.send(wire.error(self._req_id(msg_id, fields), 100,
                                           "Max rate of messages per second has been exceeded:max=50 rec=51 (1)"))
                return
            raise _Closed  # a server error: TWS drops the connection
        if received is not None:
            self.state.note("pacing_refused")
            await self.send(wire.error(self._req_id(msg_id, fields), 100,
                                       f"Max rate of messages per second has been exceeded:max="
                                       f"{self.state.max_messages_per_second} rec={received} (1)"))
            return
        if self.client_id is None and msg_id != Out.START_API:
            return
        handler = getattr(self, f"on_{name}", None)
        if msg_id == Out.START_API:
            await self.on_start_api(fields, nursery)
        elif handler is not None:
            try:
                await handler(fields)
            except protocol.ProtocolError as exc:
                await self.send(wire.error(-1, 320, f"Error reading request: {exc.message}"))
        else:
            log.debug("fake TWS: ignoring message %s", name)

    @staticmethod
    def _req_id(msg_id: int, fields: list[str]) -> int:
        keyed = (Out.REQ_MKT_DATA, Out.REQ_CONTRACT_DATA, Out.REQ_ACCOUNT_SUMMARY, Out.REQ_EXECUTIONS,
                 Out.REQ_ACCOUNT_UPDATES_MULTI, Out.CANCEL_ORDER)
        try:
            if msg_id in keyed:
                return int(fields[2])
            if msg_id == Out.PLACE_ORDER:
                return int(fields[1])
        except (IndexError, ValueError):
            pass
        return -1

    # ----------------------------------------------------------------------------- connection

    async def on_start_api(self, fields: list[str], nursery: trio.Nursery) -> None:
        if self.client_id is not None:
            return
        client_id = int(fields[2]) if len(fields) > 2 and fields[2].lstrip("-").isdigit() else 0
        if any(s.client_id == client_id for s in self.state.sessions):
            await self.send(wire.error(-1, 326, "Unable to connect as the client id is already in use. "
                                                "Retry with a unique client id."))
            raise _Closed
        self.client_id = client_id
        self._nursery = nursery
        self.state.sessions.add(self)
        feed = self.engine.subscribe()
        nursery.start_soon(self._pump, feed)
        accounts = [a.account_id for a in self.engine.accounts]
        await self.send(wire.managed_accounts(accounts), wire.next_valid_id(self._next_id()),
                        wire.error(-1, 2104, "Market data farm connection is OK:usfarm"),
                        wire.error(-1, 2106, "HMDS data farm connection is OK:ushmds"),
                        wire.error(-1, 2158, "Sec-def data farm connection is OK:secdefnj"))

    def _next_id(self) -> int:
        return self.state.next_ids.get(self.client_id or 0, 1)

    async def on_req_ids(self, fields: list[str]) -> None:
        await self.send(wire.next_valid_id(self._next_id()))

    async def on_req_managed_accts(self, fields: list[str]) -> None:
        await self.send(wire.managed_accounts([a.account_id for a in self.engine.accounts]))

    async def on_req_current_time(self, fields: list[str]) -> None:
        await self.send(wire.current_time(int(self.engine.now().timestamp())))

    async def on_req_market_data_type(self, fields: list[str]) -> None:
        kind = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 1
        self.data_type = kind if kind in (1, 2, 3, 4) else 1

    # ----------------------------------------------------------------------------- contracts, quotes

    @staticmethod
    def _contract_at(fields: list[str], start: int) -> Contract:
        f = fields[start:start + 12]
        if len(f) < 12:
            raise protocol.ProtocolError("contract block too short", broker="ibkr")
        return Contract(con_id=int(f[0] or 0), symbol=f[1], sec_type=f[2], last_trade_date=f[3],
                        strike=protocol.dec(f[4]), right=f[5], multiplier=f[6], exchange=f[7],
                        primary_exchange=f[8], currency=f[9], local_symbol=f[10], trading_class=f[11])

    async def on_req_contract_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        sim = self.state.registry.resolve(self._contract_at(fields, 3))
        if sim is None:
            await self.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        await self.send(wire.contract_data(req_id, sim.details), wire.contract_data_end(req_id))

    async def on_req_mkt_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        sim = self.state.registry.resolve(self._contract_at(fields, 3))
        if sim is None:
            await self.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        rest = fields[15:]
        if rest and rest[0] == "1":
            rest = rest[4:]
        else:
            rest = rest[1:]
        snapshot = len(rest) > 1 and rest[1] == "1"
        kind = self.data_type
        messages = []
        if kind in (1, 2) and not self.state.live_data_permitted:
            if not self.state.delayed_data_permitted:
                await self.send(wire.error(req_id, 354, "Requested market data is not subscribed."))
                return
            messages.append(wire.error(req_id, 10167, "Requested market data is not subscribed. "
                                                      "Displaying delayed market data."))
            kind = 3
        try:
            quote = self.engine.quote(sim.sim_symbol)
        except UnknownSymbol:
            await self.send(wire.error(req_id, 200, "No security definition has been found for the request"))
            return
        delayed = kind in (3, 4)
        bid, ask, last = (66, 67, 68) if delayed else (1, 2, 4)
        bid_size, ask_size, last_size = (69, 70, 71) if delayed else (0, 3, 5)
        messages += [wire.market_data_type(req_id, kind), wire.tick_req_params(req_id, sim.details.min_tick),
                     wire.tick_price(req_id, bid, quote.bid, quote.bid_size, 1),
                     wire.tick_size(req_id, bid_size, quote.bid_size),
                     wire.tick_price(req_id, ask, quote.ask, quote.ask_size, 1),
                     wire.tick_size(req_id, ask_size, quote.ask_size),
                     wire.tick_price(req_id, last, quote.last, quote.last_size, 0),
                     wire.tick_size(req_id, last_size, quote.last_size),
                     wire.tick_string(req_id, 88 if delayed else 45, str(int(quote.timestamp.timestamp())))]
        if snapshot:
            messages.append(wire.tick_snapshot_end(req_id))
        else:
            self.streams[req_id] = (sim, delayed)
            if self._quote_feed is None:
                self._quote_feed = self.engine.subscribe_quotes()
                self._nursery.start_soon(self._quote_pump, self._quote_feed)
            self._quote_feed.add(sim.sim_symbol)
        await self.send(*messages)

    async def on_cancel_mkt_data(self, fields: list[str]) -> None:
        self.streams.pop(int(fields[2]), None)

    async def _quote_pump(self, feed: Any) -> None:
        """Streaming subscriptions get the touch again whenever the simulated market moves."""
        try:
            with feed:
                async for quote in feed:
                    messages = []
                    for req_id, (sim, delayed) in list(self.streams.items()):
                        if sim.sim_symbol != quote.symbol:
                            continue
                        bid, ask, last = (66, 67, 68) if delayed else (1, 2, 4)
                        messages += [wire.tick_price(req_id, bid, quote.bid, quote.bid_size, 1),
                                     wire.tick_price(req_id, ask, quote.ask, quote.ask_size, 1),
                                     wire.tick_price(req_id, last, quote.last, quote.last_size, 0)]
                    if messages:
                        await self.send(*messages)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.drop()

    # ----------------------------------------------------------------------------- account

    def _summary_values(self, account_id: str) -> list[tuple[str, str, str]]:
        state = self.engine.account_state(account_id)
        ccy = state.currency
        gross = sum((abs(p.market_value) for p in state.positions), Decimal(0))
        money = {"NetLiquidation": state.equity, "TotalCashValue": state.cash_total, "SettledCash": state.cash_total,
                 "BuyingPower": state.buying_power, "AvailableFunds": state.buying_power,
                 "ExcessLiquidity": state.buying_power, "EquityWithLoanValue": state.equity,
                 "GrossPositionValue": gross, "FullAvailableFunds": state.buying_power,
                 "FullExcessLiquidity": state.buying_power, "RegTEquity": state.equity,
                 "PreviousDayEquityWithLoanValue": state.equity, "SMA": state.buying_power,
                 "LookAheadAvailableFunds": state.buying_power, "LookAheadExcessLiquidity": state.buying_power}
        rows = [(tag, f"{money.get(tag, Decimal(0)):.2f}", ccy) for tag in _SUMMARY_MONEY]
        rows += [("AccountType", "INDIVIDUAL", ""), ("Cushion", "1", ""), ("DayTradesRemaining", "-1", ""),
                 ("Leverage", "0", ""), ("HighestSeverity", "0", "")]
        for currency, amount in sorted(state.cash.items()):
            rows.append(("CashBalance", f"{amount:.2f}", currency))
        rows.append(("CashBalance", f"{state.cash_total:.2f}", "BASE"))
        return rows

    async def on_req_account_summary(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        tags = set(fields[4].split(",")) if len(fields) > 4 else set()
        ledger = any(t.startswith("$LEDGER") for t in tags)
        messages = []
        for account in self.engine.accounts:
            for tag, value, ccy in self._summary_values(account.account_id):
                if tag in tags or (ledger and tag == "CashBalance"):
                    messages.append(wire.account_summary(req_id, account.account_id, tag, value, ccy))
        messages.append(wire.account_summary_end(req_id))
        await self.send(*messages)

    async def on_cancel_account_summary(self, fields: list[str]) -> None:
        pass

    def _position_rows(self) -> list[tuple[str, SimContract, Any]]:
        rows = []
        for account in self.engine.accounts:
            for pos in self.engine.account_state(account.account_id).positions:
                if pos.qty == 0:
                    continue
                try:
                    contract = self.state.registry.for_symbol(pos.symbol)
                except UnknownSymbol:
                    continue
                rows.append((account.account_id, contract, pos))
        return rows

    async def on_req_positions(self, fields: list[str]) -> None:
        messages = [wire.position(acc, c.contract, pos.qty, pos.avg_price) for acc, c, pos in self._position_rows()]
        messages.append(wire.position_end())
        self.positions_subscribed = True
        await self.send(*messages)

    async def on_cancel_positions(self, fields: list[str]) -> None:
        self.positions_subscribed = False
        self.streams: dict[int, tuple[SimContract, bool]] = {}   # reqId -> contract, delayed
        self._quote_feed: Any = None

    def _position_update(self, order: SimOrder) -> list[bytes]:
        """After a fill TWS pushes the changed position to a reqPositions subscriber."""
        if not self.positions_subscribed:
            return []
        contract = self.state.contract_of.get(order.id)
        if contract is None:
            return []
        pos = self.engine.account_state(order.account_id).position(contract.sim_symbol)
        qty, avg = (pos.qty, pos.avg_price) if pos is not None else (Decimal(0), Decimal(0))
        shown = self.state.registry.for_symbol(contract.sim_symbol) if contract.contract.sec_type in ("FUT", "OPT") \
            else contract
        return [wire.position(order.account_id, shown.contract, qty, avg)]

    async def on_req_acct_data(self, fields: list[str]) -> None:
        account = fields[3] if len(fields) > 3 and fields[3] else self.engine.accounts[0].account_id
        if fields[2] != "1":
            return
        messages = [wire.account_value(tag, value, ccy, account) for tag, value, ccy in self._summary_values(account)]
        for acc, c, pos in self._position_rows():
            if acc == account:
                messages.append(wire.portfolio_value(c.contract, pos.qty, pos.market_price, pos.market_value,
                                                     pos.avg_price, pos.unrealized_pl, pos.realized_pl, acc))
        messages += [wire.account_time(self.engine.now().strftime("%H:%M")), wire.account_download_end(account)]
        await self.send(*messages)

    async def on_req_account_updates_multi(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        account = fields[3] or self.engine.accounts[0].account_id
        messages = [wire.account_update_multi(req_id, account, tag, value, ccy)
                    for tag, value, ccy in self._summary_values(account)]
        messages.append(wire.account_update_multi_end(req_id))
        await self.send(*messages)

    # ----------------------------------------------------------------------------- orders out

    def _ib_order(self, order: SimOrder) -> IbOrder:
        sent = self.state.ib_orders.get(order.id)
        parent = 0
        if order.parent_id and order.parent_id in self.state.engine_to_ib:
            parent = self.state.engine_to_ib[order.parent_id][1]
        kind = {v: k for k, v in _TYPES.items()}[order.type]
        aux = order.stop_price if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        if order.type is OrderType.TRAILING_STOP:
            aux = order.trail_price
        return IbOrder(action="BUY" if order.side.value == "buy" else "SELL", total_quantity=order.qty or Decimal(0),
                       order_type=kind, lmt_price=order.limit_price, aux_price=aux,
                       tif=order.time_in_force.value.upper(),
                       order_ref=(sent.order_ref if sent else "") or order.client_order_id or "",
                       parent_id=parent, account=order.account_id, trailing_percent=order.trail_percent,
                       trail_stop_price=order.trail_stop,
                       outside_rth=sent.outside_rth if sent else False)

    @staticmethod
    def _status_word(order: SimOrder) -> str:
        if order.status is OrderStatus.FILLED:
            return "Filled"
        if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            return "Cancelled"
        if order.status is OrderStatus.REJECTED:
            return "Inactive"
        if order.status is OrderStatus.PENDING_CANCEL:
            return "PendingCancel"
        return "PreSubmitted" if order.held else "Submitted"

    def _order_messages(self, order: SimOrder, *, with_open: bool = True) -> list[bytes]:
        ids = self.state.engine_to_ib.get(order.id)
        contract = self.state.contract_of.get(order.id)
        if ids is None or contract is None:
            return []
        client_id, order_id = ids
        ib = self._ib_order(order)
        status = self._status_word(order)
        out = []
        if with_open:
            out.append(wire.open_order(order_id, contract.contract, ib, client_id=client_id,
                                       perm_id=self.state.perm_id(order), status=status,
                                       server_version=self.version))
        last = order.fills[-1].price if order.fills else None
        out.append(wire.order_status(order_id, status, order.filled_qty,
                                     (order.qty or Decimal(0)) - order.filled_qty, order.avg_fill_price,
                                     self.state.perm_id(order), ib.parent_id, last, client_id))
        return out

    def _fill_messages(self, order: SimOrder, fill: Any, req_id: int = -1) -> list[bytes]:
        ids = self.state.engine_to_ib.get(order.id)
        contract = self.state.contract_of.get(order.id)
        if ids is None or contract is None:
            return []
        exec_id = f"0000e0d5.{fill.seq:08x}.01.01"
        exchange = "IDEALPRO" if contract.contract.sec_type == "CASH" else "ISLAND"
        cum = sum((f.qty for f in order.fills if f.seq <= fill.seq), Decimal(0))
        value = sum((f.qty * f.price for f in order.fills if f.seq <= fill.seq), Decimal(0))
        avg = value / cum if cum else fill.price
        return [wire.exec_details(req_id, ids[1], contract.contract, exec_id=exec_id, time=_now_text(fill.timestamp),
                                  account=order.account_id, exchange=exchange,
                                  side="BOT" if fill.side.value == "buy" else "SLD", shares=fill.qty,
                                  price=fill.price, perm_id=self.state.perm_id(order), client_id=ids[0],
                                  cum_qty=cum, avg_price=avg.quantize(Decimal("0.00000001")).normalize(),
                                  order_ref=order.client_order_id or "", server_version=self.version),
                wire.commission_report(exec_id, fill.fee, fill.fee_currency or contract.contract.currency)]

    async def _pump(self, feed: Any) -> None:
        try:
            with feed:
                async for event in feed:
                    messages = self._event_messages(event)
                    if messages:
                        await self.send(*messages)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.drop()

    def _event_messages(self, event: OrderEvent) -> list[bytes]:
        ids = self.state.engine_to_ib.get(event.order.id)
        if ids is None or ids[0] != self.client_id:
            return []
        order = event.order
        kind = event.kind
        if kind in (EventKind.NEW, EventKind.ACTIVATED, EventKind.MODIFIED, EventKind.TRIGGERED):
            return self._order_messages(order)
        if kind in (EventKind.FILL, EventKind.PARTIAL_FILL) and event.fill is not None:
            out = self._fill_messages(order, event.fill)
            return (out[:1] + self._order_messages(order, with_open=kind is EventKind.FILL) + out[1:]
                    + self._position_update(order))
        if kind in (EventKind.CANCELED, EventKind.EXPIRED):
            out = self._order_messages(order, with_open=False)
            if order.id in self.state.cancel_requested:
                out.append(wire.error(ids[1], 202, "Order Canceled - reason:"))
            return out
        return []

    # ----------------------------------------------------------------------------- orders in

    async def on_place_order(self, fields: list[str]) -> None:
        placed = protocol.parse_place_order(fields, self.version)
        client_id = self.client_id or 0
        order_id = placed.order_id
        self.state.next_ids[client_id] = max(self._next_id(), order_id + 1)
        existing = self.state.ib_to_engine.get((client_id, order_id))
        if existing is not None:
            await self._modify(order_id, existing, placed)
            return
        sim = self.state.registry.resolve(placed.contract)
        if sim is None:
            await self.send(wire.error(order_id, 200, "No security definition has been found for the request"))
            return
        problem = self._unsupported(placed.order)
        if problem:
            await self.send(wire.error(order_id, 201, f"Order rejected - reason:{problem}"))
            return
        if placed.order.parent_id:
            parent = self.staged.get(placed.order.parent_id)
            if parent is None:
                await self.send(wire.error(order_id, 201, "Order rejected - reason:the parent order must be "
                                                          "transmitted together with its children"))
                return
            self.children.setdefault(placed.order.parent_id, []).append(placed)
            if placed.order.transmit:
                await self._place_group(placed.order.parent_id)
            return
        if not placed.order.transmit:
            self.staged[order_id] = (placed, sim)
            return
        await self._place(placed, sim, {})

    @staticmethod
    def _unsupported(order: IbOrder) -> str | None:
        if order.order_type not in _TYPES:
            return f"order type {order.order_type} is not supported by the simulator"
        if order.tif not in _TIFS:
            return f"time in force {order.tif} is not supported by the simulator"
        if order.action not in ("BUY", "SELL"):
            return f"action {order.action} is not supported"
        return None

    def _engine_args(self, placed: protocol.PlacedOrder) -> dict[str, Any]:
        o = placed.order
        kind = _TYPES[o.order_type]
        args: dict[str, Any] = dict(side=o.action.lower(), qty=o.total_quantity, type=kind,
                                    time_in_force=_TIFS[o.tif], client_order_id=o.order_ref or None,
                                    extended_hours=o.outside_rth)
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            args["limit_price"] = o.lmt_price
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
            args["stop_price"] = o.aux_price
        if kind is OrderType.TRAILING_STOP:
            if o.trailing_percent is not None:
                args["trail_percent"] = o.trailing_percent
            else:
                args["trail_price"] = o.aux_price
        return args

    def _account(self, placed: protocol.PlacedOrder) -> str | None:
        wanted = placed.order.account
        known = {a.account_id for a in self.engine.accounts}
        return wanted if wanted in known else None

    async def _place(self, placed: protocol.PlacedOrder, sim: SimContract, extra: dict[str, Any]) -> None:
        client_id = self.client_id or 0
        engine_id = f"{client_id}-{placed.order_id}"
        try:
            order = self.engine.place_order(self._account(placed), symbol=sim.sim_symbol, order_id=engine_id,
                                            **self._engine_args(placed), **extra)
        except SimError as exc:
            await self.send(wire.error(placed.order_id, 201, f"Order rejected - reason:{exc.message}"))
            return
        if order.status is OrderStatus.REJECTED:
            await self.send(wire.error(placed.order_id, 201, f"Order rejected - reason:{order.reject_reason}"))
            return
        # Mapped before any checkpoint: the event pump reads these for the events already queued.
        self._map(order.id, client_id, placed.order_id, sim, placed.order)
        if self.faults.after_order_accepted():
            self._lose_answer()

    def _map(self, engine_id: str, client_id: int, order_id: int, sim: SimContract, order: IbOrder) -> None:
        self.state.ib_to_engine[(client_id, order_id)] = engine_id
        self.state.engine_to_ib[engine_id] = (client_id, order_id)
        self.state.contract_of[engine_id] = sim
        self.state.ib_orders[engine_id] = order

    async def _place_group(self, parent_id: int) -> None:
        parent, sim = self.staged.pop(parent_id)
        children = self.children.pop(parent_id, [])
        take = [c for c in children if c.order.order_type == "LMT"]
        stop = [c for c in children if c.order.order_type in ("STP", "STP LMT")]
        if len(take) > 1 or len(stop) > 1 or len(take) + len(stop) != len(children):
            for member in (parent, *children):
                await self.send(wire.error(member.order_id, 201, "Order rejected - reason:the simulator takes "
                                                                 "one limit and one stop child per parent"))
            return
        extra: dict[str, Any] = {"order_class": "bracket" if take and stop else "oto"}
        if take:
            extra["take_profit"] = take[0].order.lmt_price
        if stop:
            extra["stop_loss"] = stop[0].order.aux_price
            if stop[0].order.order_type == "STP LMT":
                extra["stop_loss_limit_price"] = stop[0].order.lmt_price
        client_id = self.client_id or 0
        engine_id = f"{client_id}-{parent.order_id}"
        try:
            order = self.engine.place_order(self._account(parent), symbol=sim.sim_symbol, order_id=engine_id,
                                            **self._engine_args(parent), **extra)
        except SimError as exc:
            for member in (parent, *children):
                await self.send(wire.error(member.order_id, 201, f"Order rejected - reason:{exc.message}"))
            return
        if order.status is OrderStatus.REJECTED:
            for member in (parent, *children):
                await self.send(wire.error(member.order_id, 201, f"Order rejected - reason:{order.reject_reason}"))
            return
        self._map(order.id, client_id, parent.order_id, sim, parent.order)
        for leg_id in order.leg_ids:
            leg = self.engine.get_order(leg_id)
            child = (take if leg.role == "take_profit" else stop)[0]
            self._map(leg.id, client_id, child.order_id, sim, child.order)
        if self.faults.after_order_accepted():
            self._lose_answer()

    async def _modify(self, order_id: int, engine_id: str, placed: protocol.PlacedOrder) -> None:
        o = placed.order
        try:
            self.engine.modify_order(engine_id, qty=o.total_quantity, limit_price=o.lmt_price,
                                     stop_price=o.aux_price if o.order_type in ("STP", "STP LMT") else None)
        except SimError as exc:
            code = 103 if exc.code == "not_modifiable" else 201
            text = "Duplicate order id" if code == 103 else f"Order rejected - reason:{exc.message}"
            await self.send(wire.error(order_id, code, text))

    async def on_cancel_order(self, fields: list[str]) -> None:
        order_id = int(fields[2])
        if self.staged.pop(order_id, None) is not None:
            self.children.pop(order_id, None)
            return
        engine_id = self.state.ib_to_engine.get((self.client_id or 0, order_id))
        if engine_id is None:
            await self.send(wire.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."))
            return
        self.state.cancel_requested.add(engine_id)
        try:
            self.engine.cancel_order(engine_id)
        except SimError as exc:
            await self.send(wire.error(order_id, 161, f"Cancel attempted when order is not in a cancellable state. "
                                                      f"{exc.message}"))

    async def on_req_global_cancel(self, fields: list[str]) -> None:
        for (client_id, _), engine_id in list(self.state.ib_to_engine.items()):
            if client_id == self.client_id:
                self.state.cancel_requested.add(engine_id)
                try:
                    self.engine.cancel_order(engine_id)
                except SimError:
                    pass

    def _my_orders(self, *, every_client: bool = False) -> list[SimOrder]:
        out = []
        for order in self.engine.orders(status="open", newest_first=False):
            ids = self.state.engine_to_ib.get(order.id)
            if ids is not None and (every_client or ids[0] == self.client_id):
                out.append(order)
        return out

    async def on_req_open_orders(self, fields: list[str]) -> None:
        messages = [m for order in self._my_orders() for m in self._order_messages(order)]
        await self.send(*messages, wire.open_order_end())

    async def on_req_all_open_orders(self, fields: list[str]) -> None:
        messages = [m for order in self._my_orders(every_client=True) for m in self._order_messages(order)]
        await self.send(*messages, wire.open_order_end())

    async def on_req_auto_open_orders(self, fields: list[str]) -> None:
        pass

    async def on_req_completed_orders(self, fields: list[str]) -> None:
        await self.send(wire.completed_orders_end())

    async def on_req_executions(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        wanted_client = int(fields[3]) if len(fields) > 3 and fields[3].lstrip("-").isdigit() else 0
        messages = []
        for fill in self.engine.fills():
            ids = self.state.engine_to_ib.get(fill.order_id)
            if ids is None:
                continue
            if ids[0] != (wanted_client or self.client_id):
                continue
            messages += self._fill_messages(self.engine.get_order(fill.order_id), fill, req_id)
        messages.append(wire.exec_details_end(req_id))
        await self.send(*messages)


def tcp_handler(engine: Engine, faults: Faults):
    state = TwsState.of(engine)

    async def handle(stream: trio.SocketStream) -> None:
        await Session(state, stream, faults).run()

    return handle
