"""The ``brokers.trade_republic`` config section.

Every key of the broker guide's block is accepted as written there, mapped onto what Trade Republic uses:

* ``username`` is the phone number the account is registered with (international form, ``+4917…``);
* ``pin`` is the app PIN (four digits);
* ``password``: Trade Republic has no password; the key is accepted for the guide's sake and never sent
  (leave it out: a placeholder there is reported as an unset secret, as for any credential);
* ``device_id`` is the stable device id sent inside the ``X-TR-Device-Info`` login header (None: one is
  derived from this machine, the same on every run);
* ``secure_session``: true keeps the session cookies in the user's state directory (``$ORCH_HOME`` if
  set) in a file only the user may read (0600), so the next run reuses them instead of asking for a new
  app approval; false keeps them in memory only and never writes them.

Trade Republic has no paper account. The live guard therefore keys on where the plugin connects:
:attr:`TradeRepublicSettings.simulator` is true only when both URLs point at a loopback host (a
simulator); anything else is the real broker and needs ``--live``.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from urllib.parse import urlsplit

from attrs import field, frozen

from orch.models import to_decimal
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

API_URL = "https://api.traderepublic.com"
WS_URL = "wss://api.traderepublic.com"
EXCHANGES = ("LSX", "TDG", "LUS", "TUB", "BHS", "B2C")


_secret = as_secret


def _optional_secret(value: object) -> Secret | None:
    # The guide's ``password`` is unused: leaving it out is fine; a value given is still a credential
    # (masked). A placeholder is fine too: the field is marked optional_secret, so it never blocks connecting.
    return None if value is None else _secret(value)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@frozen(kw_only=True)
class TradeRepublicSettings(BrokerSettings):
    username: Secret = field(factory=lambda: Secret(None), converter=_secret)
    pin: Secret = field(factory=lambda: Secret(None), converter=_secret)
    password: Secret | None = field(default=None, converter=_optional_secret,
                                    metadata={"optional_secret": True})
    device_id: str | None = None
    secure_session: bool = True
    locale: str = "en"
    # Used when an instrument names no exchange and the instrument is active there.
    default_exchange: str = "LSX"
    api_url: str = API_URL
    ws_url: str = WS_URL
    # How long the user has to approve a login in the app when the server gives no deadline.
    approval_timeout_seconds: Decimal = field(default=Decimal(120), converter=to_decimal)
    # A stream connection with no frame for this long is probed with an echo; no echo answer: reconnect.
    stream_silence_seconds: Decimal = field(default=Decimal(30), converter=to_decimal)

    @property
    def simulator(self) -> bool:
        """True only when every URL is on a loopback host: the one case that is not real money. The core
        reads it as this broker's non-live flag (``BrokerInfo.paper_flag``)."""
        return is_loopback(self.api_url) and is_loopback(self.ws_url)
