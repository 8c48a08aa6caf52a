"""The fault matrix: every fault the simulators inject, against every plugin, through ``Orchestrator.place()``
(and quote, account, streams) as a user calls them, on the plugin's own simulator over loopback.

Whatever goes wrong, a user must see: at most one order at the broker per ``place()`` call (counted at the
simulator); a journal row that ends in the broker's true state (never "rejected" or "not found" for an
order that exists, never "in flight" once the broker could be asked); only orch errors, with a clear
message; streams that resume after a drop; and, once the faults stop, everything working again. What each
broker shows for each fault is tabled in docs/resilience.md ("The fault matrix").

Time is trio's MockClock (simulator, limiter, retries and timeouts alike), so latencies past the timeout and
Retry-After waits cost no wall-clock time.
"""

from __future__ import annotations

import runpy
from contextlib import aclosing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from orch.errors import BrokerUnavailable, OrchError, OrderRejected, RateLimited
from orch.journal.model import JournalState
from orch.models import Account, Order, Quote
from orch.orchestrator import PlaceResult

kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_brokers.py"))))
BROKERS = list(kit.BROKERS.values())
TIMEOUT = 10.0

# Journal states that claim the order is not at the broker.
ABSENT = {JournalState.REJECTED, JournalState.NOT_FOUND_AT_BROKER}
UNRESOLVED = {JournalState.PENDING_SUBMIT, JournalState.IN_FLIGHT}

by_broker = pytest.mark.parametrize("broker", BROKERS, ids=str)


# ------------------------------------------------------------------------------------------ what a user sees


def only_orch_error(outcome: Any, rig: Any) -> None:
    """A failed call raised an orch error with a one-line message naming the broker, nothing else."""
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, OrchError), f"{rig.name}: {type(outcome).__name__} reached the caller: {outcome}"
        text = str(outcome)
        assert text and "\n" not in text and "Traceback" not in text, f"{rig.name}: unclear error {text!r}"
        assert rig.name in text, f"{rig.name}: the error does not say which broker: {text!r}"


def entry_of(rig: Any) -> Any:
    rows = rig.orch.journal.history(rig.name)
    assert rows, f"{rig.name}: place() left no journal row"
    return rows[0]


def check_place(rig: Any, outcome: Any, orders_before: int, *, resolved: bool = True, settled: bool = False) -> Any:
    """At most one order at the simulator for this place() call; the journal row agrees with it. With
    ``resolved``, the broker could be asked, so the row must not be left in flight; ``settled``: the row
    has been reconciled since (its state may have moved on from what place() returned)."""
    only_orch_error(outcome, rig)
    created = len(rig.sim_orders()) - orders_before
    assert created in (0, 1), f"{rig.name}: one place() call left {created} orders at the broker"
    entry = entry_of(rig)
    if isinstance(outcome, PlaceResult):
        assert created == 1, f"{rig.name}: place() returned an order the simulator does not hold"
        assert outcome.entry.client_order_id == entry.client_order_id
        if not settled:
            assert entry.state is JournalState.of(outcome.order.status)
    if created:
        assert entry.state not in ABSENT, (
            f"{rig.name}: the order exists at the broker but the journal says {entry.state.value}")
        if not resolved:
            return entry
        assert entry.state not in UNRESOLVED, f"{rig.name}: the broker could be asked, yet the row is {entry.state.value}"
        assert entry.broker_order_id, f"{rig.name}: the journal does not know the broker's id of the order"
    else:
        assert not isinstance(outcome, PlaceResult), f"{rig.name}: place() reported an order that does not exist"
        if resolved:
            assert entry.state in ABSENT, (
                f"{rig.name}: no order at the broker but the journal says {entry.state.value}")
    return entry


async def check_true_state(rig: Any, entry: Any) -> None:
    """With the faults gone: ask the broker again; the journal row keeps its broker id and state kind."""
    refreshed = await rig.orch.refresh(entry.client_order_id)
    if entry.state in ABSENT:
        assert refreshed.state in ABSENT
        return
    assert refreshed.broker_order_id == entry.broker_order_id
    assert refreshed.state.broker_status is not None and refreshed.state not in ABSENT


async def check_healthy(rig: Any) -> None:
    """After reset_faults(): orders, quotes and the account work again, one order per place()."""
    rig.faults.reset()
    await trio.sleep(TIMEOUT * 4)  # any Retry-After, penalty or open circuit is over
    before = len(rig.sim_orders())
    result = await rig.place()
    assert isinstance(result, PlaceResult), f"{rig.name}: after reset_faults() place() failed: {result!r}"
    assert result.outcome == "placed"
    assert len(rig.sim_orders()) == before + 1
    accounts = await rig.orch.accounts([rig.name])
    assert isinstance(accounts[rig.name], Account), f"{rig.name}: account after reset: {accounts[rig.name]!r}"
    client = await rig.client()
    if client.capabilities.quotes:
        quote = await rig.orch.quote(rig.broker.instrument.symbol, broker=rig.name,
                                     market=rig.broker.instrument.market)
        assert isinstance(quote, Quote) and quote.bid <= quote.ask


async def settle(rig: Any) -> None:
    """Let a request the simulator still holds (latency, hang) finish, then reconcile as a restart does."""
    rig.faults.reset()
    # Long enough for a link the latency made look hung to be probed, cut and reconnected (IBKR: probe
    # after 30 s of silence, cut 10 s later): a reconcile in the middle of that fails and proves nothing.
    await trio.sleep(TIMEOUT * 6)
    await rig.orch.reconcile(rig.name)


# ------------------------------------------------------------------------------------------ latency


@by_broker
async def test_latency_under_the_timeout_is_only_slower(broker: Any, tmp_path: Path, autojump_clock: MockClock) -> None:
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(latency=broker.latency)
        before = len(rig.sim_orders())
        started = trio.current_time()
        result = await rig.place()
        assert isinstance(result, PlaceResult) and result.outcome == "placed", f"{rig.name}: {result!r}"
        check_place(rig, result, before)
        assert trio.current_time() - started >= broker.latency
        accounts = await rig.orch.accounts([rig.name])
        assert isinstance(accounts[rig.name], Account), accounts
        assert rig.faults.counters["latency"] > 0
        await check_healthy(rig)


@by_broker
async def test_latency_past_the_timeout_everywhere(broker: Any, tmp_path: Path, autojump_clock: MockClock) -> None:
    """Every request answers late: the order's outcome cannot be known while it lasts (in flight is right
    then), reads fail with a timeout, and reconciling once the broker answers again finds the truth."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(latency=TIMEOUT + 5)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        check_place(rig, outcome, before, resolved=False)
        accounts = await rig.orch.accounts([rig.name])
        only_orch_error(accounts[rig.name], rig)
        assert isinstance(accounts[rig.name], BrokerUnavailable), accounts
        if (await rig.client()).capabilities.quotes:
            try:
                quote = await rig.orch.quote(broker.instrument.symbol, broker=rig.name,
                                             market=broker.instrument.market)
            except Exception as exc:
                quote = exc
            assert isinstance(quote, BrokerUnavailable), quote
            only_orch_error(quote, rig)
        await settle(rig)
        entry = check_place(rig, outcome, before, settled=True)
        await check_true_state(rig, entry)
        await check_healthy(rig)


@by_broker
async def test_latency_past_the_timeout_on_the_order_request(broker: Any, tmp_path: Path,
                                                             autojump_clock: MockClock) -> None:
    """Only the order request is late: the lookup that follows the timeout must not prove an absence the
    late request then contradicts."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(latency=TIMEOUT + 5, paths=broker.order_paths)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        await settle(rig)
        entry = check_place(rig, outcome, before, settled=True, resolved=broker.finds_lost_orders)
        if broker.finds_lost_orders:
            await check_true_state(rig, entry)
        await check_healthy(rig)


# ------------------------------------------------------------------------------------------ error statuses


@by_broker
async def test_server_error_on_the_order_request(broker: Any, tmp_path: Path, autojump_clock: MockClock) -> None:
    """A 5xx (a dropped TWS connection for IBKR) before the order was handled: nothing placed, proven by a
    lookup, the caller told it failed; never resent blindly."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(error_burst=1, paths=broker.order_paths)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        assert rig.faults.counters["http_5xx"] == 1, f"{rig.name}: the fault never hit the order request"
        entry = check_place(rig, outcome, before)
        assert len(rig.sim_orders()) == before and isinstance(outcome, OrchError), outcome
        await check_true_state(rig, entry)
        await check_healthy(rig)


@by_broker
async def test_server_error_burst_everywhere(broker: Any, tmp_path: Path, autojump_clock: MockClock) -> None:
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(error_burst=5)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        # Five failures in a row open the circuit: the lookup after an uncertain order waits for its probe.
        check_place(rig, outcome, before)
        accounts = await rig.orch.accounts([rig.name])
        only_orch_error(accounts[rig.name], rig)
        await settle(rig)
        entry = check_place(rig, outcome, before, settled=True)
        await check_true_state(rig, entry)
        await check_healthy(rig)


@by_broker
@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limited_order_request(broker: Any, status: int, tmp_path: Path, autojump_clock: MockClock) -> None:
    """429 (slow down) or 418 (Binance's IP ban; an unexpected 4xx elsewhere) on the order request: the
    request was refused, so nothing is placed; the caller gets an orch error saying so. During a ban the
    broker cannot be asked (the row may stay in flight); once it is over, reconciling settles it."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(rate_limit_burst=1, rate_limit_status=status, retry_after=30, paths=broker.order_paths)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        assert rig.faults.counters[f"http_{status}"] == 1, f"{rig.name}: the fault never hit the order request"
        assert isinstance(outcome, (RateLimited, BrokerUnavailable, OrderRejected)), outcome
        if isinstance(outcome, OrderRejected):
            # An unexpected 4xx read as the broker's refusal: the message must say which status.
            assert str(status) in str(outcome), f"{rig.name}: unclear refusal {outcome}"
        check_place(rig, outcome, before, resolved=False)
        assert len(rig.sim_orders()) == before
        await settle(rig)
        entry = check_place(rig, outcome, before, settled=True)
        await check_true_state(rig, entry)
        await check_healthy(rig)


@by_broker
@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_burst_everywhere(broker: Any, status: int, tmp_path: Path, autojump_clock: MockClock) -> None:
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(rate_limit_burst=3, rate_limit_status=status, retry_after=2)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        check_place(rig, outcome, before, resolved=status != 418)
        accounts = await rig.orch.accounts([rig.name])
        only_orch_error(accounts[rig.name], rig)
        await settle(rig)
        entry = check_place(rig, outcome, before, settled=True)
        await check_true_state(rig, entry)
        await check_healthy(rig)


# ------------------------------------------------------------------------------------------ lost answers


@by_broker
@pytest.mark.parametrize("drop_mode", ["reset", "hang"])
async def test_answer_lost_after_the_order_was_accepted(broker: Any, drop_mode: str, tmp_path: Path,
                                                        autojump_clock: MockClock) -> None:
    """The broker placed the order, then the connection died (reset) or the answer never came (hang): one
    order, found by asking, and the journal holds its true state."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        rig.faults.set(drop_after_accept_burst=1, drop_mode=drop_mode)
        before = len(rig.sim_orders())
        outcome = await rig.place()
        assert rig.faults.counters["dropped_responses"] == 1, f"{rig.name}: the answer was not dropped"
        assert len(rig.sim_orders()) == before + 1
        if not broker.finds_lost_orders:
            # Never resent, never called rejected: the user is told the outcome is unknown and where to look.
            entry = check_place(rig, outcome, before, resolved=False)
            assert isinstance(outcome, BrokerUnavailable) and "outcome unknown" in str(outcome), outcome
            assert entry.state is JournalState.IN_FLIGHT
            await check_healthy(rig)
            return
        entry = check_place(rig, outcome, before)
        assert isinstance(outcome, PlaceResult) and outcome.outcome == "found_after_uncertain", outcome
        events = [e.state for e in rig.orch.journal.events(entry.client_order_id)]
        assert events.count(JournalState.IN_FLIGHT) == 1
        await check_true_state(rig, entry)
        await check_healthy(rig)


# ------------------------------------------------------------------------------------------ streams


STREAMS = pytest.mark.parametrize(("broker", "kind"), kit.STREAMING, ids=lambda v: str(getattr(v, "name", v)))


async def _next_quote(items: Any, after: Any, timeout: float) -> Quote:
    with trio.fail_after(timeout):
        async for quote in items:
            if quote.timestamp > after:
                return quote
    raise AssertionError("the quote stream ended")


async def _order_update(rig: Any, items: Any, timeout: float) -> Order:
    """Place orders until the stream reports one. Updates sent while a stream was down are not replayed
    (the brokers' streams have no replay; the journal learns them by lookup), so an order placed while
    the stream was still reconnecting may never show: the next one must."""
    wanted: set[str] = set()
    with trio.fail_after(timeout):
        while True:
            result = await rig.place()
            assert isinstance(result, PlaceResult), f"{rig.name}: {result!r}"
            wanted |= {result.order.broker_order_id, result.order.client_order_id} - {None}
            with trio.move_on_after(30):
                async for order in items:
                    if {order.broker_order_id, order.client_order_id} & wanted:
                        return order


async def _resumes(rig: Any, items: Any, kind: str, timeout: float = 300.0) -> None:
    if kind == "quotes":
        quote = await _next_quote(items, rig.engine.now(), timeout)
        assert quote.bid <= quote.ask
    else:
        await _order_update(rig, items, timeout)


def _open(client: Any, rig: Any, kind: str) -> Any:
    if kind == "quotes":
        return client.stream_quotes([rig.broker.instrument])
    return client.stream_orders()


async def _pump(stream: Any, send: Any) -> None:
    # The stream is read by one task for its whole life: cancelling a wait inside an async generator
    # would finish the generator.
    async with aclosing(stream), send:
        async for item in stream:
            await send.send(item)


@STREAMS
@pytest.mark.parametrize("fault", ["ws_drop_burst", "ws_drop_after", "ws_silent"])
async def test_stream_resumes_after_the_fault(broker: Any, kind: str, fault: str, tmp_path: Path,
                                              autojump_clock: MockClock) -> None:
    """A stream connection closed by the broker (once, or after every few messages) or gone quiet resumes
    on the same iterator, without a reconnect storm, and orders still go through meanwhile."""
    async with kit.open_rig(broker, tmp_path, timeout=TIMEOUT) as rig:
        client = await rig.client()
        send, items = trio.open_memory_channel[Any](1000)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, _open(client, rig, kind), send)
            await _resumes(rig, items, kind)
            changes = {"ws_drop_burst": {"ws_drop_burst": 1}, "ws_drop_after": {"ws_drop_after": 2},
                       "ws_silent": {"ws_silent": True}}[fault]
            rig.faults.set(**changes)
            if kind == "quotes" and fault == "ws_drop_burst":
                await _resumes(rig, items, kind)
            elif kind == "quotes":
                await trio.sleep(120)
            else:
                # Order updates are what the stream carries: place some while it is faulted (they go
                # through whatever the stream does).
                for _ in range(3):
                    before = len(rig.sim_orders())
                    # IBKR's orders share the faulted TWS socket: their outcome may be unknown meanwhile.
                    check_place(rig, await rig.place(), before, resolved=not broker.tcp)
                    await trio.sleep(40)
            counters = rig.faults.counters
            if fault != "ws_silent":
                assert counters["ws_dropped_connections"] >= 1, f"{rig.name}: no stream was dropped"
                assert counters["ws_dropped_connections"] <= 40, f"{rig.name}: reconnect storm {counters}"
            rig.faults.reset()
            if kind == "orders":
                await settle(rig)
                assert rig.orch.journal.unresolved(rig.name) == [], f"{rig.name}: orders left unresolved"
            await _resumes(rig, items, kind)
            nursery.cancel_scope.cancel()
