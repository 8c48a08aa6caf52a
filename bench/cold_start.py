"""Cold start: how long `orch --help` (and friends) take in a fresh process, next to importing ccxt, a peer
multi-exchange trading library, measured in the same run.

    .venv/bin/python bench/cold_start.py [-n RUNS] [--json]

Each command runs RUNS times in a fresh interpreter, the commands interleaved so that machine noise hits
them alike; one warm-up round is discarded. The table gives median and minimum wall time and the median's
ratio to `import ccxt`. Add a row to ROWS to measure another command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PY = sys.executable
_script = Path(PY).with_name("orch")
ORCH = [str(_script)] if _script.exists() else [PY, "-m", "orch.cli.main"]

PEER = "python -c 'import ccxt'"
ROWS: list[tuple[str, list[str]]] = [
    ("python -c pass", [PY, "-c", "pass"]),
    (PEER, [PY, "-c", "import ccxt"]),
    ("orch --help", [*ORCH, "--help"]),
    ("orch plugins", [*ORCH, "plugins"]),
]


def _once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace').strip()}")
    return elapsed


def measure(runs: int) -> dict[str, list[float]]:
    env = dict(os.environ)
    times: dict[str, list[float]] = {label: [] for label, _ in ROWS}
    for round_ in range(runs + 1):
        for label, argv in ROWS:
            elapsed = _once(argv, env)
            if round_:  # round 0 warms the disk cache
                times[label].append(elapsed)
    return times


def rows(times: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The table: median and minimum wall time of each command, and the median's ratio to import ccxt."""
    peer = statistics.median(times[PEER])
    return [{"command": label, "median_ms": round(statistics.median(t) * 1000, 1),
             "min_ms": round(min(t) * 1000, 1), "ratio_to_ccxt": round(statistics.median(t) / peer, 2)}
            for label, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    table = rows(measure(args.runs))
    if args.json:
        print(json.dumps({"runs": args.runs, "python": sys.version.split()[0], "rows": table}, indent=2))
        return
    width = max(len(r["command"]) for r in table)
    print(f"cold start, {args.runs} runs each (Python {sys.version.split()[0]})")
    print(f"{'command'.ljust(width)}  median ms  min ms  vs ccxt")
    for r in table:
        print(f"{r['command'].ljust(width)}  {r['median_ms']:9.1f}  {r['min_ms']:6.1f}  {r['ratio_to_ccxt']:6.2f}x")


if __name__ == "__main__":
    main()
