"""End to end: the real `orch` console script against the XTB simulator in another process
(`orch sim start xtb`): `orch stream EURUSD --broker xtb`, account, a forex order, and `orch plugins`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
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
        raise RuntimeError("the XTB simulator did not start")
    return got[0]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("orch_home")
    config = home / "config.json"
    env = {**os.environ, "ORCH_HOME": str(home)}
    process = subprocess.Popen([*_orch(), "--json", "sim", "start", "xtb", "--port", "0", "--session-open",
                                "--write-config", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        json.loads(_readline(process))
        yield {"config": config, "env": env}
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


def test_stream_eurusd(sim):
    result = orch(sim, "stream", "EURUSD", "--broker", "xtb", "--count", "2")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and all("EURUSD" in line and "bid" in line for line in lines)


def test_account_and_a_forex_order(sim):
    account = orch(sim, "--json", "xtb", "account")
    assert account.returncode == 0, account.stderr
    assert json.loads(account.stdout)["currency"] == "USD"
    placed = orch(sim, "--json", "xtb", "order", "buy", "EURUSD", "1000", "market", "--demo")
    assert placed.returncode == 0, placed.stderr
    answer = json.loads(placed.stdout)
    assert answer["broker"] == "xtb" and answer["order"]["client_order_id"] == answer["client_order_id"]
    assert answer["order"]["status"] == "filled"
    secret = json.loads(sim["config"].read_text())["brokers"]["xtb"]["secret_key"]
    assert secret not in account.stdout + placed.stdout + placed.stderr


def test_a_bad_lot_is_one_line_and_nothing_is_sent(sim):
    result = orch(sim, "xtb", "order", "buy", "EURUSD", "1500", "market", "--demo")
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "lot step" in result.stderr


def test_orch_plugins_says_the_api_was_switched_off(sim):
    # The exit code also reflects the other installed plugins; only the xtb row is ours to check.
    result = orch(sim, "plugins", "--check", "--json")
    [row] = [r for r in json.loads(result.stdout) if r["name"] == "xtb"]
    assert row["state"] == "ok" and "2025-03-14" in row["notice"] and "orch sim start xtb" in row["notice"]
    text = orch(sim, "plugins", "--check")
    assert "2025-03-14" in text.stdout


def test_symbols_trades_and_protect(sim):
    symbols = orch(sim, "--json", "xtb", "symbols", "EUR")
    assert symbols.returncode == 0, symbols.stderr
    rows = {r["symbol"]: r for r in json.loads(symbols.stdout)}
    assert float(rows["EURUSD"]["qty_step"]) == 1000 and rows["EURUSD"]["precision"] == 5
    assert orch(sim, "xtb", "order", "buy", "GBPUSD", "2000", "market", "--demo").returncode == 0
    trades = json.loads(orch(sim, "--json", "xtb", "trades").stdout)
    gbp = next(t for t in trades if t["symbol"] == "GBPUSD")
    stop = f"{float(gbp['open_price']) - 0.01:.5f}"
    protected = orch(sim, "xtb", "protect", str(gbp["order"]), "--sl", stop)
    assert protected.returncode == 0, protected.stderr
    after = next(t for t in json.loads(orch(sim, "--json", "xtb", "trades").stdout) if t["order"] == gbp["order"])
    assert float(after["sl"]) == float(stop)
    refused = orch(sim, "xtb", "protect", str(gbp["order"]))
    assert refused.returncode == 2 and "--sl" in refused.stderr
