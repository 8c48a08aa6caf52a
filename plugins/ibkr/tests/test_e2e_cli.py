"""End to end: the real `orch` console script against the fake TWS running in another process
(`orch sim start ibkr --session-open`), with a journal in a temporary ORCH_HOME: the guide's IBKR checks
(`test ibkr connection`, `ibkr accounts`, `ibkr order buy AAPL 1 market --paper`) and a bracket order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from decimal import Decimal
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
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "ibkr", "--port", "0",
                                "--session-open", "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        info = json.loads(_readline(process))
        assert info["simulators"]["ibkr"]["url"].startswith("tcp://127.0.0.1:")
        section = json.loads(config_file.read_text())["brokers"]["ibkr"]
        assert section["enabled"] is True and section["paper"] is True
        yield {"home": home, "config": config_file, "env": env}
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


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_connection(sim):
    out = ok(orch(sim, "test", "ibkr", "connection"))
    assert "ibkr: connected" in out and "[paper]" in out and "DU1234567" in out


def test_accounts(sim):
    out = ok(orch(sim, "ibkr", "accounts"))
    assert "DU1234567 (selected)" in out and "paper" in out and "API version 178" in out
    data = json.loads(ok(orch(sim, "--json", "ibkr", "accounts")))
    assert data["accounts"] == ["DU1234567"] and data["server_version"] == 178


def test_market_order_paper(sim):
    before = json.loads(ok(orch(sim, "--json", "ibkr", "positions")))
    out = ok(orch(sim, "ibkr", "order", "buy", "AAPL", "1", "market", "--paper"))
    assert "ibkr: buy 1 AAPL market" in out and "journal:" in out
    after = json.loads(ok(orch(sim, "--json", "ibkr", "positions")))

    def held(data):
        rows = data.get("ibkr", data) if isinstance(data, dict) else data
        return sum(Decimal(p["qty"]) for p in rows if p["instrument"]["symbol"] == "AAPL")

    assert held(after) == held(before) + 1


def test_bracket_order(sim):
    quote = json.loads(ok(orch(sim, "--json", "ibkr", "quote", "AAPL")))
    quote = quote.get("ibkr", quote) if "bid" not in quote else quote
    bid = Decimal(quote["bid"])
    entry = (bid * Decimal("0.5")).quantize(Decimal("0.01"))
    out = ok(orch(sim, "ibkr", "order", "buy", "AAPL", "2", "limit", str(entry), "--take-profit", str(entry * 3),
                  "--stop-loss", str((entry * Decimal("0.5")).quantize(Decimal("0.01"))), "--paper",
                  "--client-order-id", "orch-e2e-bracket"))
    assert "accepted" in out
    orders = json.loads(ok(orch(sim, "--json", "ibkr", "orders")))
    orders = orders.get("ibkr", orders) if isinstance(orders, dict) else orders
    refs = {o["client_order_id"]: o for o in orders}
    parent, take, stop = (refs["orch-e2e-bracket"], refs["orch-e2e-bracket-tp"], refs["orch-e2e-bracket-sl"])
    assert parent["type"] == "limit" and Decimal(parent["limit_price"]) == entry
    assert take["side"] == "sell" and take["type"] == "limit" and Decimal(take["limit_price"]) == entry * 3
    assert stop["side"] == "sell" and stop["type"] == "stop"
    assert {o["status"] for o in (parent, take, stop)} == {"accepted"}


def test_live_flag_is_refused_for_a_paper_config(sim):
    result = orch(sim, "ibkr", "order", "buy", "AAPL", "1", "market", "--live")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "paper" in result.stderr
