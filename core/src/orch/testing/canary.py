"""Secret canaries: credential values that must never show up in a log, a journal, an error or CLI output.

A canary is a credential the tests really use (a simulator's test key, a fixture's password) with a label
naming where it comes from. :func:`find_canaries` says which canaries a text contains, by label, so a
report can name the leak without repeating the secret. orch's test suite runs with the guard in
:mod:`orch.testing.canary_guard`, which feeds every log record, error text, CLI output and journal row to
this scanner.

What counts as "contains":

* the value itself; a value made only of digits only as a whole number (``40718253`` is not found in
  ``1407182530``), as :mod:`orch.secret` masks it;
* its base64 forms, at each of the three byte alignments and in both alphabets, so the value inside an
  encoded ``key:secret`` (an HTTP Basic header) is found too;
* its percent-encoded form when that differs (a secret in a query string).

A digits-only value shorter than :data:`orch.secret.DISTINCTIVE_DIGITS` cannot be a canary: it is also an
ordinary quantity or price, so finding it would prove nothing (``orch.secret`` masks such PINs but cannot
refuse text for holding them). Such canaries are refused with ValueError; use a longer or non-numeric one.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from orch.secret import DISTINCTIVE_DIGITS

__all__ = ["API_KEY_ID", "API_SECRET", "BUILTIN", "NUMERIC_ID", "PASSWORD", "PHONE", "PIN", "TOTP_SECRET", "USERNAME",
           "CanarySet", "default_set", "find_canaries", "hint", "register_canary", "simulator_canaries"]

# The canaries of orch's own: one per kind of credential. Distinctive (no real broker issues them, no test
# datum collides with them) and shaped like the real thing, so every validator accepts them.
API_KEY_ID = "PKCNRY7Q3ZK9W2M4XJ5T"                     # Alpaca-style key id
API_SECRET = "cnry-sec-6f1d0b7e9a2c4d83b5e1"            # an API secret
PASSWORD = "Cnry-Pass-5w8R2k!q"                         # a login password
PIN = "90357168"                                        # numeric: 8 digits, matched as a whole number
NUMERIC_ID = "31415926535"                              # a numeric user/account id used as a login
USERNAME = "cnry-user-7q3zk9w2"                         # a login name
PHONE = "+4917690357168"                                # a phone number used as a login (Trade Republic)
TOTP_SECRET = "CNRYTOTPSECRETQ7K2M4XJ5TZ3W7P6VB"        # base32 (A-Z, 2-7), as a 2FA seed is stored

BUILTIN: dict[str, str] = {
    "canary.API_KEY_ID": API_KEY_ID,
    "canary.API_SECRET": API_SECRET,
    "canary.PASSWORD": PASSWORD,
    "canary.PIN": PIN,
    "canary.NUMERIC_ID": NUMERIC_ID,
    "canary.USERNAME": USERNAME,
    "canary.PHONE": PHONE,
    "canary.TOTP_SECRET": TOTP_SECRET,
}

# Shorter encoded fragments would match ordinary text by chance.
_MIN_FORM = 8


def hint(value: str) -> str:
    """A reference to a value that does not give it away: its first characters and length."""
    return f"{value[:3]}…({len(value)} chars)"


def _base64_forms(value: str) -> set[str]:
    """The stretch of base64 text that encodes ``value`` wherever it sits in the encoded bytes: for each
    of the three alignments, the characters that depend on ``value``'s bytes alone."""
    raw = value.encode()
    forms: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        start = -(-8 * pad // 6)                         # first character made of value bits only
        end = (8 * (pad + len(raw))) // 6                # last character not mixed with what follows
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_FORM:
            forms.add(fragment)
            forms.add(fragment.replace("+", "-").replace("/", "_"))
    return forms


def _forms(value: str) -> dict[str, str]:
    """form → how it is encoded ("" for the value itself)."""
    forms = {value: ""}
    quoted = urllib.parse.quote(value, safe="")
    if quoted != value:
        forms.setdefault(quoted, "percent-encoded")
    for form in _base64_forms(value):
        forms.setdefault(form, "base64")
    return forms


class CanarySet:
    """Labelled canary values and a scanner for them. Adding is thread-safe; scanning reads a snapshot."""

    def __init__(self, canaries: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}               # value -> label
        self._forms: dict[str, tuple[str, str]] = {}    # form -> (label, encoding)
        self._needles: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        for label, value in (canaries or {}).items():
            self.add(label, value)

    def add(self, label: str, value: str) -> None:
        """Add a canary. A value already known keeps its first label."""
        if not isinstance(value, str) or len(value) < 6:
            raise ValueError(f"canary {label}: too short to be distinctive (6 characters at least)")
        if value.isdigit() and len(value) < DISTINCTIVE_DIGITS:
            raise ValueError(f"canary {label}: a number shorter than {DISTINCTIVE_DIGITS} digits is also an "
                             "ordinary quantity or price; use a longer or non-numeric value")
        with self._lock:
            if value in self._values:
                return
            self._values[value] = label
            forms = dict(self._forms)                  # copy on write: a scan in progress keeps its snapshot
            for form, encoding in _forms(value).items():
                forms.setdefault(form, (label, encoding))
            self._forms = forms
            self._needles = tuple(sorted(forms, key=len, reverse=True))
            self._pattern = None                       # compiled at the next scan that needs it

    def _compiled(self) -> re.Pattern[str]:
        with self._lock:
            if self._pattern is None:
                self._pattern = re.compile("|".join(
                    rf"(?<!\d){re.escape(f)}(?!\d)" if f.isdigit() else re.escape(f) for f in self._needles))
            return self._pattern

    def labels(self) -> dict[str, str]:
        """label → value."""
        return {label: value for value, label in self._values.items()}

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def find(self, text: Any) -> list[str]:
        """Labels of the canaries in ``text`` (str or bytes), each once, in order of appearance; an
        encoded form is named as such (``canary.API_SECRET (base64)``)."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = str(text)
        needles, forms = self._needles, self._forms
        # Substring tests in C first: nearly every text holds no canary, and this is the whole cost then.
        if not text or not any(n in text for n in needles):
            return []
        found: list[str] = []
        pattern = self._compiled()
        forms = self._forms                            # at least as new as the pattern
        for match in pattern.finditer(text):
            label, encoding = forms[match.group()]
            name = f"{label} ({encoding})" if encoding else label
            if name not in found:
                found.append(name)
        return found

    def redact(self, text: str) -> str:
        """``text`` with every canary (in any of its forms) replaced by ``<canary LABEL>``: a report can show
        the text around a leak without the secret."""
        if not text or not self._needles:
            return text
        pattern = self._compiled()
        forms = self._forms
        return pattern.sub(lambda m: f"<canary {forms[m.group()][0]}>", text)


def simulator_canaries(names: Iterable[str] | None = None) -> dict[str, str]:
    """The credentials every installed broker simulator hands out (its ``config_for`` section's Secret
    fields), as canaries labelled ``<broker> simulator <field>``. The values are read, not wrapped in
    :class:`~orch.secret.Secret`, so discovering them registers nothing with the masker."""
    import attrs

    from orch.config import _type_hints, _unwrap_optional  # the loader's own view of a Secret field
    from orch.errors import OrchError
    from orch.plugins import installed_plugins, load_plugin
    from orch.secret import Secret, is_placeholder

    found: dict[str, str] = {}
    wanted = set(names) if names is not None else None
    for entry in installed_plugins():
        if wanted is not None and entry.name not in wanted:
            continue
        try:
            loaded = load_plugin(entry.name)
        except OrchError:
            continue
        hook = loaded.hooks.get("orch_simulator")
        settings_type = getattr(loaded.info, "settings_type", None)
        if hook is None or settings_type is None:
            continue
        section = hook().config_for("127.0.0.1", 1)
        hints = _type_hints(settings_type)
        for a in attrs.fields(settings_type):
            if _unwrap_optional(hints.get(a.name, a.type))[0] is not Secret:
                continue
            value = section.get(a.alias or a.name, section.get(a.name))
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and not is_placeholder(value):
                found[f"{entry.name} simulator {a.name}"] = value
    return found


_default = CanarySet(BUILTIN)


def default_set() -> CanarySet:
    """The process-wide canaries: :data:`BUILTIN` plus whatever :func:`register_canary` added."""
    return _default


def register_canary(label: str, value: str) -> None:
    _default.add(label, value)


def find_canaries(text: Any) -> list[str]:
    """Labels of the process-wide canaries found in ``text``."""
    return _default.find(text)
