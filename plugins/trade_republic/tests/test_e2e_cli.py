"""End to end: the real `orch` console script against the Trade Republic simulator in another process
(`orch sim start trade_republic`), with a temporary ORCH_HOME: login, account, quote, an order and its
cancel, and the refusals (live guard both ways, the unofficial opt-in)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
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
    home = tmp_path_factory.mktemp("orch_home")
    config_file = home / "config.json"
    env = {**os.environ, "ORCH_HOME": str(home)}
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "trade_republic", "--port", "0",
                                "--session-open", "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        json.loads(_readline(process))
        document = json.loads(config_file.read_text())
        assert document["brokers"]["trade_republic"]["acknowledge_unofficial"] is True
        yield {"home": home, "config": config_file, "env": env, "document": document}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def orch(sim: dict, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*_orch_command(), "--config", str(config or sim["config"]), *args], capture_output=True,
                          text=True, env=sim["env"], timeout=60, stdin=subprocess.DEVNULL)


def _variant(sim: dict, tmp_path: Path, **changes) -> Path:
    document = json.loads(json.dumps(sim["document"]))
    document["brokers"]["trade_republic"].update(changes)
    path = tmp_path / "variant.json"
    path.write_text(json.dumps(document))
    return path


def test_login_account_and_quote(sim):
    login = orch(sim, "trade_republic", "login")
    assert login.returncode == 0, login.stderr
    assert "logged in" in login.stdout
    account = orch(sim, "--json", "trade_republic", "account")
    assert account.returncode == 0, account.stderr
    pin = sim["document"]["brokers"]["trade_republic"]["pin"]
    assert pin not in account.stdout + account.stderr
    quote = orch(sim, "--json", "trade_republic", "quote", "SAP")
    assert quote.returncode == 0, quote.stderr
    assert "Traceback" not in quote.stderr


def test_an_order_and_its_cancel(sim):
    placed = orch(sim, "--json", "trade_republic", "order", "buy", "SAP", "1", "limit", "1.00")
    assert placed.returncode == 0, placed.stderr
    result = json.loads(placed.stdout)
    assert result["outcome"] == "placed" and result["order"]["raw_status"] == "open"
    order_id = result["order"]["broker_order_id"]
    orders = orch(sim, "--json", "trade_republic", "orders")
    assert orders.returncode == 0, orders.stderr
    assert order_id in orders.stdout
    canceled = orch(sim, "--json", "trade_republic", "order", "cancel", result["client_order_id"])
    assert canceled.returncode == 0, canceled.stderr
    assert "cancel" in canceled.stdout
    still_open = orch(sim, "--json", "trade_republic", "orders")
    assert order_id not in still_open.stdout


def test_live_against_the_simulator_is_refused(sim):
    result = orch(sim, "trade_republic", "account", "--live")
    assert result.returncode == 2
    assert "simulator" in result.stderr and "Traceback" not in result.stderr


def test_trade_republic_itself_needs_live(sim, tmp_path):
    real = _variant(sim, tmp_path, api_url="https://api.traderepublic.com", ws_url="wss://api.traderepublic.com")
    result = orch(sim, "trade_republic", "account", config=real)
    assert result.returncode == 2, result.stderr
    assert "--live" in result.stderr and "Traceback" not in result.stderr


def test_without_the_acknowledgement_it_stays_unloaded(sim, tmp_path):
    unacknowledged = _variant(sim, tmp_path, acknowledge_unofficial=False)
    result = orch(sim, "trade_republic", "account", config=unacknowledged)
    assert result.returncode != 0
    assert "acknowledge_unofficial" in result.stderr and "Traceback" not in result.stderr
