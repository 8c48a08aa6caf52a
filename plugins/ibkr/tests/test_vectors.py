"""IBKR's static vectors (tests/vectors/*.json) through orch.testing.vectors: a request is a TWS message
(``method`` TWS, ``path`` its name, ``body`` its fields); an answer is TWS messages in ``a|b|`` notation,
one per line, fed through the connection's own message handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orch.context import ConnectContext
from orch.testing.vectors import Vector, WireRequest, WireResponse, parametrize_vectors

from orch_ibkr import protocol, symbols
from orch_ibkr.connection import IbkrConnection
from orch_ibkr.protocol import Contract
from orch_ibkr.settings import IbkrSettings

VECTORS = Path(__file__).parent / "vectors"


def build(vector: Vector) -> WireRequest:
    args = vector.args
    contract = Contract(**args["contract"])
    order = symbols.to_ib_order(args["request"])
    return WireRequest("TWS", "placeOrder", body=protocol.place_order_fields(args["order_id"], contract, order))


def _messages(response: WireResponse) -> list[list[str]]:
    return [line[:-1].split("|") for line in response.body.decode().splitlines() if line]


def parse(vector: Vector, response: WireResponse) -> Any:
    if vector.call == "error":
        [fields] = _messages(response)
        raise protocol.error_for(protocol.parse_error(fields))
    conn = IbkrConnection(IbkrSettings(), ConnectContext(broker="ibkr", nursery=None, limiter=None))
    conn.server_version = protocol.MAX_VERSION
    for fields in _messages(response):
        conn._handle(fields)
    return conn.orders[vector.args["order_id"]].to_order("ibkr")


@parametrize_vectors(VECTORS)
def test_vector(vector: Vector) -> None:
    from orch.testing.vectors import check_vector

    check_vector(vector, build=build, parse=parse)

