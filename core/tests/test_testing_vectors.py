"""orch.testing.vectors: loading, exact request comparison, partial result matching, error matching."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from orch.errors import ProtocolError, RateLimited, UnknownInstrument
from orch.models import Instrument, Market, Order, OrderRequest, OrderStatus, OrderType, Quote, Side
from orch.testing.vectors import (VectorError, WireRequest, WireResponse, check_vector, check_vectors,
                                  load_vectors, vector_problems)

AAPL = Instrument("AAPL", Market.US_STOCKS)


def doc(*vectors: dict, context: dict | None = None) -> dict:
    return {"format": "orch-vectors/1", "broker": "toy", "context": context or {}, "vectors": list(vectors)}


def toy_build(vector) -> WireRequest:
    """A toy broker protocol: orders POSTed as JSON, quotes fetched by symbol, a signed header."""
    if vector.call == "place":
        request: OrderRequest = vector.args["request"]
        body = {"sym": request.instrument.symbol, "qty": format(request.qty, "f"), "side": request.side.value}
        return WireRequest("post", "/orders", headers={"X-Key": vector.context.get("key", "")}, body=body)
    if vector.call == "quote":
        return WireRequest.from_url("GET", f"https://toy.example/q?s={vector.args['symbol']}&depth=1")
    raise AssertionError(vector.call)


def toy_parse(vector, response: WireResponse):
    if response.status == 404:
        raise UnknownInstrument("no such symbol", broker="toy", broker_code=response.json().get("code"),
                                status=404)
    if response.status == 429:
        raise RateLimited("slow down", broker="toy", retry_after=float(response.headers["retry-after"]),
                          status=429)
    data = response.json()
    if vector.call == "quote":
        return Quote("toy", AAPL, datetime.fromisoformat(data["t"]), bid=data["b"], ask=data["a"])
    return Order("toy", data["id"], AAPL, Side.BUY, OrderType.MARKET, OrderStatus(data["status"]), data["status"],
                 qty=data["qty"], created_at=datetime.fromisoformat(data["t"]))


PLACE = {"name": "market buy", "call": "place",
         "args": {"request": {"$model": "OrderRequest", "instrument": {"symbol": "AAPL", "market": "US_STOCKS"},
                              "side": "buy", "qty": "10", "client_order_id": "c1"}},
         "request": {"method": "POST", "path": "/orders", "headers": {"x-key": "k1"},
                     "body": {"sym": "AAPL", "qty": "10", "side": "buy"}},
         "response": {"status": 200, "body": {"id": "o1", "status": "new", "qty": "10", "t": "2026-11-24T15:30:00Z"}},
         "result": {"$type": "Order", "broker_order_id": "o1", "status": "new", "qty": 10,
                    "created_at": "2026-11-24T16:30:00+01:00", "filled_qty": "0.00"}}


def test_a_matching_vector_passes_and_args_are_decoded():
    (vector,) = load_vectors(doc(PLACE, context={"key": "k1"}))
    assert isinstance(vector.args["request"], OrderRequest) and vector.args["request"].qty == Decimal(10)
    check_vector(vector, toy_build, toy_parse)
    assert check_vectors(doc(PLACE, context={"key": "k1"}), toy_build, toy_parse) == 1


def test_request_bodies_compare_exactly_as_on_the_wire():
    changed = {**PLACE, "request": {**PLACE["request"], "body": {"sym": "AAPL", "qty": "10.0", "side": "buy"}}}
    (vector,) = load_vectors(doc(changed, context={"key": "k1"}))
    problems = vector_problems(vector, toy_build, toy_parse)
    assert len(problems) == 1 and problems[0].startswith("request.body")


def test_a_wrong_header_is_named_without_its_value():
    (vector,) = load_vectors(doc(PLACE, context={"key": "secret-value-123"}))
    (problem,) = vector_problems(vector, toy_build, toy_parse)
    assert problem == "request.headers[x-key]: wrong value" and "secret-value-123" not in problem


def test_query_strings_from_full_urls_and_exact_parameters():
    vector = {"name": "quote", "call": "quote", "args": {"symbol": "AAPL"},
              "request": {"method": "GET", "path": "/q", "query": {"s": "AAPL", "depth": 1}}}
    check_vectors(doc(vector), toy_build)
    extra = {**vector, "request": {**vector["request"], "query": {"s": "AAPL"}}}
    (problem,) = vector_problems(load_vectors(doc(extra))[0], toy_build, None)
    assert problem == "request.query: unexpected depth"


def test_results_match_partially_with_decimals_by_value_and_instants():
    wrong = {**PLACE, "result": {"$type": "Order", "qty": "11", "status": "filled",
                                 "created_at": "2026-11-24T15:31:00Z", "no_such_field": 1}}
    (vector,) = load_vectors(doc(wrong, context={"key": "k1"}))
    problems = vector_problems(vector, toy_build, toy_parse)
    assert problems == ["result.qty: expected 11, got 10", "result.status: expected 'filled', got 'new'",
                        "result.created_at: expected 2026-11-24T15:31:00+00:00, got 2026-11-24T15:30:00+00:00",
                        "result.no_such_field: Order has no field 'no_such_field'"]


def test_response_bodies_replay_numbers_exactly(tmp_path):
    # Written as text: a number in the file reaches the parser as written, never through a float.
    (tmp_path / "q.json").write_text(
        '{"format": "orch-vectors/1", "broker": "toy", "vectors": [{"name": "quote", "call": "quote", '
        '"args": {"symbol": "AAPL"}, "response": {"status": 200, "body": {"b": 189.20, '
        '"a": 1.00000000000000000001, "t": "2026-11-24T15:30:00Z"}}, '
        '"result": {"bid": "189.2", "ask": 1.00000000000000000001}}]}')
    (loaded,) = load_vectors(tmp_path / "q.json")
    assert loaded.response.body == b'{"b":189.20,"a":1.00000000000000000001,"t":"2026-11-24T15:30:00Z"}'
    check_vector(loaded, None, toy_parse)


def test_errors_match_on_type_and_broker_fields():
    vector = {"name": "unknown", "call": "quote", "args": {"symbol": "ZZZZ"},
              "response": {"status": 404, "body": {"code": 40410000}},
              "raises": {"type": "UnknownInstrument", "broker_code": 40410000, "status": 404}}
    check_vectors(doc(vector), None, toy_parse)
    wrong_type = {**vector, "raises": {"type": "OrderNotFound"}}
    (problem,) = vector_problems(load_vectors(doc(wrong_type))[0], None, toy_parse)
    assert problem.startswith("raised UnknownInstrument") and problem.endswith("expected OrderNotFound")
    limited = {"name": "429", "call": "quote", "args": {}, "response": {"status": 429, "headers": {"Retry-After": "3"}},
               "raises": {"type": "RateLimited", "retry_after": 3}}
    check_vectors(doc(limited), None, toy_parse)


def test_a_parser_that_raises_a_raw_exception_is_reported():
    def crashing(vector, response):
        raise KeyError("id")

    (vector,) = load_vectors(doc(PLACE, context={"key": "k1"}))
    problems = vector_problems(vector, toy_build, crashing)
    assert problems == ["parse raised KeyError (not an orch error): 'id'"]


def test_an_unexpected_success_or_error_is_reported():
    expects_error = {k: v for k, v in PLACE.items() if k != "result"} | {"raises": {"type": "ProtocolError"}}
    (vector,) = load_vectors(doc(expects_error, context={"key": "k1"}))
    (problem,) = vector_problems(vector, toy_build, toy_parse)
    assert problem.startswith("expected ProtocolError to be raised")

    def refusing(vector, response):
        raise ProtocolError("unreadable", broker="toy")

    (vector,) = load_vectors(doc(PLACE, context={"key": "k1"}))
    assert vector_problems(vector, toy_build, refusing) == ["parse raised ProtocolError: toy: unreadable"]


def test_check_vectors_lists_every_failure(tmp_path):
    bad = {**PLACE, "name": "bad", "request": {**PLACE["request"], "path": "/order"}}
    (tmp_path / "a.json").write_text(json.dumps(doc(PLACE, bad, context={"key": "k1"})))
    with pytest.raises(AssertionError) as info:
        check_vectors(tmp_path, toy_build, toy_parse)
    assert "1 of 2 vector(s) failed" in str(info.value)
    assert "a.json:1 'bad'" in str(info.value) and "request.path: expected /order, got /orders" in str(info.value)


@pytest.mark.parametrize("broken, message", [
    ({"format": "other"}, "not an orch vector file"),
    (doc({"name": "x", "call": "c"}), "give a request, a response, or both"),
    (doc({"name": "x", "call": "c", "response": {"status": 200}}), "exactly one of result and raises"),
    (doc({"name": "x", "call": "c", "request": {"path": "/"}}), "request needs a method and a path"),
    (doc({"name": "x", "call": "c", "request": {"method": "GET", "path": "/"}, "extra": 1}), "unknown key(s) extra"),
    (doc({"name": "x", "call": "c", "args": {"r": {"$model": "Nope"}}, "request": {"method": "GET", "path": "/"}}),
     "$model 'Nope' is not a class of orch.models"),
    (doc({"name": "x", "call": "c", "args": {"r": {"$model": "OrderRequest", "side": "buy"}},
          "request": {"method": "GET", "path": "/"}}), "cannot build OrderRequest"),
    (doc({"name": "x", "call": "c", "args": {"t": {"$datetime": "2026-01-01T00:00:00"}},
          "request": {"method": "GET", "path": "/"}}), "has no timezone"),
    (doc(PLACE, PLACE), "duplicate vector names 'market buy'"),
])
def test_malformed_files_are_one_clear_error(broken, message):
    with pytest.raises(VectorError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        load_vectors(broken)


def test_datetimes_and_decimals_in_args(tmp_path):
    (tmp_path / "a.json").write_text(
        '{"format": "orch-vectors/1", "vectors": [{"name": "x", "call": "c", "request": {"method": "GET", '
        '"path": "/"}, "args": {"t": {"$datetime": "2026-11-24T15:30:00Z"}, "d": {"$decimal": "12"}, '
        '"f": 1.50, "i": 3}}]}')
    (vector,) = load_vectors(tmp_path / "a.json")
    assert vector.args == {"t": datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc), "d": Decimal("12"),
                           "f": Decimal("1.50"), "i": 3}
    assert str(vector.args["d"]) == "12" and str(vector.args["f"]) == "1.50"
