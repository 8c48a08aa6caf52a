"""One error tree for the whole project.

Plugins map every broker error they know onto these classes and keep the broker's own code and
message (``broker_code``, ``broker_message``) so users can look them up. The CLI turns any
:class:`OrchError` into one line on stderr: exit code 2 for usage and config errors
(:attr:`OrchError.exit_code`), 1 otherwise.

Every text an error carries (message, hint, the broker's message) goes through :func:`orch.secret.mask` when
the error is made: a broker or proxy that echoes the request's credentials back in its error body must not
put them in front of the user by way of ``str(err)``, whoever prints it.
"""

from __future__ import annotations

from decimal import Decimal

from orch.secret import mask


def _masked(text):  # noqa: ANN001, ANN202 - passes anything that is not text through unchanged
    return mask(text) if isinstance(text, str) else text


class OrchError(Exception):
    """Root of every error orch raises on purpose. ``str(err)`` is the one line shown to users."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = _masked(message)
        hint = _masked(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(OrchError):
    """The command line itself is wrong (a bad argument, a missing --live)."""

    exit_code = 2


class ConfigError(OrchError):
    """A configuration value is wrong. ``path`` is the dotted path of the bad value."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 problems: list[str] | None = None) -> None:
        self.path = path
        self.problems = problems or []
        super().__init__(f"{path}: {message}" if path else message, hint=hint)


class PluginError(OrchError):
    """A plugin could not be loaded or broke the contract."""


class InvalidOrder(OrchError):
    """An order request is malformed; refused locally before anything is sent."""

    exit_code = 2


class BrokerError(OrchError):
    """Something a broker said or did. Carries the broker's own code and message when it gave one."""

    def __init__(self, message: str, *, broker: str | None = None, broker_code: str | int | None = None,
                 broker_message: str | None = None, status: int | None = None,
                 hint: str | None = None) -> None:
        self.broker = broker
        self.broker_code = broker_code
        self.broker_message = _masked(broker_message)
        self.status = status
        prefix = f"{broker}: " if broker else ""
        detail = ""
        if broker_code is not None and str(broker_code) not in message:
            detail = f" [code {broker_code}]"
        super().__init__(f"{prefix}{message}{detail}", hint=hint)


class AuthError(BrokerError):
    """The broker refused the credentials."""


class PermissionDenied(BrokerError):
    """Credentials are valid but may not do this (key scope, account restriction)."""


class RateLimited(BrokerError):
    """The broker (or orch's own limiter) says to slow down. ``retry_after`` is in seconds, if known.
    ``budget`` names the broker's separate budget the refusal concerns (Alpaca's market-data API is
    limited apart from its trading API: ``"market_data"``), or one window of the main budget (Binance's
    order count: ``"orders-10s"``); None means the broker's main budget as a whole."""

    def __init__(self, message: str, *, retry_after: float | None = None, banned_until: float | None = None,
                 budget: str | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        self.banned_until = banned_until
        self.budget = budget
        super().__init__(message, **kwargs)


class OrderRejected(BrokerError):
    """The broker explicitly rejected an order. Only this error lets the journal mark an order rejected."""

    def __init__(self, reason: str, **kwargs) -> None:
        self.reason = reason
        super().__init__(reason, **kwargs)


class InsufficientFunds(OrderRejected):
    """Rejected for lack of cash, buying power or quantity."""


class UnknownInstrument(BrokerError):
    """The broker does not know the symbol (or it is not tradable there)."""


class OrderNotFound(BrokerError):
    """The broker says no order has this id: a proven absence."""


class NotSupported(BrokerError):
    """The broker (or its orch plugin) cannot do this. Raised before any request is sent."""

    def __init__(self, capability: str, message: str | None = None, **kwargs) -> None:
        self.capability = capability
        super().__init__(message or f"not supported: {capability}", **kwargs)


class BrokerUnavailable(BrokerError):
    """Connection failure, timeout or 5xx: the outcome of a request that left is unknown."""


class ProtocolError(BrokerError):
    """The broker answered something we cannot parse."""


class RiskRejected(OrchError):
    """A pre-trade risk rule refused the order. ``rule`` names it; the message gives the numbers."""

    def __init__(self, rule: str, message: str, *, limit: Decimal | int | None = None,
                 value: Decimal | int | None = None) -> None:
        self.rule = rule
        self.limit = limit
        self.value = value
        super().__init__(f"risk rule {rule}: {message}")


class LiveTradingRefused(UsageError):
    """A live endpoint was about to be used without both the config flag and ``--live``."""
