"""Secrets are a type, not a string.

A :class:`Secret` never shows its value in ``repr``, ``str``, f-strings, logs or serialisation; the value is
reached only through :meth:`Secret.reveal`, at the point where it goes on the wire. Every secret value
created is registered with the process-wide masker (:func:`mask`) that the logging filter and error
printing use, so a value that leaks into a message by another road is still redacted.
"""

from __future__ import annotations

import re
import threading

REDACTED = "********"

# Placeholders that the guide's example configs use: they mean "not set".
_PLACEHOLDER = re.compile(r"^(YOUR[_A-Z0-9]*|CHANGE[_-]?ME|<[^>]*>|xxx+|\.\.\.)$", re.IGNORECASE)

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_distinctive: re.Pattern[str] | None = None

# A secret made only of digits (a PIN, a numeric account id) is matched as a whole number only, never
# inside a longer one (an order id, a price). Shorter than this it can also be an ordinary quantity or
# price, so records are not refused for containing it (see contains_secret); it is still masked in text.
DISTINCTIVE_DIGITS = 8


def _alternative(value: str) -> str:
    return rf"(?<!\d){re.escape(value)}(?!\d)" if value.isdigit() else re.escape(value)


def _compile(values: list[str]) -> re.Pattern[str] | None:
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(_alternative(v) for v in ordered)) if ordered else None


def register(value: str) -> None:
    """Remember a secret value so that :func:`mask` redacts it wherever it appears."""
    global _pattern, _distinctive
    # Very short values would redact ordinary words; a real credential is never this short.
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        _pattern = _compile(list(_known))
        _distinctive = _compile([v for v in _known if not (v.isdigit() and len(v) < DISTINCTIVE_DIGITS)])


def registered() -> frozenset[str]:
    """The secret values registered so far (tests: to forget the ones a test made up, see :func:`forget`)."""
    with _lock:
        return frozenset(_known)


def forget(values) -> None:  # noqa: ANN001 - any iterable of str
    """Stop masking ``values``. For tests only: a test that makes up hundreds of secrets (a fuzz test) must
    not leave ``"USDT"`` registered, where it would mask, and refuse to journal, another test's order."""
    global _pattern, _distinctive
    with _lock:
        gone = _known.intersection(values)
        if not gone:
            return
        _known.difference_update(gone)
        _pattern = _compile(list(_known))
        _distinctive = _compile([v for v in _known if not (v.isdigit() and len(v) < DISTINCTIVE_DIGITS)])


def mask(text: str) -> str:
    """Replace every registered secret value in ``text`` with a fixed marker."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a registered secret that cannot be an ordinary number (a short numeric PIN
    equal to an order's quantity must not make the order unjournalable)."""
    pattern = _distinctive
    return bool(pattern is not None and text and pattern.search(text))


def is_placeholder(value: str | None) -> bool:
    return value is None or value.strip() == "" or bool(_PLACEHOLDER.match(value.strip()))


class Secret:
    """A credential. ``source`` says where it came from (``env:ORCH_ALPACA_API_KEY``, ``config``) for
    messages; it never holds the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str | None, source: str = "config") -> None:
        self._value = None if is_placeholder(value) else value
        self.source = source
        if self._value is not None:
            register(self._value)

    @property
    def is_set(self) -> bool:
        return self._value is not None

    def reveal(self) -> str:
        """The value, for the wire only. Raises if it is not set, so a placeholder is never sent."""
        if self._value is None:
            raise ValueError(f"secret from {self.source} is not set")
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED if self.is_set else 'unset'}, source={self.source!r})"

    def __str__(self) -> str:
        return REDACTED if self.is_set else ""

    def __format__(self, spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self):
        # Pickling would carry the value across a process boundary in clear; refuse.
        raise TypeError("Secret values cannot be pickled")


def as_secret(value: object) -> Secret:
    """attrs converter for Settings fields holding a credential: the config loader hands over a Secret
    that knows its source; code building settings directly may pass text (or None for "not set")."""
    if isinstance(value, Secret):
        return value
    if value is None or isinstance(value, str):
        return Secret(value, source="settings")
    raise TypeError(f"expected a string, got {type(value).__name__}")
