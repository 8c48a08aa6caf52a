"""One running Alpaca simulator's own state around the shared engine: API keys and the accounts they open,
the listing, the rate budget, counters, market-data connection slots and simulator options.

The runner only hands ``(engine, faults)`` to ``build``; tests reach this object with
:meth:`AlpacaSim.of` (``AlpacaSim.of(running.engine).counters.requests``).
"""

from __future__ import annotations

import hmac
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar

from attrs import define, field, frozen

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.instruments import SymbolInfo

from orch_alpaca.sim import wire
from orch_alpaca.sim.listing import Listing
from orch_alpaca.sim.ratelimit import Counters, RateLimiter

# The simulator's test credentials (loopback only; they open nothing anywhere else).
SIM_KEY_ID = "PKSIMALPACA00000000001"
SIM_SECRET_KEY = "sim-alpaca-secret-0000000000000000000001"
SIM_ACCOUNT = "PA3SIMALPACA"


@frozen
class ApiKey:
    secret: str = field(repr=False)
    account_id: str | None = None  # None: the engine's first account


@define
class Options:
    """Simulator switches; change them on a running simulator (``AlpacaSim.of(engine).options``).

    ``rate_limit``: trading requests per minute per key; ``data_rate_limit`` the same for market data.
    ``md_symbol_limit``: distinct trade/quote symbols per market-data connection (error 405), None for no
    limit. ``md_connections_per_key``: market-data connections per key and endpoint (error 406).
    ``auth_timeout``: seconds a market-data client may take to authenticate (error 404).
    ``gate_stock_data``: push stock quotes only while the US session (extended hours included) is open,
    as IEX does; the ``/v2/test`` feed ignores it.
    """

    rate_limit: int = 200
    data_rate_limit: int = 200
    md_symbol_limit: int | None = 30
    md_connections_per_key: int = 1
    auth_timeout: float = 10.0
    gate_stock_data: bool = True


class AlpacaSim:
    """See the module docstring. ``epoch`` is the clock written into ``X-RateLimit-Reset`` (the same
    one the server's ``Date`` header comes from)."""

    _registry: ClassVar[weakref.WeakKeyDictionary[Engine, AlpacaSim]] = weakref.WeakKeyDictionary()

    def __init__(self, engine: Engine, faults: Faults, *, keys: Mapping[str, ApiKey] | None = None,
                 options: Options | None = None, epoch: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.faults = faults
        self.keys = dict(keys or {SIM_KEY_ID: ApiKey(SIM_SECRET_KEY)})
        self.options = options or Options()
        self.listing = Listing(engine.market)
        self.counters = Counters()
        # By default the simulated clock, the one the Date header and order timestamps come from.
        self.epoch = epoch or (lambda: engine.now().timestamp())
        self.trading_limiter = RateLimiter(self.options.rate_limit, monotonic=engine.clock.monotonic,
                                           epoch=self.epoch)
        self.data_limiter = RateLimiter(self.options.data_rate_limit, monotonic=engine.clock.monotonic,
                                        epoch=self.epoch)
        self.created_at = datetime(2024, 1, 2, 15, 0, tzinfo=timezone.utc)
        self._slots: dict[tuple[str, str], int] = {}
        self._slots_lock = threading.Lock()
        self._trade_seq = 0
        self._coid_seq = 0
        self._listening = threading.Condition()
        self.trade_listeners = 0
        self.md_subscribers = 0
        AlpacaSim._registry[engine] = self

    @classmethod
    def of(cls, engine: Engine) -> AlpacaSim:
        """The simulator state built on ``engine`` (``KeyError`` if none was)."""
        return cls._registry[engine]

    # -------------------------------------------------------------------------------- keys, accounts

    def check_key(self, key_id: str | None, secret: str | None) -> bool:
        entry = self.keys.get(key_id or "")
        if entry is None or secret is None:
            return False
        return hmac.compare_digest(entry.secret.encode(), secret.encode())

    def account_id(self, key_id: str) -> str:
        entry = self.keys[key_id]
        return entry.account_id or self.engine.account().account_id

    def account_uuid(self, account_id: str) -> str:
        return wire.stable_uuid("account", account_id)

    def account_number(self, account_id: str) -> str:
        return account_id

    # -------------------------------------------------------------------------------- budget

    def sync_limits(self) -> None:
        """Options may change at any time; the limiters read them on each request."""
        self.trading_limiter.limit = self.options.rate_limit
        self.data_limiter.limit = self.options.data_rate_limit

    # -------------------------------------------------------------------------------- market data slots

    def claim(self, key_id: str, endpoint: str) -> bool:
        with self._slots_lock:
            used = self._slots.get((key_id, endpoint), 0)
            if used >= self.options.md_connections_per_key:
                return False
            self._slots[(key_id, endpoint)] = used + 1
            return True

    def release(self, key_id: str, endpoint: str) -> None:
        with self._slots_lock:
            used = self._slots.get((key_id, endpoint), 0)
            if used <= 1:
                self._slots.pop((key_id, endpoint), None)
            else:
                self._slots[(key_id, endpoint)] = used - 1

    def new_client_order_id(self) -> str:
        with self._slots_lock:
            self._coid_seq += 1
            return wire.stable_uuid("client_order_id", self.engine.broker, str(self._coid_seq))

    def next_trade_id(self) -> int:
        with self._slots_lock:
            self._trade_seq += 1
            return self._trade_seq

    # -------------------------------------------------------------------------------- stream readiness

    def stream_count(self, name: str, delta: int) -> None:
        """Track connections ready for data (``trade_listeners``: listening to trade_updates;
        ``md_subscribers``: subscribed to some market data), so tests can wait for them."""
        with self._listening:
            setattr(self, name, getattr(self, name) + delta)
            self._listening.notify_all()

    def wait_for_streams(self, *, trade_listeners: int = 0, md_subscribers: int = 0,
                         timeout: float = 10.0) -> bool:
        """Block (a test thread) until at least this many streams are ready; False on timeout."""
        with self._listening:
            return self._listening.wait_for(lambda: self.trade_listeners >= trade_listeners
                                            and self.md_subscribers >= md_subscribers, timeout)

    # -------------------------------------------------------------------------------- helpers

    def info(self, canonical: str) -> SymbolInfo:
        return self.engine.market.info(canonical)

    def now(self) -> datetime:
        return self.engine.now()

    def price_for(self, info: SymbolInfo, side: str) -> Decimal:
        return self.engine.quote(info.symbol).price_for(side)

    def snapshot(self) -> dict[str, Any]:
        return {"counters": self.counters.snapshot(), "options": {
            "rate_limit": self.options.rate_limit, "data_rate_limit": self.options.data_rate_limit,
            "md_symbol_limit": self.options.md_symbol_limit,
            "md_connections_per_key": self.options.md_connections_per_key,
            "auth_timeout": self.options.auth_timeout, "gate_stock_data": self.options.gate_stock_data}}
