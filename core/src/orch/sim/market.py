"""The deterministic market model: a price path per symbol, bid/ask quotes, bars, FX rates and sessions.

Prices are a pure function of ``(seed, symbol, time step)``: asking twice for the same moment gives the
same price, whichever simulator asks and in whatever order, so a test can compute the price an order must
fill at. Each path wanders around the symbol's reference price (:mod:`orch.sim.instruments`) like a random
walk over minutes and hours but stays within a few percent over weeks, so a demo run on any date looks
plausible. Prices change once per ``step_seconds`` (1 s by default).

Tests pin prices when they need an exact level (:meth:`MarketModel.set_price`) and force sessions open or
closed (:meth:`MarketModel.force_sessions`) without touching the clock.

Example::

    market = MarketModel(seed=7)
    q = market.quote("AAPL", when)            # SimQuote(bid, ask, bid_size, ask_size, last, ...)
    market.mid("BTCUSDT", when)               # Decimal, a multiple of the tick size
    market.set_price("AAPL", "150.00")        # pin the mid; release with market.release("AAPL")
    market.is_open("US", when)                # respects force_sessions()
    market.symbol_is_open("SAP.DE", when)     # the symbol's own session (Xetra)
    market.fx_rate("EUR", "USD", when)        # from the EURUSD path
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from functools import lru_cache

import attrs
from attrs import frozen

from orch.models import Instrument, Market, Quote, to_decimal
from orch.sim.instruments import (FX_CURRENCIES, AssetClass, SymbolInfo, UnknownSymbol, classify,
                                  usd_rate)
from orch.sim.sessions import Phase, Session, SESSIONS, session_for

__all__ = ["Bar", "MarketModel", "SimQuote"]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_SECONDS_PER_YEAR = 365.25 * 86400
# Noise scales, in steps: 1, 4, 16, … 4**11 (about seven weeks at one-second steps). Amplitudes grow with
# the square root of the scale so moves over a horizon h look like a random walk's (∝ √h) up to the
# largest scale, beyond which the path stops drifting.
_SCALES = tuple(4**i for i in range(12))
_AMPLITUDE = 0.7
_FX_PRIORITY = ("EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "JPY")
_STABLE_USD = frozenset({"USD", "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"})


@frozen
class SimQuote:
    """Top of book for one symbol at one moment (``symbol`` is canonical)."""

    symbol: str
    timestamp: datetime
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    last: Decimal
    last_size: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    def price_for(self, side: str) -> Decimal:
        """What a marketable order pays: the ask for a buy, the bid for a sell."""
        return self.ask if str(side).lower().endswith("buy") else self.bid

    def to_model(self, broker: str, instrument: Instrument) -> Quote:
        return Quote(broker=broker, instrument=instrument, timestamp=self.timestamp, bid=self.bid,
                     ask=self.ask, bid_size=self.bid_size, ask_size=self.ask_size, last=self.last)


@frozen
class Bar:
    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@frozen
class _Pin:
    mid: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    size: Decimal | None


def _gaussian(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)
    u2 = int.from_bytes(digest[8:], "big") / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def _to_tick(value: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    return ((value / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)


class MarketModel:
    """One deterministic market shared by everything that asks it for prices.

    ``seed``: the global seed (same seed, same prices). ``step_seconds``: how often prices change.
    ``strict``: if True, only symbols passed in ``symbols`` or added with :meth:`register` are known;
    otherwise every syntactically valid symbol is (except ``NOSUCH…`` and :meth:`delist`-ed ones).
    Thread-safe for reading; mutators swap whole dictionaries so readers never see half an update.
    """

    def __init__(self, seed: int = 0, *, step_seconds: float = 1.0, strict: bool = False,
                 symbols: Iterable[str] = ()) -> None:
        if step_seconds <= 0:
            raise ValueError("step_seconds must be positive")
        self.seed = seed
        self.step_seconds = step_seconds
        self.strict = strict
        self._lock = threading.Lock()
        self._registered: dict[str, SymbolInfo] = {}
        self._aliases: dict[str, str] = {}
        self._delisted: frozenset[str] = frozenset()
        self._pins: dict[str, _Pin] = {}
        self._forced: dict[str, bool] = {}
        self._version = 0  # bumped by every change to the listing, so cached SymbolInfos go stale
        self._path = lru_cache(maxsize=8192)(self._path_uncached)
        self._infos = lru_cache(maxsize=4096)(self._info_uncached)
        for symbol in symbols:
            self.register(symbol)

    # -------------------------------------------------------------------------------- symbols

    def info(self, symbol: str) -> SymbolInfo:
        """Static facts about ``symbol`` (canonicalised). :class:`UnknownSymbol` if it is not listed."""
        return self._infos(symbol, self._version)

    def _info_uncached(self, symbol: str, _version: int) -> SymbolInfo:
        text = symbol.strip().upper()
        text = self._aliases.get(text, text)
        info = self._registered.get(text)
        if info is None:
            if self.strict:
                raise UnknownSymbol(symbol)
            info = classify(text)
            info = self._registered.get(info.symbol, info)
            if self.strict and info.symbol not in self._registered:
                raise UnknownSymbol(symbol)
        if info.symbol in self._delisted:
            raise UnknownSymbol(symbol)
        return info

    def knows(self, symbol: str) -> bool:
        try:
            self.info(symbol)
        except UnknownSymbol:
            return False
        return True

    def canonical(self, symbol: str) -> str:
        return self.info(symbol).symbol

    def register(self, symbol: str, *, alias_of: str | None = None, **changes: object) -> SymbolInfo:
        """List ``symbol`` (needed in strict mode), optionally changing its facts
        (``register("FAKEPACA", start_price=Decimal(100))``) or making it another name for an existing
        symbol (``register("AAPL_US_EQ", alias_of="AAPL")``: same path, same position)."""
        if alias_of is not None:
            target = classify(alias_of)
            target = self._registered.get(target.symbol, target)
            with self._lock:
                aliases = dict(self._aliases)
                aliases[symbol.strip().upper()] = target.symbol
                registered = dict(self._registered)
                registered.setdefault(target.symbol, target)
                self._aliases, self._registered = aliases, registered
                self._version += 1
            return target
        base = self._registered.get(symbol.strip().upper())
        if base is None:
            base = classify(symbol)
        info = attrs.evolve(base, **changes) if changes else base  # type: ignore[arg-type]
        with self._lock:
            registered = dict(self._registered)
            registered[info.symbol] = info
            if info.symbol != symbol.strip().upper():
                registered[symbol.strip().upper()] = info
            self._registered = registered
            self._version += 1
        return info

    def delist(self, symbol: str) -> None:
        """Make ``symbol`` unknown from now on (orders for it are rejected as an unknown symbol)."""
        canonical = classify(symbol).symbol
        with self._lock:
            self._delisted = self._delisted | {canonical}
            self._version += 1

    # -------------------------------------------------------------------------------- prices

    def step_index(self, when: datetime) -> int:
        return math.floor((when - EPOCH).total_seconds() / self.step_seconds)

    def _path_uncached(self, symbol: str, volatility: float, n: int) -> float:
        sigma_step = volatility * math.sqrt(self.step_seconds / _SECONDS_PER_YEAR)
        total = 0.0
        for scale in _SCALES:
            k, rest = divmod(n, scale)
            frac = rest / scale
            prefix = f"{self.seed}|{symbol}|{scale}|"
            left = _gaussian(prefix + str(k))
            value = left if frac == 0 else left + (_gaussian(prefix + str(k + 1)) - left) * frac
            total += _AMPLITUDE * sigma_step * math.sqrt(scale) * value
        return total

    def _raw_mid(self, info: SymbolInfo, n: int) -> Decimal:
        factor = math.exp(self._path(info.symbol, info.volatility, n))
        mid = _to_tick(info.start_price * Decimal(repr(factor)), info.tick_size)
        return max(mid, info.tick_size)

    def mid(self, symbol: str, when: datetime) -> Decimal:
        """The mid price (a multiple of the tick size) of ``symbol`` at ``when``."""
        info = self.info(symbol)
        pin = self._pins.get(info.symbol)
        if pin is not None:
            if pin.mid is not None:
                return pin.mid
            if pin.bid is not None and pin.ask is not None:
                return _to_tick((pin.bid + pin.ask) / 2, info.tick_size)
        return self._raw_mid(info, self.step_index(when))

    def quote(self, symbol: str, when: datetime) -> SimQuote:
        """Top of book at ``when``: bid < ask, both multiples of the tick size, symmetric around the mid
        by half the asset class's spread (at least one tick each side), sizes around the symbol's typical
        size."""
        info = self.info(symbol)
        n = self.step_index(when)
        pin = self._pins.get(info.symbol)
        tick = info.tick_size
        if pin is not None and pin.bid is not None and pin.ask is not None:
            bid, ask = pin.bid, pin.ask
            mid = _to_tick((bid + ask) / 2, tick)
        else:
            mid = pin.mid if pin is not None and pin.mid is not None else self._raw_mid(info, n)
            # Symmetric around the mid, so a pinned mid gives predictable bid and ask.
            half = max(tick, _to_tick(mid * info.spread_bps / 20000, tick, ROUND_CEILING))
            bid = max(tick, mid - half)
            ask = max(bid + tick, mid + half)
        if pin is not None and pin.size is not None:
            bid_size = ask_size = pin.size
        else:
            bid_size = self._size(info, f"bid|{n}")
            ask_size = self._size(info, f"ask|{n}")
        return SimQuote(symbol=info.symbol, timestamp=when, bid=bid, ask=ask, bid_size=bid_size,
                        ask_size=ask_size, last=mid, last_size=self._size(info, f"last|{n}"))

    def _size(self, info: SymbolInfo, key: str) -> Decimal:
        lots = 1 + int(_unit(f"{self.seed}|{info.symbol}|{key}") * 10)
        size = info.typical_size * lots
        return size.quantize(info.qty_step) if info.qty_step < 1 else size.to_integral_value()

    def bars(self, symbol: str, start: datetime, end: datetime, seconds: int = 60, *,
             only_open: bool = False, extended: bool = False, samples: int = 30) -> list[Bar]:
        """OHLC bars of ``seconds`` each covering ``[start, end)``, sampled from the path (``samples``
        points per bar at most). ``only_open`` skips bars that start while the symbol's session is
        closed (regular hours, or extended too if ``extended``)."""
        if seconds <= 0:
            raise ValueError("bar length must be positive")
        info = self.info(symbol)
        result: list[Bar] = []
        points = max(1, min(samples, int(seconds / self.step_seconds)))
        bar_start = start
        while bar_start < end:
            if not only_open or self.symbol_is_open(info.symbol, bar_start, extended=extended):
                mids = [self.mid(info.symbol, bar_start + timedelta(seconds=seconds * i / points))
                        for i in range(points)]
                mids.append(self.mid(info.symbol, bar_start + timedelta(seconds=seconds - self.step_seconds)))
                volume = info.typical_size * (1 + int(_unit(f"{self.seed}|{info.symbol}|vol|"
                                                            f"{self.step_index(bar_start)}") * 50))
                result.append(Bar(symbol=info.symbol, start=bar_start, open=mids[0], high=max(mids),
                                  low=min(mids), close=mids[-1], volume=volume))
            bar_start += timedelta(seconds=seconds)
        return result

    def set_price(self, symbol: str, mid: object = None, *, bid: object = None, ask: object = None,
                  size: object = None) -> None:
        """Pin ``symbol``'s quote: a mid (the spread rule still applies), or an explicit bid and ask,
        and optionally the size on both sides. The pin holds until :meth:`release`."""
        info = self.info(symbol)
        if (bid is None) != (ask is None):
            raise ValueError("give both bid and ask, or neither")
        pin = _Pin(mid=None if mid is None else _to_tick(to_decimal(mid), info.tick_size),
                   bid=None if bid is None else to_decimal(bid), ask=None if ask is None else to_decimal(ask),
                   size=None if size is None else to_decimal(size))
        if pin.mid is None and pin.bid is None:
            raise ValueError("set_price needs a mid or a bid and an ask")
        if pin.bid is not None and pin.ask is not None and not 0 < pin.bid < pin.ask:
            raise ValueError(f"need 0 < bid < ask, got bid {pin.bid} ask {pin.ask}")
        with self._lock:
            pins = dict(self._pins)
            pins[info.symbol] = pin
            self._pins = pins

    def release(self, symbol: str | None = None) -> None:
        """Let ``symbol`` (or every symbol) follow its path again."""
        with self._lock:
            self._pins = {} if symbol is None else {
                k: v for k, v in self._pins.items() if k != self.info(symbol).symbol}

    # -------------------------------------------------------------------------------- money

    def usd_value(self, asset: str, when: datetime) -> Decimal:
        """US dollars per unit of ``asset`` (a fiat currency, GBX, a stablecoin or a crypto asset)."""
        asset = asset.upper()
        if asset in _STABLE_USD:
            return Decimal(1)
        if asset == "GBX":
            return self.usd_value("GBP", when) / 100
        if asset in FX_CURRENCIES:
            if _FX_PRIORITY.index("USD") > _fx_rank(asset):
                return self.mid(asset + "USD", when)
            return 1 / self.mid("USD" + asset, when)
        try:
            return self.mid(asset + "USD", when)
        except UnknownSymbol:
            return usd_rate(asset)

    def fx_rate(self, from_currency: str, to_currency: str, when: datetime) -> Decimal:
        """Units of ``to_currency`` per unit of ``from_currency`` at ``when`` (12 significant digits)."""
        if from_currency.upper() == to_currency.upper():
            return Decimal(1)
        rate = self.usd_value(from_currency, when) / self.usd_value(to_currency, when)
        return Decimal(f"{rate:.12g}")

    # -------------------------------------------------------------------------------- sessions

    def session_of(self, symbol: str) -> Session:
        return SESSIONS[self.info(symbol).session]

    def force_sessions(self, state: bool | None, *names: str | Market) -> None:
        """Force sessions open (True) or closed (False), or back to their hours (None). No names means
        every session. Forcing beats the clock: the demo uses ``force_sessions(True)``."""
        keys = [session_for(n).name for n in names] or ["*"]
        with self._lock:
            forced = dict(self._forced)
            if not names and state is None:
                forced = {}
            for key in keys:
                if state is None:
                    forced.pop(key, None)
                else:
                    forced[key] = state
            self._forced = forced

    @property
    def forced_sessions(self) -> dict[str, bool]:
        """Sessions forced open (True) or closed (False); ``"*"`` stands for all."""
        return dict(self._forced)

    def phase(self, market: str | Market | Session, when: datetime) -> Phase:
        session = session_for(market)
        forced = self._forced.get(session.name, self._forced.get("*"))
        if forced is not None:
            return "regular" if forced else "closed"
        return session.phase(when)

    def is_open(self, market: str | Market | Session, when: datetime, *, extended: bool = False) -> bool:
        current = self.phase(market, when)
        return current == "regular" or (extended and current in ("pre", "post"))

    def symbol_is_open(self, symbol: str, when: datetime, *, extended: bool = False) -> bool:
        return self.is_open(self.info(symbol).session, when, extended=extended)

    def next_close(self, symbol: str, when: datetime, *, extended: bool = False) -> datetime:
        return self.session_of(symbol).next_close(when, extended=extended)

    def next_open(self, symbol: str, when: datetime, *, extended: bool = False) -> datetime:
        return self.session_of(symbol).next_open(when, extended=extended)

    # -------------------------------------------------------------------------------- ticks

    def tick_size(self, symbol: str) -> Decimal:
        return self.info(symbol).tick_size

    def on_tick(self, symbol: str, price: Decimal) -> bool:
        """Whether ``price`` is a whole number of ticks."""
        return price % self.info(symbol).tick_size == 0

    def round_price(self, symbol: str, price: object, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        return _to_tick(to_decimal(price), self.info(symbol).tick_size, rounding)

    def is_crypto(self, symbol: str) -> bool:
        return self.info(symbol).asset_class is AssetClass.CRYPTO


def _fx_rank(currency: str) -> int:
    return _FX_PRIORITY.index(currency) if currency in _FX_PRIORITY else len(_FX_PRIORITY)
