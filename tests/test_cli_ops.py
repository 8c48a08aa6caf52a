"""Diagnostics and operations on the command line: route, halt/resume, accounts across brokers, test,
status, quotes and streams, limits, permissions, logs, report."""

from __future__ import annotations

import json
import runpy
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from orch.models import Market

kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_cli_kit.py"))))


@pytest.fixture
def env(tmp_path, monkeypatch):
    yield kit.make_env(tmp_path, monkeypatch)
    from orch.logs import reset_logging

    reset_logging()


def test_route_explains_without_connecting(env):
    stocks = env.run("route", "AAPL")
    assert stocks.code == 0, stocks.stderr
    assert stocks.stdout.splitlines()[0] == "AAPL (US_STOCKS) → memb"
    assert "broker_routing.default_broker = memb: candidate" in stocks.stdout
    crypto = env.run("--json", "route", "BTCUSDT")
    assert (crypto.json["broker"], crypto.json["market"], crypto.json["rule"]) == (
        "crypt", "CRYPTO", "broker_routing.crypto_broker")
    wrong = env.run("route", "AAPL", "--broker", "crypt")
    assert wrong.code == 2 and len(wrong.error_lines) == 1 and "crypt does not serve US_STOCKS" in wrong.stderr
    forced = env.run("route", "BTC", "--market", "crypto")
    assert forced.stdout.startswith("BTC (CRYPTO) → crypt")
    assert all(book.connects == 0 for book in env.books.values())


def test_halt_blocks_orders_until_resume(env):
    halted = env.run("halt", "maintenance", "window")
    assert halted.code == 0 and "trading halted" in halted.stdout and "maintenance window" in halted.stdout
    again = env.run("halt", "other reason")
    assert "already halted" in again.stdout and "maintenance window" in again.stdout

    refused = env.run("memb", "order", "buy", "AAPL", "1", "--paper")
    assert refused.code == 1
    [line] = refused.error_lines
    assert "risk rule halted" in line and "maintenance window" in line
    assert env.books["memb"].placed == [] and env.rows() == []
    assert "TRADING HALTED" in env.run("status", "brokers").stdout

    resumed = env.run("resume")
    assert resumed.code == 0 and "trading resumed" in resumed.stdout
    assert env.run("memb", "order", "buy", "AAPL", "1", "--paper").code == 0
    assert env.run("--json", "resume").json == {"halted": False, "cleared": None}


def test_accounts_and_positions_across_brokers(env):
    assert env.run("memb", "order", "buy", "AAPL", "10", "--paper").code == 0
    accounts = env.run("--json", "account")
    assert accounts.code == 0, accounts.stderr
    data = accounts.json
    assert set(data["accounts"]) == {"memb", "crypt"} and data["errors"] == {}
    cash = Decimal(data["accounts"]["memb"]["cash"]) + Decimal(data["accounts"]["crypt"]["cash"])
    assert Decimal(data["totals"]["USD"]["cash"]) == cash == Decimal("200000") - Decimal("1000.1")

    positions = env.run("positions")
    assert positions.code == 0 and "AAPL" in positions.stdout and "totals: USD market value 1000" in positions.stdout
    one = env.run("--json", "memb", "positions")
    assert [(p["instrument"]["symbol"], p["qty"]) for p in one.json] == [("AAPL", "10")]


def test_one_broker_failing_does_not_hide_the_others(env):
    env.books["crypt"].refuse_auth = True
    result = env.run("account")
    assert result.code == 1
    assert "MEMB-1" in result.stdout and "crypt  error: crypt: invalid api key" in result.stdout


def test_test_commands(env):
    connection = env.run("test", "memb", "connection")
    assert connection.code == 0 and "memb: connected in" in connection.stdout and "[paper]" in connection.stdout
    key = env.run("test", "memb", "api_key")
    assert key.code == 0 and "credentials accepted (api_key from env:MEMB_KEY)" in key.stdout
    round_trip = env.run("--json", "test", "broker", "memb")
    assert round_trip.json["ok"] is True
    assert [s["step"] for s in round_trip.json["steps"]] == ["connect", "account", "quote AAPL"]
    crypto = env.run("--json", "test", "broker", "crypt")
    assert crypto.json["steps"][-1]["step"] == "quote BTC/USDT"

    env.books["memb"].refuse_auth = True
    refused = env.run("test", "memb", "api_key")
    assert refused.code == 1 and refused.error_lines == ["error: memb: invalid api key [code 40110000]"]
    failed = env.run("test", "broker", "memb")
    assert failed.code == 1 and "FAIL connect" in failed.stdout
    assert kit.SECRET not in "".join(r.stdout + r.stderr for r in (connection, key, refused, failed))


def test_status_brokers(env):
    result = env.run("--json", "status", "brokers")
    assert result.code == 0, result.stderr
    rows = {r["broker"]: r for r in result.json["brokers"]}
    assert rows["memb"]["connected"] and rows["memb"]["mode"] == "paper"
    assert rows["memb"]["breaker"] == "closed" and rows["memb"]["limiter"]["limit"] == 600
    assert rows["memb"]["latency_p50_ms"] is not None and result.json["halted"] is None

    env.books["crypt"].refuse_auth = True
    text = env.run("status", "brokers")
    assert text.code == 1
    crypt_line = next(line for line in text.stdout.splitlines() if line.startswith("crypt"))
    assert "DOWN" in crypt_line and "invalid api key" in crypt_line


def test_quote_stream_and_unknown_symbol(env):
    env.books["memb"].prices["AAPL"] = Decimal("187.25")
    quote = env.run("--json", "quote", "AAPL")
    assert quote.code == 0 and (quote.json["bid"], quote.json["ask"]) == ("187.24", "187.26")
    assert quote.json["broker"] == "memb"
    unknown = env.run("quote", "NOPE", "--broker", "memb")
    assert unknown.code == 1 and unknown.error_lines == ["error: memb: unknown symbol NOPE"]

    streamed = env.run("--json", "stream", "AAPL", "MSFT", "--broker", "memb", "--count", "5")
    assert streamed.code == 0, streamed.stderr
    quotes = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert [q["instrument"]["symbol"] for q in quotes] == ["AAPL", "MSFT", "AAPL", "MSFT", "AAPL"]
    assert env.books["memb"].closes == env.books["memb"].connects


def test_limits_and_permissions(env):
    limits = env.run("limits", "memb", "--json")
    assert limits.code == 0, limits.stderr
    assert limits.json["rate_limits"][0]["limit"] == 600 and limits.json["account"]["buying_power"] == "200000"
    assert "requests: 600 requests per 60s" in env.run("memb", "limits").stdout
    permissions = env.run("--json", "memb", "permissions")
    assert permissions.code == 0
    assert permissions.json["account"]["flags"]["trading_blocked"] == "False"
    assert "trailing_stop" in permissions.json["capabilities"]["order_types"]
    assert env.run("permissions", "nobody").code == 2


def test_logs_filtered_by_broker_and_level(env):
    assert env.run("memb", "order", "buy", "AAPL", "1", "--paper").code == 0
    assert env.run("crypt", "order", "buy", "BTC/USDT", "1", "--testnet").code == 0
    memb = env.run("logs", "broker", "memb")
    assert memb.code == 0 and "memb order" in memb.stdout and "crypt order" not in memb.stdout
    crypt = env.run("--json", "logs", "crypt")
    assert [r["level"] for r in crypt.json] == ["INFO"] and "crypt order" in crypt.json[0]["message"]
    assert env.run("logs", "--level", "error").stdout.startswith("No matching records")
    assert env.run("logs", "--lines", "1").stdout.count("\n") == 1
    bad = env.run("logs", "broker")
    assert bad.code == 2 and len(bad.error_lines) == 1


def test_report_slippage_and_fees(env):
    env.books["memb"].slip = Decimal("0.05")
    assert env.run("memb", "order", "buy", "AAPL", "2", "--paper").code == 0
    assert env.run("memb", "order", "buy", "NOGO", "1", "--paper").code == 1
    assert env.run("crypt", "order", "buy", "BTC/USDT", "0.5", "limit", "90", "--testnet").code == 0
    report = env.run("report", "--json")
    assert report.code == 0, report.stderr
    by_name = {r["broker"]: r for r in report.json}
    memb = by_name["memb"]
    assert memb["orders"] == 2 and memb["states"] == {"filled": 1, "rejected": 1}
    # Filled at 100.06 against an ask of 100.01 at submit: 5 bps worse.
    assert Decimal(memb["slippage_bps"]["average"]) == Decimal("5.00")
    assert memb["filled_value"] == {"USD": "200.12"}
    assert by_name["crypt"]["filled_orders"] == 0 and by_name["crypt"]["slippage_bps"]["average"] is None
    text = env.run("report", "--broker", "memb").stdout
    assert "avg 5 bps" in text and "crypt" not in text


def test_report_estimates_fees_from_the_guides_commissions():
    report = runpy.run_path(str(Path(__file__).parents[1] / "core/src/orch/cli/report_cmd.py"))
    ibkr = report["COMMISSIONS"]["ibkr"][1]
    stocks, fx = Market.US_STOCKS, Market.FOREX
    assert ibkr(Decimal(100), Decimal(10000), stocks) == Decimal(1)       # the minimum
    assert ibkr(Decimal(1000), Decimal(100000), stocks) == Decimal(5)     # 0.005 per share
    assert ibkr(Decimal(1000), Decimal(100), stocks) == Decimal(1)        # capped at 1% of value
    assert ibkr(Decimal(20000), Decimal(21600), fx) == Decimal(2)         # forex: by value, min 2
    assert ibkr(Decimal(5000000), Decimal(5400000), fx) == Decimal(108)   # 0.2 bps
    assert report["COMMISSIONS"]["binance"][1](Decimal(1), Decimal(45000), Market.CRYPTO) == Decimal("45.000")
    assert report["slippage_bps"]("sell", Decimal("99"), Decimal("100")) == Decimal(100)


def test_restart_broker(env):
    first = env.run("restart", "broker", "memb")
    assert first.code == 0 and "memb: connected in" in first.stdout
    assert env.books["memb"].connects == 1


def test_journal_and_history_live_under_orch_home_by_default(env):
    env.config.write_text(env.config.read_text().replace(f'[journal]\npath = "{env.journal}"\n', ""))
    assert "[journal]" not in env.config.read_text()
    assert env.run("memb", "order", "buy", "AAPL", "1", "--paper").code == 0
    assert env.run("shell", input="memb account\n").code == 0
    home = env.root / "home"
    assert (home / "journal.sqlite").exists() and not env.journal.exists()
    bad_since = env.run("order", "history", "--since", "yesterdayish")
    assert bad_since.code == 2 and len(bad_since.error_lines) == 1 and "--since" in bad_since.stderr
    assert "AAPL" in env.run("order", "history").stdout
