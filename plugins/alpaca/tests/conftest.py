"""Shared test helpers for the Alpaca plugin: recorded payloads, settings, a fake rate limiter."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from orch_alpaca.settings import AlpacaSettings

FIXTURES = Path(__file__).parent / "fixtures"

# Distinct canaries so a leak of either is caught wherever it appears.
KEY = "PKCANARYKEY0123456789"
SECRET = "canary-secret-3f9a1c7e5b2d"


def payload(name: str):
    """A recorded Alpaca payload, decoded as the plugin decodes the wire (exact decimals)."""
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeLimiter:
    """The RateLimiter interface of orch.resilience, recording what it is told."""

    def __init__(self) -> None:
        self.acquired: list[tuple[int, bool]] = []
        self.observed: list[dict] = []
        self.penalties: list[float | None] = []

    async def acquire(self, cost: int = 1, *, order: bool = False) -> None:
        self.acquired.append((cost, order))

    def observe(self, *, used=None, remaining=None, limit=None, reset_after=None) -> None:
        self.observed.append({"used": used, "remaining": remaining, "limit": limit, "reset_after": reset_after})

    def penalize(self, retry_after: float | None = None) -> None:
        self.penalties.append(retry_after)

    def halt(self, until: float, reason: str) -> None:
        raise AssertionError("not expected")


@pytest.fixture
def settings() -> AlpacaSettings:
    return AlpacaSettings(enabled=True, api_key=KEY, secret_key=SECRET)


@pytest.fixture
def limiter() -> FakeLimiter:
    return FakeLimiter()


@pytest.fixture
def load():
    return payload


@pytest.fixture
def load_raw():
    return raw


@pytest.fixture
def key() -> str:
    return KEY


@pytest.fixture
def secret() -> str:
    return SECRET
