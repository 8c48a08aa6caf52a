"""Fuzzing Binance's sans-IO parsers and stream decoders: damaged recorded payloads and random bytes give a
result or an orch error with one readable line, never a KeyError/TypeError/... traceback.

Seeds are the recorded vectors (tests/vectors), the exchangeInfo fixture and the documented stream payloads;
orch.testing.fuzz mutates them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import ProtocolError
from orch.models import Instrument, Market
from orch.secret import Secret
from orch.testing.fuzz import fuzz_parser, fuzz_settings, garbled, mutated, only_orch_errors
from orch.testing.vectors import load_vectors
from orch_binance import filters, protocol, streams
from orch_binance.protocol import Credentials, HttpResponse

HERE = Path(__file__).parent
BTC = Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")
CREDENTIALS = Credentials(Secret("fuzz-key-0123456789"), Secret("fuzz-secret-0123456789"))
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def _recorded() -> dict[str, list[Any]]:
    by_call: dict[str, list[Any]] = defaultdict(list)
    for vector in load_vectors(HERE / "vectors"):
        if vector.response is not None and vector.response.body and vector.response.status < 300:
            by_call[vector.call].append(json.loads(vector.response.body, parse_float=Decimal))
    by_call["exchange_info"].append(
        json.loads((HERE / "fixtures" / "exchange_info_btcusdt.json").read_text(), parse_float=Decimal))
    return by_call


RECORDED = _recorded()
ORDERS = RECORDED["place"] + RECORDED["query_order"] + RECORDED["cancel_order"]
# The documented new-OCO answer (api/v3/order/oco): no vector records one.
OCO = [{"orderListId": 0, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED", "listOrderStatus": "EXECUTING",
        "listClientOrderId": "JYVpp3F0f5CAG15DhtrqLp", "transactionTime": 1563417480525, "symbol": "LTCBTC",
        "orders": [{"symbol": "LTCBTC", "orderId": 2, "clientOrderId": "Kk7sqHb9J6mJWTMDVW7Vos"},
                   {"symbol": "LTCBTC", "orderId": 3, "clientOrderId": "xTXKaGYd4bluPVp78IVRvl"}],
        "orderReports": [
            {"symbol": "LTCBTC", "orderId": 2, "orderListId": 0, "clientOrderId": "Kk7sqHb9J6mJWTMDVW7Vos",
             "transactTime": 1563417480525, "price": "0.000000", "origQty": "0.624363", "executedQty": "0.000000",
             "cummulativeQuoteQty": "0.000000", "status": "NEW", "timeInForce": "GTC", "type": "STOP_LOSS",
             "side": "BUY", "stopPrice": "0.960664"},
            {"symbol": "LTCBTC", "orderId": 3, "orderListId": 0, "clientOrderId": "xTXKaGYd4bluPVp78IVRvl",
             "transactTime": 1563417480525, "price": "0.036435", "origQty": "0.624363", "executedQty": "0.000000",
             "cummulativeQuoteQty": "0.000000", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT_MAKER",
             "side": "BUY"}]}]
SIMPLE = [o for o in ORDERS if "orderReports" not in o]
TRADES = [{"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100",
           "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB",
           "time": 1499865549590, "isBuyer": True, "isMaker": False, "isBestMatch": True}]
BOOK_TICKER = {"symbol": "BTCUSDT", "bidPrice": "4.00000000", "bidQty": "431.00000000", "askPrice": "4.00000200",
               "askQty": "9.00000000"}
TICKER_24HR = {"symbol": "BTCUSDT", "lastPrice": "4.00000200", "bidPrice": "4.00000000", "bidQty": "100.0",
               "askPrice": "4.00000200", "askQty": "100.0", "closeTime": 1499869899040, "openTime": 1499783499040}
PRICE = {"symbol": "BTCUSDT", "price": "65000.01"}

BOOK = {"u": 400900217, "s": "BTCUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66"}
TRADE = {"e": "trade", "E": 1672515782136, "s": "BTCUSDT", "t": 12345, "p": "0.001", "q": "100",
         "T": 1672515782136, "m": True, "M": True}
KLINE = {"e": "kline", "E": 1672515782136, "s": "BTCUSDT", "k": {
    "t": 1672515780000, "T": 1672515839999, "s": "BTCUSDT", "i": "1m", "f": 100, "L": 200, "o": "0.0010",
    "c": "0.0020", "h": "0.0025", "l": "0.0015", "v": "1000", "n": 100, "x": False, "q": "1.0", "V": "500"}}
EXECUTION = {"e": "executionReport", "E": 1499405658658, "s": "BTCUSDT", "c": "mUvoqJxFIILMdfAW5iGSOW",
             "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000",
             "g": -1, "C": "", "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4293153,
             "l": "0.40000000", "z": "0.40000000", "L": "0.10264410", "n": "0.0004", "N": "BTC",
             "T": 1499405658657, "t": 77, "O": 1499405658657, "Z": "0.04105764", "Q": "0.00000000"}

# Every response parser of orch_binance.protocol and orch_binance.filters, with what it reads.
PARSERS = {
    "parse_order": (protocol.parse_order, SIMPLE),
    "parse_order(instrument)": (lambda d: protocol.parse_order(d, instrument=BTC), SIMPLE),
    "parse_orders": (protocol.parse_orders, [SIMPLE]),
    "parse_order_list": (protocol.parse_order_list, OCO),
    "parse_account": (lambda d: protocol.parse_account(d, testnet=True), RECORDED["account"]),
    "positions_from_account": (
        lambda d: protocol.positions_from_account(protocol.parse_account(d, testnet=True)), RECORDED["account"]),
    "parse_trades": (lambda d: protocol.parse_trades(d, BTC), [TRADES]),
    "parse_quote": (lambda d: protocol.parse_quote(d, PRICE, BTC, now=NOW), [BOOK_TICKER]),
    "parse_quote(last)": (lambda d: protocol.parse_quote(BOOK_TICKER, d, BTC, now=NOW), [PRICE]),
    "parse_ticker_24hr": (lambda d: protocol.parse_ticker_24hr(d, BTC), [TICKER_24HR]),
    "parse_price": (protocol.parse_price, [PRICE]),
    "parse_exchange_info": (filters.parse_exchange_info, [{"timezone": "UTC", "symbols": RECORDED["exchange_info"]}]),
    "parse_symbol": (filters.parse_symbol, RECORDED["exchange_info"]),
    "parse_execution_report": (streams.parse_execution_report, [EXECUTION]),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_orch_errors(name):
    parser, candidates = PARSERS[name]
    fuzz_parser(parser, candidates)


def _market_session() -> streams.MarketStreamSession:
    session = streams.MarketStreamSession({"BTCUSDT": BTC}, intervals=["1m"])
    session.start()
    for frame in ({"result": None, "id": 1}, KLINE, BOOK):
        session.receive(json.dumps(frame))
    assert session.ready
    return session


MARKET_FRAMES = [BOOK, TRADE, KLINE, {"stream": "btcusdt@trade", "data": TRADE}, {"result": None, "id": 1},
                 {"code": 2, "msg": "Invalid request: unknown stream", "id": 1}]


@fuzz_settings(150)
@given(st.one_of(*(mutated(f) for f in MARKET_FRAMES)))
def test_market_session_survives_damaged_frames(frame):
    only_orch_errors(_market_session().receive, json.dumps(frame, default=str))


def _user_session() -> streams.UserDataSession:
    session = streams.UserDataSession(CREDENTIALS, timestamp_ms=lambda: 1700000000000)
    session.start()
    session.receive(json.dumps({"id": "orch-uds", "status": 200, "result": {"subscriptionId": 0}}))
    assert session.ready
    return session


USER_FRAMES = [{"id": "orch-uds", "status": 200, "result": {"subscriptionId": 0}},
               {"id": "orch-uds", "status": 401, "error": {"code": -2015, "msg": "Invalid API-key"}},
               {"subscriptionId": 0, "event": EXECUTION}]


@fuzz_settings(150)
@given(st.one_of(*(mutated(f) for f in USER_FRAMES)))
def test_user_data_session_survives_damaged_frames(frame):
    session = streams.UserDataSession(CREDENTIALS, timestamp_ms=lambda: 1700000000000)
    session.start()
    only_orch_errors(session.receive, json.dumps(frame, default=str))
    only_orch_errors(_user_session().receive, json.dumps(frame, default=str))


RAW = [json.dumps(f).encode() for f in (*MARKET_FRAMES, *USER_FRAMES)]


@fuzz_settings(100)
@given(st.one_of(*(garbled(raw) for raw in RAW)))
def test_frame_bytes_raise_only_protocol_errors(raw):
    only_orch_errors(_market_session().receive, raw)
    only_orch_errors(_user_session().receive, raw)


def test_deeply_nested_frames_are_protocol_errors():
    for frame in ("[" * 100_000, b"[" * 100_000):
        with pytest.raises(ProtocolError):
            _market_session().receive(frame)


_BODIES = [json.dumps(b, default=str).encode() for b in (*ORDERS[:2], *RECORDED["account"][:1])] + [
    b'{"code":-2010,"msg":"Account has insufficient balance for requested action."}',
    b'{"code":-1003,"msg":"Way too much request weight used; IP banned until 1795526460000."}',
    b'{"code": 1, "message": "two\\nlines", "msg": "two\\nlines", "detail": "two\\nlines"}',
    b"<html>\n<body>502 Bad Gateway</body>\n</html>"]


@fuzz_settings(100)
@given(st.one_of(*(garbled(b) for b in _BODIES)), st.sampled_from([200, 400, 401, 403, 404, 418, 429, 500, 503]),
       st.dictionaries(st.sampled_from(["x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1d",
                                        "retry-after"]),
                       st.one_of(st.text(max_size=20), st.sampled_from(["-5", "99999999999999999999", "1e3"]))))
def test_http_answers_raise_only_orch_errors(body, status, headers):
    """handle_response on any body/status/headers (418 bans included) and the usage-header parser."""
    for request in (protocol.query_order("BTCUSDT", order_id="1"), protocol.new_order((("symbol", "BTCUSDT"),))):
        only_orch_errors(protocol.handle_response, request, HttpResponse(status, headers, body),
                         now_epoch=NOW.timestamp())
    only_orch_errors(protocol.parse_usage, headers)


@pytest.mark.parametrize("message", [
    "IP banned until 9999999999999999.", "IP banned until 1795526460000.\nmore", "banned until 0000000000"])
def test_ban_messages_out_of_range_are_orch_errors(message):
    body = json.dumps({"code": -1003, "msg": message}).encode()
    error = protocol.error_for(protocol.ping(), HttpResponse(418, {}, body), now_epoch=NOW.timestamp())
    assert "\n" not in str(error) and "banned" in str(error)


class _Limiter:
    async def acquire(self, cost: int = 1, *, order: bool = False) -> None:
        pass

    def observe(self, **_: Any) -> None:
        pass

    def penalize(self, retry_after: float | None = None) -> None:
        pass


@pytest.mark.parametrize("body", [b"\xff\xfe<html>gateway", b'{"symbol": "BTCUSDT", "price": ', b"[" * 50_000])
async def test_transport_turns_a_garbage_body_into_a_protocol_error(body):
    """Through the real httpx session: a 200 whose body is not JSON is a ProtocolError, not a crash."""
    from orch_binance.transport import HttpSession

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    session = HttpSession(base_url="https://testnet.binance.vision", credentials=CREDENTIALS, limiter=_Limiter(),
                          timeout=5, transport=httpx.MockTransport(answer))
    with pytest.raises(ProtocolError, match="not JSON"):
        await session.call(protocol.ticker_price("BTCUSDT"))


@pytest.mark.parametrize("body", [b'{"price": 1E+999999}', b'{"price": NaN}', b'{"E": -1e-999999, "s": "BTCUSDT"}'])
def test_hostile_numbers_are_refused_at_decode(body):
    """int(Decimal("1E+999999")) alone takes a minute: such numbers never get past the decoder."""
    with pytest.raises(ProtocolError):
        protocol.decode_json(body)
    with pytest.raises(ProtocolError):
        _market_session().receive(body)


@pytest.mark.parametrize("time", [-(10**13), 10**19, "-1499865549590", "17e30"])
def test_out_of_range_trade_times_are_protocol_errors(time):
    """Found by the fuzzer: datetime.fromtimestamp raised OSError for some far-out values."""
    with pytest.raises(ProtocolError, match="trade"):
        protocol.parse_trades([{**TRADES[0], "time": time}], BTC)
