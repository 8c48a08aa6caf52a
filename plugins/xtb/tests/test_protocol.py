"""The sans-IO protocol module on xAPI's documented payloads (the archived v2.5.0 documentation's examples,
as quoted in shared/protocols)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from orch.errors import (AuthError, BrokerUnavailable, InsufficientFunds, InvalidOrder, OrderNotFound,
                         OrderRejected, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import Instrument, Market, OrderStatus, OrderType, Side, TimeInForce
from orch.secret import Secret

from orch_xtb import protocol, streams
from orch_xtb.symbols import SymbolCache, check_price, from_lots, normalize, parse_symbol, to_lots, wanted_symbol

PASSWORD = "canary-xtb-password-77"
EURUSD = parse_symbol({"symbol": "EURUSD", "categoryName": "FX", "currency": "USD", "currencyProfit": "USD",
                       "precision": 5, "contractSize": 100000, "lotMin": Decimal("0.01"), "lotMax": Decimal(100),
                       "lotStep": Decimal("0.01"), "tickSize": Decimal("0.00001")})
US500 = parse_symbol({"symbol": "US500", "categoryName": "IND", "currency": "USD", "currencyProfit": "USD",
                      "precision": 1, "contractSize": 50, "lotMin": Decimal("0.01"), "lotMax": Decimal(100),
                      "lotStep": Decimal("0.01"), "tickSize": Decimal("0.1")})
FX = Instrument("EURUSD", Market.FOREX)


def decode(text: str):
    return json.loads(text, parse_float=Decimal)


def test_login_frame_matches_the_documented_example_and_hides_the_password():
    # The documented example logs in as "1000"; a longer id here, since every Secret value is masked
    # process-wide and "1000" would then be masked inside unrelated numbers.
    command = protocol.login(Secret("83920174"), Secret(PASSWORD), "test")
    frame = protocol.encode(command, tag="my_login_command_id")
    assert decode(frame) == {"command": "login", "arguments": {"userId": "83920174", "password": PASSWORD,
                                                                "appName": "test"},
                             "customTag": "my_login_command_id"}
    assert PASSWORD not in repr(command) and "83920174" not in repr(command)
    reply = {"status": True, "streamSessionId": "8469308861804289383", "customTag": "my_login_command_id"}
    assert protocol.stream_session_id(protocol.result(reply, command)) == "8469308861804289383"


def test_bad_password_is_an_auth_error_with_xtbs_code():
    reply = {"status": False, "errorCode": "BE005", "errorDescr": "userPasswordCheck: Invalid login or password"}
    with pytest.raises(AuthError) as caught:
        protocol.result(reply, protocol.login(Secret("83920174"), Secret(PASSWORD)))
    assert caught.value.broker_code == "BE005" and "Invalid login" in str(caught.value)


def test_trade_transaction_writes_decimals_exactly_and_volume_in_lots():
    info = protocol.TradeTransInfo(cmd=protocol.BUY_LIMIT, type=protocol.OPEN, symbol="EURUSD",
                                   volume=to_lots(Decimal(500000), EURUSD), price=Decimal("1.12"),
                                   order=82188055, expiration=1462006335000, custom_comment="Some text")
    frame = protocol.encode(protocol.trade_transaction(info))
    assert '"volume":5' in frame and '"price":1.12' in frame and "E" not in frame.replace("EURUSD", "")
    assert decode(frame) == {"command": "tradeTransaction", "arguments": {"tradeTransInfo": {
        "cmd": 2, "customComment": "Some text", "expiration": 1462006335000, "offset": 0, "order": 82188055,
        "price": Decimal("1.12"), "sl": 0, "symbol": "EURUSD", "tp": 0, "type": 0, "volume": 5}}}
    assert protocol.result({"status": True, "returnData": {"order": 43}}) == {"order": 43}


def test_transaction_status_documented_reply():
    data = {"ask": Decimal("1.392"), "bid": Decimal("1.392"), "customComment": "Some text", "message": None,
            "order": 43, "requestStatus": 3}
    status = protocol.parse_transaction_status(data)
    assert (status.order, status.name, status.final, status.custom_comment) == (43, "ACCEPTED", True, "Some text")
    rejected = protocol.parse_transaction_status({**data, "requestStatus": 4, "message": "Not enough money"})
    assert isinstance(protocol.refusal(rejected), InsufficientFunds)
    pending = protocol.parse_transaction_status({**data, "requestStatus": 1})
    assert not pending.final


def test_margin_level_documented_reply_becomes_an_account():
    data = decode('{"balance":995800269.43,"credit":1000.00,"currency":"PLN","equity":995985397.56,'
                  '"margin":572634.43,"margin_free":995227635.00,"margin_level":173930.41}')
    account = protocol.parse_account(data, account_id="demo-…000", paper=True)
    assert (account.currency, account.cash, account.equity, account.buying_power) == (
        "PLN", Decimal("995800269.43"), Decimal("995985397.56"), Decimal("995227635.00"))
    assert account.raw["margin_level"] == "173930.41" and account.paper


@pytest.mark.parametrize(("code", "trade", "error"), [
    ("BE014", False, RateLimited), ("BE009", True, InsufficientFunds), ("BE003", True, OrderRejected),
    ("BE006", True, OrderRejected), ("BE115", False, UnknownInstrument), ("EX001", True, BrokerUnavailable),
    ("BE019", True, BrokerUnavailable), ("EX007", False, AuthError), ("BE103", False, BrokerUnavailable),
    ("BE110", False, ProtocolError),
])
def test_error_codes_map_onto_the_tree_keeping_code_and_text(code, trade, error):
    command = protocol.trade_transaction(protocol.TradeTransInfo(0, 0, "EURUSD", Decimal(1), Decimal(1))) \
        if trade else protocol.get_margin_level()
    exc = protocol.error_for(code, "described", command=command, retry_after=2.0)
    assert isinstance(exc, error) and exc.broker_code == code and exc.broker_message == "described"
    if error is RateLimited:
        assert exc.retry_after == 2.0


def test_unknown_transaction_is_order_not_found_only_for_order_lookups():
    assert isinstance(protocol.error_for("BE098", "x", command=protocol.trade_transaction_status(1)), OrderNotFound)


def test_reply_without_status_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        protocol.result({"returnData": []})
    with pytest.raises(ProtocolError):
        protocol.decode("not json")


def test_lots_and_quantities():
    assert to_lots(Decimal(1000), EURUSD) == Decimal("0.01")
    assert from_lots(Decimal("0.01"), EURUSD) == Decimal(1000)
    assert to_lots(Decimal("0.5"), US500) == Decimal("0.01")
    for bad in (Decimal(1500), Decimal(100), Decimal(10_000_001)):
        with pytest.raises(InvalidOrder):
            to_lots(bad, EURUSD)
    with pytest.raises(InvalidOrder):
        check_price("limit_price", Decimal("1.123456"), EURUSD)


def test_symbol_names_and_cache():
    assert normalize("eur/usd") == "EURUSD" and wanted_symbol(Instrument("EUR-USD", Market.FOREX)) == "EURUSD"
    assert wanted_symbol(Instrument("X", Market.FOREX, broker_ids={"xtb": "EURUSD_4"})) == "EURUSD_4"
    with pytest.raises(UnknownInstrument):
        wanted_symbol(Instrument("AAPL", Market.US_STOCKS))
    cache = SymbolCache([EURUSD], limit=1, total=5)
    assert cache.find("EUR/USD") is EURUSD and cache.truncated
    assert EURUSD.market is Market.FOREX and US500.market is Market.CFD


def test_trade_records_become_orders_and_netted_positions():
    record = {"order": 7, "order2": 7, "position": 7, "cmd": 0, "symbol": "EURUSD", "volume": Decimal("0.1"),
              "open_price": Decimal("1.08012"), "close_price": Decimal("1.08"), "closed": False, "sl": 0, "tp": 0,
              "profit": Decimal("-1.20"), "customComment": "orch-1", "open_time": 1272529161605}
    trade = protocol.parse_trade(record)
    order = protocol.order_from_trade(trade, FX, EURUSD)
    assert (order.status, order.side, order.qty, order.avg_fill_price, order.client_order_id) == (
        OrderStatus.FILLED, Side.BUY, Decimal(10000), Decimal("1.08012"), "orch-1")
    pending = protocol.parse_trade({**record, "order": 8, "position": 8, "cmd": 3, "open_price": Decimal("1.2"),
                                    "expiration": 1462006335000})
    resting = protocol.order_from_trade(pending, FX, EURUSD)
    assert (resting.status, resting.side, resting.type, resting.limit_price, resting.time_in_force) == (
        OrderStatus.ACCEPTED, Side.SELL, OrderType.LIMIT, Decimal("1.2"), TimeInForce.DAY)
    closing = protocol.parse_trade({**record, "order": 9, "closed": True})
    assert protocol.order_from_trade(closing, FX, EURUSD).side is Side.SELL
    short = protocol.parse_trade({**record, "order": 10, "position": 10, "cmd": 1, "volume": Decimal("0.3")})
    [position] = protocol.positions_from_trades([trade, pending, short], {"EURUSD": EURUSD}, lambda s: FX)
    assert position.qty == Decimal(-20000) and position.unrealized_pl == Decimal("-2.40")


def test_documented_stream_frames():
    session = streams.QuoteSession("8469308861804289383", {"KOMB.CZ": Instrument("KOMB.CZ", Market.CFD)})
    sent = [decode(frame) for frame in session.start().send]
    assert sent[1] == {"command": "getTickPrices", "streamSessionId": "8469308861804289383", "symbol": "KOMB.CZ",
                       "minArrivalTime": 0, "maxLevel": 0}
    assert not session.ready
    tick = ('{"command":"tickPrices","data":{"ask":4000.0,"askVolume":15000,"bid":4000.0,"bidVolume":16000,'
            '"high":4000.0,"level":0,"low":3500.0,"quoteId":0,"spreadRaw":0.000003,"spreadTable":0.00042,'
            '"symbol":"KOMB.CZ","timestamp":1272529161605}}')
    [quote] = session.receive(tick).items
    assert session.ready and (quote.bid, quote.ask, quote.timestamp.year) == (Decimal("4000.0"), Decimal("4000.0"),
                                                                              2010)
    [alive] = session.receive('{"command":"keepAlive","data":{"timestamp":1362944112000}}').items
    assert isinstance(alive, streams.KeepAlive)
