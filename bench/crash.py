"""Crash runs: N times (200 by default) a process placing orders through ``Orchestrator.place()`` is SIGKILLed
during submission (right after the intent is journaled, while the order request is in flight, after the
broker answered but before the journal heard, or after a random delay), then a fresh orchestrator opens the
same journal and reconciles. Counts rows left pending/in flight and the ledger's duplicates, lost and
mis-stated orders; exits 1 unless all are zero.

    .venv/bin/python bench/crash.py [-n RUNS] [--seed N] [--brokers alpaca,binance] [--json]

The simulators run in this process (they outlive every victim); each broker keeps one journal across its
runs, so every check covers all earlier victims' orders too. See orch.testing.crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import trio

from orch.testing.crash import POINTS, crash_series


async def series(runs: int, seed: int, brokers: list[str], workdir: Path) -> dict:
    rng = random.Random(seed)
    figures: dict = {"runs": 0, "killed": Counter(), "finished_before_kill": 0, "left_uncertain": 0,
                     "duplicates": 0, "lost": 0, "mis_stated": 0, "journal_rows": {}, "broker_orders": {},
                     "findings": []}
    per_broker = [runs // len(brokers) + (1 if i < runs % len(brokers) else 0) for i in range(len(brokers))]
    seen: set[tuple[str, str]] = set()
    for broker, count in zip(brokers, per_broker):
        async with crash_series(broker, workdir / broker) as crashes:
            outcome = None
            for _ in range(count):
                point = rng.choice(POINTS)
                outcome = await crashes.run(point, rng)
                figures["runs"] += 1
                if outcome.killed:
                    figures["killed"][f"{broker}:{point}"] += 1
                else:
                    figures["finished_before_kill"] += 1
                figures["left_uncertain"] += outcome.left_uncertain
                # Each check covers the whole journal: count each finding once, however many checks saw it.
                seen.update((f.kind, str(f)) for f in outcome.report.findings)
            if outcome is not None:
                figures["journal_rows"][broker] = outcome.rows
                figures["broker_orders"][broker] = outcome.report.broker_orders.get(broker, 0)
    for kind in ("duplicates", "lost", "mis_stated"):
        figures[kind] = sum(1 for k, _ in seen if k == kind)
    figures["findings"] = sorted(text for _, text in seen)[:50]
    figures["killed"] = dict(figures["killed"])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--brokers", default="alpaca,binance")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orch-crash-") as workdir:
        figures = trio.run(series, args.runs, args.seed, args.brokers.split(","), Path(workdir))
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    figures["seed"] = args.seed
    bad = figures["left_uncertain"] + figures["duplicates"] + figures["lost"] + figures["mis_stated"]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['runs']} runs ({sum(figures['killed'].values())} killed mid-submission, "
              f"{figures['finished_before_kill']} finished first), seed {args.seed}, {figures['wall_seconds']} s")
        for key, count in sorted(figures["killed"].items()):
            print(f"  killed {key:<28} {count}")
        print(f"journal rows {figures['journal_rows']}, orders at the simulators {figures['broker_orders']}")
        print(f"left pending/in flight after reconcile {figures['left_uncertain']}, duplicates "
              f"{figures['duplicates']}, lost {figures['lost']}, mis-stated {figures['mis_stated']}")
        for finding in figures["findings"][:20]:
            print(f"  {finding}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
