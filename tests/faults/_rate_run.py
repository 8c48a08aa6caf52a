"""One burst through the user's path, counted at the simulator (for tests/faults/test_rate_limits.py).

:func:`burst` starts a broker's simulator (:func:`orch.testing.simulator.start`, which records every
request at trio time as the simulator receives it), opens an :class:`~orch.orchestrator.Orchestrator` on a
config pointing at it (journal and shared rate budget in a temporary directory, the budget's SQLite store
on trio's clock so a MockClock drives minute-long windows), fires every call of the burst at once and
collects what each call returned and what the simulator received meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import trio
from attrs import define, field

from orch.config import config_from_data
from orch.orchestrator import Orchestrator
from orch.resilience import SqliteBudgetStore
from orch.testing.harness import load_with_simulator
from orch.testing.simulator import RequestRecord, SimulatorHandle, start

# A call of the burst: (orchestrator, what warm_up returned) → awaitable.
Call = Callable[[Orchestrator, Any], Awaitable[Any]]


@define
class Outcome:
    """What a burst did: every call's error (None when it succeeded) per family, the requests the
    simulator received from the first call of the burst on, and how long the burst took (trio time)."""

    errors: dict[str, list[BaseException | None]] = field(factory=dict)
    records: list[RequestRecord] = field(factory=list)
    started: float = 0.0
    elapsed: float = 0.0
    refusals: int = 0
    sources: dict[str, list[Any]] = field(factory=dict)

    def failures(self) -> dict[str, list[str]]:
        return {family: [f"{type(e).__name__}: {e}" for e in errors if e is not None][:3]
                for family, errors in self.errors.items() if any(e is not None for e in errors)}

    def calls(self, family: str) -> int:
        return len(self.errors.get(family, ()))


def _ok_per_broker(result: Mapping[str, Any]) -> None:
    # Orchestrator.accounts/positions return an error as a value (one broker's failure must not hide the
    # others); in a burst against one broker that value is the failure.
    for value in result.values():
        if isinstance(value, BaseException):
            raise value


async def burst(broker: str, tmp_path: Path, families: Mapping[str, tuple[int, Call]], *,
                section: Mapping[str, Any] | None = None,
                prepare: Callable[[SimulatorHandle], Any] | None = None,
                spend_first: Callable[[SimulatorHandle], Awaitable[None]] | None = None,
                warm_up: Callable[[Orchestrator], Awaitable[Any]] | None = None,
                refusals: Callable[[SimulatorHandle], int] | None = None) -> Outcome:
    """Run ``families`` (name → (how many calls, the call)) all at once against ``broker``'s simulator.

    ``prepare(sim)`` sets the simulator up and may return lists a simulator's own meter fills (name →
    list of :class:`~_windows.Charge`), counted alongside the request records; ``spend_first(sim)`` is another client spending part of the
    broker's budget before orch connects; ``section`` is merged into the broker's config section;
    ``warm_up(orch)`` runs after connecting, before the burst (an order to look up, say), and what it
    returns is handed to every call. The outcome's records are everything the simulator received from
    ``spend_first`` on (the other client, connecting, warming up and the burst): the broker counts it
    all. ``refusals(sim)`` reads the simulator's own count of rate-limit refusals (429, 418, error 100…).
    """
    loaded, spec = load_with_simulator(broker)
    outcome = Outcome()
    async with trio.open_nursery() as nursery:
        sim = await start(nursery, spec)
        meters = (prepare(sim) if prepare is not None else None) or {}
        first = sim.request_count()
        refused_before = refusals(sim) if refusals else 0
        if spend_first is not None:
            await spend_first(sim)
        config = config_from_data({"brokers": {broker: {"enabled": True, **merged(sim.config, section or {})}},
                                   "risk": {"enforce_market_hours": False}}, source="<rate-limits>", env={})
        store = SqliteBudgetStore(tmp_path / "rate-budget.sqlite3", clock=trio.current_time)
        async with Orchestrator.open(config, journal_file=tmp_path / "journal.sqlite3", reconcile=False,
                                     budget_store=store) as orch:
            await orch.client(broker)
            context: Any = await warm_up(orch) if warm_up is not None else None
            outcome.started = trio.current_time()

            async def one(family: str, index: int, call: Call) -> None:
                try:
                    await call(orch, context)
                except Exception as exc:  # every failure is the finding, whatever its type
                    outcome.errors[family][index] = exc

            async with trio.open_nursery() as calls:
                for family, (count, call) in families.items():
                    outcome.errors[family] = [None] * count
                    for index in range(count):
                        calls.start_soon(one, family, index, call)
            outcome.elapsed = trio.current_time() - outcome.started
            outcome.records = sim.requests_since(first)
            outcome.sources = {"requests": outcome.records, **meters}
            outcome.refusals = (refusals(sim) - refused_before) if refusals else 0
        with contextlib.suppress(Exception):
            store.close()
        nursery.cancel_scope.cancel()
    return outcome


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, sub-sections merged key by key (a test's ``market_data``
    limit must not drop the simulator's ``data_feed``)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
            else value
    return out


def accounts(orch: Orchestrator, *_: Any) -> Awaitable[None]:
    async def run() -> None:
        _ok_per_broker(await orch.accounts())
    return run()


def positions(orch: Orchestrator, *_: Any) -> Awaitable[None]:
    async def run() -> None:
        _ok_per_broker(await orch.positions())
    return run()


def describe(records: Sequence[RequestRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        key = f"{record.method} {record.path}"
        counts[key] = counts.get(key, 0) + 1
    return counts
