"""One running DEGIRO simulator's own state around the shared engine: the test login and its 2FA mode,
web sessions (30 min idle), check-order confirmations, the product catalogue, vwd quote sessions and
counters. Tests reach it with :meth:`DegiroSim.of`.
"""

from __future__ import annotations

import hashlib
import random
import threading
import weakref
from collections import Counter
from typing import Any, ClassVar

import trio
from attrs import define, field

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.instruments import AssetClass, SymbolInfo, UnknownSymbol, by_isin

# The simulator's test login (loopback only; it opens nothing anywhere else).
SIM_USERNAME = "orchsimuser"
SIM_PASSWORD = "orch-sim-password-0001"
SIM_TOTP_SECRET = "ORCHSIMDEGIROTOTPSECRET234567ABC"  # base32
SIM_INT_ACCOUNT = 31337001
SIM_CLIENT_ID = 4242001
SIM_ACCOUNT = "DEGIROSIM01"

# Exchange ids the simulator uses (see orch_degiro.protocol.EXCHANGE_SUFFIXES).
EXCHANGES = {"DE": "194", "PA": "710", "AS": "200", "L": "570"}
US_EXCHANGE = "663"
SEARCH_SUFFIXES = ("DE", "PA", "AS", "L")


@define
class Options:
    """``mfa``: ``"none"``, ``"totp"`` (status 6) or ``"in_app"`` (status 12, approved after
    ``in_app_pending_polls`` polls). ``session_idle``: seconds a session lives without a call.
    ``order_interval``: order requests closer than this (seconds) get 429, as DEGIRO does (0: off).
    ``captcha_after``: failed logins before ``captchaRequired``."""

    mfa: str = "totp"
    in_app_pending_polls: int = 2
    session_idle: float = 1800.0
    order_interval: float = 0.0
    captcha_after: int = 5
    confirmation_ttl: float = 300.0


@define
class WebSession:
    sid: str
    last_used: float


@define
class VwdSession:
    keys: list[str] = field(factory=list)
    sent: set[str] = field(factory=set)
    last_used: float = 0.0


class DegiroSim:
    _registry: ClassVar[weakref.WeakKeyDictionary[Engine, DegiroSim]] = weakref.WeakKeyDictionary()

    def __init__(self, engine: Engine, faults: Faults, options: Options | None = None) -> None:
        self.engine = engine
        self.faults = faults
        self.options = options or Options()
        self.lock = threading.RLock()
        self.sessions: dict[str, WebSession] = {}
        self.in_app: dict[str, int] = {}
        self.confirmations: dict[str, tuple[dict[str, Any], float]] = {}
        self.products: dict[str, str] = {}   # product id -> engine symbol
        self.vwd: dict[str, VwdSession] = {}
        self.login_failures = 0
        # The login the simulator accepts; tests change the password to make a re-login fail.
        self.username = SIM_USERNAME
        self.password = SIM_PASSWORD
        self.totp_secret = SIM_TOTP_SECRET
        self.last_totp_step = -1
        self.last_order_request: float | None = None
        self.counters: Counter[str] = Counter()
        self._rng = random.Random(f"degiro-sim|{engine.broker}")
        self._registry[engine] = self

    @classmethod
    def of(cls, engine: Engine) -> DegiroSim:
        return cls._registry[engine]

    # ----------------------------------------------------------------------------- time, ids

    @staticmethod
    def now() -> float:
        try:
            return trio.current_time()
        except RuntimeError:
            return 0.0

    def new_session_id(self) -> str:
        return f"{self._rng.getrandbits(128):032X}.prod_b_113_5"

    def new_token(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    # ----------------------------------------------------------------------------- sessions

    def open_session(self) -> str:
        with self.lock:
            sid = self.new_session_id()
            self.sessions[sid] = WebSession(sid, self.now())
            return sid

    def touch(self, sid: str | None) -> bool:
        """True (and the idle timer reset) if ``sid`` is a live session."""
        if not sid:
            return False
        with self.lock:
            session = self.sessions.get(sid)
            now = self.now()
            if session is None:
                return False
            if now - session.last_used > self.options.session_idle:
                del self.sessions[sid]
                return False
            session.last_used = now
            return True

    def expire_all(self) -> None:
        with self.lock:
            self.sessions.clear()

    # ----------------------------------------------------------------------------- products

    @staticmethod
    def product_id(symbol: str) -> str:
        digest = hashlib.sha1(symbol.encode()).hexdigest()
        return str(1_000_000 + int(digest[:8], 16) % 9_000_000)

    @staticmethod
    def vwd_id(product_id: str) -> str:
        return str(350_000_000 + int(product_id))

    def register(self, info: SymbolInfo) -> str:
        pid = self.product_id(info.symbol)
        with self.lock:
            self.products[pid] = info.symbol
        return pid

    def symbol_of(self, product_id: Any) -> str | None:
        with self.lock:
            return self.products.get(str(product_id))

    def symbol_of_vwd(self, vwd_id: str) -> str | None:
        try:
            return self.symbol_of(str(int(vwd_id) - 350_000_000))
        except ValueError:
            return None

    def search(self, text: str) -> list[SymbolInfo]:
        """What a lookup for ``text`` finds: the ISIN's listing, or the bare ticker plus its well-known
        European listings."""
        text = text.strip().upper()
        if not text:
            return []
        names: list[str] = []
        try:
            names.append(by_isin(text))
        except UnknownSymbol:
            names.append(text)
            names += [f"{text}.{suffix}" for suffix in SEARCH_SUFFIXES]
        found = []
        for name in names:
            try:
                info = self.engine.market.info(name)
            except UnknownSymbol:
                continue
            if info.asset_class not in (AssetClass.STOCK, AssetClass.ETF):
                continue
            if "." in name and name != names[0] and not info.name:
                continue  # only well-known foreign listings, not every hash-priced spelling
            found.append(info)
        return found

    def product(self, info: SymbolInfo) -> dict[str, Any]:
        pid = self.register(info)
        base, _, suffix = info.symbol.rpartition(".")
        exchange = EXCHANGES.get(suffix) if base else None
        etf = info.asset_class is AssetClass.ETF
        close = self.engine.market.quote(info.symbol, self.engine.now()).last
        return {
            "id": pid, "name": info.name or info.symbol, "isin": info.isin or "", "symbol": base or info.symbol,
            "productType": "ETF" if etf else "STOCK", "productTypeId": 131 if etf else 1, "category": "A",
            "currency": info.currency, "contractSize": 1.0, "tradable": True, "active": True,
            "exchangeId": exchange or US_EXCHANGE, "onlyEodPrices": False,
            "orderTimeTypes": ["DAY", "GTC"], "buyOrderTypes": ["LIMIT", "MARKET", "STOPLOSS", "STOPLIMIT"],
            "sellOrderTypes": ["LIMIT", "MARKET", "STOPLOSS", "STOPLIMIT"],
            "closePrice": close, "closePriceDate": self.engine.now().date().isoformat(), "feedQuality": "R",
            "vwdIdentifierType": "issueid", "vwdId": self.vwd_id(pid), "strikePrice": -0.0001,
        }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"sessions": len(self.sessions), "counters": dict(self.counters),
                    "confirmations": len(self.confirmations), "options": {
                        "mfa": self.options.mfa, "session_idle": self.options.session_idle}}
