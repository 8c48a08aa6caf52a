"""End to end: the real `orch` console script, as subprocesses, against the Trading 212 simulator running in
another process (`orch sim start trading212 --session-open`), journal in a temporary ORCH_HOME.

The simulator's per-endpoint windows are shrunk (limit_scale) for this module: each CLI call is a new
process that proves the key with the account summary, which Trading 212 allows once per 5 s."""

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


def _orch() -> list[str]:
    beside = Path(sys.executable).with_name("orch")
    found = str(beside) if beside.exists() else shutil.which("orch")
    return [found] if found else [sys.executable, "-m", "orch.cli.main"]


def _readline(process: subprocess.Popen, timeout: float = 30.0) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not got or not got[0]:
        process.kill()
        raise RuntimeError(f"simulator did not start: {process.stderr.read() if process.stderr else ''}")
    return got[0]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("orch_home")
    config_file = home / "config.json"
    env = {**os.environ, "ORCH_HOME": str(home)}
    process = subprocess.Popen([*_orch(), "--json", "sim", "start", "trading212", "--port", "0", "--session-open",
                                "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        info = json.loads(_readline(process))
        url = info["simulators"]["trading212"]["url"]
        _post(f"{url}/__trading212__/options", {"limit_scale": 0.001})
        yield {"home": home, "config": config_file, "env": env, "url": url}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def orch(sim: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_orch(), "--config", str(sim["config"]), *args], capture_output=True, text=True,
                          env=sim["env"], timeout=60, stdin=subprocess.DEVNULL)


def state(sim: dict) -> dict:
    with urllib.request.urlopen(f"{sim['url']}/__trading212__/state", timeout=10) as response:
        return json.loads(response.read())


def test_account(sim):
    result = orch(sim, "trading212", "account")
    assert result.returncode == 0, result.stderr
    assert "21200001" in result.stdout and "EUR" in result.stdout and "[paper]" in result.stdout
    assert "t212-sim-secret-0001" not in result.stdout + result.stderr


def test_market_order_then_positions(sim):
    before = state(sim)["counters"]["orders_created"]
    placed = orch(sim, "--json", "trading212", "order", "buy", "SAP.DE", "2", "market", "--paper")
    assert placed.returncode == 0, placed.stderr
    answer = json.loads(placed.stdout)
    assert answer["outcome"] == "placed" and answer["broker"] == "trading212" and answer["mode"] == "paper"
    assert answer["order"]["instrument"]["broker_ids"]["trading212"] == "SAPd_EQ"
    assert answer["order"]["instrument"]["currency"] == "EUR"
    assert state(sim)["counters"]["orders_created"] == before + 1

    positions = orch(sim, "--json", "trading212", "positions")
    assert positions.returncode == 0, positions.stderr
    assert "SAP.DE" in positions.stdout

    status = orch(sim, "--json", "order", "status", "--id", answer["client_order_id"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["order"]["broker"] == "trading212"


def test_eu_stocks_route_to_trading212(sim):
    route = orch(sim, "route", "VUSA.L")
    assert route.returncode == 0, route.stderr
    assert "trading212" in route.stdout and "EU_STOCKS" in route.stdout
    placed = orch(sim, "--json", "order", "buy", "VUSA.L", "1", "limit", "50", "--paper")
    assert placed.returncode == 0, placed.stderr
    answer = json.loads(placed.stdout)
    assert answer["broker"] == "trading212" and answer["order"]["limit_price"] == "50"


def test_quote_says_trading212_has_none(sim):
    result = orch(sim, "quote", "SAP.DE", "--broker", "trading212")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "quotes" in result.stderr


def test_live_on_a_practice_config_is_refused_before_sending(sim):
    before = state(sim)["counters"]["orders_created"]
    result = orch(sim, "trading212", "order", "buy", "SAP.DE", "1", "market", "--live")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert state(sim)["counters"]["orders_created"] == before


def test_instruments_and_market_hours(sim):
    listed = orch(sim, "--json", "trading212", "instruments", "vusa")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["ticker"], row["symbol"], row["currency"]) == ("VUSAl_EQ", "VUSA.L", "GBX")
    hours = orch(sim, "trading212", "hours", "SAP.DE")
    assert hours.returncode == 0, hours.stderr
    assert "SAPd_EQ" in hours.stdout and ("open" in hours.stdout or "closed" in hours.stdout)
