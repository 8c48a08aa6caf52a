"""One running Binance simulator's own state around the shared engine: API keys, the symbol listing and
its filters, request-weight and order-count accounting with Binance's 429/418 escalation, counters.

Weight is counted per client IP in fixed one-minute windows of the simulator's monotonic clock (trio's, so
a MockClock drives it). Past the limit each request is answered 429 with ``Retry-After`` (the rest of the
window); a client that keeps sending through ``ban_after`` such 429s is banned (418) for ``ban_seconds``.
Signed requests are checked against ``epoch()`` (the wall clock, as a real server's), not the simulated
calendar, so reference clients stamping with their own wall clock are accepted.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from attrs import define

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.instruments import AssetClass, UnknownSymbol

SIM_API_KEY = "simBinanceApiKey0000000000000000000000000000000000000000000001"
SIM_SECRET_KEY = "simBinanceSecret000000000000000000000000000000000000000000001"
SIM_ACCOUNT = "SIMBINANCE1"
SIM_UID = 354937868

BASE_ASSETS = ("BTC", "ETH", "BNB", "ADA", "DOT", "SOL", "XRP", "LTC")
QUOTE_ASSETS = ("USDT", "USDC", "BUSD")


@define
class Options:
    """Switches; change them on a running simulator (``BinanceSim.of(engine).options``).

    ``weight_limit``: request weight per minute per IP. ``orders_10s`` / ``orders_1d``: unfilled-order
    counts per account. ``ban_after``: 429s a client may ignore before its IP is banned (418) for
    ``ban_seconds``. ``min_notional``: the NOTIONAL filter's minimum for stablecoin-quoted symbols.
    """

    weight_limit: int = 6000
    orders_10s: int = 100
    orders_1d: int = 200_000
    ban_after: int = 5
    ban_seconds: float = 120.0
    min_notional: Decimal = Decimal(5)
    max_notional: Decimal = Decimal(9_000_000)


@define
class Window:
    start: float
    used: int = 0
    refused: int = 0


class BinanceSim:
    _registry: ClassVar[weakref.WeakKeyDictionary[Engine, BinanceSim]] = weakref.WeakKeyDictionary()

    def __init__(self, engine: Engine, faults: Faults, *, keys: Mapping[str, str] | None = None,
                 options: Options | None = None, epoch: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.faults = faults
        self.keys = dict(keys or {SIM_API_KEY: SIM_SECRET_KEY})
        self.options = options or Options()
        self.epoch = epoch
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._weights: dict[str, Window] = {}
        self._orders_10s: dict[str, Window] = {}
        self._orders_1d: dict[str, Window] = {}
        self._banned: dict[str, float] = {}
        self._coid_seq = 0
        self.stream_subscribers = 0
        self.user_streams = 0
        BinanceSim._registry[engine] = self

    @classmethod
    def of(cls, engine: Engine) -> BinanceSim:
        return cls._registry[engine]

    # -------------------------------------------------------------------------------- listing

    def symbols(self) -> list[str]:
        found = []
        for base in BASE_ASSETS:
            for quote in QUOTE_ASSETS:
                try:
                    found.append(self.engine.market.info(base + quote).symbol)
                except UnknownSymbol:
                    continue
        return found

    def listed(self, symbol: str) -> bool:
        text = symbol.upper()
        if text != symbol:
            return False
        try:
            info = self.engine.market.info(text)
        except UnknownSymbol:
            return False
        return info.asset_class is AssetClass.CRYPTO and info.symbol == text

    def filters(self, symbol: str) -> dict[str, Decimal]:
        info = self.engine.market.info(symbol)
        stable = info.quote_asset in ("USDT", "USDC", "BUSD", "FDUSD", "TUSD")
        return {"tick": info.tick_size, "min_price": info.tick_size, "max_price": Decimal(1_000_000),
                "step": info.qty_step, "min_qty": info.qty_step, "max_qty": Decimal(9000),
                "min_notional": self.options.min_notional if stable else Decimal("0.0001"),
                "max_notional": self.options.max_notional}

    # -------------------------------------------------------------------------------- accounting

    def _window(self, table: dict[str, Window], key: str, period: float, now: float) -> Window:
        window = table.get(key)
        if window is None or now - window.start >= period:
            window = table[key] = Window(start=now)
        return window

    def charge(self, ip: str, weight: int) -> tuple[int, int, float | None]:
        """Count ``weight`` for ``ip``: (used this minute, status to refuse with or 0, retry-after)."""
        now = self.engine.clock.monotonic()
        with self._lock:
            until = self._banned.get(ip)
            if until is not None and now < until:
                window = self._window(self._weights, ip, 60.0, now)
                return window.used, 418, until - now
            window = self._window(self._weights, ip, 60.0, now)
            window.used += weight
            if window.used <= self.options.weight_limit:
                return window.used, 0, None
            window.refused += 1
            if window.refused > self.options.ban_after:
                self._banned[ip] = now + self.options.ban_seconds
                return window.used, 418, self.options.ban_seconds
            return window.used, 429, max(1.0, math.ceil(window.start + 60.0 - now))

    def ban_epoch_ms(self, ip: str) -> int:
        now = self.engine.clock.monotonic()
        left = max(0.0, self._banned.get(ip, now) - now)
        return int((self.epoch() + left) * 1000)

    def count_order(self, account: str, n: int = 1) -> tuple[int, int, bool]:
        """(count in 10 s, count today, allowed)."""
        now = self.engine.clock.monotonic()
        with self._lock:
            ten = self._window(self._orders_10s, account, 10.0, now)
            day = self._window(self._orders_1d, account, 86400.0, now)
            if ten.used + n > self.options.orders_10s or day.used + n > self.options.orders_1d:
                return ten.used, day.used, False
            ten.used += n
            day.used += n
            return ten.used, day.used, True

    def order_counts(self, account: str) -> tuple[int, int]:
        now = self.engine.clock.monotonic()
        with self._lock:
            return (self._window(self._orders_10s, account, 10.0, now).used,
                    self._window(self._orders_1d, account, 86400.0, now).used)

    def new_client_order_id(self) -> str:
        with self._lock:
            self._coid_seq += 1
            return f"sim{self._coid_seq:08d}x{int(self.epoch() * 1000) % 10_000_000:07d}"

    def snapshot(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "weight_limit": self.options.weight_limit,
                "stream_subscribers": self.stream_subscribers, "user_streams": self.user_streams}
