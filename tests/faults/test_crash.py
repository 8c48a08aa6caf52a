"""SIGKILL during submission, then restart: a process placing orders through Orchestrator.place() against a
simulator in this process is killed right after journaling an intent, while the order request is in flight,
after the broker answered but before the journal heard, and at random moments. A fresh orchestrator opening
the same journal reconciles on connect; then no row may be left pending or in flight, and the ledger must
find no duplicate, lost or mis-stated order. ``bench/crash.py`` runs many more."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from orch.testing.crash import crash_series

SCHEDULE = ("after_intent", "in_flight", "after_answer", "in_flight", "random")


@pytest.mark.parametrize("broker", ["alpaca", "binance"])
async def test_every_order_is_reconciled_after_a_sigkill_at_each_point_of_submission(tmp_path: Path, broker: str):
    rng = random.Random(f"crash-{broker}")
    async with crash_series(broker, tmp_path) as series:
        for point in SCHEDULE:
            outcome = await series.run(point, rng)
            assert outcome.killed or point == "random", f"{point}: the victim ended before the kill ({outcome.at})"
            assert outcome.left_uncertain == 0, f"{point}: rows left pending/in flight after reconcile"
            report = outcome.report
            assert report.clean, f"{point}: " + "\n".join(map(str, report.findings))
        # The points were really reached: the last run's journal holds every earlier victim's orders, some of
        # them found at the broker only by the reconcile.
        assert outcome.rows >= len(SCHEDULE)
        assert report.broker_orders[broker] >= 3
