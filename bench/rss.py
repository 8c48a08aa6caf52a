"""Memory of one orch process with all five official plugins connected to their simulators, next to a
bare interpreter and to importing ccxt.

    .venv/bin/python bench/rss.py [--steady SECONDS] [--json]

The simulators (Alpaca, Binance, IBKR's fake TWS, Trading 212, XTB) each run in a process of their own
(``python -m orch.sim.runner``, started side by side), so their memory is not counted. The measured process opens an
``Orchestrator`` (journal and rate budget in a temporary directory) on a config pointing at them, connects
every broker (``orch.client(name)``) and reads each account once, then idles for SECONDS while its
resident set is sampled. Reported, from ``/proc/self/status``: the peak (``VmHWM``) and the steady
resident set (``VmRSS``, median of the samples of the idle period's second half). The peers print their
own ``VmRSS``/``VmHWM`` right after start-up (``python -c pass``) and after ``import ccxt``. A middle row,
orch with the five plugins imported but nothing connected, separates code from connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OFFICIAL = {"alpaca": "orch_alpaca.sim:SPEC", "binance": "orch_binance.sim:SPEC", "ibkr": "orch_ibkr.sim:SPEC",
            "trading212": "orch_trading212.sim:SPEC", "xtb": "orch_xtb.sim:SPEC"}

_STATUS = "import sys; sys.stdout.write(open('/proc/self/status').read())"
PEERS: list[tuple[str, str]] = [
    ("python -c pass (bare interpreter)", _STATUS),
    ("python -c 'import ccxt'", "import ccxt; " + _STATUS),
    ("orch + 5 plugins imported, not connected",
     "import orch.orchestrator, orch_alpaca.plugin, orch_binance.plugin, orch_ibkr.plugin, "
     "orch_trading212.plugin, orch_xtb.plugin; " + _STATUS),
]
ORCH = "orch, 5 plugins connected to simulators"


def status_kb(text: str) -> dict[str, int]:
    """VmRSS and VmHWM (kB) from /proc/<pid>/status text."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def _own_status() -> dict[str, int]:
    try:
        return status_kb(Path("/proc/self/status").read_text())
    except OSError:  # not Linux: the peak is all getrusage knows (kB on Linux, bytes on macOS)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak // 1024 if sys.platform == "darwin" else peak
        return {"VmRSS": peak, "VmHWM": peak}


# ------------------------------------------------------------------------------------------- child


def child(config_file: str, steady: float) -> None:
    """The measured process: connect every broker in the config, read the accounts, idle and sample."""
    import trio

    from orch.config import config_from_data
    from orch.orchestrator import Orchestrator

    sections = json.loads(Path(config_file).read_text())
    config = config_from_data({"brokers": sections}, source="<bench>", env={})

    async def main() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="orch-bench-rss-") as tmp:
            async with Orchestrator.open(config, journal_file=Path(tmp) / "journal.sqlite3") as orch:
                for name in sections:
                    client = await orch.client(name)
                    await client.account()
                connected = sorted(name for name, c in orch.clients().items() if c.connected)
                samples = []
                for _ in range(max(2, int(steady / 0.25))):
                    await trio.sleep(0.25)
                    samples.append(_own_status()["VmRSS"])
                status = _own_status()
                second_half = samples[len(samples) // 2:]
                return {"connected": connected, "steady_kb": int(statistics.median(second_half)),
                        "peak_kb": status["VmHWM"]}

    print(json.dumps(trio.run(main)))


# ------------------------------------------------------------------------------------------- parent


def _peer(code: str) -> dict[str, int]:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"python -c {code!r} failed: {result.stderr.strip()[-300:]}")
    values = status_kb(result.stdout)
    return {"steady_kb": values["VmRSS"], "peak_kb": values["VmHWM"]}


@contextlib.contextmanager
def _simulators() -> Any:
    """The five simulators, each in a ``python -m orch.sim.runner`` process, started side by side; yields
    their config sections. Closing a runner's stdin stops it."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore::RuntimeWarning"}  # runpy's warning about orch.sim.runner
    processes = {name: subprocess.Popen([sys.executable, "-m", "orch.sim.runner", reference], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for name, reference in OFFICIAL.items()}
    try:
        sections = {}
        for name, process in processes.items():
            line = process.stdout.readline() if process.stdout else ""
            if not line:
                raise SystemExit(f"the {name} simulator did not start (exit code {process.wait(10)})")
            sections[name] = {"enabled": True, **json.loads(line)["config"]}
        yield sections
    finally:
        for process in processes.values():
            if process.stdin:
                process.stdin.close()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


def measure(steady: float = 5.0) -> list[dict[str, Any]]:
    rows = [{"process": label, **_peer(code)} for label, code in PEERS]
    with _simulators() as sections, tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        config_file = Path(tmp) / "brokers.json"
        config_file.write_text(json.dumps(sections))
        result = subprocess.run([sys.executable, __file__, "--child", str(config_file), "--steady", str(steady)],
                                capture_output=True, text=True, check=False, timeout=120 + steady)
        if result.returncode != 0:
            raise SystemExit(f"the measured orch process failed: {result.stderr.strip()[-800:]}")
        measured = json.loads(result.stdout.strip().splitlines()[-1])
    if measured["connected"] != sorted(OFFICIAL):
        raise SystemExit(f"only {measured['connected']} connected, expected {sorted(OFFICIAL)}")
    rows.append({"process": ORCH, "steady_kb": measured["steady_kb"], "peak_kb": measured["peak_kb"]})
    bare = rows[0]["steady_kb"]
    ccxt = rows[1]["steady_kb"]
    for row in rows:
        row["steady_mib"] = round(row["steady_kb"] / 1024, 1)
        row["peak_mib"] = round(row["peak_kb"] / 1024, 1)
        row["vs_bare"] = round(row["steady_kb"] / bare, 2)
        row["vs_ccxt"] = round(row["steady_kb"] / ccxt, 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of idling to sample the steady RSS")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steady)
        return
    rows = measure(args.steady)
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "steady_seconds": args.steady, "rows": rows}, indent=2))
        return
    width = max(len(r["process"]) for r in rows)
    print(f"resident memory (Python {sys.version.split()[0]}, steady = median VmRSS over the last "
          f"{args.steady / 2:g} s of {args.steady:g} s idle)")
    print(f"{'process'.ljust(width)}  steady MiB  peak MiB  vs bare  vs ccxt")
    for r in rows:
        print(f"{r['process'].ljust(width)}  {r['steady_mib']:10.1f}  {r['peak_mib']:8.1f}  {r['vs_bare']:6.2f}x"
              f"  {r['vs_ccxt']:6.2f}x")


if __name__ == "__main__":
    main()
