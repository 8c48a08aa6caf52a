"""Fault injection: the misbehaviour a broker simulator shows on demand.

A :class:`Faults` object holds a :class:`FaultPlan` that tests (or the ``/__sim__/faults`` control
endpoint, or ``orch sim``) change while the simulator runs, a seeded RNG so that a given plan misbehaves
the same way on every run, and counters of everything injected. Decisions are pure (no I/O): the ASGI
middleware in :mod:`orch.sim.asgi` applies them to every HTTP request and websocket message; a TCP
simulator calls the same methods itself.

Faults on offer:

* latency (``latency`` + uniform ``latency_jitter`` seconds) before a request is handled;
* server errors: ``error_burst`` (the next N requests) or ``error_rate`` (probability), status
  ``error_status`` (503 by default);
* rate limiting: ``rate_limit_burst`` / ``rate_limit_rate`` with status ``rate_limit_status`` (429, or
  418 for Binance's ban) and ``retry_after`` seconds;
* "accepted but the answer is lost": ``drop_after_accept_burst`` / ``drop_after_accept_rate``. The
  simulator places the order at the engine, then asks :meth:`Faults.after_order_accepted`; if True the
  client never receives the response (``drop_mode`` "reset" cuts the connection, "hang" never answers);
* websocket trouble: ``ws_drop_burst`` / ``ws_drop_rate`` (an outgoing message closes its connection
  instead), ``ws_drop_after`` (every connection closes after N messages), ``ws_silent`` (streams stop
  sending but stay open);
* garbage on streams: with ``ws_garbage_every`` N, every Nth message a stream connection sends (once it
  has sent ``ws_garbage_after`` messages, so a handshake still goes through) is preceded by the next frame
  of ``ws_garbage`` (text, or bytes for a binary frame), in turn.

HTTP faults apply to paths starting with one of ``paths`` (all paths when empty) and never to
``exclude_paths`` or the ``/__sim__`` control endpoint.

Example::

    faults = Faults(seed=1)
    faults.set(rate_limit_burst=3, retry_after=2)      # the next three requests get 429 Retry-After: 2
    faults.set(drop_after_accept_burst=1)              # the next accepted order loses its response
    faults.counters["http_429"]                        # how many 429s were sent
    faults.reset()                                     # back to a well-behaved simulator
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections import Counter
from typing import Any

import attrs
from attrs import define, frozen

__all__ = ["FaultPlan", "Faults", "RequestFault", "StreamState", "current_exchange"]

CONTROL_PREFIX = "/__sim__"


def _probability(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} is a probability between 0 and 1, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute, value: float | int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _drop_mode(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in ("reset", "hang"):
        raise ValueError(f"drop_mode must be 'reset' or 'hang', got {value!r}")


@frozen(kw_only=True)
class FaultPlan:
    """What to inject. All zero / False by default: a well-behaved simulator."""

    latency: float = attrs.field(default=0.0, validator=_non_negative)
    latency_jitter: float = attrs.field(default=0.0, validator=_non_negative)
    error_rate: float = attrs.field(default=0.0, validator=_probability)
    error_burst: int = attrs.field(default=0, validator=_non_negative)
    error_status: int = 503
    rate_limit_rate: float = attrs.field(default=0.0, validator=_probability)
    rate_limit_burst: int = attrs.field(default=0, validator=_non_negative)
    rate_limit_status: int = 429
    retry_after: float | None = attrs.field(default=1.0, validator=_non_negative)
    drop_after_accept_rate: float = attrs.field(default=0.0, validator=_probability)
    drop_after_accept_burst: int = attrs.field(default=0, validator=_non_negative)
    drop_mode: str = attrs.field(default="reset", validator=_drop_mode)
    ws_drop_rate: float = attrs.field(default=0.0, validator=_probability)
    ws_drop_burst: int = attrs.field(default=0, validator=_non_negative)
    ws_drop_after: int | None = attrs.field(default=None, validator=_non_negative)
    ws_silent: bool = False
    ws_close_code: int = 1011
    ws_garbage: tuple[str | bytes, ...] = attrs.field(default=(), converter=tuple)
    ws_garbage_every: int = attrs.field(default=0, validator=_non_negative)
    ws_garbage_after: int = attrs.field(default=0, validator=_non_negative)
    paths: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    exclude_paths: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return repr(value) if isinstance(value, bytes) else value

        return {k: [plain(x) for x in v] if isinstance(v, tuple) else v for k, v in attrs.asdict(self).items()}


@frozen
class RequestFault:
    """What to do with one request: wait ``delay`` seconds, then answer ``status`` (None: handle it
    normally). ``kind`` is ``"5xx"``, ``"429"`` or ``"418"`` when a status is set."""

    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    kind: str | None = None


@define
class StreamState:
    """Per-connection bookkeeping for websocket (or TCP stream) faults."""

    sent: int = 0
    closed: bool = False


@define
class _Exchange:
    """The HTTP request or websocket connection being handled (see :func:`current_exchange`)."""

    kind: str
    drop: bool = False


_current: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar("orch_sim_exchange", default=None)


def current_exchange() -> _Exchange | None:
    """The exchange the ASGI fault middleware is handling in this task, if any."""
    return _current.get()


class Faults:
    """A fault plan, its seeded RNG and counters. Thread-safe."""

    def __init__(self, seed: int = 0, plan: FaultPlan | None = None) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._plan = plan or FaultPlan()
        self._bursts = self._burst_counts(self._plan)
        self.counters: Counter[str] = Counter()

    # -------------------------------------------------------------------------------- the plan

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set(self, **changes: Any) -> FaultPlan:
        """Change some fields of the plan (others keep their values). Bursts restart from the new
        values. Unknown names raise ValueError listing the valid ones."""
        valid = {a.name for a in attrs.fields(FaultPlan)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        with self._lock:
            self._plan = attrs.evolve(self._plan, **changes)
            for name in ("error_burst", "rate_limit_burst", "drop_after_accept_burst", "ws_drop_burst"):
                if name in changes:
                    self._bursts[name] = changes[name]
            return self._plan

    def reset(self, *, counters: bool = False) -> None:
        """Back to no faults (and the RNG to its seed); ``counters=True`` clears the counters too."""
        with self._lock:
            self._plan = FaultPlan()
            self._bursts = self._burst_counts(self._plan)
            self._rng = random.Random(self._seed)
            if counters:
                self.counters.clear()

    @staticmethod
    def _burst_counts(plan: FaultPlan) -> dict[str, int]:
        return {"error_burst": plan.error_burst, "rate_limit_burst": plan.rate_limit_burst,
                "drop_after_accept_burst": plan.drop_after_accept_burst, "ws_drop_burst": plan.ws_drop_burst}

    def _take(self, burst: str, rate: float) -> bool:
        if self._bursts[burst] > 0:
            self._bursts[burst] -= 1
            return True
        return rate > 0 and self._rng.random() < rate

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"plan": self._plan.to_dict(), "pending_bursts": dict(self._bursts),
                    "counters": dict(self.counters)}

    # -------------------------------------------------------------------------------- decisions

    def applies_to(self, path: str) -> bool:
        plan = self._plan
        if path.startswith(CONTROL_PREFIX) or any(path.startswith(p) for p in plan.exclude_paths):
            return False
        return not plan.paths or any(path.startswith(p) for p in plan.paths)

    def before_request(self, method: str = "GET", path: str = "/") -> RequestFault:
        """Decide the fate of one request before it is handled: a delay, and maybe an error status.
        TCP simulators pass a message name as ``path``."""
        with self._lock:
            self.counters["requests"] += 1
            if not self.applies_to(path):
                return RequestFault()
            plan = self._plan
            delay = plan.latency + (self._rng.random() * plan.latency_jitter if plan.latency_jitter else 0.0)
            if delay:
                self.counters["latency"] += 1
            if self._take("rate_limit_burst", plan.rate_limit_rate):
                kind = "418" if plan.rate_limit_status == 418 else "429"
                self.counters[f"http_{kind}"] += 1
                return RequestFault(delay, plan.rate_limit_status, plan.retry_after, kind)
            if self._take("error_burst", plan.error_rate):
                self.counters["http_5xx"] += 1
                return RequestFault(delay, plan.error_status, None, "5xx")
            return RequestFault(delay)

    def after_order_accepted(self) -> bool:
        """Call right after the engine accepted an order, before answering. True means: the client must
        not get the answer. Inside the ASGI middleware the current exchange is marked, so whatever the
        handler sends next is replaced by a cut connection (or silence, ``drop_mode="hang"``); raising
        :class:`orch.sim.asgi.DropConnection` works too. A TCP simulator closes its stream itself."""
        with self._lock:
            drop = self._take("drop_after_accept_burst", self._plan.drop_after_accept_rate)
            if drop:
                self.counters["dropped_responses"] += 1
        exchange = _current.get()
        if drop and exchange is not None:
            exchange.drop = True
        return drop

    def stream_message(self, state: StreamState) -> str:
        """Decide the fate of one outgoing stream message: ``"send"``, ``"silence"`` (swallow it, keep the
        connection) or ``"drop"`` (close the connection instead of sending)."""
        with self._lock:
            plan = self._plan
            if state.closed:
                return "drop"
            if plan.ws_silent:
                self.counters["ws_silenced_messages"] += 1
                return "silence"
            if (plan.ws_drop_after is not None and state.sent >= plan.ws_drop_after) or self._take(
                    "ws_drop_burst", plan.ws_drop_rate):
                state.closed = True
                self.counters["ws_dropped_connections"] += 1
                return "drop"
            state.sent += 1
            self.counters["ws_messages"] += 1
            return "send"

    def garbage_before(self, state: StreamState) -> str | bytes | None:
        """The garbage frame to send before the message :meth:`stream_message` just let through on this
        connection, if the plan asks for one now."""
        with self._lock:
            plan = self._plan
            if not plan.ws_garbage or not plan.ws_garbage_every or state.sent <= plan.ws_garbage_after:
                return None
            if (state.sent - plan.ws_garbage_after) % plan.ws_garbage_every:
                return None
            frame = plan.ws_garbage[self.counters["ws_garbage_frames"] % len(plan.ws_garbage)]
            self.counters["ws_garbage_frames"] += 1
            return frame

    def __repr__(self) -> str:
        active = {k: v for k, v in self._plan.to_dict().items()
                  if v != attrs.fields_dict(FaultPlan)[k].default and v not in ([], ())}
        return f"Faults({active or 'none'})"
