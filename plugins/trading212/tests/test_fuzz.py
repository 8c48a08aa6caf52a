"""Fuzzing Trading 212's sans-IO parsers: damaged recorded payloads and random bytes give a result or an orch
error with one readable line, never a KeyError/TypeError/... traceback.

Seeds are the recorded vectors (tests/vectors) and the documented instruments/exchanges answers;
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
from orch.models import Instrument, Market, OrderRequest, OrderType, Side
from orch.secret import Secret
from orch.testing.fuzz import fuzz_parser, fuzz_settings, garbled, only_orch_errors
from orch.testing.vectors import load_vectors
from orch_trading212 import protocol
from orch_trading212.protocol import Credentials, HttpResponse
from orch_trading212.symbols import InstrumentMeta

HERE = Path(__file__).parent
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC).timestamp()
CATALOG = {"AAPL_US_EQ": InstrumentMeta("AAPL_US_EQ", "AAPL", "USD"),
           "VODl_EQ": InstrumentMeta("VODl_EQ", "VOD", "GBX")}


def _recorded() -> dict[str, list[Any]]:
    by_call: dict[str, list[Any]] = defaultdict(list)
    for vector in load_vectors(HERE / "vectors"):
        if vector.response is not None and vector.response.body and vector.response.status < 300:
            by_call[vector.call].append(json.loads(vector.response.body, parse_float=Decimal))
    return by_call


RECORDED = _recorded()
ORDERS = RECORDED["place_order"] + RECORDED["get_order"] + RECORDED["cancel_order"]
POSITIONS = [p for answer in RECORDED["list_positions"] for p in answer]
INSTRUMENTS = [{"ticker": "AAPL_US_EQ", "type": "STOCK", "workingScheduleId": 53, "isin": "US0378331005",
                "currencyCode": "USD", "name": "Apple", "shortName": "AAPL", "maxOpenQuantity": Decimal(10_000),
                "extendedHours": True, "addedOn": "2018-07-11T13:31:48.000+03:00"}]
EXCHANGES = [{"id": 1, "name": "NASDAQ", "workingSchedules": [{"id": 53, "timeEvents": [
    {"date": "2026-11-24T09:00:00Z", "type": "PRE_MARKET_OPEN"}, {"date": "2026-11-24T14:30:00Z", "type": "OPEN"},
    {"date": "2026-11-24T21:00:00Z", "type": "CLOSE"}]}]}]
INFO = {"currencyCode": "EUR", "id": 1234567}

# Every response parser of orch_trading212.protocol, with what it reads.
PARSERS = {
    "parse_order": (lambda d: protocol.parse_order(d, CATALOG), ORDERS),
    "parse_order(fill)": (lambda d: protocol.parse_order(ORDERS[0], CATALOG, fill=d),
                          [i["fill"] for h in RECORDED["history_orders"] for i in h["items"] if i.get("fill")]),
    "parse_orders": (lambda d: protocol.parse_orders(d, CATALOG), RECORDED["list_orders"]),
    "parse_history_orders": (lambda d: protocol.parse_history_orders(d, CATALOG), RECORDED["history_orders"]),
    "parse_account": (lambda d: protocol.parse_account(d, paper=True), RECORDED["account_summary"]),
    "parse_legacy_account(cash)": (lambda d: protocol.parse_legacy_account(d, INFO, paper=True),
                                   RECORDED["account_cash"]),
    "parse_legacy_account(info)": (lambda d: protocol.parse_legacy_account(RECORDED["account_cash"][0], d,
                                                                           paper=True), [INFO]),
    "parse_position": (lambda d: protocol.parse_position(d, CATALOG, account_currency="EUR"), POSITIONS),
    "parse_instruments": (protocol.parse_instruments, [INSTRUMENTS]),
    "parse_exchanges": (protocol.parse_exchanges, [EXCHANGES]),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_orch_errors(name):
    parser, candidates = PARSERS[name]
    fuzz_parser(parser, candidates)


def _order_request() -> OrderRequest:
    return OrderRequest(instrument=Instrument("AAPL", Market.US_STOCKS), side=Side.BUY, qty=Decimal(1),
                        type=OrderType.MARKET)


_BODIES = [json.dumps(b, default=str).encode() for b in (*ORDERS[:2], *RECORDED["account_summary"][:1])] + [
    b'{"type": "/api-errors/selling-equity-not-owned", "title": "Selling equity not owned", "status": 400}',
    b'{"code": "InsufficientFreeForStocksBuy", "clarification": "not enough"}',
    b'{"code": 1, "message": "two\\nlines", "msg": "two\\nlines", "detail": "two\\nlines"}',
    b"<html>\n<body>502 Bad Gateway</body>\n</html>"]
_HEADER_VALUES = st.one_of(st.text(max_size=20), st.sampled_from(
    ["-5", "99999999999999999999", "1e3", "Infinity", "NaN", "1e999999", "Tue, 24 Nov 2026 15:30:00 GMT"]))


@fuzz_settings(100)
@given(st.one_of(*(garbled(b) for b in _BODIES)), st.sampled_from([200, 400, 401, 403, 404, 408, 429, 500]),
       st.dictionaries(st.sampled_from(["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                                        "x-ratelimit-period", "x-ratelimit-used", "retry-after", "date"]),
                       _HEADER_VALUES))
def test_http_answers_raise_only_orch_errors(body, status, headers):
    """handle_response on any body/status/headers, and the header parsers the limiter reads."""
    for request in (protocol.get_order("123"), protocol.place_order(_order_request(), "AAPL_US_EQ"),
                    protocol.cancel_order("123"), protocol.account_summary()):
        only_orch_errors(protocol.handle_response, request, HttpResponse(status, headers, body), now=NOW)
    only_orch_errors(protocol.parse_rate_limit, headers, now=NOW)
    only_orch_errors(protocol.retry_after, headers, now=NOW)


@pytest.mark.parametrize("body", [b"\xff\xfe<html>gateway", b'{"id": 1, "cash": ', b"[" * 50_000])
async def test_transport_turns_a_garbage_body_into_a_protocol_error(body):
    """Through the real httpx session: a 200 whose body is not JSON is a ProtocolError, not a crash."""
    from orch.resilience.budget import Rule
    from orch.resilience.limiter import RateLimiter
    from orch_trading212.transport import HttpSession

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    session = HttpSession(base_url="https://demo.trading212.com", credentials=Credentials(Secret("k"), Secret("s")),
                          limiter=RateLimiter([Rule("requests", 1000, 1.0)], name="trading212"), timeout=5, transport=httpx.MockTransport(answer))
    with pytest.raises(ProtocolError, match="not JSON"):
        await session.call(protocol.account_summary())


@pytest.mark.parametrize("body", [b'{"id": 1E+999999}', b'{"id": NaN}', b'[{"workingSchedules": [{"id": 1e400000}]}]'])
def test_hostile_numbers_are_refused_at_decode(body):
    """int(Decimal("1E+999999")) alone takes a minute: such numbers never get past the decoder."""
    with pytest.raises(ProtocolError):
        protocol.decode_json(body)
