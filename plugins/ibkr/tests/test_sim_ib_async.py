"""The reference client: ib_async (the maintained ib_insync) against the fake TWS over loopback.

It must complete its whole start-up sync (positions, open and completed orders, account updates,
executions), read the account summary and positions, qualify a contract, and place and cancel an order;
a market order must come back filled with its commission."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

ib_async = pytest.importorskip("ib_async")

from orch.sim.runner import run_simulator_in_thread  # noqa: E402

from orch_ibkr.sim import SIM_ACCOUNT, SPEC  # noqa: E402


def settle(ib, predicate, limit: float = 10.0) -> None:
    """ib_async runs its own asyncio loop on wall-clock time: poll its state until ``predicate`` holds."""
    for _ in range(int(limit / 0.05)):
        if predicate():
            return
        ib.sleep(0.05)
    assert predicate()


@pytest.fixture
def tws():
    with run_simulator_in_thread(SPEC) as running:
        running.engine.market.force_sessions(True)
        running.call(running.engine.set_position, "AAPL", 10, "150.25")
        yield running


@pytest.fixture
def ib(tws):
    asyncio.set_event_loop(asyncio.new_event_loop())
    client = ib_async.IB()
    client.RaiseRequestErrors = True
    errors: list[tuple] = []
    client.errorEvent += lambda req_id, code, message, contract: errors.append((req_id, code, message))
    client.connect(tws.host, tws.port, clientId=7, timeout=10, raiseSyncErrors=True)
    client.test_errors = errors
    try:
        yield client
    finally:
        client.disconnect()


def test_startup_account_positions(ib, tws):
    assert ib.isConnected()
    assert ib.managedAccounts() == [SIM_ACCOUNT]
    assert ib.client.serverVersion() == 178
    summary = {v.tag: v for v in ib.accountSummary()}
    assert summary["AccountType"].value == "INDIVIDUAL"
    assert Decimal(summary["NetLiquidation"].value) > 0 and summary["NetLiquidation"].currency == "USD"
    positions = ib.positions()
    assert [(p.contract.symbol, p.position) for p in positions] == [("AAPL", 10.0)]
    assert positions[0].contract.conId == 265598 and positions[0].avgCost == pytest.approx(150.25)
    values = {v.tag for v in ib.accountValues()}
    assert "NetLiquidation" in values


def test_qualify_and_unknown_contract(ib):
    stock = ib_async.Stock("AAPL", "SMART", "USD")
    [qualified] = ib.qualifyContracts(stock)
    assert qualified.conId == 265598 and qualified.primaryExchange == "NASDAQ"
    [fx] = ib.qualifyContracts(ib_async.Forex("EURUSD"))
    assert fx.conId == 12087792 and fx.secType == "CASH" and fx.exchange == "IDEALPRO"
    with pytest.raises(ib_async.wrapper.RequestError, match="200"):
        ib.qualifyContracts(ib_async.Stock("NOSUCHSYMBOL", "SMART", "USD"))


def test_place_and_cancel_limit_order(ib, tws):
    [contract] = ib.qualifyContracts(ib_async.Stock("AAPL", "SMART", "USD"))
    order = ib_async.LimitOrder("BUY", 5, 1.00, orderRef="orch-ref-1")
    trade = ib.placeOrder(contract, order)
    settle(ib, lambda: trade.orderStatus.status == "Submitted")
    engine_order = tws.call(lambda: tws.engine.find_order(client_order_id="orch-ref-1"))
    assert engine_order is not None and engine_order.limit_price == Decimal("1")
    ib.cancelOrder(order)
    settle(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert tws.call(tws.engine.get_order, engine_order.id).status.value == "canceled"
    settle(ib, lambda: any(code == 202 for _, code, _ in ib.test_errors))


def test_market_order_fills_with_commission(ib):
    [contract] = ib.qualifyContracts(ib_async.Stock("AAPL", "SMART", "USD"))
    trade = ib.placeOrder(contract, ib_async.MarketOrder("BUY", 3))
    settle(ib, lambda: trade.orderStatus.status == "Filled" and trade.fills and trade.fills[0].commissionReport.commission)
    assert trade.orderStatus.filled == 3 and trade.orderStatus.avgFillPrice > 0
    assert len(trade.fills) == 1 and trade.fills[0].commissionReport.commission == pytest.approx(1.0)
    settle(ib, lambda: {(p.contract.symbol, p.position) for p in ib.positions()} == {("AAPL", 13.0)})


def test_bracket_order(ib, tws):
    [contract] = ib.qualifyContracts(ib_async.Stock("AAPL", "SMART", "USD"))
    mid = tws.call(tws.engine.quote, "AAPL").mid
    limit = float(round(mid * Decimal("0.5"), 2))
    bracket = ib.bracketOrder("BUY", 2, limit, takeProfitPrice=round(limit * 3, 2), stopLossPrice=round(limit * 0.5, 2))
    trades = [ib.placeOrder(contract, o) for o in bracket]
    settle(ib, lambda: [t.orderStatus.status for t in trades] == ["Submitted", "PreSubmitted", "PreSubmitted"])
    ib.cancelOrder(bracket.parent)
    settle(ib, lambda: all(t.orderStatus.status == "Cancelled" for t in trades))


def test_market_data(ib, tws):
    [contract] = ib.qualifyContracts(ib_async.Stock("AAPL", "SMART", "USD"))
    [ticker] = ib.reqTickers(contract)  # snapshot: ends with tickSnapshotEnd
    mid = tws.call(tws.engine.quote, "AAPL").mid
    assert 0 < ticker.bid <= ticker.ask and abs(Decimal(str(ticker.bid)) - mid) / mid < Decimal("0.01")
    assert ticker.bidSize > 0 and ticker.last > 0
    streaming = ib.reqMktData(contract)
    settle(ib, lambda: streaming.bid > 0 and streaming.ask >= streaming.bid and streaming.marketDataType == 1)
    # The market moves: the streaming ticker follows.
    tws.call(tws.engine.market.set_price, "AAPL", Decimal("123.45"))
    settle(ib, lambda: streaming.bid < 124 and streaming.ask > 122)
    ib.cancelMktData(contract)
