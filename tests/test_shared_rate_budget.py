"""Two orch processes with the same Alpaca keys, each bursting, stay within the broker's limit together:
the budget lives beside the journal ($ORCH_HOME/rate-budget.sqlite3) and both charge it. Counted at the
simulator (a separate process), over a few seconds: the limit is per minute, so a burst that overspends
does so at once, long before a window could refill.

The control run gives each process its own ORCH_HOME: each then spends the whole limit, and the simulator
sees about twice as many requests, which proves the shared run's count means something.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

LIMIT = 30  # requests per minute, far below the simulator's own 200
BURST_SECONDS = 3.0
BURSTER = Path(__file__).with_name("_budget_burst.py")


def _orch_command() -> list[str]:
    beside = Path(sys.executable).with_name("orch")
    found = str(beside) if beside.exists() else shutil.which("orch")
    return [found] if found else [sys.executable, "-m", "orch.cli.main"]


def _first_line(process: subprocess.Popen, timeout: float = 30.0) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not got or not got[0]:
        process.kill()
        raise RuntimeError(f"simulator did not start: {process.stderr.read() if process.stderr else ''}")
    return got[0]


@pytest.fixture
def sim(tmp_path: Path):
    """A fresh Alpaca simulator in its own process (its per-key window starts empty: it reports usage in
    X-RateLimit headers, which orch also obeys), and a config with a small per-minute limit."""
    where = tmp_path
    config_file = where / "config.json"
    env = {**os.environ, "ORCH_HOME": str(where / "sim_home")}
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "alpaca", "--port", "0",
                                "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=where)
    try:
        url = json.loads(_first_line(process))["simulators"]["alpaca"]["url"]
        document = json.loads(config_file.read_text())
        document["brokers"]["alpaca"]["rate_limits"] = {"requests_per_minute": LIMIT}
        config_file.write_text(json.dumps(document, indent=2))
        yield {"url": url, "config": config_file, "where": where}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sim_requests(sim: dict) -> int:
    with urllib.request.urlopen(f"{sim['url']}/__alpaca__/state", timeout=10) as response:
        return json.loads(response.read())["counters"]["requests"]


def burst_together(sim: dict, homes: list[Path]) -> tuple[int, list[int]]:
    """Start one bursting process per home at once; the requests the simulator received meanwhile, and
    what each process says its limiter let through."""
    before = sim_requests(sim)
    processes = []
    for home in homes:
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ORCH_HOME": str(home)}
        env.pop("ORCH_CONFIG", None)
        processes.append(subprocess.Popen(
            [sys.executable, str(BURSTER), str(sim["config"]), "alpaca", str(BURST_SECONDS)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=home))
    calls = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        calls.append(json.loads(out.strip().splitlines()[-1])["calls"])
    return sim_requests(sim) - before, calls


def test_two_processes_sharing_orch_home_stay_within_the_limit_together(sim):
    shared = sim["where"] / "shared_home"
    received, calls = burst_together(sim, [shared, shared])
    assert received <= LIMIT, f"the simulator received {received} requests; the limit is {LIMIT}/min"
    # They really burst: together they spent the budget (which of them got it is a race).
    assert received >= LIMIT - 2 and sum(calls) >= LIMIT - 4, (received, calls)
    assert (shared / "rate-budget.sqlite3").exists()


def test_control_separate_orch_homes_exceed_the_limit(sim):
    """Without the shared file each process spends the whole limit: the measurement can fail."""
    received, calls = burst_together(sim, [sim["where"] / "home_a", sim["where"] / "home_b"])
    assert received > LIMIT, (received, calls)
