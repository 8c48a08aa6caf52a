"""DEGIRO's static request/response vectors (tests/vectors/*.json), run through orch.testing.vectors.

``build`` turns a vector into the request :mod:`orch_degiro.protocol` builds, with the file's session id
and intAccount put where the endpoint wants them and the browser headers the transport always sends;
``parse`` feeds a raw answer through the same checks and parsers the connection uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orch.errors import AuthError
from orch.testing.vectors import Vector, WireRequest, WireResponse, check_vector, check_vectors, load_vectors, \
    parametrize_vectors
from orch_degiro import protocol
from orch_degiro.protocol import HttpResponse, ServiceUrls

VECTORS = Path(__file__).parent / "vectors"
BASE = "https://trader.degiro.nl"
URLS = ServiceUrls(trading=f"{BASE}/trading/secure/", pa=f"{BASE}/pa/secure/",
                   product_search=f"{BASE}/product_search/secure/", reporting=f"{BASE}/portfolio-reports/secure/",
                   quotecast="https://degiro.quotecast.vwdservices.com/CORS/", client_id=4242)
PARSE_ONLY = frozenset({"instrument"})


def native(vector: Vector) -> protocol.HttpRequest:
    args = {k: v for k, v in vector.args.items() if k not in PARSE_ONLY}
    call = vector.call
    if call == "login":
        return protocol.login_request(BASE, protocol.login_body(**args["body"]), args.get("step", ""))
    if call in ("check_order", "confirm_order"):
        body = protocol.order_body(args["request"], args["product_id"])
        if call == "check_order":
            return protocol.check_order_request(URLS, body)
        return protocol.confirm_order_request(URLS, args["confirmation_id"], body)
    if call == "delete_order":
        return protocol.delete_order_request(URLS, args["order_id"])
    if call == "update":
        return protocol.update_request(URLS, vector.context["int_account"], args["sections"])
    if call == "lookup":
        return protocol.lookup_request(URLS, args["text"])
    if call == "config":
        return protocol.config_request(BASE)
    raise KeyError(call)


def build(vector: Vector) -> WireRequest:
    request = native(vector)
    url, params, cookies = request.url, dict(request.params), {}
    if request.session is not None:
        url, params, cookies = protocol.with_session(request, vector.context["session_id"],
                                                     vector.context["int_account"])
    headers = dict(protocol.BROWSER_HEADERS)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = protocol.loads(request.body) if request.body else None
    wire = WireRequest.from_url(request.method, url, headers=headers, body=body)
    return WireRequest(wire.method, wire.path, query=params, headers=headers, body=body)


def _login(response: HttpResponse, vector: Vector) -> Any:
    answer = protocol.parse_login(response)
    if answer.status not in (protocol.LOGIN_OK, protocol.LOGIN_TOTP, protocol.LOGIN_IN_APP):
        raise protocol.login_error(answer)
    return {"status": answer.status, "has_session": answer.session_id is not None,
            "in_app_token": answer.in_app_token}


PARSERS = {
    "check_order": lambda data, v: {"confirmation_id": protocol.parse_check(data).confirmation_id,
                                    "fee": protocol.parse_check(data).fee},
    "confirm_order": lambda data, v: protocol.parse_confirm(data),
    "delete_order": lambda data, v: data,
    "update": lambda data, v: {
        "positions": [protocol.position_from_row(r, v.args["instrument"], "EUR")
                      for r in protocol.parse_position_rows(data)],
        "cash": protocol.parse_cash(data),
        "orders": [protocol.order_from_open_row(r, v.args["instrument"]) for r in protocol.parse_order_rows(data)]},
    "lookup": lambda data, v: protocol.parse_lookup(data),
    "config": lambda data, v: protocol.parse_config(data, base_url=BASE),
}


def parse(vector: Vector, response: WireResponse) -> Any:
    answer = HttpResponse(response.status, dict(response.headers), response.body)
    if vector.call == "login":
        return _login(answer, vector)
    request = native(vector)
    if answer.status == 401:
        raise AuthError("the DEGIRO session is not valid", broker="degiro", status=401)
    if not 200 <= answer.status < 300:
        raise protocol.error_for(request, answer)
    data = protocol.parse_json(answer) if answer.body.strip() else None
    return PARSERS[vector.call](data, vector)


@parametrize_vectors(VECTORS)
def test_vector(vector: Vector) -> None:
    check_vector(vector, build, parse)


def test_every_vector_file_passes_as_a_whole() -> None:
    assert check_vectors(VECTORS, build, parse) == len(load_vectors(VECTORS)) >= 12


def test_a_wrong_expectation_is_caught() -> None:
    (vector,) = [v for v in load_vectors(VECTORS) if v.name.startswith("check a limit buy")]
    tampered = {**vector.expect_request, "body": {**vector.expect_request["body"], "price": "12.50"}}
    broken = load_vectors({"format": "orch-vectors/1", "broker": "degiro", "context": dict(vector.context),
                           "vectors": [{"name": "tampered", "call": vector.call, "args": {
                               "product_id": "8614787", "request": {
                                   "$model": "OrderRequest", "instrument": {"symbol": "AAPL", "market": "US_STOCKS"},
                                   "side": "buy", "qty": "10", "type": "limit", "limit_price": "12.5"}},
                               "request": tampered}]})
    with pytest.raises(AssertionError, match="request.body"):
        check_vectors(broken, build, parse)
