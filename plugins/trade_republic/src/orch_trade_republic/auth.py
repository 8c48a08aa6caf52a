"""Trade Republic's web login (v2) and session calls without I/O.

The flow the web app uses now, and the one implemented:

1. ``POST /api/v2/auth/web/login {phoneNumber, pin}`` with the device headers → ``{processId}``;
2. ``GET /api/v2/auth/web/login/processes/<processId>`` → ``{status: PENDING|CONFIRMED|COMPLETED,
   expiresAt, requiredAction?}``, polled every two seconds while the user approves the login in the app;
   the session cookies come with the answer that says CONFIRMED;
3. when ``requiredAction`` is ``AUTHENTICATOR_VERIFICATION``: ``POST …/processes/<processId>/
   authenticator-verification {code}`` with the code from the user's authenticator app instead.

Then ``GET /api/v1/auth/web/session`` refreshes the session (a fresh ``tr_session`` cookie, a JWT of about
five minutes) and ``GET /api/v2/auth/account`` gives the securities account number.

The older v1 login (``POST /api/v1/auth/web/login`` → ``processId``, then ``POST …/login/<processId>/
<4-digit code>``) sits behind a web application firewall since 2026 and is only described in the README as
a fallback; :func:`login_v1` and :func:`confirm_v1` build its requests for that use.

Nothing here logs; request reprs mask the body (it holds the phone number and PIN).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import platform
import time as _time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from http.cookies import CookieError, SimpleCookie
from typing import Any

from attrs import field, frozen

from orch.errors import (AuthError, BrokerError, BrokerUnavailable, PermissionDenied, ProtocolError,
                         RateLimited)
from orch.parsing import json_loads, one_line
from orch.secret import REDACTED, mask

from orch_trade_republic.frames import BROKER

APP_VERSION = "2.2631.13"
PLATFORM = "web"
DEFAULT_TTL = 290.0
LATEST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z
AUTHENTICATOR = "AUTHENTICATOR_VERIFICATION"
SESSION_COOKIE = "tr_session"
REFRESH_COOKIE = "tr_refresh"


@frozen
class HttpRequest:
    method: str
    path: str
    json: Any = field(default=None, repr=lambda value: REDACTED if value is not None else "None")
    headers: Mapping[str, str] = field(factory=dict, hash=False, repr=False)
    login: bool = False  # a login step: throttling is reported, never retried


@frozen
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_cookies(self) -> dict[str, str]:
        """Every cookie the answer sets (name → value); an expired (deleted) cookie maps to ""."""
        found: dict[str, str] = {}
        for key, value in self.headers:
            if key.lower() != "set-cookie":
                continue
            jar = SimpleCookie()
            try:
                jar.load(value)
            except CookieError:
                continue
            for name, morsel in jar.items():
                gone = morsel["max-age"] in ("0", "-1")
                found[name] = "" if gone else morsel.value
        return found


# ------------------------------------------------------------------------------------- device header


def stable_device_id() -> str:
    """A 128-hex id that is the same for this machine on every run and says nothing about it in clear."""
    seed = "|".join(("orch-trade-republic", str(uuid.getnode()), platform.node(), platform.system()))
    return hashlib.sha512(seed.encode()).hexdigest()


def device_info(device_id: str | None, locale: str = "en") -> str:
    """The ``X-TR-Device-Info`` value: base64 of a JSON description of the device. ``device_id`` is the
    guide's ``device_id`` (None: :func:`stable_device_id`)."""
    body = {"stableDeviceId": device_id or stable_device_id(), "browser": "Chrome", "browserVersion": "",
            "os": platform.system(), "osVersion": "", "timezone": "Etc/UTC", "timezoneOffset": 0,
            "screen": "1920x1080x24", "preferredLanguages": [locale], "numberOfCores": 4}
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def login_headers(device: str, locale: str = "en") -> dict[str, str]:
    return {"X-TR-Device-Info": device, "X-TR-App-Version": APP_VERSION, "X-TR-Platform": PLATFORM,
            "Accept-Language": locale}


# ------------------------------------------------------------------------------------- requests


def login(phone: str, pin: str, headers: Mapping[str, str]) -> HttpRequest:
    return HttpRequest("POST", "/api/v2/auth/web/login", json={"phoneNumber": phone, "pin": pin},
                       headers=headers, login=True)


def process(process_id: str, headers: Mapping[str, str]) -> HttpRequest:
    return HttpRequest("GET", f"/api/v2/auth/web/login/processes/{process_id}", headers=headers, login=True)


def authenticator(process_id: str, code: str, headers: Mapping[str, str]) -> HttpRequest:
    return HttpRequest("POST", f"/api/v2/auth/web/login/processes/{process_id}/authenticator-verification",
                       json={"code": code}, headers=headers, login=True)


def login_v1(phone: str, pin: str) -> HttpRequest:
    """The fallback v1 web login (needs the ``aws-waf-token`` cookie of a real browser)."""
    return HttpRequest("POST", "/api/v1/auth/web/login", json={"phoneNumber": phone, "pin": pin}, login=True)


def confirm_v1(process_id: str, code: str) -> HttpRequest:
    return HttpRequest("POST", f"/api/v1/auth/web/login/{process_id}/{code}", login=True)


def refresh() -> HttpRequest:
    return HttpRequest("GET", "/api/v1/auth/web/session")


def account() -> HttpRequest:
    return HttpRequest("GET", "/api/v2/auth/account")


def logout() -> HttpRequest:
    return HttpRequest("POST", "/api/v1/auth/web/logout")


# ------------------------------------------------------------------------------------- answers


@frozen
class LoginStarted:
    process_id: str
    countdown: float


@frozen
class ProcessState:
    status: str
    required_action: str | None
    expires_at: float | None  # epoch seconds


def decode(response: HttpResponse, *, broker: str = BROKER) -> Any:
    try:
        return json_loads(response.body) if response.body.strip() else None
    except ValueError:
        raise ProtocolError(f"unreadable answer (HTTP {response.status}, not JSON)", broker=broker) from None


def parse_login_started(data: Any, *, broker: str = BROKER) -> LoginStarted:
    if not isinstance(data, Mapping) or not data.get("processId"):
        raise ProtocolError("the login answer has no processId", broker=broker)
    countdown = _float(data.get("countdownInSeconds")) or 120.0
    return LoginStarted(str(data["processId"]), countdown)


def _epoch(value: Any) -> float | None:
    """Epoch seconds from milliseconds, seconds or ISO text; None when unreadable or outside the years
    a datetime can show (the time is printed in messages)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None
        number = number / 1000 if number > 1e11 else number
    else:
        try:
            number = datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError):
            return None
    return number if 0 <= number <= LATEST_EPOCH else None


def parse_process(data: Any, *, broker: str = BROKER) -> ProcessState:
    if not isinstance(data, Mapping) or "status" not in data:
        raise ProtocolError("the login process answer has no status", broker=broker)
    return ProcessState(status=str(data["status"]), required_action=data.get("requiredAction") or None,
                        expires_at=_epoch(data.get("expiresAt")))


def parse_account(data: Any, *, broker: str = BROKER) -> str:
    """The securities account number (``secAccNo``) from the account settings."""
    if isinstance(data, Mapping) and data.get("securitiesAccountNumber"):
        return str(data["securitiesAccountNumber"])
    raise ProtocolError("the account settings carry no securitiesAccountNumber", broker=broker)


def session_ttl(token: str | None) -> float:
    """Seconds a ``tr_session`` JWT lives (``exp - iat``, both the server's clock, so a skewed local clock
    does not matter); :data:`DEFAULT_TTL` when it cannot be read."""
    claims = jwt_claims(token)
    try:
        ttl = float(claims["exp"]) - float(claims["iat"])
    except (KeyError, TypeError, ValueError):
        return DEFAULT_TTL
    return ttl if ttl > 0 else DEFAULT_TTL


def session_expiry(token: str | None) -> float | None:
    """The JWT's ``exp`` (epoch seconds), if readable."""
    try:
        return float(jwt_claims(token)["exp"])
    except (KeyError, TypeError, ValueError):
        return None


def jwt_claims(token: str | None) -> dict[str, Any]:
    if not token or token.count(".") != 2:
        return {}
    part = token.split(".")[1]
    try:
        data = json_loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------------- errors

_CREDENTIALS = {"NUMBER_INVALID", "PIN_INVALID", "USER_NOT_FOUND", "INVALID_CREDENTIALS", "UNAUTHORIZED",
                "VALIDATION_CODE_INVALID", "VALIDATION_CODE_ALREADY_USED"}
_PROCESS = {"PROCESS_GONE", "ALREADY_PROCESSED", "NOT_FOUND"}


def _error_fields(data: Any) -> tuple[str | None, str, Mapping[str, Any]]:
    if isinstance(data, Mapping):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            meta = first.get("meta") if isinstance(first.get("meta"), Mapping) else {}
            return (one_line(first.get("errorCode"), 60) if first.get("errorCode") else None,
                    one_line(first.get("errorMessage") or ""), meta)
    return None, "", {}


def error_for(request: HttpRequest, response: HttpResponse, *, now: float | None = None,
              broker: str = BROKER) -> BrokerError:
    """The orch error for a non-2xx answer. A throttled login (``TOO_MANY_REQUESTS``) is reported with the
    time of the next allowed attempt and marked so nothing retries it (``banned_until``)."""
    status = response.status
    try:
        data = json_loads(response.body) if response.body.strip() else None
    except ValueError:
        data = None
    code, message, meta = _error_fields(data)
    common = {"broker": broker, "broker_code": code or status, "broker_message": mask(message), "status": status}
    where = f"{request.method} {request.path.split('/processes/')[0]}"
    if code == "TOO_MANY_REQUESTS" or status == 429:
        now = _time.time() if now is None else now
        seconds = _float(meta.get("nextAttemptInSeconds"))
        if seconds is None:
            seconds = _float(response.header("retry-after"))
        at = _epoch(meta.get("nextAttemptTimestamp")) or (now + seconds if seconds is not None else None)
        if seconds is None and at is not None:
            seconds = max(0.0, at - now)
        when = (f"; next attempt allowed at {datetime.fromtimestamp(at, timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
                f" (in {seconds:.0f}s)" if at is not None and seconds is not None else "")
        if request.login:
            return RateLimited(f"login throttled by Trade Republic{when}", retry_after=seconds,
                               banned_until=at if at is not None else now + 60, **common,
                               hint="wait until then; orch never retries a throttled login by itself")
        return RateLimited(f"rate limited on {where}{when}", retry_after=seconds, **common)
    if code in _CREDENTIALS:
        return AuthError(f"login refused: {message or code}", **common,
                         hint="check username (phone number, +49…) and pin")
    if code in _PROCESS:
        return AuthError(f"the login process ended ({message or code})", **common, hint="log in again")
    if code == "MISSING_REQUIRED_HEADER":
        return ProtocolError(f"{where}: {message or code}", **common)
    if status in (401, 403):
        return AuthError(f"{where} refused ({message or code or status})", **common,
                         hint="the session expired or was revoked: log in again")
    if status == 405 and "awselb" in (response.header("server") or "").lower():
        return PermissionDenied("blocked by Trade Republic's firewall (AWS WAF)", **common,
                                hint="the v1 login needs a browser's aws-waf-token; use the v2 login")
    if status >= 500:
        return BrokerUnavailable(f"server error {status} on {where}", **common)
    return ProtocolError(f"HTTP {status} on {where} ({message or code or 'no message'})", **common)


def _float(value: Any) -> float | None:
    """Seconds to wait, from a header or a field: None unless a finite number (an infinite wait would
    stall every caller sharing the limiter)."""
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, number) if number is not None and math.isfinite(number) else None
