"""The soak: N orders (10,000 by default) through ``Orchestrator.place()`` across the five official brokers'
simulators with random faults switched on and off, then a final reconcile and the ledger's verdict.

    .venv/bin/python bench/soak.py [-n ORDERS] [--seed N] [--brokers a,b] [--concurrency K] [--no-faults] [--json]

Counts (a) duplicates at the simulators, (b) orders lost to the journal, (c) mis-stated journal rows; exits 1
unless all three are zero. Faults, per episode of 10-60 orders per broker: latency, 5xx bursts and rates,
429 bursts (429 or 418 at Binance), the order accepted but its answer lost (connection reset, or no answer
until the 2 s request timeout), websocket drops, and a mix. Same seed, same schedule of orders and faults.
All in one trio run on an autojumping MockClock (limiter waits and timeouts cost no wall time; the rate
limiters stay on), over loopback sockets. See orch.testing.soak.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from orch.testing.soak import OFFICIAL, SoakOptions, SoakResult, run


def table(result: SoakResult) -> str:
    report = result.report
    lines = [f"{'broker':<11}{'place()':>8}{'at sim':>8}{'journal':>8}{'dup':>5}{'lost':>6}{'mis':>5}  outcomes"]
    for broker in report.brokers:
        outcomes = ", ".join(f"{k} {v}" for k, v in result.outcomes.get(broker, {}).most_common())
        lines.append(f"{broker:<11}{report.place_calls.get(broker, 0):>8}{report.broker_orders.get(broker, 0):>8}"
                     f"{report.journal_rows.get(broker, 0):>8}{report.count('duplicates', broker):>5}"
                     f"{report.count('lost', broker):>6}{report.count('mis_stated', broker):>5}  {outcomes}")
    lines.append(f"{'total':<11}{sum(report.place_calls.values()):>8}{sum(report.broker_orders.values()):>8}"
                 f"{sum(report.journal_rows.values()):>8}{report.duplicates:>5}{report.lost:>6}{report.mis_stated:>5}")
    lines.append("")
    lines.append("faults injected: " + "; ".join(
        f"{b}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for b, c in result.injected.items()))
    lines.append("episodes: " + ", ".join(f"{k} {v}" for k, v in result.plans.most_common()))
    lines.append(f"wall {result.wall_seconds:.1f} s, {result.options.orders / result.wall_seconds:.0f} orders/s "
                 f"(trio time {result.trio_seconds:.0f} s), seed {result.options.seed}")
    for finding in report.findings[:30]:
        lines.append(f"  {finding}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--orders", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--brokers", default=",".join(OFFICIAL))
    parser.add_argument("--concurrency", type=int, default=4, help="orders in flight at once per broker")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the faults make every broker log warnings
    options = SoakOptions(orders=args.orders, seed=args.seed, brokers=tuple(args.brokers.split(",")),
                          concurrency=args.concurrency, faults=not args.no_faults)
    with tempfile.TemporaryDirectory(prefix="orch-soak-") as workdir:
        result = run(options, Path(workdir))
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else table(result))
    return 0 if result.report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
