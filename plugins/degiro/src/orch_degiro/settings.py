"""The ``brokers.degiro`` config section, and the live rule for a broker without a paper mode.

Every key of the broker guide's DEGIRO block is accepted as written there (``username``, ``password``,
``mfa``, ``session``, ``use_proxy``, ``proxy_url``); the shared blocks come from
:class:`orch.settings.BrokerSettings`. The other keys exist for 2FA without a prompt (``totp_secret``), the
in-app approval wait, and pointing the plugin at a simulator (``base_url``).

**DEGIRO has no paper account**, so the safe rule is: real DEGIRO is always live. ``paper`` is not a choice
but a fact derived from ``base_url``: true only when it is a loopback address (a simulator), false for
anything else. The core's live guard then needs ``--live`` for every command against real DEGIRO and
refuses ``--live`` against a simulator. Writing ``paper = true`` with a non-loopback URL is a config error.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import attrs
from attrs import Factory, field, frozen

from orch.errors import ConfigError
from orch.models import to_decimal
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

LIVE_URL = "https://trader.degiro.nl"
QUOTECAST_URL = "https://degiro.quotecast.vwdservices.com/CORS"


def is_loopback_url(url: str | None) -> bool:
    """True for http(s) URLs whose host is a loopback address or ``localhost``."""
    if not url:
        return False
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_secret = as_secret


def _optional_secret(value: object) -> Secret | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _secret(value)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return repr(url)
    host = parts.hostname or ""
    netloc = f"********@{host}" + (f":{parts.port}" if parts.port else "")
    return repr(urlunsplit(parts._replace(netloc=netloc)))


def _check_paper(instance: DegiroSettings, attribute: attrs.Attribute, value: bool) -> None:
    if value and not is_loopback_url(instance.base_url):
        raise ConfigError("DEGIRO has no paper account: paper = true is only valid with a loopback "
                          "(simulator) base_url", path="brokers.degiro.paper",
                          hint="remove paper from the section; trading real DEGIRO always needs --live")


def _check_url(instance: DegiroSettings, attribute: attrs.Attribute, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"expected an http(s) URL, got {value!r}", path=f"brokers.degiro.{attribute.name}")
    if parts.scheme == "http" and not is_loopback_url(value):
        raise ConfigError("plain http is allowed for a loopback simulator only",
                          path=f"brokers.degiro.{attribute.name}", hint=f"use {LIVE_URL}")


@frozen(kw_only=True)
class DegiroSettings(BrokerSettings):
    """See the module docstring. ``session`` is a web session id to reuse before logging in (a session
    someone else holds, e.g. from a browser); ``int_account`` picks the account when the login has several
    (default: the one the client endpoint names)."""

    username: Secret = field(factory=lambda: Secret(None), converter=_secret)
    password: Secret = field(factory=lambda: Secret(None), converter=_secret)
    mfa: bool = False
    totp_secret: Secret | None = field(default=None, converter=_optional_secret)
    session: Secret | None = field(default=None, converter=_optional_secret)
    use_proxy: bool = False
    proxy_url: str = field(default="", repr=_without_userinfo)
    base_url: str = field(default=LIVE_URL, validator=_check_url)
    # Derived from base_url unless written; see the module docstring.
    paper: bool = field(default=Factory(lambda self: is_loopback_url(self.base_url), takes_self=True),
                        validator=_check_paper)
    int_account: int | None = None
    quotecast_url: str | None = None
    in_app_timeout_seconds: Decimal = field(default=Decimal(120), converter=to_decimal)
    in_app_poll_seconds: Decimal = field(default=Decimal(5), converter=to_decimal)

    def __attrs_post_init__(self) -> None:
        if self.use_proxy and not self.proxy_url.strip():
            raise ConfigError("use_proxy is true but proxy_url is empty", path="brokers.degiro.proxy_url")
        if self.in_app_poll_seconds <= 0 or self.in_app_timeout_seconds <= 0:
            raise ConfigError("must be positive", path="brokers.degiro.in_app_poll_seconds")


def proxy_for(settings: DegiroSettings) -> str | None:
    """The proxy every request goes through, or None (``use_proxy`` decides; ``proxy_url`` alone does not)."""
    return settings.proxy_url.strip() if settings.use_proxy else None
