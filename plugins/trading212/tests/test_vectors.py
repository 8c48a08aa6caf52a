"""Trading 212's static request/response vectors (tests/vectors/*.json) run through orch.testing.vectors:
the documented request examples, both error body styles, Basic and legacy auth, pagination."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orch.secret import Secret
from orch.testing.vectors import (Vector, WireRequest, WireResponse, check_vector, check_vectors, load_vectors,
                                  parametrize_vectors)

from orch_trading212 import protocol
from orch_trading212.protocol import Credentials, HttpResponse

VECTORS = Path(__file__).parent / "vectors"
PARSE_ONLY = frozenset({"paper"})
BUILDERS = {"place_order": protocol.place_order, "get_order": protocol.get_order,
            "cancel_order": protocol.cancel_order, "list_orders": protocol.list_orders,
            "account_summary": protocol.account_summary, "account_cash": protocol.account_cash,
            "list_positions": protocol.list_positions, "history_orders": protocol.history_orders}


def native(vector: Vector) -> protocol.HttpRequest:
    return BUILDERS[vector.call](**{k: v for k, v in vector.args.items() if k not in PARSE_ONLY})


def build(vector: Vector) -> WireRequest:
    request = native(vector)
    credentials = Credentials(Secret(vector.context["api_key"]), Secret(vector.context.get("secret_key")))
    headers = {"Authorization": protocol.authorization(credentials)}
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    body = None if request.body is None else json.loads(request.body, parse_float=Decimal)
    return WireRequest(request.method, request.path, query=dict(request.params), headers=headers, body=body,
                       endpoint=request.endpoint)


def _positions(data: Any, vector: Vector) -> Any:
    return [protocol.parse_position(item, {}, account_currency="EUR") for item in data]


PARSERS = {
    "place_order": lambda data, v: protocol.parse_order(data, {}),
    "get_order": lambda data, v: protocol.parse_order(data, {}),
    "cancel_order": lambda data, v: None if data is None else protocol.parse_order(data, {}),
    "list_orders": lambda data, v: protocol.parse_orders(data, {}),
    "account_summary": lambda data, v: protocol.parse_account(data, paper=v.args["paper"]),
    "account_cash": lambda data, v: data,
    "list_positions": _positions,
    "history_orders": lambda data, v: protocol.parse_history_orders(data, {}),
}


def parse(vector: Vector, response: WireResponse) -> Any:
    answer = HttpResponse(response.status, dict(response.headers), response.body)
    data = protocol.handle_response(native(vector), answer, now=vector.context["now"].timestamp())
    return PARSERS[vector.call](data, vector)


@parametrize_vectors(VECTORS)
def test_vector(vector: Vector) -> None:
    check_vector(vector, build, parse)


def test_every_vector_file_passes_as_a_whole() -> None:
    assert check_vectors(VECTORS, build, parse) == len(load_vectors(VECTORS)) >= 20


def test_a_wrong_expectation_is_caught() -> None:
    (vector,) = [v for v in load_vectors(VECTORS) if v.name.startswith("stop sell")]
    tampered = {**vector.expect_request, "body": {**vector.expect_request["body"], "quantity": 3}}
    broken = load_vectors({"format": "orch-vectors/1", "broker": "trading212",
                           "context": {"api_key": "KEY", "secret_key": "SECRET"},
                           "vectors": [{"name": "tampered", "call": "place_order",
                                        "args": {"ticker": "VUSAl_EQ", "request": {
                                            "$model": "OrderRequest",
                                            "instrument": {"symbol": "VUSA.L", "market": "EU_STOCKS"},
                                            "side": "sell", "qty": "3", "type": "stop", "stop_price": "8120.5",
                                            "time_in_force": "gtc", "client_order_id": "x"}},
                                        "request": tampered}]})
    with pytest.raises(AssertionError, match="request.body"):
        check_vectors(broken, build, parse)
