"""Static request/response vectors for the sans-IO protocol (orch.testing.vectors). xAPI is not HTTP: a
request's ``method`` is ``WS``, its ``path`` the command name and its ``body`` the JSON frame; a response's
body is the reply frame (``status`` is unused)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from orch.models import Instrument, Market
from orch.secret import Secret
from orch.testing.vectors import WireRequest, check_vector, parametrize_vectors

from orch_xtb import protocol

HERE = Path(__file__).parent


def command(vector: Any) -> protocol.Command:
    args = dict(vector.args)
    if vector.call == "login":
        return protocol.login(Secret(vector.context["api_key"]), Secret(vector.context["secret_key"]))
    if vector.call == "trade_transaction":
        return protocol.trade_transaction(protocol.TradeTransInfo(**args))
    if vector.call == "trade_transaction_status":
        return protocol.trade_transaction_status(args["order"])
    if vector.call == "get_margin_level":
        return protocol.get_margin_level()
    if vector.call == "get_tick_prices":
        return protocol.get_tick_prices([args["symbol"]])
    raise AssertionError(f"no adapter for {vector.call}")


def build(vector: Any) -> WireRequest:
    cmd = command(vector)
    return WireRequest("WS", cmd.command, body=json.loads(protocol.encode(cmd), parse_float=Decimal),
                       endpoint="command")


def parse(vector: Any, response: Any) -> Any:
    cmd = command(vector)
    data = protocol.result(protocol.decode(response.body), cmd, retry_after=1.0)
    if vector.call == "trade_transaction_status":
        return protocol.parse_transaction_status(data)
    if vector.call == "get_margin_level":
        return protocol.parse_account(data, account_id="demo-…000", paper=True)
    if vector.call == "get_tick_prices":
        symbol = vector.args["symbol"]
        return protocol.parse_quotations(data, symbol, Instrument(symbol, Market.FOREX))
    return data


@parametrize_vectors(HERE / "vectors")
def test_vector(vector):
    check_vector(vector, build, parse)
