"""The login and session calls' static request/response vectors (tests/vectors/*.json), run through
orch.testing.vectors: the exact requests :mod:`orch_trade_republic.auth` builds, and what raw answers
parse into (or which orch error they raise)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from orch.testing.vectors import Vector, WireRequest, WireResponse, check_vector, parametrize_vectors
from orch_trade_republic import auth

VECTORS = Path(__file__).parent / "vectors"
WITH_HEADERS = frozenset({"login", "process", "authenticator"})


def native(vector: Vector) -> auth.HttpRequest:
    builder = getattr(auth, vector.call)
    args = dict(vector.args)
    if vector.call in WITH_HEADERS:
        context = vector.context
        args["headers"] = auth.login_headers(auth.device_info(context["device_id"], context["locale"]),
                                             context["locale"])
    return builder(**args)


def build(vector: Vector) -> WireRequest:
    request = native(vector)
    return WireRequest(request.method, request.path, headers=request.headers, body=request.json)


PARSERS = {
    "login": lambda data: auth.parse_login_started(data),
    "process": lambda data: auth.parse_process(data),
    "authenticator": lambda data: auth.parse_process(data),
    "account": lambda data: auth.parse_account(data),
    "refresh": lambda data: data,
}


def parse(vector: Vector, response: WireResponse) -> Any:
    answer = auth.HttpResponse(response.status, tuple(response.headers.items()), response.body)
    if not 200 <= answer.status < 300:
        raise auth.error_for(native(vector), answer, now=vector.context["now"].timestamp())
    return PARSERS[vector.call](auth.decode(answer))


@parametrize_vectors(VECTORS)
def test_vector(vector):
    check_vector(vector, build, parse)


def _device(header: str) -> dict:
    return json.loads(base64.b64decode(header))


def test_the_device_header_carries_the_configured_device_id():
    header = auth.login_headers(auth.device_info("my-device", "de"), "de")
    info = _device(header["X-TR-Device-Info"])
    assert info["stableDeviceId"] == "my-device" and info["preferredLanguages"] == ["de"]
    # Without device_id: a 128-hex id, the same on every run.
    derived = _device(auth.device_info(None))["stableDeviceId"]
    assert len(derived) == 128 and derived == _device(auth.device_info(None))["stableDeviceId"]


def test_request_reprs_hide_the_login_body():
    request = auth.login("+4915550100000", "9876", {})
    assert "9876" not in repr(request) and "+4915550100000" not in repr(request)
