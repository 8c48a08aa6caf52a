"""The Trade Republic simulator's own state: accounts (phone number, PIN, second factor), login
processes, sessions and their cookies, and login throttling. Time is the engine's clock (it moves with
trio's, so tests under a MockClock never wait)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import uuid
from typing import Any

from attrs import define, field

from orch.sim.engine import Engine
from orch.sim.faults import Faults

SIM_PHONE = "+4915550104711"
SIM_PIN = "ORCHSIMPIN4711"
SIM_SEC_ACC = "0918273645"
SIM_CASH_ACC = "0918273600"
SIM_ACCOUNT = "TRSIM0001"
AUTHENTICATOR_CODE = "246813"
PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")


@define
class Options:
    """``second_factor``: ``"app"`` (the login is approved in the app after ``approve_after_polls``
    polls of the process) or ``"authenticator"`` (a code is required). ``session_ttl`` is the life of a
    ``tr_session`` JWT; ``refresh_ttl`` of the refresh cookie. ``max_failures`` wrong PINs within
    ``throttle_seconds`` throttle the number (TOO_MANY_REQUESTS) for ``throttle_seconds``."""

    second_factor: str = "app"
    approve_after_polls: int = 1
    process_ttl: float = 120.0
    session_ttl: float = 300.0
    refresh_ttl: float = 7200.0
    max_failures: int = 3
    throttle_seconds: float = 60.0
    authenticator_code: str = AUTHENTICATOR_CODE
    # Orders lists echo the clientProcessId (what lets orch look an order up by its own id).
    echo_client_process_id: bool = True
    # At most this many subscriptions per connection in any `subscription_window` seconds; past it
    # TOO_MANY_REQUESTS with nextAttemptInSeconds. Trade Republic publishes no figure, so it is off
    # unless a test sets one.
    max_subscriptions: int | None = None
    subscription_window: float = 60.0


@define
class SimAccount:
    phone: str
    pin: str
    account_id: str
    sec_acc_no: str
    cash_acc_no: str


@define
class Process:
    id: str
    phone: str
    expires: float
    polls: int = 0
    status: str = "PENDING"
    needs_code: bool = False
    code_used: bool = False


@define
class Session:
    phone: str
    refresh: str
    refresh_expires: float
    tokens: set[str] = field(factory=set)
    alive: bool = True


class TradeRepublicSim:
    def __init__(self, engine: Engine, faults: Faults, options: Options | None = None) -> None:
        self.engine = engine
        self.faults = faults
        self.options = options or Options()
        self.accounts = {SIM_PHONE: SimAccount(SIM_PHONE, SIM_PIN, SIM_ACCOUNT, SIM_SEC_ACC, SIM_CASH_ACC)}
        self.processes: dict[str, Process] = {}
        self.sessions: dict[str, Session] = {}  # refresh token -> session
        self.failures: dict[str, list[float]] = {}
        self.throttled_until: dict[str, float] = {}
        self.counters: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> TradeRepublicSim:
        return engine._tr_sim  # type: ignore[attr-defined]

    def now(self) -> float:
        return self.engine.now().timestamp()

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1

    # ---------------------------------------------------------------------------------- login

    def throttle_left(self, phone: str) -> float:
        return max(0.0, self.throttled_until.get(phone, 0.0) - self.now())

    def failed(self, phone: str) -> None:
        now = self.now()
        recent = [t for t in self.failures.get(phone, []) if now - t < self.options.throttle_seconds] + [now]
        self.failures[phone] = recent
        if len(recent) >= self.options.max_failures:
            self.throttled_until[phone] = now + self.options.throttle_seconds
            self.failures[phone] = []

    def start(self, phone: str) -> Process:
        process = Process(id=str(uuid.uuid4()), phone=phone, expires=self.now() + self.options.process_ttl,
                          needs_code=self.options.second_factor == "authenticator")
        self.processes[process.id] = process
        return process

    def new_session(self, phone: str) -> tuple[Session, str]:
        session = Session(phone=phone, refresh=secrets.token_urlsafe(24),
                          refresh_expires=self.now() + self.options.refresh_ttl)
        self.sessions[session.refresh] = session
        return session, self.issue(session)

    def issue(self, session: Session) -> str:
        account = self.accounts[session.phone]
        now = int(self.now())
        claims = {"iat": now, "exp": now + int(self.options.session_ttl), "jti": uuid.uuid4().hex,
                  "act": {"acc": {"owner": {"default": {"sec": account.sec_acc_no, "cash": account.cash_acc_no}}}}}
        token = ".".join(_b64(part) for part in ({"alg": "ES256", "typ": "JWT"}, claims)) + "." + _b64("sim")
        session.tokens.add(token)
        return token

    def session_for_token(self, token: str | None) -> Session | None:
        """The live session a ``tr_session`` belongs to, if the token has not expired."""
        if not token:
            return None
        for session in self.sessions.values():
            if token in session.tokens and session.alive:
                claims = _claims(token)
                if claims.get("exp", 0) >= self.now():
                    return session
        return None

    def session_for_refresh(self, refresh: str | None) -> Session | None:
        session = self.sessions.get(refresh or "")
        if session is None or not session.alive or session.refresh_expires < self.now():
            return None
        return session

    def connection_alive(self, session: Session | None) -> bool:
        """A websocket opened with a valid session stays authenticated while its session can be refreshed."""
        return session is not None and session.alive and session.refresh_expires >= self.now()


def _b64(part: Any) -> str:
    raw = part.encode() if isinstance(part, str) else json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any]:
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
