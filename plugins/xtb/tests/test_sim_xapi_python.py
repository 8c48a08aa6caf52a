"""xapi-python, a third-party xAPI client, pointed at the simulator's ws:// URL: the proof that the
simulator speaks xAPI as real clients expect it. It logs in, reads symbols and the margin level, opens a
trade and closes it, and receives ticks on the streaming socket.

xapi-python runs on asyncio with the ``websockets`` package, so the simulator runs on a thread
(:func:`orch.sim.runner.run_simulator_in_thread`); xapi-python spaces its requests 200 ms apart itself.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from orch.sim.clock import ALL_OPEN, SimClock
from orch.sim.runner import run_simulator_in_thread

from orch_xtb.sim import SIM_PASSWORD, SIM_USER, SPEC, XtbSim
from orch_xtb.sim.app import MAX_VIOLATIONS

with warnings.catch_warnings():
    # xapi-python 0.2.1 still uses websockets' legacy client (deprecated in websockets 14+).
    warnings.simplefilter("ignore", DeprecationWarning)
    import xapi
    from xapi import TradeCmd, TradeStatus, TradeType


@pytest.fixture
def running() -> Iterator[Any]:
    with run_simulator_in_thread(SPEC, clock=SimClock(wall=ALL_OPEN)) as sim:
        yield sim


def _run(coroutine: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_login_symbols_margin_open_and_close_a_trade(running):
    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with await xapi.connect(SIM_USER, SIM_PASSWORD, host=running.ws_url, type="demo") as x:
            symbols = await x.socket.getAllSymbols()
            assert symbols["status"] is True
            seen["symbols"] = {s["symbol"]: s for s in symbols["returnData"]}
            seen["eurusd"] = (await x.socket.getSymbol("EURUSD"))["returnData"]
            seen["margin"] = (await x.socket.getMarginLevel())["returnData"]

            ask = seen["eurusd"]["ask"]
            opened = await x.socket.tradeTransaction("EURUSD", TradeCmd.BUY, TradeType.OPEN, price=ask, volume=0.1,
                                                     customComment="xapi-python")
            assert opened["status"] is True, opened
            number = opened["returnData"]["order"]
            status = await x.socket.tradeTransactionStatus(number)
            seen["open_status"] = status["returnData"]
            trades = (await x.socket.getTrades(openedOnly=True))["returnData"]
            seen["trades"] = trades
            position = next(t for t in trades if t["customComment"] == "xapi-python")

            bid = (await x.socket.getTickPrices(["EURUSD"], 0))["returnData"]["quotations"][0]["bid"]
            closed = await x.socket.tradeTransaction("EURUSD", TradeCmd.BUY, TradeType.CLOSE, price=bid,
                                                     volume=position["volume"], order=position["order"])
            assert closed["status"] is True, closed
            seen["close_status"] = (await x.socket.tradeTransactionStatus(closed["returnData"]["order"]))["returnData"]
            seen["after"] = (await x.socket.getTrades(openedOnly=True))["returnData"]
            seen["history"] = (await x.socket.getTradesHistory(0))["returnData"]
            seen["refused"] = await x.socket.tradeTransaction("EURUSD", TradeCmd.BUY, TradeType.OPEN, price=ask,
                                                              volume=0.015)

            await x.stream.getTickPrices("EURUSD")
            async for message in x.stream.listen():
                if message.get("command") == "tickPrices":
                    seen["tick"] = message["data"]
                    break
        return seen

    seen = _run(session())
    assert {"EURUSD", "US500", "GOLD"} <= set(seen["symbols"])
    eurusd = seen["eurusd"]
    assert (eurusd["precision"], eurusd["contractSize"], eurusd["lotMin"], eurusd["lotStep"]) == (5, 100000, 0.01,
                                                                                                   0.01)
    assert 0 < eurusd["bid"] < eurusd["ask"]
    margin = seen["margin"]
    assert margin["currency"] == "USD" and margin["balance"] == 100000 and margin["margin"] == 0

    assert seen["open_status"]["requestStatus"] == TradeStatus.ACCEPTED.value
    assert seen["open_status"]["customComment"] == "xapi-python"
    [trade] = seen["trades"]
    assert (trade["symbol"], trade["cmd"], trade["volume"], trade["closed"]) == ("EURUSD", 0, 0.1, False)
    assert trade["open_price"] == pytest.approx(eurusd["ask"], rel=1e-3)

    assert seen["close_status"]["requestStatus"] == TradeStatus.ACCEPTED.value
    assert seen["after"] == []
    assert any(r["position"] == trade["position"] and r["closed"] for r in seen["history"])
    assert seen["refused"]["status"] is False and seen["refused"]["errorCode"] == "BE003"
    assert seen["tick"]["symbol"] == "EURUSD" and seen["tick"]["bid"] < seen["tick"]["ask"]

    sim = XtbSim.of(running.engine)
    # xapi-python keeps XTB's 200 ms between commands (arrival jitter under load may still show one).
    assert sim.counters.spacing_violations < MAX_VIOLATIONS
    assert sim.engine.account_state().positions == ()  # the engine saw the open and the close


def test_wrong_password_is_refused_with_be005(running):
    async def attempt() -> Exception:
        with pytest.raises(xapi.LoginFailed) as caught:
            await xapi.connect(SIM_USER, "not-the-password", host=running.ws_url, type="demo")
        return caught.value

    error = _run(attempt())
    assert error.args[0]["errorCode"] == "BE005"


def test_commands_before_login_are_refused_with_be103(running):
    async def attempt() -> dict[str, Any]:
        socket = xapi.Socket()
        await socket.connect(f"{running.ws_url}/demo")
        try:
            return await socket.getMarginLevel()
        finally:
            await socket.disconnect()

    answer = _run(attempt())
    assert (answer["status"], answer["errorCode"]) == (False, "BE103")


def test_stream_pushes_balance_trades_trade_status_and_keep_alive(running):
    async def session() -> dict[str, Any]:
        got: dict[str, Any] = {}
        async with await xapi.connect(SIM_USER, SIM_PASSWORD, host=running.ws_url, type="demo") as x:
            for subscribe in (x.stream.getBalance, x.stream.getTrades, x.stream.getTradeStatus,
                              x.stream.getKeepAlive):
                await subscribe()
            ask = (await x.socket.getSymbol("GOLD"))["returnData"]["ask"]
            opened = await x.socket.tradeTransaction("GOLD", TradeCmd.SELL, TradeType.OPEN, price=ask, volume=0.02,
                                                     customComment="stream-check")
            assert opened["status"] is True, opened
            async for message in x.stream.listen():
                got.setdefault(message["command"], message["data"])
                if {"balance", "trade", "tradeStatus", "keepAlive"} <= set(got):
                    break
        return got

    got = _run(session())
    assert got["trade"]["symbol"] == "GOLD" and got["trade"]["cmd"] == TradeCmd.SELL.value
    assert got["tradeStatus"]["customComment"] == "stream-check"
    assert got["tradeStatus"]["requestStatus"] == TradeStatus.ACCEPTED.value
    assert got["balance"]["equity"] > 0 and got["keepAlive"]["timestamp"] > 0
