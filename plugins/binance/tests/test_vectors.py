"""Binance's static request/response vectors (tests/vectors/*.json), run through orch.testing.vectors:
``build`` turns a vector into the signed request :mod:`orch_binance.protocol` produces (the file's canary
keys and fixed timestamp), ``parse`` feeds a raw answer through the same decoding the connection uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orch.secret import Secret
from orch.testing.vectors import Vector, WireRequest, WireResponse, check_vector, parametrize_vectors
from orch_binance import filters, protocol, rules
from orch_binance.protocol import Credentials, HttpResponse
from orch_binance.settings import BinanceSettings

HERE = Path(__file__).parent
RULES = filters.parse_symbol(json.loads((HERE / "fixtures" / "exchange_info_btcusdt.json").read_text()))


def native(vector: Vector) -> protocol.HttpRequest:
    if vector.call == "place":
        kind, params = rules.order_params(vector.args["request"], RULES, BinanceSettings())
        return protocol.new_order(params) if kind == "order" else protocol.new_oco(params)
    return getattr(protocol, vector.call)(**vector.args)


def build(vector: Vector) -> WireRequest:
    credentials = Credentials(Secret(vector.context["api_key"]), Secret(vector.context["secret_key"]))
    wire = protocol.prepare(native(vector), credentials, timestamp_ms=int(vector.context["timestamp_ms"]))
    from urllib.parse import parse_qsl

    return WireRequest(wire.method, wire.path, query=parse_qsl(wire.query, keep_blank_values=True),
                       headers=wire.headers, body=wire.body)


def parse(vector: Vector, response: WireResponse) -> Any:
    request = native(vector)
    data = protocol.handle_response(request, HttpResponse(response.status, response.headers, response.body),
                                    now_epoch=1795526400.0)
    if vector.call == "place":
        return protocol.parse_order(data, instrument=vector.args["request"].instrument)
    if vector.call == "account":
        return protocol.parse_account(data, testnet=True)
    return protocol.parse_order(data)


@parametrize_vectors(HERE / "vectors")
def test_vector(vector):
    check_vector(vector, build, parse)
