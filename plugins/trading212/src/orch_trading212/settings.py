"""The ``brokers.trading212`` config section.

The guide's block (``enabled``, ``api_key``, ``practice``, ``base_url``, ``rate_limit``) is accepted as
written, plus ``secret_key`` (the current API authenticates with HTTP Basic ``key:secret``; with only
``api_key`` the legacy raw-key header is sent).

The guide's ``base_url`` (``https://practice.trading212.com``) is the web app, not the API: the API lives
on ``https://demo.trading212.com`` (practice) and ``https://live.trading212.com`` (live), under
``/api/v0``. A Trading 212 web URL is accepted and replaced by the API host of the selected mode, with one
warning; a loopback URL (the simulator) is used as given.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen

from orch.errors import ConfigError, LiveTradingRefused
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

DEMO_URL = "https://demo.trading212.com"
LIVE_URL = "https://live.trading212.com"
API_PREFIX = "/api/v0"

_DEMO_HOST = "demo.trading212.com"
_LIVE_HOST = "live.trading212.com"

log = logging.getLogger("orch.broker.trading212")
_warned: set[str] = set()


_secret = as_secret


@frozen(kw_only=True)
class Trading212Settings(BrokerSettings):
    """``practice`` (default true) selects the practice (demo) account. ``rate_limit`` is the guide's
    requests-per-minute cap on the total; each endpoint's own limit applies on top of it."""

    api_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    # Optional: without it the legacy ``Authorization: <key>`` header is used.
    secret_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    practice: bool = True
    base_url: str | None = None
    rate_limit: int | None = field(default=None)

    @rate_limit.validator
    def _check_rate_limit(self, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"rate_limit must be a positive whole number of requests per minute, got {value!r}")

    def __attrs_post_init__(self) -> None:
        # The guide's flat `rate_limit` is the shared limiter's requests_per_minute unless rate_limits says.
        if self.rate_limit is not None and self.rate_limits.requests_per_minute is None:
            object.__setattr__(self, "rate_limits",
                               attrs.evolve(self.rate_limits, requests_per_minute=self.rate_limit))


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_once(key: str, message: str, logger: logging.Logger) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def resolve_base_url(settings: Trading212Settings, *, live: bool, broker: str = "trading212",
                     logger: logging.Logger = log) -> str:
    """The API root (without ``/api/v0``) for this connection. Raises before any socket opens when
    practice and live are mixed."""
    section = f"brokers.{broker}"
    default = DEMO_URL if settings.practice else LIVE_URL
    if not settings.practice and not live:
        raise LiveTradingRefused(f"{section}.practice is false: live trading needs --live",
                                 hint="set practice = true to trade on the practice account")
    if not settings.base_url:
        return default
    parts = urlsplit(settings.base_url)
    host = (parts.hostname or "").lower()
    if settings.practice and host == _LIVE_HOST:
        raise ConfigError("base_url is Trading 212's live API but practice is true", path=f"{section}.base_url",
                          hint=f"use {DEMO_URL}, or set practice = false and pass --live")
    if not settings.practice and host == _DEMO_HOST:
        raise ConfigError("base_url is Trading 212's practice API but practice is false",
                          path=f"{section}.base_url", hint=f"use {LIVE_URL} or set practice = true")
    if host in (_DEMO_HOST, _LIVE_HOST):
        return f"{parts.scheme}://{host}"
    if _is_loopback(host):
        return settings.base_url.rstrip("/").removesuffix(API_PREFIX)
    if host == "trading212.com" or host.endswith(".trading212.com"):
        _warn_once(f"{broker}:{host}", f"{section}.base_url {settings.base_url} is Trading 212's web app, not "
                   f"its API; using {default}", logger)
        return default
    _warn_once(f"{broker}:{host}", f"{section}.base_url {settings.base_url} is not a Trading 212 API host "
               f"({DEMO_URL}, {LIVE_URL}); using it as given", logger)
    return settings.base_url.rstrip("/").removesuffix(API_PREFIX)
