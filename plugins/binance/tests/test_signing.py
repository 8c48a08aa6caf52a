"""Signing against Binance's documented HMAC examples (rest-api.md, "SIGNED endpoint examples")."""

from __future__ import annotations

from decimal import Decimal

from orch.secret import Secret
from orch_binance import protocol, signing
from orch_binance.protocol import Credentials, HttpRequest

# Binance's documentation example key pair (not a real account).
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco5w7K2Z6Uig9GC"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
             "&timestamp=1499827319559")


def test_query_string_example():
    expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert signing.signature(DOC_SECRET, DOC_QUERY) == expected


def test_request_body_example_is_the_same_string():
    assert signing.signature(DOC_SECRET, "", DOC_QUERY) == signing.signature(DOC_SECRET, DOC_QUERY)


def test_mixed_query_and_body_are_concatenated_without_separator():
    query, body = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", \
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert signing.signature(DOC_SECRET, query, body) == \
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_verify_is_case_insensitive_and_strips_the_signature_pair():
    sig = signing.signature(DOC_SECRET, DOC_QUERY)
    query, found = signing.strip_signature(f"{DOC_QUERY}&signature={sig.upper()}")
    assert query == DOC_QUERY and found == sig.upper()
    assert signing.verify(DOC_SECRET, query, "", found)
    assert not signing.verify(DOC_SECRET, query.replace("quantity=1", "quantity=2"), "", found)


def _credentials() -> Credentials:
    return Credentials(Secret(DOC_KEY), Secret(DOC_SECRET))


def test_prepare_signs_exactly_what_is_sent_in_the_query():
    request = HttpRequest("GET", "/api/v3/order", (("symbol", "LTCBTC"), ("orderId", "1")), protocol.SIGNED)
    wire = protocol.prepare(request, _credentials(), timestamp_ms=1499827319559, recv_window=5000)
    unsigned, sig = signing.strip_signature(wire.query)
    assert unsigned == "symbol=LTCBTC&orderId=1&recvWindow=5000&timestamp=1499827319559"
    assert wire.query.endswith(f"&signature={sig}") and sig == signing.signature(DOC_SECRET, unsigned)
    assert wire.headers["X-MBX-APIKEY"] == DOC_KEY and wire.body == ""
    assert DOC_KEY not in repr(wire)


def test_prepare_puts_post_parameters_in_the_body_and_reproduces_the_documented_signature():
    params = (("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", protocol.wire_decimal(Decimal("1.000"))), ("price", protocol.wire_decimal(Decimal("0.10"))))
    wire = protocol.prepare(protocol.new_order(params), _credentials(), timestamp_ms=1499827319559)
    assert wire.query == ""
    assert wire.body == DOC_QUERY + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_values_are_percent_encoded_before_signing():
    assert signing.encode([("newClientOrderId", "a b/é"), ("symbols", '["A","B"]')]) == \
        "newClientOrderId=a%20b%2F%C3%A9&symbols=%5B%22A%22%2C%22B%22%5D"


def test_ws_api_signature_sorts_params_and_includes_the_api_key():
    params = {"timestamp": 1, "apiKey": "k", "recvWindow": 5000}
    expected = signing.signature("s", "apiKey=k&recvWindow=5000&timestamp=1")
    assert signing.ws_api_signature("s", {**params, "signature": "ignored"}) == expected


def test_server_clock_offset_is_taken_at_the_round_trip_midpoint():
    clock = signing.ServerClock()
    assert clock.timestamp(1000) == 1000 and not clock.synced
    assert clock.update(server_ms=5_000, sent_local_ms=1_000, received_local_ms=1_200) == 3_900
    assert clock.timestamp(2_000) == 5_900 and clock.synced


def test_recv_window_rule():
    assert signing.within_window(10_000, 10_500, 5000) is None
    assert "recvWindow" in signing.within_window(4_000, 10_000, 5000)
    assert "ahead" in signing.within_window(11_000, 10_000, 5000)
    assert signing.within_window(10_999, 10_000, 5000) is None
