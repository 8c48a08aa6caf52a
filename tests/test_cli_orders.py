"""The trading command line: placing orders (journal first), rejections, status/history/cancel, the
paper/live guard, bad arguments as one line, --json."""

from __future__ import annotations

import runpy
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_cli_kit.py"))))


@pytest.fixture
def env(tmp_path, monkeypatch):
    yield kit.make_env(tmp_path, monkeypatch)
    from orch.logs import reset_logging

    reset_logging()


def test_order_is_journaled_before_it_is_sent(env):
    seen = []

    def before_place(request):
        # The broker is about to receive it: the journal must already hold the intent.
        seen.append(env.rows(f"SELECT state, mode FROM orders WHERE client_order_id = "
                             f"'{request.client_order_id}'"))

    env.books["memb"].before_place = before_place
    result = env.run("memb", "order", "buy", "AAPL", "1", "market", "--paper")
    assert result.code == 0, result.stderr
    assert seen == [[("pending_submit", "paper")]]
    [(coid, broker, mode, state, _)] = env.rows()
    assert (broker, mode, state) == ("memb", "paper", "filled")
    assert coid in result.stdout and "filled" in result.stdout
    assert [r.client_order_id for r in env.books["memb"].placed] == [coid]


def test_the_guides_order_forms(env):
    stocks = env.run("memb", "order", "buy", "AAPL", "1", "market", "--paper")
    crypto = env.run("crypt", "order", "buy", "BTCUSDT", "0.01", "limit", "45000", "--testnet")
    ibkr_style = env.run("memb", "order", "buy", "AAPL", "1", "market", "--testnet")
    assert (stocks.code, crypto.code, ibkr_style.code) == (0, 0, 0), crypto.stderr + ibkr_style.stderr
    [request] = env.books["crypt"].placed
    assert request.qty == Decimal("0.01") and isinstance(request.qty, Decimal)
    assert request.limit_price == Decimal("45000") and request.type.value == "limit"
    # Crypto never closes: a DAY order would be refused there, so GTC is the default.
    assert request.time_in_force.value == "gtc"
    assert [r[3] for r in env.rows()] == ["filled", "accepted", "filled"]


def test_exact_decimals_notional_and_bracket(env):
    assert env.run("crypt", "order", "buy", "BTC/USDT", "0.1", "limit", "45000.10", "--testnet").code == 0
    assert env.run("memb", "order", "buy", "AAPL", "250", "--notional", "--paper").code == 0
    assert env.run("memb", "order", "sell", "AAPL", "1", "limit", "101", "--take-profit", "99",
                   "--stop-loss", "105", "--stop-loss-limit", "106", "--tif", "gtc").code == 0
    [limit] = env.books["crypt"].placed
    assert limit.limit_price == Decimal("45000.10") and str(limit.limit_price) == "45000.10"
    notional, bracket = env.books["memb"].placed
    assert (notional.qty, notional.notional) == (None, Decimal("250"))
    assert bracket.order_class.value == "bracket" and bracket.side.value == "sell"
    assert bracket.take_profit.limit_price == Decimal("99")
    assert (bracket.stop_loss.stop_price, bracket.stop_loss.limit_price) == (Decimal("105"), Decimal("106"))
    assert bracket.time_in_force.value == "gtc"


def test_an_explicit_rejection_is_one_line_and_journaled(env):
    result = env.run("memb", "order", "buy", "NOGO", "1", "--paper")
    assert result.code == 1
    [line] = result.error_lines
    assert line.startswith("error: memb: symbol is not tradable") and "42210000" in line
    [(_, _, _, state, reason)] = env.rows()
    assert (state, reason) == ("rejected", "symbol is not tradable")

    history = env.run("memb", "order", "history", "--rejected")
    assert history.code == 0 and "symbol is not tradable" in history.stdout and "NOGO" in history.stdout
    as_json = env.run("memb", "order", "history", "--rejected", "--json")
    assert [e["state"] for e in as_json.json] == ["rejected"]

    funds = env.run("memb", "order", "buy", "AAPL", "5000", "--paper")
    assert funds.code == 1 and "insufficient buying power" in funds.stderr and "40310000" in funds.stderr
    assert env.run("memb", "order", "history", "--rejected").stdout.count("rejected") == 2


def test_status_history_cancel(env):
    placed = env.run("--json", "memb", "order", "buy", "AAPL", "3", "limit", "99.5", "--paper")
    assert placed.code == 0, placed.stderr
    coid = placed.json["client_order_id"]
    assert placed.json["state"] == "accepted" and placed.json["order"]["limit_price"] == "99.5"

    status = env.run("order", "status", "--id", coid)
    assert status.code == 0, status.stderr
    assert "state: accepted" in status.stdout and "events:" in status.stdout and "pending_submit" in status.stdout
    by_broker_id = env.run("--json", "memb", "order", "status", "--id", "1")
    assert by_broker_id.json["order"]["client_order_id"] == coid

    open_orders = env.run("memb", "orders")
    assert open_orders.code == 0 and coid in open_orders.stdout

    cancelled = env.run("order", "cancel", coid)
    assert cancelled.code == 0 and "canceled" in cancelled.stdout
    assert env.rows()[0][3] == "canceled"
    assert env.run("memb", "orders").stdout.strip() == "No open orders."
    again = env.run("order", "cancel", coid)
    assert again.code == 1 and len(again.error_lines) == 1 and "already canceled" in again.stderr

    history = env.run("--json", "order", "history", "--broker", "memb", "--since", "1h")
    assert [(e["client_order_id"], e["state"]) for e in history.json] == [(coid, "canceled")]
    future = env.run("--json", "order", "history", "--since", "2999-01-01")
    assert future.json == []

    missing = env.run("order", "status", "--id", "nope")
    assert missing.code == 1 and missing.error_lines == [missing.error_lines[0]]
    assert "no order 'nope'" in missing.stderr


def test_top_level_order_routes_by_market(env):
    assert env.run("order", "buy", "AAPL", "1").code == 0
    crypto = env.run("--json", "order", "buy", "BTC/USDT", "0.5", "limit", "10")
    assert crypto.code == 0, crypto.stderr
    assert crypto.json["broker"] == "crypt" and crypto.json["route"]["rule"] == "broker_routing.crypto_broker"
    assert len(env.books["memb"].placed) == 1 and len(env.books["crypt"].placed) == 1


# ------------------------------------------------------------------------------------------ live guard


def _nothing_sent(env):
    assert all(book.placed == [] for book in env.books.values())
    assert env.books["memb"].connects == 0
    assert env.rows() == []


def test_live_config_without_live_flag_is_refused(tmp_path, monkeypatch):
    env = kit.make_env(tmp_path, monkeypatch, memb_paper=False)
    result = env.run("memb", "order", "buy", "AAPL", "1", "market")
    assert result.code == 2
    [line] = result.error_lines
    assert "LIVE" in line and "--live" in line and "brokers.memb.paper" in line
    _nothing_sent(env)


def test_live_flag_with_paper_config_is_refused(env):
    result = env.run("memb", "order", "buy", "AAPL", "1", "market", "--live")
    assert result.code == 2
    [line] = result.error_lines
    assert "--live given but brokers.memb.paper is true" in line
    _nothing_sent(env)


def test_paper_flag_with_live_config_is_refused(tmp_path, monkeypatch):
    env = kit.make_env(tmp_path, monkeypatch, memb_paper=False)
    for flag in ("--paper", "--testnet", "--demo", "--practice"):
        result = env.run("memb", "order", "buy", "AAPL", "1", "market", flag)
        assert result.code == 2
        [line] = result.error_lines
        assert f"{flag} given but brokers.memb.paper is false" in line
    # Reading the account of a live broker needs --live too.
    assert env.run("memb", "account").code == 2
    _nothing_sent(env)


def test_contradicting_flags_and_live_when_both_agree(tmp_path, monkeypatch):
    env = kit.make_env(tmp_path, monkeypatch, memb_paper=False)
    both = env.run("memb", "order", "buy", "AAPL", "1", "--live", "--paper")
    assert both.code == 2 and "contradict" in both.stderr
    _nothing_sent(env)
    live = env.run("memb", "order", "buy", "AAPL", "1", "market", "--live")
    assert live.code == 0, live.stderr
    assert [r[2] for r in env.rows()] == ["live"]


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("args", "needle"), [
    (["AAPL", "abc"], "QTY: expected a positive decimal number, got 'abc'"),
    (["AAPL", "0"], "QTY: expected a positive"),
    (["AAPL", "NaN"], "QTY: expected a positive"),
    (["AAPL"], "Missing argument 'QTY'"),
    (["AAPL", "1", "bogus"], "TYPE: expected one of market, limit"),
    (["AAPL", "1", "limit"], "PRICE: a limit order needs a price"),
    (["AAPL", "1", "limit", "1,5"], "PRICE: expected a positive decimal number, got '1,5'"),
    (["AAPL", "1", "market", "100"], "PRICE: a market order takes no price"),
    (["AAPL", "1", "--tif", "forever"], "--tif: expected one of day, gtc"),
    (["AAPL", "1", "--wat"], "No such option '--wat'"),
    (["AAPL", "1", "--oco", "--take-profit", "110"], "--oco needs both --take-profit and --stop-loss"),
    (["AAPL", "1", "stop_limit", "10"], "a stop_limit order needs PRICE (the limit) and --stop-price"),
    (["AAPL", "1", "trailing_stop"], "exactly one of --trail-price and --trail-percent"),
    (["AAPL", "1", "limit", "10", "--post-only", "--trail-price", "1"], "--trail-price/--trail-percent apply"),
    (["$$$", "1"], "$$$"),
])
def test_bad_arguments_are_one_line_exit_2(env, args, needle):
    result = env.run("memb", "order", "buy", *args, "--paper")
    assert result.code == 2, result
    [line] = result.error_lines
    assert line.startswith("error: ") and needle in line
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == ""
    _nothing_sent(env)


def test_json_output_parses_and_secrets_never_show(env):
    placed = env.run("--json", "memb", "order", "buy", "AAPL", "2", "--paper")
    assert placed.code == 0, placed.stderr
    data = placed.json
    assert (data["broker"], data["mode"], data["state"], data["outcome"]) == ("memb", "paper", "filled", "placed")
    assert data["order"]["qty"] == "2" and data["order"]["avg_fill_price"] == "100.01"
    everything = [placed, env.run("--json", "memb", "account"), env.run("memb", "test", "api_key"),
                  env.run("--debug", "memb", "limits")]
    for result in everything:
        assert kit.SECRET not in result.stdout + result.stderr
    assert kit.SECRET not in env.log.read_text()


async def test_orchestrator_takes_a_plugin_loader(env):
    from orch.config import load_config
    from orch.models import OrderRequest, Side
    from orch.orchestrator import Orchestrator

    config = load_config(env.config)
    async with Orchestrator.open(config, journal_file=env.root / "direct.sqlite",
                                 plugin_loader=kit.fake.loader) as orch:
        request = OrderRequest(orch.instrument("MSFT"), Side.BUY, qty=Decimal("2"))
        result = await orch.place(request, broker="memb")
    assert result.outcome == "placed" and result.entry.state.value == "filled"
    assert env.books["memb"].connects == 1 and env.books["memb"].closes == 1


def test_max_open_orders_counts_the_journals_open_orders(env):
    env.config.write_text(env.config.read_text() + "\n[risk]\nmax_open_orders = 2\nenforce_market_hours = false\n")
    first = env.run("--json", "memb", "order", "buy", "AAPL", "1", "limit", "99.5", "--paper")
    second = env.run("--json", "memb", "order", "buy", "AAPL", "1", "limit", "99.4", "--paper")
    assert first.code == 0 == second.code, first.stderr + second.stderr
    refused = env.run("memb", "order", "buy", "AAPL", "1", "limit", "99.3", "--paper")
    assert refused.code != 0 and len(refused.error_lines) == 1
    assert "max_open_orders" in refused.stderr and "2 open orders" in refused.stderr
    # A cancelled order no longer counts.
    assert env.run("order", "cancel", first.json["client_order_id"]).code == 0
    assert env.run("memb", "order", "buy", "AAPL", "1", "limit", "99.3", "--paper").code == 0
