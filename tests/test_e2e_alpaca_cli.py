"""End to end: the real `orch` console script, as subprocesses, against the real Alpaca simulator running in
another process (`orch sim start alpaca --session-open`), with a journal in a temporary ORCH_HOME."""

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


def _orch_command() -> list[str]:
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


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    """One Alpaca simulator subprocess for the module. `--session-open` pins its clock inside US stock hours
    so market orders fill and the stock data stream sends quotes whatever the wall-clock time is."""
    home = tmp_path_factory.mktemp("orch_home")
    config_file = home / "config.json"
    env = {**os.environ, "ORCH_HOME": str(home)}
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "alpaca", "--port", "0",
                                "--session-open", "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        info = json.loads(_readline(process))
        document = json.loads(config_file.read_text())
        assert document["brokers"]["alpaca"]["enabled"] is True
        yield {"home": home, "config": config_file, "env": env, "url": info["simulators"]["alpaca"]["url"]}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def orch(sim: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_orch_command(), "--config", str(sim["config"]), *args], capture_output=True,
                          text=True, env=sim["env"], timeout=60, stdin=subprocess.DEVNULL)


def sim_state(sim: dict) -> dict:
    with urllib.request.urlopen(f"{sim['url']}/__alpaca__/state", timeout=10) as response:
        return json.loads(response.read())


def sim_orders(sim: dict) -> list[dict]:
    request = urllib.request.Request(f"{sim['url']}/v2/orders?status=all", headers={
        "APCA-API-KEY-ID": _settings(sim)["api_key"], "APCA-API-SECRET-KEY": _settings(sim)["secret_key"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _settings(sim: dict) -> dict:
    return json.loads(sim["config"].read_text())["brokers"]["alpaca"]


def test_connection(sim):
    result = orch(sim, "test", "alpaca", "connection")
    assert result.returncode == 0, result.stderr
    assert "connected" in result.stdout and "[paper]" in result.stdout
    assert _settings(sim)["secret_key"] not in result.stdout + result.stderr


def test_account_and_positions(sim):
    account = orch(sim, "alpaca", "account")
    assert account.returncode == 0, account.stderr
    assert "PA3SIMALPACA" in account.stdout and "ACTIVE" in account.stdout
    positions = orch(sim, "alpaca", "positions")
    assert positions.returncode == 0, positions.stderr
    assert "Traceback" not in positions.stderr


def test_paper_market_order_reaches_the_simulator_and_the_journal(sim):
    before = sim_state(sim)["counters"]["orders_created"]
    placed = orch(sim, "--json", "alpaca", "order", "buy", "AAPL", "1", "market", "--paper")
    assert placed.returncode == 0, placed.stderr
    answer = json.loads(placed.stdout)
    assert answer["outcome"] == "placed" and answer["mode"] == "paper" and answer["broker"] == "alpaca"
    coid = answer["client_order_id"]
    assert answer["order"]["client_order_id"] == coid

    # Exactly one order was created at the simulator, and it carries our client order id.
    assert sim_state(sim)["counters"]["orders_created"] == before + 1
    at_sim = [o for o in sim_orders(sim) if o["client_order_id"] == coid]
    assert len(at_sim) == 1 and at_sim[0]["symbol"] == "AAPL"

    status = orch(sim, "--json", "order", "status", "--id", coid)
    assert status.returncode == 0, status.stderr
    entry = json.loads(status.stdout)["order"]
    assert entry["client_order_id"] == coid and entry["broker"] == "alpaca" and entry["mode"] == "paper"
    assert entry["state"] in {"new", "accepted", "partially_filled", "filled"}

    history = orch(sim, "--json", "order", "history")
    assert history.returncode == 0, history.stderr
    assert coid in [row["client_order_id"] for row in json.loads(history.stdout)]
    assert (sim["home"] / "journal.sqlite").exists()


def test_quote(sim):
    result = orch(sim, "--json", "quote", "AAPL", "--broker", "alpaca")
    assert result.returncode == 0, result.stderr
    assert "AAPL" in result.stdout and "bid" in result.stdout


def test_stream_one_quote(sim):
    result = orch(sim, "stream", "AAPL", "--broker", "alpaca", "--count", "1")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "AAPL" in lines[0] and "bid" in lines[0]
    assert sim_state(sim)["counters"]["ws_connections"]


def test_live_order_on_a_paper_config_is_refused_before_sending(sim):
    before = sim_state(sim)["counters"]["orders_created"]
    result = orch(sim, "alpaca", "order", "buy", "AAPL", "1", "market", "--live")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--live" in result.stderr
    assert sim_state(sim)["counters"]["orders_created"] == before


def test_limits_show_the_market_data_budget_apart(sim):
    quoted = orch(sim, "quote", "AAPL", "--broker", "alpaca")
    assert quoted.returncode == 0, quoted.stderr
    result = orch(sim, "--json", "alpaca", "limits")
    assert result.returncode == 0, result.stderr
    rules = {(r["budget"], r["rule"]): r for r in json.loads(result.stdout)["rate_limits"]}
    assert rules[(None, "requests")]["limit"] == 200
    assert rules[("market_data", "requests")]["limit"] == 200
    text = orch(sim, "alpaca", "limits").stdout
    assert "market_data requests: 200 requests per 60s" in text
