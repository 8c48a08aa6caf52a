"""End to end: the real `orch` console script, as subprocesses, against the Binance simulator running in
another process (`orch sim start binance`), with a journal in a temporary ORCH_HOME: the guide's Binance
commands, including `orch binance order buy BTCUSDT 0.01 limit 45000 --testnet`."""

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
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "binance", "--port", "0",
                                "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        info = json.loads(_readline(process))
        yield {"home": home, "config": config_file, "env": env, "url": info["simulators"]["binance"]["url"]}
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


def test_balance(sim):
    result = orch(sim, "--json", "binance", "balance")
    assert result.returncode == 0, result.stderr
    rows = {row["asset"]: row for row in json.loads(result.stdout)}
    assert rows["USDT"]["free"] == "100000" and rows["BTC"]["total"] == "1"


def test_permissions(sim):
    result = orch(sim, "--json", "binance", "permissions")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["account"]["flags"]["canTrade"] == "true" and data["account"]["flags"]["permissions"] == "SPOT"
    assert data["mode"] in ("paper", "testnet") and "oco" in data["capabilities"]["order_classes"]


def test_the_guides_limit_order_on_the_testnet(sim):
    result = orch(sim, "binance", "order", "buy", "BTCUSDT", "0.01", "limit", "45000", "--testnet")
    assert result.returncode == 0, result.stderr
    assert "buy 0.01 BTCUSDT limit @ 45000" in result.stdout and "→ new" in result.stdout
    listed = orch(sim, "--json", "binance", "orders")
    assert listed.returncode == 0, listed.stderr
    orders = json.loads(listed.stdout)
    assert any(o["limit_price"] == "45000" and o["status"] == "new" for o in orders)


def test_live_is_refused_on_a_testnet_config(sim):
    result = orch(sim, "binance", "order", "buy", "BTCUSDT", "0.01", "limit", "45000", "--live")
    assert result.returncode == 2 and "testnet" in result.stderr


def test_the_guides_old_websocket_url_is_accepted_with_a_warning(sim, tmp_path):
    document = json.loads(sim["config"].read_text())
    document["brokers"]["binance"]["endpoints"]["websocket"] = "wss://testnet.binance.vision/ws"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    result = orch(sim, "binance", "account", config=old)
    assert result.returncode == 0, result.stderr
    assert "wss://testnet.binance.vision/ws is outdated" in result.stderr
    assert "stream.testnet.binance.vision" in result.stderr


def test_futures_are_refused_with_a_clear_message(sim):
    result = orch(sim, "binance", "order", "buy", "BTCUSDT", "0.01", "limit", "45000", "--market", "FUTURES")
    assert result.returncode != 0


def test_stream_quotes_from_binance(sim):
    result = orch(sim, "--json", "stream", "BTCUSDT", "--broker", "binance", "--count", "3")
    assert result.returncode == 0, result.stderr
    quotes = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(quotes) == 3 and all(q["broker"] == "binance" and q["bid"] and q["ask"] for q in quotes)


def test_filters_command(sim):
    result = orch(sim, "--json", "binance", "filters", "BTCUSDT")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["tick_size"], data["step_size"], data["min_notional"]) == ("0.01", "0.00001", "5")


def test_watch_records_execution_reports_in_the_journal(sim):
    watcher = subprocess.Popen([*_orch_command(), "--config", str(sim["config"]), "binance", "watch", "--count", "2",
                                "--seconds", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=sim["env"], stdin=subprocess.DEVNULL)
    try:
        import time
        import urllib.request

        deadline = time.monotonic() + 20
        while True:  # the watcher subscribes before the order goes
            with urllib.request.urlopen(f"{sim['url']}/__binance__/state", timeout=5) as response:
                if json.loads(response.read())["user_streams"] >= 1:
                    break
            assert time.monotonic() < deadline, "the watcher never subscribed"
            time.sleep(0.05)
        placed = orch(sim, "--json", "binance", "order", "buy", "ETHUSDT", "0.01", "market", "--testnet")
        assert placed.returncode == 0, placed.stderr
        out, err = watcher.communicate(timeout=40)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    lines = [line for line in out.splitlines() if "ETHUSDT" in line]
    assert len(lines) == 2 and "filled" in lines[-1]
    from orch.journal.store import Journal

    journal = Journal.open(sim["home"] / "journal.sqlite")
    try:
        fills = [f for f in journal.fills("binance") if f.instrument.symbol == "ETHUSDT"]
    finally:
        journal.close()
    assert len(fills) == 1 and fills[0].fee_currency == "USDT" and fills[0].fee > 0
