"""Which market a symbol trades in, and which configured broker gets an order for it.

Pure logic: no I/O, no clock. Broker availability (circuit breaker open, cannot connect) is asked through a
callable the caller passes in, so ``orch route SYMBOL`` can explain a decision without connecting anywhere.

Classification (:func:`classify`) is by symbol shape; ``market=`` (``--market``) always wins. Checked in
this order, first match wins:

1. OCC option symbols (``AAPL  261218C00150000``, padded or not) → OPTIONS
2. futures: a known root with a month code (``ESZ6``, ``ESZ26``, ``/ESZ6``) or ``ES 2026-12`` → FUTURES
3. CFD names and index CFDs (``US500``, ``DE40``, ``GOLD``, ``OIL.WTI``, ``XAUUSD``) → CFD
4. exchange suffixes: European (``.L``, ``.DE``, ``.PA`` …) → EU_STOCKS; ``.TO``, ``.T``, ``.HK``, ``.AX``
   → GLOBAL_STOCKS; a one-letter share class (``BRK.B``) → US_STOCKS; any other suffix is refused
5. pairs: both legs ISO fiat codes (``EURUSD``, ``EUR/USD``) → FOREX; a known crypto base or a crypto quote
   asset (``BTCUSDT``, ``ETHBTC``, ``BTC/USD``, ``BTC-USD``) → CRYPTO
6. a US ticker: 1–5 letters, optionally a share class (``BRK.B``, ``BRK-B``, ``BRK/B``) → US_STOCKS

A bare crypto code such as ``BTC`` or ``ETH`` is a US ticker (both are listed NYSE symbols); write the pair
(``BTC/USD``) or pass ``--market CRYPTO``. Names the guide's CFD brokers use for commodities (``GOLD``,
``OIL``) shadow same-named US tickers; ``--market US_STOCKS`` overrides.

Routing (:class:`Router`) of a symbol's market, first rule that yields a broker wins:

1. an explicit broker (``--broker``): it must serve the market, and it is never replaced by another broker
   when it is unavailable (an explicit choice silently going elsewhere is worse than an error);
2. ``broker_selection.by_market``;
3. ``broker_routing.crypto_broker`` / ``forex_broker`` for CRYPTO / FOREX;
4. brokers with a ``broker_selection.alphabetical`` profile that serve the market, by ``priority`` (lowest
   first, unnumbered last), then cost tier (``commission_free``, ``low_cost``, unlisted), then the optional
   per-broker commission figure, then name;
5. ``broker_routing.default_broker`` if it serves the market;
6. any other enabled broker serving it, in the same cost order.

Brokers in ``by_cost.avoid_high_cost`` are left out of rules 4 and 6 unless no other enabled broker serves
the market; rules 1, 2, 3 and 5 name a broker explicitly and are honoured. The first candidate is the
choice; when it is unavailable, ``broker_routing.fallback_broker`` is tried if it serves the market, then
the remaining candidates in order.

What a broker serves: its config ``markets`` (else its plugin's ``BrokerInfo.markets``), plus the markets its
``alphabetical`` profile lists, plus the markets the config maps to it explicitly (``by_market``,
``crypto_broker``, ``forex_broker``: the guide maps FOREX to ibkr without listing FOREX in ibkr's
``markets``, and the user's explicit mapping is taken as the declaration). GLOBAL_STOCKS covers US_STOCKS and
EU_STOCKS: a broker with global stock access trades both; the reverse does not hold. Only enabled brokers
are routed to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from orch.config_model import BrokerRouting, BrokerSelection
from orch.errors import BrokerUnavailable, UsageError
from orch.models import Market

__all__ = ["Candidate", "RouteDecision", "Router", "broker_markets_from", "classify", "normalize_symbol",
           "pair_quote_currency", "parse_market", "serves_markets"]

# ---------------------------------------------------------------------------------------------- classify

# Fiat only: XAU/XAG are ISO 4217 too, but brokers list metals as CFDs/commodities, not FX pairs.
FIAT = frozenset("""
    USD EUR GBP JPY CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF TRY ZAR MXN SGD HKD CNH CNY ILS RUB INR KRW
    BRL THB TWD RON BGN ISK IDR MYR PHP SAR AED CLP COP PEN ARS KWD QAR
""".split())

CRYPTO_BASES = frozenset("""
    BTC XBT ETH BNB SOL XRP ADA DOGE DOT LTC BCH AVAX LINK MATIC POL TRX SHIB UNI ATOM XLM ETC FIL APT ARB
    OP NEAR ICP SUI PEPE TON AAVE MKR ALGO XTZ EOS SAND MANA DAI WBTC YFI SUSHI CRV COMP GRT INJ SEI TIA
    HBAR VET KAS RNDR RENDER FET IMX STX BAT USDT USDC BUSD FDUSD TUSD
""".split())

# Quote assets that only exist in crypto: any base quoted in them is a crypto pair.
CRYPTO_ONLY_QUOTES = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "BTC", "ETH", "BNB"})
# Quote assets tried as suffixes of an unseparated pair, longest first so BTCFDUSD is not read as …USD.
QUOTE_SUFFIXES = tuple(sorted(CRYPTO_ONLY_QUOTES | {"USD", "EUR"}, key=len, reverse=True))

FUTURES_ROOTS = frozenset("""
    ES NQ YM RTY MES MNQ MYM M2K EMD CL QM MCL NG RB HO BZ GC SI HG PL PA MGC SIL ZB ZN ZF ZT UB TN ZC ZS
    ZW ZM ZL KE LE HE GF 6E 6J 6B 6A 6C 6S 6N M6E VX FESX FDAX FGBL FGBM
""".split())
MONTH_CODES = "FGHJKMNQUVXZ"

CFD_NAMES = frozenset("""
    GOLD SILVER OIL OIL.WTI BRENT NATGAS COPPER PLATINUM PALLADIUM COCOA COFFEE SUGAR WHEAT SOYBEAN
    XAUUSD XAGUSD XPTUSD XPDUSD XAUEUR VIX USDIDX USTEC
""".split())
_INDEX_CFD = re.compile(
    r"(US|DE|UK|FR|EU|JP|HK|AU|AUS|ES|IT|NL|CH|CN|SG|W|SPX|NAS|GER|JPN|FRA|ITA|SPA|NED|SUI|STOXX)"
    r"[0-9]{2,4}", re.ASCII)

EU_SUFFIXES = frozenset({"L", "DE", "PA", "AS", "MI", "MC", "SW", "BR", "LS", "VI", "ST", "HE", "CO",
                         "OL", "IR"})
GLOBAL_SUFFIXES = frozenset({"TO", "T", "HK", "AX"})

_OCC = re.compile(r"([A-Z][A-Z0-9.]{0,5}) *([0-9]{2})([0-9]{2})([0-9]{2})([CP])([0-9]{8})", re.ASCII)
_FUTURE_CODE = re.compile(rf"/?([A-Z0-9]{{1,4}}?)([{MONTH_CODES}])([0-9]{{1,2}}|[0-9]{{4}})", re.ASCII)
_FUTURE_DATE = re.compile(r"([A-Z0-9]{1,4}) +([0-9]{4})-?([0-9]{2})", re.ASCII)
_LISTING = re.compile(r"[A-Z0-9][A-Z0-9&.\-]{0,11}", re.ASCII)
_US_TICKER = re.compile(r"[A-Z]{1,5}", re.ASCII)
_US_CLASS = re.compile(r"([A-Z]{1,5})[.\-/ ]([A-Z])", re.ASCII)
_LEG = re.compile(r"[A-Z0-9]{2,10}", re.ASCII)
_PAIR = re.compile(r"([A-Z0-9]{2,10})[/\-]([A-Z0-9]{2,10})", re.ASCII)

_MARKET_NAMES = ", ".join(m.value for m in Market)


def normalize_symbol(symbol: str) -> str:
    """How orch writes a symbol: outer whitespace stripped, upper case (an OCC symbol's inner spaces kept)."""
    if not isinstance(symbol, str):
        raise UsageError(f"a symbol must be text, got {type(symbol).__name__}")
    return symbol.strip().upper()


def parse_market(value: Market | str) -> Market:
    """``Market`` from a member or its name in any case (``crypto``, ``US_STOCKS``, ``us-stocks``)."""
    if isinstance(value, Market):
        return value
    text = str(value).strip().upper().replace("-", "_")
    try:
        return Market(text)
    except ValueError:
        raise UsageError(f"unknown market {value!r}", hint=f"one of {_MARKET_NAMES}") from None


def classify(symbol: str, market: Market | str | None = None) -> Market:
    """The market ``symbol`` trades in; ``market`` (the ``--market`` option) wins when given.

    Raises :class:`~orch.errors.UsageError` naming the symbol when it is empty or its shape says nothing
    certain, and never anything else."""
    return _classify(symbol, market)[0]


def _classify(symbol: str, market: Market | str | None) -> tuple[Market, str]:
    norm = normalize_symbol(symbol)
    if not norm:
        raise UsageError("empty symbol", hint="give a symbol such as AAPL, BTCUSDT or EURUSD")
    if market is not None:
        return parse_market(market), "given with --market"
    for rule in (_option, _future, _cfd, _suffix, _pair, _us_stock):
        found = rule(norm)
        if found is not None:
            return found
    raise UsageError(f"cannot tell which market {symbol.strip()!r} trades in",
                     hint=f"pass --market with one of {_MARKET_NAMES}")


def _option(s: str) -> tuple[Market, str] | None:
    m = _OCC.fullmatch(s)
    if m and 1 <= int(m[3]) <= 12 and 1 <= int(m[4]) <= 31:
        kind = "call" if m[5] == "C" else "put"
        return Market.OPTIONS, f"an OCC option symbol ({m[1]} {kind})"
    return None


def _future(s: str) -> tuple[Market, str] | None:
    m = _FUTURE_CODE.fullmatch(s)
    if m and m[1] in FUTURES_ROOTS:
        return Market.FUTURES, f"futures root {m[1]} with month code {m[2]}"
    m = _FUTURE_DATE.fullmatch(s)
    if m and m[1] in FUTURES_ROOTS and 1 <= int(m[3]) <= 12:
        return Market.FUTURES, f"futures root {m[1]} expiring {m[2]}-{m[3]}"
    return None


def _cfd(s: str) -> tuple[Market, str] | None:
    if s in CFD_NAMES:
        return Market.CFD, "a CFD/commodity name"
    if _INDEX_CFD.fullmatch(s):
        return Market.CFD, "an index CFD name"
    return None


def _suffix(s: str) -> tuple[Market, str] | None:
    base, dot, suffix = s.rpartition(".")
    if not dot:
        return None
    if not base or not _LISTING.fullmatch(base):
        return None
    if suffix in EU_SUFFIXES:
        return Market.EU_STOCKS, f"European exchange suffix .{suffix}"
    if suffix in GLOBAL_SUFFIXES:
        return Market.GLOBAL_STOCKS, f"exchange suffix .{suffix}"
    if len(suffix) == 1 and suffix.isascii() and suffix.isalpha() and _US_TICKER.fullmatch(base):
        return Market.US_STOCKS, f"US ticker {base} share class {suffix}"
    if suffix.isascii() and suffix.isalnum() and 1 <= len(suffix) <= 3:
        raise UsageError(f"unknown exchange suffix .{suffix} in {s!r}",
                         hint=f"pass --market with one of {_MARKET_NAMES}")
    return None


def _pair(s: str) -> tuple[Market, str] | None:
    found = _pair_legs(s)
    return None if found is None else found[0]


def _pair_legs(s: str) -> tuple[tuple[Market, str], str] | None:
    """(market, reason) and the quote leg of a currency or crypto pair, or None."""
    m = _PAIR.fullmatch(s)
    if m:
        found = _legs(m[1], m[2])
        return None if found is None else (found, m[2])
    if len(s) == 6 and s[:3] in FIAT and s[3:] in FIAT:
        return (Market.FOREX, f"currency pair {s[:3]}/{s[3:]}"), s[3:]
    if not _LEG.fullmatch(s):
        return None
    for quote in QUOTE_SUFFIXES:
        base = s[: -len(quote)]
        if not s.endswith(quote) or len(base) < 2:
            continue
        # Up to five letters could be a US ticker (a fund like ABETH): only a known base makes it a pair.
        if base not in CRYPTO_BASES and len(s) <= 5:
            continue
        found = _legs(base, quote)
        if found is not None:
            return found, quote
    return None


def pair_quote_currency(symbol: str) -> str | None:
    """The currency a forex or crypto pair is priced in (``BTCUSDT`` → ``USDT``, ``EUR/GBP`` → ``GBP``),
    None when ``symbol`` is not a pair. Amounts of a BTCUSDT trade are USDT, not dollars: the journal and
    ``orch report`` label them with this."""
    found = _pair_legs(normalize_symbol(symbol))
    return None if found is None else found[1]


def _legs(base: str, quote: str) -> tuple[Market, str] | None:
    if base in FIAT and quote in FIAT:
        return Market.FOREX, f"currency pair {base}/{quote}"
    if base in CRYPTO_BASES and (quote in FIAT or quote in CRYPTO_BASES):
        return Market.CRYPTO, f"crypto pair {base}/{quote}"
    if quote in CRYPTO_ONLY_QUOTES:
        return Market.CRYPTO, f"crypto pair {base}/{quote} ({quote} is a crypto quote asset)"
    return None


def _us_stock(s: str) -> tuple[Market, str] | None:
    if _US_TICKER.fullmatch(s):
        return Market.US_STOCKS, "a US ticker"
    m = _US_CLASS.fullmatch(s)
    if m:
        return Market.US_STOCKS, f"US ticker {m[1]} share class {m[2]}"
    return None


# ---------------------------------------------------------------------------------------------- route


def serves_markets(markets: Iterable[Market]) -> frozenset[Market]:
    """The markets a broker listing ``markets`` can trade: GLOBAL_STOCKS adds US_STOCKS and EU_STOCKS."""
    result = set(markets)
    if Market.GLOBAL_STOCKS in result:
        result |= {Market.US_STOCKS, Market.EU_STOCKS}
    return frozenset(result)


def broker_markets_from(brokers: Mapping[str, Any], plugin_markets: Mapping[str, Any]
                        ) -> dict[str, frozenset[Market]]:
    """Markets of each *enabled* broker: its config ``markets`` if set, else its plugin's.

    ``brokers`` is ``OrchConfig.brokers`` (name → settings); ``plugin_markets`` maps a name to a
    ``BrokerInfo`` or directly to a set of markets."""
    result = {}
    for name, settings in brokers.items():
        if not getattr(settings, "enabled", False):
            continue
        configured = tuple(getattr(settings, "markets", ()) or ())
        if configured:
            result[name] = frozenset(configured)
            continue
        info = plugin_markets.get(name)
        result[name] = frozenset(getattr(info, "markets", info) or ())
    return result


@frozen
class RouteDecision:
    """Where an order for ``symbol`` goes and why. ``reasons`` explains every step in order; ``rule`` names
    the rule that chose the first candidate; ``candidates`` are the brokers considered, in order."""

    symbol: str
    original: str
    market: Market
    broker: str
    rule: str
    reasons: tuple[str, ...]
    fallback_used: bool = False
    candidates: tuple[str, ...] = ()

    def explain(self) -> str:
        """The text ``orch route SYMBOL`` prints."""
        head = f"{self.symbol} ({self.market.value}) → {self.broker}"
        if self.fallback_used:
            head += "  [fallback]"
        lines = [head]
        lines += [f"  - {reason}" for reason in self.reasons]
        if self.candidates:
            lines.append(f"  candidates, in order: {', '.join(self.candidates)}")
        return "\n".join(lines)


@frozen
class Candidate:
    """A broker the router may use, and the config rule that made it one."""

    name: str
    rule: str


@frozen
class Router:
    """Chooses a broker for a symbol from the config's routing blocks and the enabled brokers' markets.

    ``broker_markets`` maps each *enabled* broker to the markets it lists (see :func:`broker_markets_from`);
    ``commission`` optionally gives a comparable per-broker commission figure (lower is cheaper) used to
    order brokers in the same cost tier."""

    broker_routing: BrokerRouting = field(factory=BrokerRouting)
    broker_selection: BrokerSelection = field(factory=BrokerSelection)
    broker_markets: Mapping[str, frozenset[Market]] = field(factory=dict, hash=False)
    commission: Mapping[str, Decimal] = field(factory=dict, hash=False)

    @classmethod
    def from_config(cls, config: Any, plugin_markets: Mapping[str, Any] | None = None,
                    commission: Mapping[str, Decimal] | None = None) -> Router:
        """From an ``OrchConfig`` and each installed plugin's ``BrokerInfo`` (or market set) by name."""
        return cls(broker_routing=config.broker_routing, broker_selection=config.broker_selection,
                   broker_markets=broker_markets_from(config.brokers, plugin_markets or {}),
                   commission=dict(commission or {}))

    # -- what each broker serves -----------------------------------------------------------------------

    def _declared(self, name: str) -> dict[Market, str]:
        """Markets the config maps to ``name`` explicitly, with the config key that does it."""
        declared: dict[Market, str] = {}
        profile = self.broker_selection.alphabetical.get(name)
        if profile is not None:
            for m in profile.markets:
                declared.setdefault(m, f"broker_selection.alphabetical.{name}.markets")
        for m, who in self.broker_selection.by_market.items():
            if who == name:
                declared.setdefault(Market(m), f"broker_selection.by_market.{Market(m).value}")
        if self.broker_routing.crypto_broker == name:
            declared.setdefault(Market.CRYPTO, "broker_routing.crypto_broker")
        if self.broker_routing.forex_broker == name:
            declared.setdefault(Market.FOREX, "broker_routing.forex_broker")
        return declared

    def serves(self, name: str, market: Market) -> str | None:
        """Why enabled broker ``name`` serves ``market`` (one phrase), or None when it does not."""
        if name not in self.broker_markets:
            return None
        listed = self.broker_markets[name]
        if market in listed:
            return f"its markets list {market.value}"
        declared = self._declared(name)
        if market in declared:
            return f"{declared[market]} names it"
        if market in (Market.US_STOCKS, Market.EU_STOCKS):
            if Market.GLOBAL_STOCKS in listed:
                return f"GLOBAL_STOCKS covers {market.value}"
            if Market.GLOBAL_STOCKS in declared:
                return f"{declared[Market.GLOBAL_STOCKS]} lists GLOBAL_STOCKS, which covers {market.value}"
        return None

    def served_markets(self, name: str) -> frozenset[Market]:
        if name not in self.broker_markets:
            return frozenset()
        return frozenset(m for m in Market if self.serves(name, m))

    # -- ordering ---------------------------------------------------------------------------------------

    def _tier(self, name: str) -> int:
        cost = self.broker_selection.by_cost
        profile = self.broker_selection.alphabetical.get(name)
        if name in cost.commission_free or (profile is not None and profile.commission_free):
            return 0
        if name in cost.low_cost:
            return 1
        if name in cost.avoid_high_cost:
            return 3
        return 2

    def _cost_key(self, name: str) -> tuple[int, int, Decimal, str]:
        figure = self.commission.get(name)
        return (self._tier(name), figure is None, figure if figure is not None else Decimal(0), name)

    def _priority_key(self, name: str) -> tuple[int, int, tuple[int, int, Decimal, str]]:
        priority = self.broker_selection.alphabetical[name].priority
        return (priority is None, priority if priority is not None else 0, self._cost_key(name))

    def _describe(self, name: str) -> str:
        bits = []
        profile = self.broker_selection.alphabetical.get(name)
        if profile is not None and profile.priority is not None:
            bits.append(f"priority {profile.priority}")
        tier = ("commission_free", "low_cost", None, "avoid_high_cost")[self._tier(name)]
        if tier:
            bits.append(tier)
        if name in self.commission:
            bits.append(f"commission {self.commission[name]}")
        return f"{name} ({', '.join(bits)})" if bits else name

    # -- candidates -------------------------------------------------------------------------------------

    def candidates(self, market: Market, reasons: list[str] | None = None) -> list[Candidate]:
        """Brokers to try for ``market``, in order, each with the rule that put it there. Appends a line
        per step to ``reasons`` when given."""
        notes: list[str] = reasons if reasons is not None else []
        out: list[Candidate] = []
        seen: set[str] = set()

        def offer(name: str | None, rule: str) -> None:
            if name is None:
                return
            if name not in self.broker_markets:
                notes.append(f"{rule} = {name}: skipped, {name} is not enabled")
            elif name in seen:
                notes.append(f"{rule} = {name}: already a candidate")
            elif not (why := self.serves(name, market)):
                notes.append(f"{rule} = {name}: skipped, {name} does not serve {market.value}")
            else:
                seen.add(name)
                out.append(Candidate(name, rule))
                notes.append(f"{rule} = {name}: candidate ({why})")

        selection, routing = self.broker_selection, self.broker_routing
        by_market = {Market(k): v for k, v in selection.by_market.items()}
        if market in by_market:
            offer(by_market[market], f"broker_selection.by_market.{market.value}")
        if market is Market.CRYPTO:
            offer(routing.crypto_broker, "broker_routing.crypto_broker")
        if market is Market.FOREX:
            offer(routing.forex_broker, "broker_routing.forex_broker")

        serving = [n for n in sorted(self.broker_markets) if self.serves(n, market)]
        avoided = [n for n in serving if self._tier(n) == 3]
        skip_avoided = len(avoided) < len(serving)
        for name in avoided:
            if skip_avoided and name not in seen:
                notes.append(f"{name}: left out, broker_selection.by_cost.avoid_high_cost lists it and "
                             f"another broker serves {market.value}")
        automatic = [n for n in serving if not (skip_avoided and n in avoided)]

        profiled = sorted((n for n in automatic if n in selection.alphabetical), key=self._priority_key)
        for name in profiled:
            if name not in seen:
                offer(name, f"broker_selection priority {self._describe(name)}")
        offer(routing.default_broker, "broker_routing.default_broker")
        rest = sorted((n for n in automatic if n not in selection.alphabetical), key=self._cost_key)
        for name in rest:
            if name not in seen:
                offer(name, f"enabled broker {self._describe(name)}")
        return out

    # -- route ------------------------------------------------------------------------------------------

    def route(self, symbol: str, *, market: Market | str | None = None, broker: str | None = None,
              available: Callable[[str], bool] | None = None) -> RouteDecision:
        """Choose the broker for ``symbol``.

        ``available(name)`` says whether a broker can take an order now (False: breaker open or cannot
        connect); None means do not check (``orch route`` explaining a config). Raises
        :class:`~orch.errors.UsageError` for an unknown/unsuitable explicit broker or when no enabled broker
        serves the market, and :class:`~orch.errors.BrokerUnavailable` when every candidate is down."""
        norm = normalize_symbol(symbol)
        mkt, why = _classify(symbol, market)
        reasons = [f"{norm} is {mkt.value}: {why}"]
        if broker is not None:
            return self._explicit(norm, symbol, mkt, broker, reasons, available)

        found = self.candidates(mkt, reasons)
        if not found:
            raise UsageError(f"no enabled broker serves {mkt.value} (symbol {norm})",
                             hint=f"enabled: {self._enabled_summary()}; enable a broker for {mkt.value}, "
                                  f"list it in its markets, or pass --market/--broker")
        names = tuple(c.name for c in found)
        first = found[0]

        def decision(chosen: str, fallback: bool) -> RouteDecision:
            return RouteDecision(symbol=norm, original=symbol, market=mkt, broker=chosen, rule=first.rule,
                                 reasons=tuple(reasons), fallback_used=fallback, candidates=names)

        reasons.append(f"first choice: {first.name} ({first.rule})")
        if available is None:
            reasons.append("availability not checked")
            return decision(first.name, False)
        if available(first.name):
            reasons.append(f"{first.name} is available")
            return decision(first.name, False)
        reasons.append(f"{first.name} is unavailable (circuit breaker open or cannot connect)")

        order: list[Candidate] = []
        fb = self.broker_routing.fallback_broker
        if fb is not None:
            if fb == first.name:
                reasons.append(f"broker_routing.fallback_broker = {fb}: it is the unavailable broker")
            elif fb not in self.broker_markets:
                reasons.append(f"broker_routing.fallback_broker = {fb}: skipped, {fb} is not enabled")
            elif not self.serves(fb, mkt):
                reasons.append(f"broker_routing.fallback_broker = {fb}: skipped, {fb} does not serve "
                               f"{mkt.value}")
            else:
                order.append(Candidate(fb, "broker_routing.fallback_broker"))
        order += [c for c in found[1:] if c.name != fb]
        for cand in order:
            if available(cand.name):
                reasons.append(f"fell back to {cand.name} ({cand.rule})")
                if cand.name not in names:
                    names += (cand.name,)
                return decision(cand.name, True)
            reasons.append(f"{cand.name} ({cand.rule}) is unavailable too")
        tried = [first.name] + [c.name for c in order]
        raise BrokerUnavailable(
            f"no broker can take {norm} ({mkt.value}) now: {', '.join(tried)} unavailable "
            f"(circuit breaker open or cannot connect)",
            hint="retry later, or run `orch route " + norm + "` to see the routing steps")

    def _explicit(self, norm: str, original: str, market: Market, broker: str, reasons: list[str],
                  available: Callable[[str], bool] | None) -> RouteDecision:
        wanted = broker.strip()
        by_lower = {n.lower(): n for n in self.broker_markets}
        name = by_lower.get(wanted.lower())
        if name is None:
            raise UsageError(f"broker {wanted!r} is not enabled",
                             hint=f"enabled: {', '.join(sorted(self.broker_markets)) or 'none'}")
        why = self.serves(name, market)
        if not why:
            others = [n for n in sorted(self.broker_markets) if self.serves(n, market)]
            raise UsageError(
                f"{name} does not serve {market.value} ({norm}); it serves "
                f"{', '.join(sorted(m.value for m in self.served_markets(name))) or 'nothing'}",
                hint=f"brokers serving {market.value}: {', '.join(others) or 'none'}; or pass --market")
        reasons.append(f"--broker {name}: explicit choice ({why})")
        if available is not None:
            if not available(name):
                raise BrokerUnavailable(
                    f"{name} is unavailable (circuit breaker open or cannot connect); an explicit "
                    f"--broker is never replaced by another broker",
                    hint="retry later, or drop --broker to let routing use the fallback")
            reasons.append(f"{name} is available")
        else:
            reasons.append("availability not checked")
        return RouteDecision(symbol=norm, original=original, market=market, broker=name, rule="explicit",
                             reasons=tuple(reasons), candidates=(name,))

    def _enabled_summary(self) -> str:
        if not self.broker_markets:
            return "none"
        return "; ".join(f"{n} [{', '.join(sorted(m.value for m in self.served_markets(n))) or '-'}]"
                         for n in sorted(self.broker_markets))
