"""One connection to TWS / IB Gateway: the trio transport around :mod:`orch_ibkr.protocol`.

A reader task owns the socket's receiving side and routes every message: replies to the pending request
with the same request id (or the one outstanding request of a kind without ids), order messages to the
local order book (:class:`OrderRecord`, keyed by IB order id, holding orch's client order id as
``orderRef``). When the socket drops, pending requests fail with BrokerUnavailable, the client reconnects
with backoff, and re-syncs open orders and executions, so order changes made while it was away are not
lost (they reach :meth:`IbkrConnection.order_updates` subscribers too).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import trio

from orch.context import ConnectContext
from orch.errors import (BrokerUnavailable, ConfigError, InvalidOrder, OrchError, OrderNotFound,
                         OrderRejected, ProtocolError)
from orch.models import (Account, Balance, Instrument, Order, OrderClass, OrderFilter, OrderRef, OrderRequest,
                         OrderType, Position, Quote, Side, TimeInForce)

from orch_ibkr import protocol, symbols
from orch_ibkr.dispatch import MessageHandlers
from orch_ibkr.orders import OrderRecord
from orch_ibkr.protocol import Contract, ContractDetails, Execution, IbOrder, In
from orch_ibkr.settings import Endpoint, IbkrSettings, resolve_endpoint

SUMMARY_TAGS = ("AccountType", "NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds",
                "$LEDGER:ALL")
SNAPSHOT_TIMEOUT = 12.0  # IB answers a snapshot within 11 s
FILL_GRACE = 1.0
# Seconds a TWS connection must last before a drop starts the reconnect backoff from scratch again.
STABLE_CONNECTION = 30.0
# TWS is silent when nothing happens: after LINK_IDLE seconds without a message the link is probed (the
# time is asked), and a socket still silent LINK_PROBE seconds later is cut and reconnected.
LINK_IDLE = 30.0
LINK_PROBE = 10.0


class Pending:
    """One outstanding request: the messages it collected, then done (or failed)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[Any] = []
        self.done = trio.Event()
        self.error: Exception | None = None
        self.data_type = 1
        self.req_id = 0

    def finish(self, error: Exception | None = None) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


class IbkrConnection(MessageHandlers):
    """What ``orch_connect`` returns. ``open_stream`` lets tests swap the socket; ``wall_clock`` is only
    used for timestamps TWS does not give."""

    def __init__(self, settings: IbkrSettings, context: ConnectContext, *,
                 open_stream: Callable[[str, int], Any] = trio.open_tcp_stream,
                 wall_clock: Callable[[], float] = time.time, seed: int | None = None) -> None:
        self.settings = settings
        self.broker = context.broker
        self.logger = context.logger
        self.limiter = context.limiter
        self.endpoint: Endpoint = resolve_endpoint(settings, live=context.live, broker=self.broker)
        self._nursery = context.nursery
        self._open_stream = open_stream
        self._wall_clock = wall_clock
        self._rng = random.Random(seed)
        self._stream: Any = None
        self._last_inbound = -math.inf  # trio time of the last bytes TWS sent
        self._send_lock = trio.Lock()
        self._connected = trio.Event()
        self._closing = False
        self._frames = protocol.FrameBuffer()
        self.server_version = 0
        self.connection_time = ""
        self.accounts: list[str] = []
        self._next_id = 1
        self._pending: dict[int, Pending] = {}
        self._unkeyed: dict[str, Pending] = {}
        self._kind_locks: dict[str, trio.Lock] = {}
        self.orders: dict[int, OrderRecord] = {}
        self.executions: dict[str, Execution] = {}
        self._commissions: dict[str, protocol.Commission] = {}
        self._contracts: dict[Contract, ContractDetails] = {}
        self._subscribers: list[trio.MemorySendChannel[Order]] = []
        self.ib_link_ok = True
        self.reconnects = 0
        self.dropped_at: float | None = None
        self._data_type_for: Any = None
        self.tws_time: int | None = None

    def __repr__(self) -> str:
        mode = "paper" if self.endpoint.paper else "LIVE"
        return (f"<IbkrConnection {self.broker} {mode} {self.endpoint.host}:{self.endpoint.port} "
                f"client_id={self.endpoint.client_id}>")

    # ----------------------------------------------------------------------------- connecting

    async def open(self) -> IbkrConnection:
        last: Exception | None = None
        for attempt in range(self.endpoint.retry_attempts):
            if attempt:
                await trio.sleep(self._backoff(attempt - 1))
            try:
                await self._connect_once()
                break
            except BrokerUnavailable as exc:
                last = exc
        else:
            assert last is not None
            raise last
        self._check_accounts()
        await self._nursery.start(self._supervise)
        return self

    def _check_accounts(self) -> None:
        section = f"brokers.{self.broker}"
        live_accounts = [a for a in self.accounts if a.startswith("U")]
        paper_accounts = [a for a in self.accounts if a.startswith("D")]
        if self.endpoint.paper and live_accounts:
            raise ConfigError(f"paper is true but TWS at port {self.endpoint.port} is logged into live account(s) "
                              f"{', '.join(live_accounts)}", path=f"{section}.port",
                              hint="point orch at the paper TWS / Gateway, or set paper = false and pass --live")
        if not self.endpoint.paper and paper_accounts and not live_accounts:
            raise ConfigError(f"paper is false but TWS at port {self.endpoint.port} holds paper account(s) "
                              f"{', '.join(paper_accounts)}", path=f"{section}.paper")
        if self.settings.account_id and self.settings.account_id not in self.accounts:
            raise ConfigError(f"account {self.settings.account_id} is not managed by this TWS login "
                              f"({', '.join(self.accounts) or 'none'})", path=f"{section}.account_id")

    def _backoff(self, attempt: int) -> float:
        base = float(self.settings.reconnect_initial_delay) * (2 ** min(attempt, 16))
        delay = min(base, float(self.settings.reconnect_max_delay))
        return delay * (0.8 + 0.4 * self._rng.random())

    async def _connect_once(self) -> None:
        ep = self.endpoint
        where = f"TWS at {ep.host}:{ep.port}"
        stream = None
        try:
            with trio.fail_after(ep.timeout):
                stream = await self._open_stream(ep.host, ep.port)
                await stream.send_all(protocol.hello())
                frames = protocol.FrameBuffer()
                queue: list[list[str]] = []

                async def next_message() -> list[str]:
                    while not queue:
                        data = await stream.receive_some(65536)
                        if not data:
                            raise BrokerUnavailable(f"{where} closed the connection during the handshake",
                                                    broker=self.broker, broker_code=502)
                        queue.extend(frames.feed(data))
                    return queue.pop(0)

                version, connection_time = protocol.parse_hello_reply(await next_message())
                if not protocol.MIN_VERSION <= version <= protocol.MAX_VERSION:
                    raise BrokerUnavailable(f"{where} answered API version {version}; orch speaks "
                                            f"{protocol.MIN_VERSION}-{protocol.MAX_VERSION}", broker=self.broker,
                                            broker_code=506, hint="use TWS / IB Gateway 10.19 or newer")
                # startApi is a client message like any other: TWS counts it in the 50 a second.
                await self.limiter.acquire(1)
                await stream.send_all(protocol.start_api(ep.client_id))
                accounts: list[str] | None = None
                next_id: int | None = None
                leftover: list[list[str]] = []
                while accounts is None or next_id is None:
                    fields = await next_message()
                    msg_id = int(fields[0]) if fields and fields[0].isdecimal() else -1
                    if msg_id == In.MANAGED_ACCTS:
                        accounts = [a for a in protocol.field_at(fields, 2, "accountsList").split(",") if a]
                    elif msg_id == In.NEXT_VALID_ID:
                        next_id = protocol.int_at(fields, 2, "orderId")
                    elif msg_id == In.ERROR:
                        err = protocol.parse_error(fields)
                        if not protocol.is_warning(err.code):
                            raise protocol.error_for(err, broker=self.broker, what="connect")
                    else:
                        leftover.append(fields)
                leftover += queue
        except trio.TooSlowError:
            await self._close_quietly(stream)
            raise BrokerUnavailable(f"{where} did not complete the API handshake within {ep.timeout:g}s",
                                    broker=self.broker, hint="is the API enabled in TWS (Edit > Global "
                                    "Configuration > API > Settings)?") from None
        except OSError as exc:
            await self._close_quietly(stream)
            raise BrokerUnavailable(f"couldn't connect to {where}: {exc.strerror or exc}", broker=self.broker,
                                    broker_code=502, hint="start TWS or IB Gateway with the API enabled "
                                    "(paper ports 7497 / 4002, live 7496 / 4001)") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self._close_quietly(stream)
            raise BrokerUnavailable(f"{where} dropped the connection during the handshake", broker=self.broker,
                                    broker_code=502) from None
        except BaseException:
            await self._close_quietly(stream)
            raise
        self._stream = stream
        self._frames = frames
        self.server_version, self.connection_time = version, connection_time
        self.accounts = accounts
        self._next_id = max(self._next_id, next_id)
        self.ib_link_ok = True
        self._connected.set()
        for fields in leftover:
            self._handle_or_skip(fields)

    @staticmethod
    async def _close_quietly(stream: Any) -> None:
        if stream is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                try:
                    await stream.aclose()
                except Exception:  # noqa: BLE001 - closing a broken socket
                    pass

    async def _ensure_data_type(self) -> None:
        """The market data type is per connection: sent before the first quote on each connection."""
        if self._data_type_for is not self._stream:
            await self._send(protocol.req_market_data_type(self.settings.market_data_type))
            self._data_type_for = self._stream

    async def aclose(self) -> None:
        self._closing = True
        for send in self._subscribers:
            send.close()
        await self._close_quietly(self._stream)

    async def _supervise(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        self._nursery.start_soon(self._watch_link)
        attempt = 0
        up_since = trio.current_time()
        while True:
            stream = self._stream
            await self._read_loop(stream)
            # After a desynchronised stream the socket is still open: close it, or TWS keeps this client
            # id taken and refuses every reconnect (326).
            await self._close_quietly(stream)
            self._on_drop()
            if self._closing:
                return
            # Only a connection that stayed up resets the backoff: a TWS cutting every connection right
            # after the handshake must not get a reconnect a second.
            if trio.current_time() - up_since >= STABLE_CONNECTION:
                attempt = 0
            first = attempt
            while not self._closing:
                await trio.sleep(self._backoff(attempt))
                try:
                    await self._connect_once()
                    break
                except OrchError as exc:
                    # Whatever TWS answers a reconnect with (a refusal, garbage) is retried with backoff:
                    # this task lives in the orchestrator's nursery and must never end it.
                    self.logger.info("%s: reconnect attempt %d failed: %s", self.broker, attempt + 1, exc)
                    attempt += 1
            if self._closing:
                return
            attempt += 1
            up_since = trio.current_time()
            self.reconnects += 1
            self.logger.warning("%s: reconnected to TWS after a drop (attempt %d)", self.broker, attempt - first)
            self._nursery.start_soon(self._resync)

    async def _watch_link(self) -> None:
        """A hung TWS (or a black-holed network) keeps the socket open and answers nothing: every call
        would time out forever. Probe a silent link; cut one that stays silent (the supervisor reconnects)."""
        while not self._closing:
            await trio.sleep(LINK_IDLE / 2)
            stream = self._stream
            if stream is None or not self._connected.is_set() or \
                    trio.current_time() - self._last_inbound < LINK_IDLE:
                continue
            asked = trio.current_time()
            try:
                with trio.move_on_after(LINK_PROBE):
                    await self._send(protocol.req_current_time())
            except (OrchError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                continue  # a broken socket ends the reader by itself
            await trio.sleep(max(0.0, asked + LINK_PROBE - trio.current_time()))
            if self._last_inbound < asked and stream is self._stream and not self._closing:
                self.logger.warning("%s: TWS answered nothing for %.0fs; reconnecting", self.broker,
                                    trio.current_time() - self._last_inbound)
                await self._close_quietly(stream)

    async def _read_loop(self, stream: Any) -> None:
        try:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                self._last_inbound = trio.current_time()
                for fields in self._frames.feed(data):
                    self._handle_or_skip(fields)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        except ProtocolError as exc:
            self.logger.warning("%s: TWS stream desynchronised (%s); reconnecting", self.broker, exc)

    def _handle_or_skip(self, fields: list[str]) -> None:
        """Route one message; one that cannot be read is logged and skipped, never allowed to end the
        reader (it runs in the orchestrator's nursery) or a connect."""
        try:
            self._handle(fields)
        except ProtocolError as exc:
            self.logger.warning("%s: unreadable TWS message %s: %s", self.broker, fields[:1], exc)
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            # A handler tripped on a message its parser let through.
            self.logger.warning("%s: unreadable TWS message %s: %s: %s", self.broker, fields[:1],
                                type(exc).__name__, exc)

    def _on_drop(self) -> None:
        self._connected = trio.Event()
        self.dropped_at = trio.current_time()
        if not self._closing:
            self.logger.warning("%s: connection to TWS lost; reconnecting with backoff", self.broker)
        lost = BrokerUnavailable("connection to TWS lost before the answer arrived", broker=self.broker,
                                 broker_code=504)
        for pending in [*self._pending.values(), *self._unkeyed.values()]:
            pending.finish(lost)
        for record in self.orders.values():
            if not record.acked.is_set():
                record.acked.set()  # waiting placements see an unknown outcome (no status yet)

    async def _resync(self) -> None:
        try:
            await self.sync_open_orders()
            await self.sync_executions()
        except OrchError as exc:
            self.logger.warning("%s: re-sync after reconnect failed: %s", self.broker, exc)

    # ----------------------------------------------------------------------------- sending

    async def _wait_connected(self) -> None:
        if self._connected.is_set():
            return
        if self._closing:
            raise BrokerUnavailable("connection closed", broker=self.broker, broker_code=504)
        with trio.move_on_after(self.endpoint.timeout):
            await self._connected.wait()
            return
        raise BrokerUnavailable("not connected to TWS (reconnecting)", broker=self.broker, broker_code=504)

    async def _send(self, *messages: bytes, order: bool = False) -> None:
        await self._wait_connected()
        # TWS's pacing counts messages, so each framed message is charged, batched or not; all at once,
        # because they leave together: charged one by one, the first ones' turns could pass while the last
        # one waits, and the batch would land in a later window than it was counted in.
        await self.limiter.acquire(sum(protocol.frame_count(m) for m in messages), order=order)
        stream = self._stream
        try:
            async with self._send_lock:
                await stream.send_all(b"".join(messages))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            raise BrokerUnavailable("connection to TWS lost while sending", broker=self.broker,
                                    broker_code=504) from None

    def _take_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    async def _request(self, what: str, message: bytes | Callable[[int], bytes], *, key: str | None = None,
                       timeout: float | None = None) -> Pending:
        """Send a request and wait for its end marker. ``message`` takes the request id; ``key`` names a
        kind without ids (one outstanding at a time)."""
        pending = Pending(what)
        lock = None
        if key is not None:
            lock = self._kind_locks.setdefault(key, trio.Lock())
            await lock.acquire()
        try:
            if key is not None:
                self._unkeyed[key] = pending
                data = message if isinstance(message, bytes) else message(0)
                req_id = None
            else:
                req_id = self._take_id()
                pending.req_id = req_id
                self._pending[req_id] = pending
                data = message(req_id) if callable(message) else message
            try:
                await self._send(data)
                with trio.move_on_after(timeout or self.endpoint.timeout):
                    await pending.done.wait()
                if not pending.done.is_set():
                    raise BrokerUnavailable(f"no answer to {what} from TWS within "
                                            f"{timeout or self.endpoint.timeout:g}s", broker=self.broker)
                if pending.error is not None:
                    raise pending.error
                return pending
            finally:
                if key is not None:
                    self._unkeyed.pop(key, None)
                else:
                    self._pending.pop(req_id, None)
        finally:
            if lock is not None:
                lock.release()

    # ----------------------------------------------------------------------------- contracts

    async def resolve(self, instrument: Instrument) -> ContractDetails:
        wanted = symbols.to_contract(instrument, self.settings, broker=self.broker)
        cached = self._contracts.get(wanted)
        if cached is not None:
            return cached
        pending = await self._request(f"contract details for {instrument.symbol}",
                                      lambda req_id: protocol.req_contract_details(req_id, wanted))
        if not pending.items:
            from orch.errors import UnknownInstrument

            raise UnknownInstrument(f"{instrument.symbol}: no security definition found", broker=self.broker,
                                    broker_code=200)
        found: ContractDetails = pending.items[0]
        if len(pending.items) > 1:
            self.logger.info("%s: %d contracts match %s; using conId %d", self.broker, len(pending.items),
                             instrument.symbol, found.contract.con_id)
        # Orders go to the exchange asked for (SMART routing), not the listing exchange TWS reports.
        resolved = attrs.evolve(found, contract=attrs.evolve(found.contract, exchange=wanted.exchange))
        self._contracts[wanted] = resolved
        return resolved

    # ----------------------------------------------------------------------------- account

    def selected_account(self) -> str:
        if self.settings.account_id:
            return self.settings.account_id
        if not self.accounts:
            raise BrokerUnavailable("TWS reported no managed accounts", broker=self.broker)
        return self.accounts[0]

    async def account(self) -> Account:
        pending = await self._request("account summary",
                                      lambda req_id: protocol.req_account_summary(req_id, SUMMARY_TAGS))
        await self._unsubscribe(protocol.cancel_account_summary(pending.req_id))
        account_id = self.selected_account()
        rows = [r for r in pending.items if r.account == account_id]
        values = {r.tag: r for r in rows if r.tag != "CashBalance"}

        def money(tag: str) -> Decimal:
            row = values.get(tag)
            if row is None:
                raise ProtocolError(f"account summary for {account_id} lacks {tag}", broker=self.broker)
            value = protocol.dec(row.value, tag)
            return value if value is not None else Decimal(0)

        net = values.get("NetLiquidation")
        currency = (net.currency if net and net.currency else None) or self.settings.base_currency
        balances = tuple(Balance(asset=r.currency, free=protocol.dec(r.value) or Decimal(0))
                         for r in rows if r.tag == "CashBalance" and r.currency not in ("BASE", ""))
        return Account(broker=self.broker, account_id=account_id, currency=currency,
                       cash=money("TotalCashValue"), equity=money("NetLiquidation"),
                       buying_power=money("BuyingPower"), paper=self.endpoint.paper, balances=balances,
                       raw={tag: row.value for tag, row in values.items()})

    async def managed_accounts(self) -> list[str]:
        return list(self.accounts)

    async def positions(self) -> list[Position]:
        pending = await self._request("positions", protocol.req_positions(), key="positions")
        await self._unsubscribe(protocol.cancel_positions())
        account_id = self.selected_account()
        out = []
        for row in pending.items:
            if row.account != account_id or row.position == 0:
                continue
            multiplier = protocol.dec(row.contract.multiplier) or Decimal(1)
            avg = row.avg_cost / multiplier if row.avg_cost is not None else None
            out.append(Position(broker=self.broker, instrument=symbols.to_instrument(row.contract, broker=self.broker),
                                qty=row.position, avg_price=avg, currency=row.contract.currency or "USD"))
        return out

    async def _unsubscribe(self, message: bytes) -> None:
        """Send a cancel TWS never answers, then a currentTime round trip: the call returns only once TWS
        has read the cancel, so nothing of this call is still on its way when the next one starts."""
        pending = await self._request("current time", message + protocol.req_current_time(), key="time")
        self.tws_time = pending.items[0]

    async def current_time(self) -> int:
        pending = await self._request("current time", protocol.req_current_time(), key="time")
        return pending.items[0]

    # ----------------------------------------------------------------------------- quotes

    async def quote(self, instrument: Instrument) -> Quote:
        details = await self.resolve(instrument)
        await self._ensure_data_type()
        pending = await self._request(f"market data for {instrument.symbol}",
                                      lambda req_id: protocol.req_mkt_data(req_id, details.contract, snapshot=True),
                                      timeout=SNAPSHOT_TIMEOUT)
        ticks = protocol.collect_ticks(pending.items, pending.data_type)
        if ticks.delayed and self.settings.market_data_type in (1, 2):
            self.logger.warning("%s: only delayed market data is permitted for %s (no live subscription)",
                                self.broker, instrument.symbol)
        stamp = (datetime.fromtimestamp(ticks.timestamp, timezone.utc) if ticks.timestamp else self._now())
        return Quote(broker=self.broker, instrument=instrument, timestamp=stamp, bid=ticks.bid, ask=ticks.ask,
                     bid_size=ticks.bid_size, ask_size=ticks.ask_size, last=ticks.last, delayed=ticks.delayed)

    # ----------------------------------------------------------------------------- orders

    async def place_order(self, request: OrderRequest) -> Order:
        symbols.check_order(request, self.settings, broker=self.broker)
        details = await self.resolve(request.instrument)
        contract = details.contract
        tick = details.min_tick
        for name in ("limit_price", "stop_price", "trail_price"):
            value = getattr(request, name)
            if value is not None and tick and value % tick != 0:
                raise InvalidOrder(f"{request.instrument.symbol}: {name} {value} is not a multiple of the minimum "
                                   f"tick {tick}")
        account = self.settings.account_id or ""
        bracket = request.order_class is OrderClass.BRACKET
        transmit = bool(self.settings.order_settings.transmit)
        parent = self._record(request, contract, symbols.to_ib_order(request, transmit=transmit and not bracket,
                                                                   account=account))
        records = [parent]
        if bracket:
            parent.order_class = OrderClass.BRACKET
            exit_side = "SELL" if request.side is Side.BUY else "BUY"
            tp, sl = request.take_profit, request.stop_loss
            assert tp is not None and sl is not None
            base = dict(action=exit_side, total_quantity=request.qty, tif=parent.ib.tif, account=account,
                        parent_id=parent.order_id, order_ref=f"{request.client_order_id}-tp")
            take = self._record(request, contract, IbOrder(order_type="LMT", lmt_price=tp.limit_price,
                                                           transmit=False, **base))
            base["order_ref"] = f"{request.client_order_id}-sl"
            stop = self._record(request, contract, IbOrder(
                order_type="STP LMT" if sl.limit_price is not None else "STP", aux_price=sl.stop_price,
                lmt_price=sl.limit_price, transmit=transmit, **base))
            parent.legs = [take.order_id, stop.order_id]
            records += [take, stop]
        messages = [protocol.place_order(r.order_id, contract, r.ib, self.server_version) for r in records]
        await self._send(*messages, order=True)
        if not transmit:
            return parent.to_order(self.broker, self._legs(parent))
        with trio.move_on_after(self.endpoint.timeout):
            await parent.acked.wait()
        if parent.error is not None:
            raise parent.error
        if not parent.acked.is_set() or parent.status == "PendingSubmit":
            raise BrokerUnavailable(f"no acknowledgement of order {parent.order_id} from TWS",
                                    broker=self.broker)
        if request.type is OrderType.MARKET or request.time_in_force is TimeInForce.IOC:
            # TWS reports a marketable order's fill right after its acknowledgement: wait a moment
            # for it so the answer says filled (it is still only an early look, never a guarantee).
            with trio.move_on_after(FILL_GRACE):
                while parent.is_open and parent.filled < parent.ib.total_quantity:
                    parent.acked = trio.Event()
                    await parent.acked.wait()
            parent.acked.set()
        return parent.to_order(self.broker, self._legs(parent))

    def _record(self, request: OrderRequest, contract: Contract, ib: IbOrder) -> OrderRecord:
        now = self._now()
        record = OrderRecord(order_id=self._take_id(), contract=contract, ib=ib, instrument=request.instrument,
                             created_at=now, updated_at=now, epoch=self.reconnects)
        self.orders[record.order_id] = record
        return record

    def _legs(self, record: OrderRecord) -> tuple[Order, ...]:
        return tuple(self.orders[i].to_order(self.broker) for i in record.legs if i in self.orders)

    def _find(self, ref: OrderRef) -> OrderRecord | None:
        if ref.broker_order_id is not None:
            try:
                found = self.orders.get(int(ref.broker_order_id))
            except ValueError:
                raise OrderNotFound(f"{ref.broker_order_id!r} is not an IB order id", broker=self.broker) from None
            if found is not None and (ref.client_order_id is None or found.ib.order_ref == ref.client_order_id):
                return found
            if ref.client_order_id is None:
                return None
        matches = [r for r in self.orders.values() if ref.client_order_id and r.ib.order_ref == ref.client_order_id]
        return max(matches, key=lambda r: r.order_id) if matches else None

    async def sync_open_orders(self) -> set[int]:
        """Ask TWS for this client's open orders; local orders it no longer lists and that no execution
        filled are finished (cancelled while we were not listening)."""
        pending = await self._request("open orders", protocol.req_open_orders(), key="open_orders")
        listed = set(pending.items)
        for record in self.orders.values():
            if record.is_open and record.acked.is_set() and record.order_id not in listed \
                    and record.ib.transmit and record.status != "PendingSubmit":
                record.source = " (not open at TWS)"
                self._set_status(record, "Filled" if record.ib.total_quantity and
                                 record.filled >= record.ib.total_quantity else "Cancelled")
        return listed

    async def sync_executions(self) -> list[Execution]:
        pending = await self._request("executions",
                                      lambda req_id: protocol.req_executions(req_id, self.endpoint.client_id))
        return list(pending.items)

    async def get_order(self, ref: OrderRef) -> Order | None:
        """By IB order id or by orderRef, among this client's open orders and executions (both asked
        afresh) and what this connection saw. An order sent just before a drop that TWS neither lists as
        open nor executed after the reconnect never arrived: that is the proof of absence (None). So is one
        TWS never acknowledged that its fresh open-order list, asked after it on the same socket, leaves out
        (TWS refused it, e.g. for pacing): TWS answers in order, so an order it took would be listed or
        have reported its status first."""
        await self.sync_executions()
        listed = await self.sync_open_orders()
        record = self._find(ref)
        if record is None:
            return None
        if record.status == "PendingSubmit" and not record.executions and (
                record.epoch < self.reconnects or record.order_id not in listed):
            del self.orders[record.order_id]
            return None
        return record.to_order(self.broker, self._legs(record))

    async def list_orders(self, filter: OrderFilter) -> list[Order]:
        await self.sync_executions()
        listed = await self.sync_open_orders()
        out = []
        for record in sorted(self.orders.values(), key=lambda r: r.order_id, reverse=True):
            is_open = record.order_id in listed
            if filter.status == "open" and not is_open:
                continue
            if filter.status == "closed" and record.is_open:
                continue
            order = record.to_order(self.broker)
            if filter.instrument is not None and order.instrument.symbol != filter.instrument.symbol:
                continue
            if filter.since is not None and (order.created_at is None or order.created_at < filter.since):
                continue
            out.append(order)
        return out[:filter.limit]

    async def cancel_order(self, ref: OrderRef) -> Order | None:
        record = self._find(ref)
        if record is None:
            await self.sync_open_orders()
            record = self._find(ref)
        if record is None:
            raise OrderNotFound(f"no order {ref.broker_order_id or ref.client_order_id} known to this TWS client",
                                broker=self.broker)
        if not record.is_open:
            raise OrderRejected(f"order {record.order_id} is already {record.status}", broker=self.broker,
                                broker_code=161)
        record.error = None
        record.acked = trio.Event()
        await self._send(protocol.cancel_order(record.order_id))
        with trio.move_on_after(self.endpoint.timeout):
            while record.is_open and record.error is None:
                await record.acked.wait()
                record.acked = trio.Event() if record.is_open and record.error is None else record.acked
        record.acked.set()
        if record.error is not None:
            error, record.error = record.error, None
            raise error
        return record.to_order(self.broker, self._legs(record))

    # ----------------------------------------------------------------------------- updates

    async def order_updates(self) -> AsyncIterator[Order]:
        """Every change of an order this client knows, live or learnt at a re-sync after a drop."""
        send, receive = trio.open_memory_channel[Order](10_000)
        self._subscribers.append(send)
        try:
            async with receive:
                async for order in receive:
                    yield order
        finally:
            if send in self._subscribers:
                self._subscribers.remove(send)



__all__ = ["IbkrConnection", "OrderRecord", "Pending", "SUMMARY_TAGS"]
