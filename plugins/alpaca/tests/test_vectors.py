"""Alpaca's static request/response vectors (tests/vectors/*.json), run through orch.testing.vectors.

The two adapters below are all a plugin writes: ``build`` turns a vector into the request
:mod:`orch_alpaca.protocol` builds (signed with the file's canary keys), ``parse`` feeds a raw answer
through the same decoding and parsing the connection uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orch.secret import Secret
from orch.testing.vectors import (Vector, WireRequest, WireResponse, check_vector, check_vectors, load_vectors,
                                  parametrize_vectors)
from orch_alpaca import protocol
from orch_alpaca.protocol import Credentials, HttpResponse

VECTORS = Path(__file__).parent / "vectors"

# Arguments the parser needs but the request builder does not take.
PARSE_ONLY = frozenset({"instrument", "paper"})


def native(vector: Vector) -> protocol.HttpRequest:
    builder = getattr(protocol, vector.call)
    return builder(**{k: v for k, v in vector.args.items() if k not in PARSE_ONLY})


def build(vector: Vector) -> WireRequest:
    credentials = Credentials(Secret(vector.context["api_key"]), Secret(vector.context["secret_key"]))
    signed = protocol.sign(native(vector), credentials)
    return WireRequest(signed.method, signed.path, query=signed.params, headers=signed.headers, body=signed.json,
                       endpoint=signed.api)


def _trade(data: Any, vector: Vector) -> dict:
    price, time = protocol.parse_latest_trade_price(data, vector.args["symbols_"][0])
    return {"price": price, "time": time}


def _quote(data: Any, vector: Vector) -> Any:
    args = vector.args
    return protocol.parse_latest_quote(data, args["symbols_"][0], args["instrument"],
                                       delayed=args.get("feed") == "delayed_sip")


def _order_or_none(data: Any, vector: Vector) -> Any:
    return None if data is None else protocol.parse_order(data)


PARSERS = {
    "get_account": lambda data, v: protocol.parse_account(data, paper=v.args["paper"]),
    "list_positions": lambda data, v: protocol.parse_positions(data),
    "create_order": lambda data, v: protocol.parse_order(data, instrument=v.args["request"].instrument),
    "get_order": lambda data, v: protocol.parse_order(data),
    "get_order_by_client_id": lambda data, v: protocol.parse_order(data),
    "replace_order": lambda data, v: protocol.parse_order(data),
    "cancel_order": _order_or_none,
    "list_orders": lambda data, v: protocol.parse_orders(data),
    "latest_stock_quotes": _quote,
    "latest_crypto_quotes": _quote,
    "latest_stock_trades": _trade,
    "latest_crypto_trades": _trade,
    "get_asset": lambda data, v: protocol.parse_asset(data),
    "get_clock": lambda data, v: protocol.parse_clock(data),
    "list_fill_activities": lambda data, v: protocol.parse_fill_activities(data),
}


def parse(vector: Vector, response: WireResponse) -> Any:
    answer = HttpResponse(response.status, dict(response.headers), response.body)
    data = protocol.handle_response(native(vector), answer, now=vector.context["now"].timestamp())
    return PARSERS[vector.call](data, vector)


@parametrize_vectors(VECTORS)
def test_vector(vector: Vector) -> None:
    check_vector(vector, build, parse)


def test_every_vector_file_loads_and_passes_as_a_whole() -> None:
    assert check_vectors(VECTORS, build, parse) == len(load_vectors(VECTORS)) >= 38


def test_every_call_in_the_files_has_a_parser() -> None:
    calls = {v.call for v in load_vectors(VECTORS) if v.response is not None}
    assert calls <= set(PARSERS)


def test_a_wrong_expectation_is_caught() -> None:
    # The net must not be a no-op: a vector whose expected body differs from what the protocol builds fails.
    (vector,) = [v for v in load_vectors(VECTORS) if v.name.startswith("market buy")]
    broken = load_vectors({"format": "orch-vectors/1", "broker": "alpaca", "context": {
        "api_key": "PKVECTORKEY000000001", "secret_key": "vector-secret-not-real-7d1e"}, "vectors": [{
            "name": "tampered", "call": "create_order",
            "args": {"symbol": "AAPL", "request": {
                "$model": "OrderRequest", "instrument": {"symbol": "AAPL", "market": "US_STOCKS"}, "side": "buy",
                "qty": "10", "client_order_id": "orch-20261124-0001"}},
            "request": {**vector.expect_request, "body": {**vector.expect_request["body"], "qty": "10.0"}}}]})
    with pytest.raises(AssertionError, match="request.body"):
        check_vectors(broken, build, parse)
