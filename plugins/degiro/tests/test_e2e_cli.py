"""End to end: the real `orch` console script, as subprocesses, against the DEGIRO simulator in another
process (`orch sim start degiro`), journal in a temporary ORCH_HOME: account, quote, orders of each kind,
status and cancel, positions; --live refused against the simulator; the plugin refused without the
acknowledgement."""

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_HOME"] = str(home)
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", "degiro", "--port", "0",
                                "--session-open", "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        json.loads(_readline(process))
        section = json.loads(config_file.read_text())["brokers"]["degiro"]
        assert section["enabled"] is True and section["acknowledge_unofficial"] is True
        # DEGIRO's own pacing (60 requests a minute) would make these many short processes wait for real.
        section["rate_limits"] = {"requests_per_minute": 6000, "burst_limit": 1000, "orders_per_second": 100}
        config_file.write_text(json.dumps({"brokers": {"degiro": section}}))
        yield {"home": home, "config": config_file, "env": env, "section": section}
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


def test_account_quote_orders_and_positions(sim):
    account = orch(sim, "--json", "degiro", "account")
    assert account.returncode == 0, account.stderr
    data = json.loads(account.stdout)
    row = data[0] if isinstance(data, list) else data
    assert "31337001" in json.dumps(row) and "EUR" in json.dumps(row)

    quote = orch(sim, "degiro", "quote", "ASML.AS")
    assert quote.returncode == 0 and "bid" in quote.stdout and "ASML.AS" in quote.stdout, quote.stderr

    bought = orch(sim, "degiro", "order", "buy", "ASML.AS", "2", "market")
    assert bought.returncode == 0 and "accepted" in bought.stdout, bought.stderr
    resting = orch(sim, "--json", "degiro", "order", "buy", "AAPL", "1", "limit", "50", "--tif", "gtc")
    assert resting.returncode == 0, resting.stderr
    client_id = json.dumps(json.loads(resting.stdout))
    coid = next(part for part in client_id.replace('"', " ").split() if part.startswith("orch-"))

    positions = orch(sim, "degiro", "positions")
    assert positions.returncode == 0 and "ASML.AS" in positions.stdout, positions.stderr

    listed = orch(sim, "degiro", "orders")
    assert listed.returncode == 0 and "AAPL" in listed.stdout, listed.stderr

    status = orch(sim, "degiro", "order", "status", "--id", coid)
    assert status.returncode == 0, status.stderr
    cancelled = orch(sim, "degiro", "order", "cancel", coid)
    assert cancelled.returncode == 0 and "cancel" in cancelled.stdout.lower(), cancelled.stderr
    open_after = orch(sim, "degiro", "orders")
    assert "AAPL" not in open_after.stdout


def test_live_is_refused_against_the_simulator(sim):
    result = orch(sim, "degiro", "account", "--live")
    assert result.returncode == 2 and "--live" in result.stderr and "Traceback" not in result.stderr


def test_refused_without_the_acknowledgement(sim, tmp_path):
    section = {k: v for k, v in sim["section"].items() if k != "acknowledge_unofficial"}
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"brokers": {"degiro": section}}))
    result = orch(sim, "degiro", "account", config=config)
    assert result.returncode != 0
    assert "unofficial" in result.stderr and "acknowledge_unofficial = true" in result.stderr
    assert sim["section"]["password"] not in result.stderr + result.stdout
