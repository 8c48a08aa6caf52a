"""Fuzzing Alpaca's sans-IO parsers and stream decoders: damaged recorded payloads and random bytes give a
result or an orch error with one readable line, never a KeyError/TypeError/... traceback.

Seeds are the recorded vectors (tests/vectors) and fixtures (tests/fixtures); orch.testing.fuzz mutates them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import ProtocolError
from orch.models import Instrument, Market
from orch.secret import Secret
from orch.testing.fuzz import fuzz_parser, fuzz_settings, garbled, json_values, mutated, only_orch_errors
from orch.testing.vectors import load_vectors
from orch_alpaca import protocol, streams, symbols
from orch_alpaca.protocol import Credentials, HttpResponse

HERE = Path(__file__).parent
AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTC/USD", Market.CRYPTO, currency="USD")
CREDENTIALS = Credentials(Secret("PKFUZZKEY0000000001"), Secret("fuzz-secret-not-real"))
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC).timestamp()


def _seeds() -> dict[str, list[Any]]:
    by_call: dict[str, list[Any]] = defaultdict(list)
    for vector in load_vectors(HERE / "vectors"):
        if vector.response is not None and vector.response.body and vector.response.status < 300:
            by_call[vector.call].append(json.loads(vector.response.body, parse_float=Decimal))
    for path in sorted((HERE / "fixtures").glob("*.json")):
        by_call[path.stem].append(json.loads(path.read_text(), parse_float=Decimal))
    return by_call


SEEDS = _seeds()


def seeds(*calls: str) -> list[Any]:
    found = [seed for call in calls for seed in SEEDS.get(call, [])]
    assert found, f"no recorded payload for {calls}"
    return found


def _one_of_seeds(*calls: str) -> st.SearchStrategy[Any]:
    return st.one_of(*(mutated(seed) for seed in seeds(*calls)), json_values())


ORDER = ("create_order", "get_order", "replace_order", "order_bracket_nested", "order_crypto_partial",
         "order_notional_accepted")

# Every response parser of orch_alpaca.protocol, with the recorded answers it reads.
PARSERS = {
    "parse_order": (lambda d: protocol.parse_order(d), ORDER),
    "parse_order(instrument)": (lambda d: protocol.parse_order(d, instrument=AAPL), ORDER),
    "parse_orders": (protocol.parse_orders, ("list_orders", "orders_list")),
    "parse_account": (lambda d: protocol.parse_account(d, paper=True), ("get_account", "account")),
    "parse_position": (protocol.parse_position, ("positions",)),
    "parse_positions": (protocol.parse_positions, ("list_positions", "positions")),
    "quote_from_record": (lambda d: protocol.quote_from_record(d, AAPL),
                          ("latest_stock_quotes", "latest_crypto_quotes")),
    "parse_latest_quote": (lambda d: protocol.parse_latest_quote(d, "AAPL", AAPL),
                           ("latest_stock_quotes", "latest_stock_quotes_closed")),
    "parse_latest_quote(crypto)": (lambda d: protocol.parse_latest_quote(d, "BTC/USD", BTC),
                                   ("latest_crypto_quotes",)),
    "parse_latest_trade_price": (lambda d: protocol.parse_latest_trade_price(d, "AAPL"),
                                 ("latest_stock_trades",)),
    "parse_clock": (protocol.parse_clock, ("get_clock", "clock")),
    "parse_asset": (protocol.parse_asset, ("get_asset", "asset_btc")),
    "parse_fill_activity": (protocol.parse_fill_activity, ("activities_fill",)),
    "parse_fill_activities": (protocol.parse_fill_activities, ("list_fill_activities", "activities_fill")),
    "parse_trade_update": (lambda d: streams.parse_trade_update(d.get("data") if isinstance(d, dict) else d),
                           ("trade_update_fill",)),
    "market_error": (lambda d: streams.market_error(d if isinstance(d, dict) else {"code": d}),
                     ("trade_update_fill",)),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_orch_errors(name):
    parser, calls = PARSERS[name]
    candidates = []
    for seed in seeds(*calls):
        candidates.append(seed)
        if isinstance(seed, list):  # a list answer also seeds its element parser
            candidates += seed[:2]
        if isinstance(seed, dict) and name.startswith("quote_from_record"):
            candidates += [r for v in seed.values() if isinstance(v, dict) for r in v.values()]
    fuzz_parser(parser, candidates)


def _market_frames() -> list[list[dict[str, Any]]]:
    return [
        [{"T": "success", "msg": "connected"}],
        [{"T": "success", "msg": "authenticated"}],
        [{"T": "subscription", "trades": ["AAPL"], "quotes": ["AAPL", "BTC/USD"], "bars": []}],
        [{"T": "q", "S": "AAPL", "bx": "V", "bp": Decimal("189.2"), "bs": 2, "ax": "V", "ap": Decimal("189.25"),
          "as": 3, "t": "2026-11-24T15:30:00.123Z", "c": ["R"], "z": "C"},
         {"T": "t", "S": "AAPL", "i": 96921, "x": "D", "p": Decimal("126.55"), "s": 1,
          "t": "2026-11-24T15:30:01Z", "c": ["@"], "z": "C"}],
        [{"T": "t", "S": "BTC/USD", "p": Decimal("47990.5"), "s": Decimal("0.01"), "t": "2026-11-24T15:30:02Z"}],
        [{"T": "error", "code": 406, "msg": "connection limit exceeded"}],
    ]


def _streaming_market_session() -> streams.MarketDataSession:
    session = streams.MarketDataSession(CREDENTIALS, {"AAPL": AAPL, "BTC/USD": BTC})
    for frame in _market_frames()[:3]:
        session.receive(json.dumps(frame, default=str))
    assert session.ready
    # One quote already held, so a trade updates it (the attrs.evolve path).
    session.receive(json.dumps(_market_frames()[3], default=str))
    return session


def _encode(frame: Any, as_msgpack: bool) -> str | bytes:
    if as_msgpack:
        return msgpack.packb(frame, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))
    return json.dumps(frame, default=str)


@fuzz_settings(150)
@given(st.data(), st.booleans())
def test_market_data_session_survives_damaged_frames(data, as_msgpack):
    """A session streaming quotes gets a damaged message: a Quote, nothing, or an orch error."""
    frame = data.draw(st.one_of(*(mutated(f) for f in _market_frames())))
    session = _streaming_market_session()
    try:
        encoded = _encode(frame, as_msgpack)
    except (ValueError, TypeError, OverflowError):  # not encodable (a huge int in msgpack): nothing to send
        return
    only_orch_errors(session.receive, encoded)


def _trade_frames() -> list[dict[str, Any]]:
    return [
        {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}},
        {"stream": "listening", "data": {"streams": ["trade_updates"]}},
        *seeds("trade_update_fill"),
    ]


@fuzz_settings(100)
@given(st.data())
def test_trade_updates_session_survives_damaged_frames(data):
    frame = data.draw(st.one_of(*(mutated(f) for f in _trade_frames())))
    session = streams.TradeUpdatesSession(CREDENTIALS)
    session.receive(json.dumps(_trade_frames()[0]))
    session.receive(json.dumps(_trade_frames()[1]))
    only_orch_errors(session.receive, json.dumps(frame, default=str))


RAW_FRAMES = [json.dumps(f, default=str).encode() for f in _market_frames()] + [
    msgpack.packb(f, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)) for f in _market_frames()]


@fuzz_settings(150)
@given(st.one_of(*(garbled(raw) for raw in RAW_FRAMES)))
def test_frame_bytes_raise_only_protocol_errors(raw):
    """Truncated JSON, invalid UTF-8 and msgpack garbage: decode_frame and both sessions."""
    only_orch_errors(streams.decode_frame, raw)
    only_orch_errors(_streaming_market_session().receive, raw)
    session = streams.TradeUpdatesSession(CREDENTIALS)
    only_orch_errors(session.receive, raw)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return
    only_orch_errors(streams.decode_frame, text)


def test_deeply_nested_frames_are_protocol_errors():
    for frame in ("[" * 100_000, b"[" * 100_000, b"\x91" * 100_000):
        with pytest.raises(ProtocolError):
            streams.decode_frame(frame)


_BODIES = [json.dumps(s, default=str).encode() for call in ("get_order", "list_positions", "get_account")
           for s in seeds(call)] + [
    b'{"code": 1, "message": "two\\nlines"}', b"<html>\n<body>502 Bad Gateway</body>\n</html>"]


@fuzz_settings(100)
@given(st.one_of(*(garbled(b) for b in _BODIES)), st.sampled_from([200, 400, 403, 404, 422, 429, 500]),
       st.dictionaries(st.sampled_from(["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                                        "retry-after", "date"]),
                       st.one_of(st.text(max_size=30), st.sampled_from(["-5", "99999999999999999999", "1e3",
                                                                        "Tue, 24 Nov 2026 15:30:00 GMT",
                                                                        "Mon, 99 Foo 0000 99:99:99 XYZ"]))))
def test_http_answers_raise_only_orch_errors(body, status, headers):
    """handle_response on any body/status/headers, and the header parsers the limiter reads."""
    for request in (protocol.get_order("abc"), protocol.create_order(
            _order_request(), "AAPL"), protocol.latest_stock_quotes(["AAPL"], feed="iex")):
        outcome = only_orch_errors(protocol.handle_response, request, HttpResponse(status, headers, body), now=NOW)
        if status >= 300:
            assert isinstance(outcome, Exception) or outcome is None
    only_orch_errors(protocol.parse_rate_limit, headers, now=NOW)
    only_orch_errors(protocol.retry_after, headers, now=NOW)


@fuzz_settings(100)
@given(st.text(max_size=20), st.one_of(st.none(), st.sampled_from(["crypto", "us_equity", "us_option"]),
                                       st.text(max_size=8)))
def test_symbols_from_alpaca(symbol, asset_class):
    only_orch_errors(symbols.from_alpaca, symbol, asset_class)


def _order_request():
    from orch.models import OrderRequest, OrderType, Side

    return OrderRequest(instrument=AAPL, side=Side.BUY, qty=Decimal(1), type=OrderType.MARKET)


class _Limiter:
    async def acquire(self, cost: int = 1, *, order: bool = False) -> None:
        pass

    def observe(self, **_: Any) -> None:
        pass

    def penalize(self, retry_after: float | None = None) -> None:
        pass


@pytest.mark.parametrize("body", [b"\xff\xfe<html>gateway", b'{"id": "x", "cash": ', b"[" * 50_000])
async def test_transport_turns_a_garbage_body_into_a_protocol_error(body):
    """Through the real httpx session: a 200 whose body is not JSON is a ProtocolError, not a crash."""
    from orch_alpaca.transport import HttpSession

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    session = HttpSession(trading_url="https://paper-api.alpaca.markets", data_url="https://data.alpaca.markets",
                          credentials=CREDENTIALS, limiter=_Limiter(), timeout=5,
                          transport=httpx.MockTransport(answer))
    with pytest.raises(ProtocolError, match="not JSON"):
        await session.call(protocol.get_account())


@pytest.mark.parametrize("body", [b'{"qty": 1E+999999}', b'{"qty": NaN}', b'[{"T": "q", "bp": -1e-999999}]'])
def test_hostile_numbers_are_refused_at_decode(body):
    """int(Decimal("1E+999999")) alone takes a minute: such numbers never get past the decoder."""
    with pytest.raises(ProtocolError):
        protocol.decode_json(body)
    with pytest.raises(ProtocolError):
        streams.decode_frame(body)
