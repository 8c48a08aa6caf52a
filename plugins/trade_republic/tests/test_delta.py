"""Delta (``D``) decoding on recorded message sequences, and the simulator's encoder against it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import ProtocolError
from orch_trade_republic.delta import DeltaError, apply_delta, make_delta
from orch_trade_republic.frames import Answer, WsSession

# Recorded (protocol notes): a ticker's A payload, then a D against it.
PREV = ('{"bid":{"time":1611928659702,"price":13.873,"size":3615},"ask":{"time":1611928659702,"price":13.915,'
        '"size":3615},"last":{"time":1611928659702,"price":13.873,"size":3615},"pre":{"time":1611855712255,'
        '"price":13.756,"size":0},"open":{"time":1611901151053,"price":13.743,"size":0},"qualityId":"realtime",'
        '"leverage":null,"delta":null}')
DELTA = "\t".join("=23 -5 +64895 =14 -1 +5 =36 -5 +64895 =14 -1 +3 =37 -5 +64895 =14 -1 +5 =173".split())
RESULT = ('{"bid":{"time":1611928664895,"price":13.875,"size":3615},"ask":{"time":1611928664895,"price":13.913,'
          '"size":3615},"last":{"time":1611928664895,"price":13.875,"size":3615},"pre":{"time":1611855712255,'
          '"price":13.756,"size":0},"open":{"time":1611901151053,"price":13.743,"size":0},"qualityId":"realtime",'
          '"leverage":null,"delta":null}')


def test_recorded_delta_rebuilds_the_recorded_result():
    assert len(PREV) == 329
    assert apply_delta(PREV, DELTA) == RESULT


def test_a_sequence_of_frames_keeps_each_subscriptions_previous_text():
    session = WsSession()
    assert session.receive("connected").__class__.__name__ == "Connected"
    ticker, _ = session.subscribe({"type": "ticker", "id": "DE000BASF111.LSX"})
    other, _ = session.subscribe({"type": "ticker", "id": "US0378331005.LSX"})
    first = session.receive(f"{ticker} A {PREV}")
    session.receive(f"{other} A " + '{"bid":{"price":"1"}}')
    second = session.receive(f"{ticker} D {DELTA}")
    assert isinstance(second, Answer) and second.delta and second.text == RESULT
    assert second.data["bid"]["price"] == Decimal("13.875") and first.data["bid"]["price"] == Decimal("13.873")
    # The next delta applies to the rebuilt text, not to the first answer.
    third = session.receive(f"{ticker} D =15\t-13\t+1611928670000\t=301")
    assert third.data["bid"]["time"] == 1611928670000
    assert third.data["ask"]["price"] == Decimal("13.913")
    # The other subscription's previous text was untouched.
    assert session.receive(f"{other} D =16\t-3\t+%222%22\t=2").data == {"bid": {"price": "2"}}


def test_insertions_are_form_url_decoded():
    assert apply_delta('{"n":"a"}', '=6\t-1\t+B+%26+C%22%7D') == '{"n":"B & C"}'


@pytest.mark.parametrize("delta", ["=400", "=10\t-400", "*3", "=x", "-"])
def test_a_delta_that_does_not_fit_is_refused(delta):
    with pytest.raises(DeltaError):
        apply_delta(PREV, delta)


def test_a_bad_delta_on_the_wire_is_one_protocol_error():
    session = WsSession()
    session.receive("connected")
    sub, _ = session.subscribe({"type": "ticker", "id": "X"})
    with pytest.raises(ProtocolError, match="delta for subscription"):
        session.receive(f"{sub} D =3")
    session.receive(f"{sub} A {{}}")
    with pytest.raises(ProtocolError, match="runs past the end"):
        session.receive(f"{sub} D =30")


def test_a_delta_after_unsub_is_ignored():
    session = WsSession()
    session.receive("connected")
    sub, _ = session.subscribe({"type": "ticker", "id": "X"})
    session.receive(f"{sub} A {{}}")
    session.unsubscribe(sub)
    assert session.receive(f"{sub} D =2").__class__.__name__ == "Ignored"


json_text = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                     max_size=3),
                         max_leaves=8).map(lambda v: json.dumps(v, separators=(",", ":")))


@given(json_text, json_text)
def test_the_simulators_deltas_decode_exactly(before, after):
    assert apply_delta(before, make_delta(before, after)) == after
