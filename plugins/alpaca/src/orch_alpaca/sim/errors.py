"""Alpaca's error answers: ``{"code": <8 digits>, "message": …}`` plus a few extra fields on some.

Codes as Alpaca uses them (see the protocol notes §1.5): 40010000 malformed request, 40010001 invalid
parameters (duplicate client_order_id, bad combinations, unknown asset), 40310000 forbidden (buying
power, quantity), 40410000 not found, 42210000 validation (sub-penny), 42910000 rate limited,
50010000 internal error. A 401 carries only a message.
"""

from __future__ import annotations

from typing import Any

MALFORMED = 40010000
INVALID = 40010001
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000
TOO_MANY = 42910000
INTERNAL = 50010000


class AlpacaError(Exception):
    """Raised anywhere in a request handler; the app turns it into the JSON answer."""

    def __init__(self, status: int, code: int | None, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        if self.code is None:
            return {"message": self.message}
        return {"code": self.code, "message": self.message, **self.extra}


def unauthorized() -> AlpacaError:
    return AlpacaError(401, None, "unauthorized.")


def malformed(message: str = "request body format is invalid") -> AlpacaError:
    return AlpacaError(400, MALFORMED, message)


def invalid(message: str, status: int = 422) -> AlpacaError:
    return AlpacaError(status, INVALID, message)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, UNPROCESSABLE, message)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, NOT_FOUND, message)


def forbidden(message: str, **extra: Any) -> AlpacaError:
    return AlpacaError(403, FORBIDDEN, message, **extra)


def too_many() -> AlpacaError:
    return AlpacaError(429, TOO_MANY, "too many requests")


def internal(status: int = 500) -> AlpacaError:
    return AlpacaError(status, INTERNAL, "internal server error")
