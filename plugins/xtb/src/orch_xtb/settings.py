"""The ``brokers.xtb`` config section.

Every key of the broker guide's XTB block is accepted as written there. xAPI logs in with an account id
and a password, not an API key pair, so the guide's names map onto them:

* ``api_key``    → the xStation account id (xAPI ``userId``, e.g. ``12345678``);
* ``secret_key`` → that account's password.

``demo`` selects the demo server (the default; ``demo = false`` also needs ``--live``). ``server`` is
``"demo"``/``"real"`` (XTB's own host, switched off on 2025-03-14), a host name that still serves xAPI
(an X Open Hub white-label such as ``ws.xapi.pro``), or a full ``ws://``/``wss://`` URL of the command
endpoint (the simulator, a proxy). ``max_instruments`` bounds the symbol cache filled from getAllSymbols.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from attrs import field, frozen

from orch.errors import ConfigError, LiveTradingRefused
from orch.models import to_decimal
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

XTB_HOST = "ws.xtb.com"
SHUTDOWN_NOTICE = ("XTB switched the xAPI off on 2025-03-14 and offers no replacement API: ws.xtb.com no longer "
                   "answers. Point brokers.xtb.server at a host that still serves xAPI (an X Open Hub "
                   "white-label) or use the simulator (`orch sim start xtb`).")


def _secret(value: object) -> Secret:
    # An account id written as a JSON number is still the account id.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return as_secret(value)


@frozen(kw_only=True)
class XtbSettings(BrokerSettings):
    api_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    secret_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    demo: bool = True
    server: str = "demo"
    max_instruments: int | None = 1000
    # The streaming endpoint; by default the command URL with "Stream" appended (xAPI's convention).
    stream_url: str | None = None
    app_name: str = "orch"
    # A stream silent this long is probed with a ping (keepAlive arrives every 3 s when subscribed).
    stream_silence_seconds: Decimal = field(default=Decimal(10), converter=to_decimal)
    # The command socket is pinged after this long without a command (XTB drops it after 10 minutes).
    keepalive_seconds: Decimal = field(default=Decimal(240), converter=to_decimal)


@frozen
class Endpoints:
    command: str
    stream: str
    demo: bool
    official_host: bool


def _mode_of(path: str) -> str | None:
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return {"demo": "demo", "real": "real", "demostream": "demo", "realstream": "real"}.get(last)


def resolve_endpoints(settings: XtbSettings, *, live: bool, broker: str = "xtb") -> Endpoints:
    """The command and stream URLs. Refuses before any socket opens when demo and real are mixed."""
    section = f"brokers.{broker}"
    mode = "demo" if settings.demo else "real"
    server = settings.server.strip()
    if not settings.demo and not live:
        raise LiveTradingRefused(f"{section}.demo is false: the real account needs --live",
                                 hint="set demo = true to use the demo account")
    if server.lower() in ("demo", "real"):
        if server.lower() != mode:
            raise ConfigError(f"server is {server!r} but demo is {str(settings.demo).lower()}",
                              path=f"{section}.server", hint=f"use server = \"{mode}\"")
        command = f"wss://{XTB_HOST}/{mode}"
    elif "://" in server:
        parts = urlsplit(server)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ConfigError(f"{server!r} is not a ws:// or wss:// URL", path=f"{section}.server")
        found = _mode_of(parts.path)
        if found is not None and found != mode:
            raise ConfigError(f"server URL ends in /{found} but demo is {str(settings.demo).lower()}",
                              path=f"{section}.server", hint=f"use the /{mode} endpoint")
        command = server.rstrip("/")
    else:
        if not server or "/" in server:
            raise ConfigError(f"{server!r} is neither demo, real, a host name nor a URL", path=f"{section}.server")
        command = f"wss://{server}/{mode}"
    stream = settings.stream_url or command + "Stream"
    host = urlsplit(command).hostname or ""
    return Endpoints(command=command, stream=stream, demo=settings.demo, official_host=host == XTB_HOST)
