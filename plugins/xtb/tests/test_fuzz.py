"""Fuzzing XTB's xAPI sans-IO side: command replies, every reply parser and the streaming socket's
records. Damaged recorded replies, random JSON and random bytes give a result or an orch error with one
readable line, never a KeyError/TypeError/ValueError/OverflowError traceback.

Seeds are the recorded vectors (tests/vectors/commands.json) plus a trade record, a symbol record and
stream records in the shapes the simulator (and XTB's documentation) give.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orch.errors import OrchError
from orch.models import Instrument, Market, Order, Position, Quote
from orch.testing.fuzz import fuzz_settings, garbled, json_values, mutated, only_orch_errors
from orch_xtb import protocol, streams, symbols
from orch_xtb.protocol import TradeRecord

HERE = Path(__file__).parent
EURUSD = Instrument("EURUSD", Market.FOREX, currency="USD")


def _vector_bodies() -> dict[str, list[Any]]:
    text = (HERE / "vectors" / "commands.json").read_text()
    out: dict[str, list[Any]] = {}
    for vector in json.loads(text, parse_float=Decimal)["vectors"]:
        out.setdefault(vector["call"], []).append(vector["response"]["body"])
    return out


BODIES = _vector_bodies()
REPLIES = [body for bodies in BODIES.values() for body in bodies]
RETURN_DATA = {call: [b["returnData"] for b in bodies if "returnData" in b] for call, bodies in BODIES.items()}

TRADE = {"order": 43, "order2": 43, "position": 43, "cmd": 0, "symbol": "EURUSD", "volume": Decimal("0.01"),
         "open_price": Decimal("1.08766"), "open_time": 1_795_000_000_000, "close_price": Decimal("1.08756"),
         "close_time": None, "closed": False, "sl": Decimal(0), "tp": Decimal(0), "profit": Decimal("-0.1"),
         "commission": Decimal(0), "digits": 5, "comment": "", "customComment": "orch-1", "expiration": None,
         "timestamp": 1_795_000_000_500}
PENDING = {**TRADE, "order": 44, "order2": 44, "position": 44, "cmd": 2, "open_price": Decimal("1.07"),
           "close_price": None, "profit": None, "expiration": 1_795_086_400_000}
CLOSING = {**TRADE, "order": 45, "position": 43, "closed": True, "close_time": 1_795_000_100_000}
SYMBOL = {"symbol": "EURUSD", "description": "Euro to American Dollar", "categoryName": "FX", "currency": "EUR",
          "currencyProfit": "USD", "precision": 5, "contractSize": 100000, "lotMin": Decimal("0.01"),
          "lotMax": Decimal("100.0"), "lotStep": Decimal("0.01"), "tickSize": Decimal("0.00001"),
          "bid": Decimal("1.08756"), "ask": Decimal("1.08766"), "time": 1_795_000_000_000}
TICK = RETURN_DATA["get_tick_prices"][0]["quotations"][0]
STREAM_FRAMES = [{"command": "tickPrices", "data": {**TICK, "timestamp": 1_795_000_000_000}},
                 {"command": "keepAlive", "data": {"timestamp": 1_795_000_000_000}},
                 {"command": "balance", "data": {"balance": Decimal("1000.0")}},
                 {"status": False, "errorCode": "BE110", "errorDescr": "bad subscription"}]
INFO = symbols.parse_symbol(SYMBOL)


def payloads(*seeds: Any) -> st.SearchStrategy[Any]:
    return st.one_of(*(mutated(seed) for seed in seeds), json_values())


# ------------------------------------------------------------------------------------------ frames


@fuzz_settings(150)
@given(frame=st.one_of(*(garbled(json.dumps(r, default=str).encode()) for r in REPLIES[:4]),
                       st.text(max_size=30)))
def test_decode_reads_any_frame(frame: bytes | str) -> None:
    result = only_orch_errors(protocol.decode, frame)
    assert isinstance(result, (dict, OrchError))


@fuzz_settings(200)
@given(reply=payloads(*REPLIES), call=st.sampled_from([None, "login", "tradeTransaction", "getSymbol",
                                                       "tradeTransactionStatus"]))
def test_result_and_stream_session_raise_only_orch_errors(reply: Any, call: str | None) -> None:
    if not isinstance(reply, dict):
        return  # decode() refuses anything else before result() sees it
    command = None if call is None else protocol.Command(call, trade=call == "tradeTransaction",
                                                         resource="order" if "Status" in call else "instrument")
    answer = only_orch_errors(protocol.result, reply, command)
    only_orch_errors(protocol.stream_session_id, reply)
    if isinstance(answer, OrchError):
        assert answer.message


# ------------------------------------------------------------------------------------------ parsers


@fuzz_settings(150)
@given(data=payloads(*RETURN_DATA["get_margin_level"]))
def test_parse_account(data: Any) -> None:
    if isinstance(data, dict):
        only_orch_errors(protocol.parse_account, data, account_id="12345", paper=True)


@fuzz_settings(250)
@given(data=payloads([TRADE, PENDING, CLOSING], TRADE, PENDING), with_info=st.booleans())
def test_trade_records_to_orders_and_positions(data: Any, with_info: bool) -> None:
    trades = only_orch_errors(protocol.parse_trades, data if isinstance(data, list) else [data])
    if isinstance(trades, OrchError):
        return
    info = INFO if with_info else None
    for trade in trades:
        assert isinstance(trade, TradeRecord)
        order = only_orch_errors(protocol.order_from_trade, trade, EURUSD, info)
        assert isinstance(order, (Order, OrchError))
    positions = only_orch_errors(protocol.positions_from_trades, trades, {"EURUSD": INFO} if with_info else {},
                                 lambda symbol: Instrument(symbol or "X", Market.CFD))
    assert isinstance(positions, (list, OrchError))
    if isinstance(positions, list):
        assert all(isinstance(p, Position) for p in positions)


@fuzz_settings(150)
@given(data=payloads(*RETURN_DATA["trade_transaction_status"]))
def test_transaction_status_and_refusal(data: Any) -> None:
    if not isinstance(data, dict):
        return
    status = only_orch_errors(protocol.parse_transaction_status, data)
    if isinstance(status, protocol.TransactionStatus):
        assert isinstance(protocol.refusal(status), OrchError)
        assert isinstance(status.name, str) and isinstance(status.final, bool)


@fuzz_settings(150)
@given(data=payloads(*RETURN_DATA["get_tick_prices"]), symbol=st.sampled_from(["EURUSD", "NOSUCH"]))
def test_tick_prices(data: Any, symbol: str) -> None:
    result = only_orch_errors(protocol.parse_quotations, data, symbol, EURUSD)
    assert isinstance(result, (Quote, OrchError))


@fuzz_settings(150)
@given(record=payloads(SYMBOL))
def test_symbol_records(record: Any) -> None:
    if not isinstance(record, dict):
        return
    info = only_orch_errors(symbols.parse_symbol, record)
    if isinstance(info, symbols.XtbSymbol):
        # What the order path does with a symbol must not fail on its numbers either.
        assert info.contract_size > 0
        only_orch_errors(symbols.to_lots, Decimal(1000), info)
        only_orch_errors(symbols.check_price, "limit_price", Decimal("1.0877"), info)


@fuzz_settings(60)
@given(code=st.text(max_size=8), description=st.text(max_size=20),
       call=st.sampled_from([None, "tradeTransaction", "tradeTransactionStatus"]))
def test_error_mapping_always_gives_an_orch_error(code: str, description: str, call: str | None) -> None:
    command = None if call is None else protocol.Command(call, trade=call == "tradeTransaction", resource="order")
    assert isinstance(protocol.error_for(code, description, command=command), OrchError)


# ------------------------------------------------------------------------------------------ streams


@fuzz_settings(250)
@given(frames=st.lists(st.one_of(payloads(*STREAM_FRAMES).map(lambda v: json.dumps(v, default=str)),
                                 garbled(json.dumps(STREAM_FRAMES[0], default=str).encode())),
                       min_size=1, max_size=4))
def test_stream_records_raise_only_orch_errors(frames: list[str | bytes]) -> None:
    session = streams.QuoteSession("8469308861804289383", {"EURUSD": EURUSD})
    session.start()
    for frame in frames:
        output = only_orch_errors(session.receive, frame)
        if isinstance(output, streams.StreamOutput):
            assert all(isinstance(i, (Quote, streams.KeepAlive)) for i in output.items)
    # A valid record still reads after the garbage.
    [quote] = session.receive(json.dumps(STREAM_FRAMES[0], default=str)).items
    assert quote.bid == Decimal(str(TICK["bid"]))
