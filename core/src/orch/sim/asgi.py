"""ASGI middleware that applies a :class:`~orch.sim.faults.Faults` plan to any simulator app.

Wrap the simulator's app (the runner does this for every ``kind="asgi"`` spec)::

    app = FaultMiddleware(starlette_app, faults, engine=engine)

For every HTTP request it waits the planned latency and may answer 5xx/429/418 instead of the app. When
the simulator calls ``faults.after_order_accepted()`` and gets True (or raises :class:`DropConnection`),
the response never reaches the client: with ``drop_mode="reset"`` the connection is cut after a response
head that promises a body it never sends, so every HTTP client fails the request with a transport error
(httpx ``RemoteProtocolError``, requests ``ChunkedEncodingError``) exactly as when a connection dies under
a response; with ``"hang"`` the server never answers and the client times out.

For websockets it applies latency and error statuses to the handshake, then each outgoing message may
be swallowed (``ws_silent``) or replaced by a close with ``ws_close_code`` (``ws_drop_*``).

Requests under ``/__sim__`` go to the control endpoint (:mod:`orch.sim.control`) when an engine is given.
``error_response(status, retry_after)`` lets a simulator format error bodies the way its broker does;
it returns ``(headers, body_bytes)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from wsgiref.handlers import format_date_time

import trio

from orch.sim.faults import CONTROL_PREFIX, Faults, RequestFault, StreamState, _current, _Exchange

__all__ = ["DropConnection", "ErrorResponder", "FaultMiddleware", "default_error_response"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorResponder = Callable[[int, "float | None"], "tuple[list[tuple[bytes, bytes]], bytes]"]


class DropConnection(Exception):
    """Raise inside a simulator handler to cut the connection instead of answering."""


class _Silenced(Exception):
    """Unwinds the app once its output has been cut off."""


def default_error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    messages = {429: "rate limit exceeded", 418: "banned for exceeding rate limits",
                500: "internal server error", 502: "bad gateway", 503: "service unavailable",
                504: "gateway timeout"}
    body = json.dumps({"code": status, "message": messages.get(status, "simulated error")}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None and status in (429, 418, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, body


class FaultMiddleware:
    """See the module docstring. ``engine`` enables the ``/__sim__`` control endpoint."""

    def __init__(self, app: ASGIApp, faults: Faults, *, engine: Any = None,
                 error_response: ErrorResponder | None = None) -> None:
        self.app = app
        self.faults = faults
        self.error_response = error_response or default_error_response
        # The Date header follows the simulated clock, as a broker's Date agrees with the timestamps in
        # its bodies (clients match orders by time against it); the runner turns hypercorn's own off.
        self._epoch: Callable[[], float] = (lambda: engine.now().timestamp()) if engine is not None else time.time
        self._control: ASGIApp | None = None
        if engine is not None:
            from orch.sim.control import control_app

            self._control = control_app(engine, faults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        path = scope.get("path", "")
        if kind in ("http", "websocket") and path.startswith(CONTROL_PREFIX) and self._control is not None:
            await self._control(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -------------------------------------------------------------------------------- HTTP

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = self.faults.before_request(scope.get("method", "GET"), scope.get("path", ""))
        if decision.delay:
            await trio.sleep(decision.delay)
        if decision.status is not None:
            await self._send_error(send, decision)
            return
        exchange = _Exchange(kind="http")
        token = _current.set(exchange)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exchange.drop:
                raise _Silenced
            if message["type"] == "http.response.start":
                started = True
                message = self._dated(message)
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except DropConnection:
            exchange.drop = True
        except Exception:
            if not exchange.drop:
                raise
        finally:
            _current.reset(token)
        if exchange.drop:
            await self._cut(receive, send, started)

    async def _send_error(self, send: Send, decision: RequestFault) -> None:
        assert decision.status is not None
        headers, body = self.error_response(decision.status, decision.retry_after)
        await send(self._dated({"type": "http.response.start", "status": decision.status, "headers": headers}))
        await send({"type": "http.response.body", "body": body})

    def _dated(self, message: Message) -> Message:
        headers = list(message.get("headers") or [])
        if not any(name.lower() == b"date" for name, _ in headers):
            headers.append((b"date", format_date_time(self._epoch()).encode("ascii")))
        return {**message, "headers": headers}

    async def _cut(self, receive: Receive, send: Send, started: bool) -> None:
        if self.faults.plan.drop_mode == "hang":
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if not started:
            # A head promising a body that never comes: the server closes the connection mid-response.
            await send(self._dated({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", b"4096")]}))
        # Returning without finishing the body makes the server close the connection.

    # -------------------------------------------------------------------------------- websocket

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = self.faults.before_request("GET", scope.get("path", ""))
        if decision.delay:
            await trio.sleep(decision.delay)
        if decision.status is not None:
            await self._refuse_handshake(scope, receive, send, decision)
            return
        exchange = _Exchange(kind="websocket")
        state = StreamState()
        token = _current.set(exchange)
        plan_code = self.faults.plan.ws_close_code

        async def guarded_send(message: Message) -> None:
            if state.closed:
                raise _Silenced
            if message["type"] == "websocket.send":
                if exchange.drop and self.faults.plan.drop_mode == "hang":
                    # The answer to the accepted order never comes; the socket stays open.
                    exchange.drop = False
                    return
                action = "drop" if exchange.drop else self.faults.stream_message(state)
                if action == "silence":
                    return
                if action == "drop":
                    state.closed = True
                    await send({"type": "websocket.close", "code": plan_code})
                    raise _Silenced
                junk = self.faults.garbage_before(state)
                if junk is not None:
                    key = "bytes" if isinstance(junk, bytes) else "text"
                    await send({"type": "websocket.send", key: junk})
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except DropConnection:
            if not state.closed:
                state.closed = True
                await send({"type": "websocket.close", "code": plan_code})
        except Exception:
            if not (state.closed or exchange.drop):
                raise
        finally:
            _current.reset(token)
        if exchange.drop and not state.closed:
            await send({"type": "websocket.close", "code": plan_code})

    async def _refuse_handshake(self, scope: Scope, receive: Receive, send: Send,
                                decision: RequestFault) -> None:
        assert decision.status is not None
        message = await receive()  # websocket.connect
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            headers, body = self.error_response(decision.status, decision.retry_after)
            await send({"type": "websocket.http.response.start", "status": decision.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1013})
