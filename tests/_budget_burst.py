"""Run as a subprocess by tests/test_shared_rate_budget.py: one orch process bursting requests at a broker.

    python _budget_burst.py CONFIG BROKER SECONDS

Opens an :class:`~orch.orchestrator.Orchestrator` on CONFIG (the journal, and the rate budget beside it, in
$ORCH_HOME), then asks BROKER for its account as fast as its rate limiter lets it, from 16 tasks at once,
for SECONDS, and prints ``{"calls": N}``: the requests its limiter let through.
"""

from __future__ import annotations

import json
import sys

import trio

from orch.config import load_config
from orch.orchestrator import Orchestrator


async def burst(config_path: str, broker: str, seconds: float, workers: int = 16) -> int:
    """Many requests in flight at once, as a burst is: a limiter that only learned of the other process
    from the broker's usage headers would let a whole budget out before the first answer came back."""
    calls = 0

    async def worker(client) -> None:
        nonlocal calls
        while True:
            await client.account()
            calls += 1

    async with Orchestrator.open(load_config(config_path), reconcile=False) as orch:
        # The deadline covers connecting too: with the budget spent, even that waits for the window.
        with trio.move_on_after(seconds):
            client = await orch.client(broker)
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(worker, client)
    return calls


if __name__ == "__main__":
    path, name, span = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(json.dumps({"calls": trio.run(burst, path, name, span)}), flush=True)
