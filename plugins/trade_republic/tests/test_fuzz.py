"""Fuzzing Trade Republic's sans-IO side: the websocket subscription frames (``<id> A|D|C|E <payload>``),
delta decoding, every topic parser and the login/session answers. Damaged recorded answers, random
frames and random bytes give a result or an orch error with one readable line, never a
KeyError/ValueError/OverflowError traceback; a delta that does not fit is refused, never rebuilt from
a wrong base.

Seeds are the recorded login vectors (tests/vectors/login.json) and topic answers in the shapes the
simulator serves (its catalogue) and the protocol notes give.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orch.errors import OrchError
from orch.models import Instrument, Market, Order, Quote
from orch.testing.fuzz import fuzz_settings, garbled, json_values, mutated, only_orch_errors
from orch_trade_republic import auth, frames, protocol
from orch_trade_republic.delta import DeltaError, apply_delta, make_delta
from orch_trade_republic.frames import Answer, Desynced, WsSession
from orch_trade_republic.sim import catalogue

HERE = Path(__file__).parent
APPLE = Instrument("US0378331005", Market.US_STOCKS, currency="EUR", exchange="LSX")


def _login_vectors() -> list[dict[str, Any]]:
    return json.loads((HERE / "vectors" / "login.json").read_text(), parse_float=Decimal)["vectors"]


VECTORS = _login_vectors()
LOGIN_BODIES = [v["response"]["body"] for v in VECTORS if isinstance(v["response"].get("body"), dict)]

TICKER = {"bid": {"time": 1_795_000_000_000, "price": "189.10", "size": 500},
          "ask": {"time": 1_795_000_000_000, "price": "189.20", "size": 400},
          "last": {"time": 1_794_999_999_000, "price": "189.15"}, "qualityId": "realtime"}
INSTRUMENT = catalogue.instrument_body(catalogue.BY_ISIN["US0378331005"])
SEARCH = {"results": catalogue.search("apple", 5), "resultCount": 1}
PORTFOLIO = {"categories": [{"categoryType": "stocksAndETFs", "positions": [
    {"isin": "US0378331005", "averageBuyIn": "180.5", "netSize": "3", "instrumentType": "stock", "name": "Apple"}]}]}
CASH = [{"accountNumber": "DE001", "currencyId": "EUR", "amount": "1000.50"}]
ORDER = {"id": "ord-1", "instrumentId": "US0378331005", "exchangeId": "LSX", "type": "buy", "mode": "limit",
         "size": "2", "limit": "185", "expiry": {"type": "gfd"}, "status": "open", "executedSize": "0",
         "averageExecutionPrice": None, "createdAt": 1_795_000_000_000, "updatedAt": 1_795_000_000_000,
         "clientProcessId": "6f1d7c52-2a7e-4f0e-9a43-0b8f3c1e9d21"}
ORDERS = {"orders": [ORDER, {**ORDER, "id": "ord-2", "status": "executed", "executedSize": "2",
                             "averageExecutionPrice": "184.9", "mode": "market"}]}


def payloads(*seeds: Any) -> st.SearchStrategy[Any]:
    return st.one_of(*(mutated(seed) for seed in seeds), json_values())


# ------------------------------------------------------------------------------------------ frames

TEXT = json.dumps(TICKER)
NEXT = json.dumps({**TICKER, "bid": {**TICKER["bid"], "price": "189.11"}})
VALID_FRAMES = ["connected", f"1 A {TEXT}", f"1 D {make_delta(TEXT, NEXT)}", "1 C", '2 E {"errors":[{"errorCode":'
                '"BAD_SUBSCRIPTION_TYPE","errorMessage":"x"}]}', "echo 1795000000000", "7 A {}"]

FRAME_JUNK = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "1", "1 ", "1 A", "1 A {", "1 A [[[[", "1 A " + "[" * 5000, "1 D", "1 D =999999",
                     "1 D -5\t+x", "1 D ?3", "1 D =1\t=-1", "1 X {}", "² A {}", "99999999999999999999 A {}",
                     "1 E", "1 E []", '1 E {"errors":"x"}', '1 E {"errors":[1]}', "1 A NaN", "1 A 1E+999999",
                     "1 A null", "connected", "echo"]),
    st.sampled_from(VALID_FRAMES).flatmap(lambda f: garbled(f.encode())),
)


@fuzz_settings(300)
@given(frames_=st.lists(st.one_of(st.sampled_from(VALID_FRAMES), FRAME_JUNK), max_size=6))
def test_ws_frames_raise_only_orch_errors(frames_: list[str | bytes]) -> None:
    session = WsSession()
    session.receive("connected")
    session.subscribe(protocol.ticker("US0378331005", "LSX"))
    session.subscribe(protocol.cash())
    for frame in frames_:
        event = only_orch_errors(session.receive, frame)
        if isinstance(event, Answer):
            assert isinstance(event.text, str)
    # The session still takes the next valid frames afterwards.
    session.receive(f"3 A {TEXT}")


@fuzz_settings(60)
@given(first=st.one_of(st.text(max_size=20), st.binary(max_size=20)))
def test_handshake_answer_raises_only_orch_errors(first: str | bytes) -> None:
    only_orch_errors(WsSession().receive, first)


@fuzz_settings(150)
@given(previous=st.text(max_size=40), delta=st.one_of(
    st.text(alphabet=st.sampled_from("=-+?0123456789\tabc%2B "), max_size=20), st.text(max_size=20)))
def test_apply_delta_raises_only_delta_errors(previous: str, delta: str) -> None:
    try:
        result = apply_delta(previous, delta)
    except DeltaError as exc:
        assert str(exc)
    else:
        assert isinstance(result, str)


@fuzz_settings(100)
@given(old=st.text(max_size=30), new=st.text(max_size=30))
def test_make_delta_round_trips(old: str, new: str) -> None:
    assert apply_delta(old, make_delta(old, new)) == new


def test_a_delta_against_a_broken_base_is_refused_not_rebuilt() -> None:
    session = WsSession()
    session.receive("connected")
    session.subscribe(protocol.ticker("US0378331005", "LSX"))
    session.receive(f"1 A {TEXT}")
    error = only_orch_errors(session.receive, "1 A {not json")
    assert isinstance(error, OrchError)
    # The server's next delta was computed against the broken text: it must not be applied to the old one.
    error = only_orch_errors(session.receive, f"1 D {make_delta(TEXT, NEXT)}")
    assert isinstance(error, Desynced)
    assert isinstance(session.receive(f"1 A {NEXT}"), Answer)


# ------------------------------------------------------------------------------------------ topics


@fuzz_settings(150)
@given(data=payloads(TICKER))
def test_ticker(data: Any) -> None:
    quote = only_orch_errors(protocol.parse_ticker, data, APPLE)
    assert isinstance(quote, (Quote, OrchError))


@fuzz_settings(100)
@given(data=payloads(INSTRUMENT))
def test_instrument(data: Any) -> None:
    info = only_orch_errors(protocol.parse_instrument, data)
    if isinstance(info, protocol.InstrumentInfo):
        info.active_venues(), info.symbol(), info.known_as("AAPL")


@fuzz_settings(100)
@given(search=payloads(SEARCH), portfolio=payloads(PORTFOLIO), cash=payloads(CASH))
def test_search_portfolio_cash(search: Any, portfolio: Any, cash: Any) -> None:
    only_orch_errors(protocol.parse_search, search)
    only_orch_errors(protocol.parse_portfolio, portfolio)
    only_orch_errors(protocol.parse_cash, cash)


@fuzz_settings(150)
@given(data=payloads(ORDERS, ORDER))
def test_orders(data: Any) -> None:
    items = only_orch_errors(protocol.order_items, data)
    for item in items if isinstance(items, list) else [data]:
        order = only_orch_errors(protocol.parse_order, item, APPLE, client_order_id="orch-1")
        assert isinstance(order, (Order, OrchError))


@fuzz_settings(60)
@given(errors=json_values(), topic=st.sampled_from(["ticker", "simpleCreateOrder", "cancelOrder", "cash"]))
def test_error_frames_always_map_to_an_orch_error(errors: Any, topic: str) -> None:
    session = WsSession()
    session.receive("connected")
    session.subscribe({"type": topic})
    event = only_orch_errors(session.receive, f"1 E {json.dumps({'errors': errors}, default=str)}")
    if isinstance(event, frames.Failed):
        assert isinstance(protocol.error_for(event, topic), OrchError)


# ------------------------------------------------------------------------------------------ login and session


@fuzz_settings(150)
@given(body=st.one_of(payloads(*LOGIN_BODIES).map(lambda v: json.dumps(v, default=str).encode()),
                      *(garbled(json.dumps(b, default=str).encode()) for b in LOGIN_BODIES[:3])),
       status=st.sampled_from([200, 400, 401, 403, 405, 429, 500, 503]), login=st.booleans(),
       retry=st.sampled_from([None, "5", "-1", "nan", "inf", "1e999", "x"]))
def test_login_and_session_answers(body: bytes, status: int, login: bool, retry: str | None) -> None:
    headers = (("server", "awselb/2.0"),) + ((("retry-after", retry),) if retry is not None else ())
    response = auth.HttpResponse(status, headers, body)
    data = only_orch_errors(auth.decode, response)
    if not isinstance(data, OrchError):
        only_orch_errors(auth.parse_login_started, data)
        only_orch_errors(auth.parse_process, data)
        only_orch_errors(auth.parse_account, data)
    request = auth.HttpRequest("POST", "/api/v1/auth/web/login", login=login)
    error = auth.error_for(request, response, now=1_795_000_000.0)
    assert isinstance(error, OrchError) and str(error)
    retry_after = getattr(error, "retry_after", None)
    assert retry_after is None or 0 <= retry_after < float("inf")


@fuzz_settings(60)
@given(token=st.one_of(st.text(max_size=40), st.lists(st.text(max_size=12), min_size=3, max_size=3).map(".".join)))
def test_session_tokens(token: str) -> None:
    assert isinstance(auth.jwt_claims(token), dict)
    assert auth.session_ttl(token) > 0
