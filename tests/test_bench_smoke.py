"""`bench/run.py --quick` runs every row of the benchmark table and writes the markdown: a smoke test of
the machinery (simulators, peers, the MockClock run, the RSS subprocesses), never of the figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run.py"

SECTIONS = ["## Machine", "## 1. Order path", "## 2. CLI cold start", "## 3. Stream decode rate",
            "## 4. 1,000 quotes", "## 5. Resident memory"]
CONTENDERS = ["raw httpx", "alpaca-py", "raw signed httpx", "ccxt async", "ib_async", "orch plugin (BrokerClient)",
              "orch Orchestrator.place", "BrokerClient.place_order"]
DECODERS = ["Alpaca MarketDataSession (JSON)", "Alpaca MarketDataSession (msgpack)", "Binance MarketStreamSession",
            "XTB QuoteSession", "IBKR tick messages"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    result = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(out), "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=150, check=False)
    assert result.returncode == 0, f"bench/run.py --quick failed:\n{result.stderr[-3000:]}"
    return result, out.read_text()


def test_markdown_has_every_row(quick_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, text = quick_run
    for heading in SECTIONS:
        assert heading in text, heading
    for name in CONTENDERS + DECODERS:
        assert f"| {name}" in text, name
    for broker in ("alpaca", "binance", "ibkr"):
        assert re.search(rf"^\| {broker} \| \d+ \|", text, re.M), broker
    assert "orch, 5 plugins connected to simulators" in text and "import ccxt" in text
    assert "**Failed**" not in text
    # Each row says how to rerun it, and the machine is described.
    for script in ("alpaca_orders.py", "place_overhead.py", "binance_orders.py", "ibkr_orders.py", "cold_start.py",
                   "stream_decode.py", "quotes_at_limits.py", "rss.py"):
        assert f"bench/{script}" in text, script
    for field in ("| CPU |", "| nproc |", "| RAM |", "| OS |", "| Python |", "httpx ", "trio ", "ccxt ",
                  "alpaca-py ", "ib_async "):
        assert field in text, field


def test_json_has_figures(quick_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    result, _ = quick_run
    data = json.loads(result.stdout)
    assert data["quick"] is True
    results = data["results"]
    assert set(results) == {"orders", "cold_start", "stream", "quotes", "rss"}
    assert all("error" not in row for row in results.values())
    assert all(r["orders_per_s"] > 0 for r in results["orders"]["alpaca"] + results["orders"]["ibkr"])
    quotes = results["quotes"]
    assert sum(r["quotes"] for r in quotes["rows"]) == quotes["quotes"]
    assert all(r["failed"] == 0 for r in quotes["rows"])
    # The bound can never exceed what was measured: the limiter cannot beat the limits it enforces.
    assert all(r["measured_s"] >= r["bound_s"] - 1e-6 for r in quotes["rows"])
    assert all(item["items"] > 0 for item in results["stream"]["rows"])
