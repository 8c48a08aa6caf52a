"""Budget stores: the key hides credentials; one SQLite file gives several limiters and several
processes one shared window."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import trio
import trio.testing

from orch.resilience import (BudgetHalted, MemoryBudgetStore, RateLimiter, Rule, SqliteBudgetStore,
                             budget_key)
from orch.secret import Secret


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + period) for i, start in enumerate(times))


def test_budget_key_is_a_hash_of_broker_and_identity():
    key = budget_key("binance", Secret("api-key-1234567890"))
    assert len(key) == 32 and int(key, 16) >= 0
    assert "api-key" not in key
    assert key == budget_key("binance", "api-key-1234567890")
    assert key != budget_key("binance", "api-key-other")
    assert key != budget_key("alpaca", "api-key-1234567890")
    assert budget_key("ab", "c") != budget_key("a", "bc")  # parts are separated


async def test_limiters_on_one_store_and_key_share_a_window(clock):
    store = MemoryBudgetStore()
    a = RateLimiter([Rule("requests", 5, 10.0)], store=store, key="k")
    b = RateLimiter([Rule("requests", 5, 10.0)], store=store, key="k")
    other = RateLimiter([Rule("requests", 5, 10.0)], store=store, key="other")
    times = []

    async def take(limiter):
        await limiter.acquire()
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(take, (a, b)[i % 2])
    assert sorted(times) == [10.0 * (k // 5) for k in range(20)]
    await other.acquire()
    assert other.usage().used == 1


async def test_sqlite_store_shares_a_window_across_connections(clock, tmp_path):
    path = tmp_path / "budget.sqlite3"
    stores = [SqliteBudgetStore(path, clock=trio.current_time) for _ in range(2)]
    limiters = [RateLimiter([Rule("requests", 10, 60.0)], store=s, key="k") for s in stores]
    times = []

    async def take(limiter):
        await limiter.acquire()
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for i in range(100):  # ten times the limit, from two connections at once
            nursery.start_soon(take, limiters[i % 2])
    assert len(times) == 100
    assert max_in_window(times, 60.0) == 10
    assert sorted(times) == [60.0 * (k // 10) for k in range(100)]
    assert limiters[1].usage().used == 10


async def test_sqlite_store_shares_halts_penalties_and_corrections(clock, tmp_path):
    path = tmp_path / "budget.sqlite3"
    a, b = (RateLimiter([Rule("weight", 10, 60.0)], name="binance",
                        store=SqliteBudgetStore(path, clock=trio.current_time), key="k") for _ in range(2))
    a.observe(used=7)
    assert b.usage().used == 7
    a.penalize(5.0)
    assert b.usage().penalized_until == 5.0
    await b.acquire()
    assert trio.current_time() == 5.0
    a.halt(100.0, "418 IP banned")
    with pytest.raises(BudgetHalted, match="418 IP banned"):
        await b.acquire()
    assert b.usage().halt_reason == "418 IP banned"


def test_sqlite_store_drops_grants_from_a_clock_stepped_back(tmp_path):
    now = [1000.0]
    store = SqliteBudgetStore(tmp_path / "b.sqlite3", clock=lambda: now[0])
    rule = Rule("requests", 2, 60.0)
    assert store.take("k", [(rule, 2)]).granted
    now[0] = 1030.0
    assert store.take("k", [(rule, 1)]).wait == pytest.approx(30.0)
    now[0] = 500.0  # the system clock jumped back by more than a period
    assert store.take("k", [(rule, 1)]).granted


def test_sqlite_store_penalty_never_shortens(tmp_path):
    now = [0.0]
    store = SqliteBudgetStore(tmp_path / "b.sqlite3", clock=lambda: now[0])
    store.block("k", "penalty", 30.0, "rate limited")
    store.block("k", "penalty", 5.0, "rate limited")
    assert store.blocks("k").penalty_left == 30.0


_WORKER = textwrap.dedent("""
    import json, sys, time
    import trio
    from orch.resilience import RateLimiter, Rule, SqliteBudgetStore

    path, key, count, start, period = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(float, sys.argv[4:])
    store = SqliteBudgetStore(path)
    granted = []
    take = store.take
    def recording_take(k, charges):
        decision = take(k, charges)
        if decision.granted:
            granted.append(decision.at)
        return decision
    store.take = recording_take

    async def main():
        limiter = RateLimiter([Rule("requests", 6, period)], store=store, key=key)
        await trio.sleep(max(0.0, start - time.time()))  # both processes burst at the same instant
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(limiter.acquire)

    trio.run(main)
    print(json.dumps(granted))
""")


def _run_processes(tmp_path, keys: list[str], count: int, period: float) -> list[float]:
    import time

    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    path = tmp_path / "shared.sqlite3"
    start = time.time() + 1.5
    argv = [str(count), str(start), str(period)]
    procs = [subprocess.Popen([sys.executable, str(script), str(path), key, *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for key in keys]
    grants = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        grants += json.loads(out)
    return grants


def test_two_processes_share_one_budget(tmp_path):
    grants = _run_processes(tmp_path, ["same", "same"], count=12, period=0.5)
    assert len(grants) == 24
    assert max_in_window(grants, 0.5) <= 6


def test_two_processes_with_different_keys_do_not_share(tmp_path):
    # The control for the test above: unshared budgets do overshoot the limit, so that test can fail.
    # A long window, so the two processes need not start at the same moment to overlap.
    grants = _run_processes(tmp_path, ["one", "two"], count=6, period=30.0)
    assert max_in_window(grants, 30.0) == 12
