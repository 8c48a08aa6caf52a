"""Fuzzing DEGIRO's sans-IO parsers: damaged recorded payloads and random bytes give a result or an orch error
with one readable line, never a KeyError/TypeError/... traceback.

Seeds are the recorded vectors (tests/vectors) and the shapes the simulator and protocol tests use for the
calls no vector records (client, order history, transactions, quotecast); orch.testing.fuzz mutates them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import ProtocolError
from orch.models import Instrument, Market
from orch.testing.fuzz import fuzz_parser, fuzz_settings, garbled, mutated, only_orch_errors
from orch.testing.vectors import load_vectors
from orch_degiro import protocol
from orch_degiro.protocol import HttpResponse, ServiceUrls

HERE = Path(__file__).parent
BASE = "https://trader.degiro.nl"
URLS = ServiceUrls(trading=f"{BASE}/trading/secure/", pa=f"{BASE}/pa/secure/",
                   product_search=f"{BASE}/product_search/secure/", reporting=f"{BASE}/portfolio-reports/secure/",
                   quotecast="https://degiro.quotecast.vwdservices.com/CORS/", client_id=4242)
SAP = Instrument("SAP.DE", Market.EU_STOCKS, currency="EUR")


def _recorded() -> tuple[dict[str, list[Any]], list[bytes]]:
    by_call: dict[str, list[Any]] = defaultdict(list)
    logins: list[bytes] = []
    for vector in load_vectors(HERE / "vectors"):
        if vector.response is None or not vector.response.body:
            continue
        if vector.call == "login":
            logins.append(vector.response.body)
        elif vector.response.status < 300:
            by_call[vector.call].append(json.loads(vector.response.body, parse_float=Decimal))
    return by_call, logins


RECORDED, LOGINS = _recorded()
OPEN_ROWS = [row for u in RECORDED["update"] for row in protocol.parse_order_rows(u)]
POSITION_ROWS = [row for u in RECORDED["update"] for row in protocol.parse_position_rows(u)]
HISTORY_ROW = {"orderId": "o1", "productId": 1, "size": 4, "price": Decimal("150.25"), "buysell": "B",
               "orderTypeId": 0, "orderTimeTypeId": 3, "stopPrice": 0, "status": "CONFIRMED", "type": "CREATE",
               "isActive": True, "currentTradedSize": 1, "totalTradedSize": 1,
               "created": "2026-11-24T10:00:00+01:00", "last": "2026-11-24T10:05:00+01:00"}
TRANSACTIONS = [{"orderId": "o1", "id": 7, "price": Decimal("150.25"), "quantity": 1, "productId": 1,
                 "buysell": "B", "date": "2026-11-24T10:05:00+01:00"}]
CLIENT = {"data": {"id": 4242, "intAccount": 1234567, "clientRole": "basic", "username": "fuzz"}}
ACCOUNT_INFO = {"data": {"baseCurrency": "EUR", "clientId": 4242}}
PRODUCTS_INFO = {"data": {"360015751": {"id": "360015751", "symbol": "SAP", "isin": "DE0007164600",
                                        "exchangeId": "194", "currency": "EUR", "vwdId": "360015751"}}}
VWD = [{"m": "a_req", "v": ["360015751.BidPrice", 101]}, {"m": "a_req", "v": ["360015751.LastTime", 102]},
       {"m": "un", "v": [101, Decimal("189.2")]}, {"m": "us", "v": [102, "15:30:01"]}, {"m": "h"},
       {"m": "ue", "v": ["9.BidPrice"]}, {"m": "sr"}]


def _products(data: Any) -> Any:
    products = protocol.parse_lookup(data)
    return protocol.choose_product(products, "SAP.DE", "EUR"), protocol.choose_product(products, "DE0007164600", None)


def _history(data: Any) -> Any:
    rows = protocol.parse_data_list(data)
    return protocol.order_from_history(rows, SAP, fills=TRANSACTIONS) if rows else None


# Every response parser of orch_degiro.protocol, with what it reads.
PARSERS = {
    "parse_config": (lambda d: protocol.parse_config(d, base_url=BASE), RECORDED["config"]),
    "parse_client": (protocol.parse_client, [CLIENT]),
    "parse_account_info": (protocol.parse_account_info, [ACCOUNT_INFO]),
    "parse_position_rows": (protocol.parse_position_rows, RECORDED["update"]),
    "parse_cash": (protocol.parse_cash, RECORDED["update"]),
    "parse_total_portfolio": (protocol.parse_total_portfolio, RECORDED["update"]),
    "parse_order_rows": (protocol.parse_order_rows, RECORDED["update"]),
    "parse_transaction_rows": (protocol.parse_transaction_rows, [{"transactions": {"value": []}}]),
    "order_from_open_row": (lambda d: protocol.order_from_open_row(d, SAP), OPEN_ROWS),
    "position_from_row": (lambda d: protocol.position_from_row(d, SAP, "EUR"), POSITION_ROWS),
    "order_from_history": (_history, [{"data": [HISTORY_ROW, {**HISTORY_ROW, "type": "DELETE"}]}]),
    "order_from_history(fills)": (lambda d: protocol.order_from_history([HISTORY_ROW], SAP, fills=d),
                                  [TRANSACTIONS]),
    "parse_check": (protocol.parse_check, RECORDED["check_order"]),
    "parse_confirm": (protocol.parse_confirm, RECORDED["confirm_order"]),
    "parse_lookup+choose_product": (_products, RECORDED["lookup"]),
    "parse_products_info": (protocol.parse_products_info, [PRODUCTS_INFO]),
    "orch_symbol": (lambda d: protocol.orch_symbol(d if isinstance(d, dict) else {"symbol": d}),
                    [PRODUCTS_INFO["data"]["360015751"]]),
    "parse_vwd_session": (protocol.parse_vwd_session, [{"sessionId": "abc-123"}]),
    "parse_vwd_messages": (lambda d: protocol.parse_vwd_messages(d, {}), [VWD]),
    "vwd_timestamp": (lambda d: protocol.vwd_timestamp(*(d if isinstance(d, list) and len(d) == 2 else (d, d))),
                      [["2026-11-24", "15:30:01"]]),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_orch_errors(name):
    parser, candidates = PARSERS[name]
    fuzz_parser(parser, candidates)


@fuzz_settings(100)
@given(st.one_of(*(garbled(b) for b in LOGINS), *(mutated(json.loads(b)) for b in LOGINS[:3])),
       st.sampled_from([200, 400, 401, 403, 405, 429, 500, 502]),
       st.dictionaries(st.just("retry-after"), st.sampled_from(["5", "-1", "NaN", "inf", "1e999", "soon"])))
def test_login_answers_raise_only_orch_errors(body, status, headers):
    if not isinstance(body, bytes):
        body = json.dumps(body, default=str).encode()
    answer = only_orch_errors(protocol.parse_login, HttpResponse(status, headers, body))
    if isinstance(answer, protocol.LoginAnswer):
        only_orch_errors(protocol.login_error, answer)


_BODIES = [json.dumps(b, default=str).encode() for b in (*RECORDED["check_order"][:1], *RECORDED["update"][:1])] + [
    b'{"errors": [{"text": "Insufficient funds"}]}', b'{"errors": [{"text": "two\\nlines"}], "message": 5}',
    b"<html>\n<body>502 Bad Gateway</body>\n</html>"]


@fuzz_settings(100)
@given(st.one_of(*(garbled(b) for b in _BODIES)), st.sampled_from([200, 400, 401, 403, 404, 429, 500]),
       st.dictionaries(st.just("retry-after"), st.sampled_from(["5", "-1", "NaN", "inf", "1e999", "soon"])))
def test_http_answers_raise_only_orch_errors(body, status, headers):
    """error_for and parse_json on any body/status/headers, for every kind of session request."""
    response = HttpResponse(status, headers, body)
    for request in (protocol.check_order_request(URLS, {"buySell": "BUY"}),
                    protocol.confirm_order_request(URLS, "c-1", {"buySell": "BUY"}),
                    protocol.delete_order_request(URLS, "o-1"), protocol.update_request(URLS, 1, ["orders"])):
        only_orch_errors(protocol.error_for, request, response)
    only_orch_errors(protocol.parse_json, response)
    only_orch_errors(protocol.retry_after, headers)


@pytest.mark.parametrize("body", [b"\xff\xfe<html>gateway", b'{"data": {"intAccount": ', b"[" * 50_000])
async def test_transport_turns_a_garbage_body_into_a_protocol_error(body):
    """Through the real httpx session: a 200 whose body is not JSON is a ProtocolError, not a crash."""
    from orch.resilience.budget import Rule
    from orch.resilience.limiter import RateLimiter
    from orch_degiro.transport import HttpSession

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    session = HttpSession(limiter=RateLimiter([Rule("requests", 1000, 1.0)], name="degiro"), timeout=5,
                          transport=httpx.MockTransport(answer))
    with pytest.raises(ProtocolError, match="not JSON"):
        await session.call(protocol.client_request(URLS), session_id="fuzz-session")


@pytest.mark.parametrize("body", [b'{"data": {"intAccount": 1E+999999}}', b'{"data": NaN}', b'[{"m": "a_req", "v": ["x", 1e999999]}]'])
def test_hostile_numbers_are_refused_at_decode(body):
    """int(Decimal("1E+999999")) alone takes a minute (DEGIRO's intAccount went through int()): such numbers
    never get past the decoder."""
    with pytest.raises(ProtocolError):
        protocol.parse_json(HttpResponse(200, {}, body))
