"""orch instruments ↔ XTB symbols, and lots ↔ orch quantities.

XTB names forex pairs without a separator (``EURUSD``) and CFDs by its own names (``US500``, ``DE40``,
``GOLD``, ``OIL.WTI``, stock CFDs such as ``AAPL.US``). Orders carry a volume in **lots**; orch quantities
are units of the instrument: ``qty = lots × contractSize`` (1 lot of EURUSD is 100 000 EUR, so orch's
``1000`` is 0.01 lot). A quantity must be a whole multiple of ``lotStep × contractSize`` and within
``lotMin``..``lotMax`` lots: anything else is refused before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import frozen

from orch.errors import InvalidOrder, ProtocolError, UnknownInstrument
from orch.models import Instrument, Market, to_decimal
from orch.parsing import integer

BROKER = "xtb"
_SEPARATORS = re.compile(r"[/\-_ ]")
_VALID = re.compile(r"^[A-Z0-9][A-Z0-9.#_]{0,31}$")


@frozen
class XtbSymbol:
    """The parts of a SYMBOL_RECORD orch uses."""

    symbol: str
    category: str
    currency: str
    currency_profit: str
    precision: int
    contract_size: Decimal
    lot_min: Decimal
    lot_max: Decimal
    lot_step: Decimal
    tick_size: Decimal
    description: str = ""

    @property
    def market(self) -> Market:
        # XTB's category "FX" is spot forex; everything else it lists (indices, commodities, stock and
        # crypto CFDs) is a CFD.
        return Market.FOREX if self.category.upper() == "FX" else Market.CFD

    @property
    def qty_step(self) -> Decimal:
        return self.lot_step * self.contract_size

    def instrument(self) -> Instrument:
        return Instrument(self.symbol, self.market, currency=self.currency_profit or self.currency)


def parse_symbol(record: Mapping[str, Any], *, broker: str = BROKER) -> XtbSymbol:
    try:
        precision = integer(record["precision"])
        if not 0 <= precision <= 20:
            raise ValueError(f"precision {precision} out of range")
        tick = record.get("tickSize")
        info = XtbSymbol(
            symbol=str(record["symbol"]), category=str(record.get("categoryName") or ""),
            currency=str(record.get("currency") or ""), currency_profit=str(record.get("currencyProfit") or ""),
            precision=precision, contract_size=to_decimal(record["contractSize"]),
            lot_min=to_decimal(record["lotMin"]), lot_max=to_decimal(record["lotMax"]),
            lot_step=to_decimal(record["lotStep"]),
            tick_size=to_decimal(tick) if tick not in (None, 0) else Decimal(1).scaleb(-precision),
            description=str(record.get("description") or ""))
        # Quantities are divided by the contract size and checked against the lot step: a zero or
        # negative one would fail there, far from the record that caused it.
        sizes = (info.contract_size, info.lot_step, info.lot_min, info.lot_max, info.tick_size)
        if info.contract_size <= 0 or any(v < 0 or (v and abs(v.adjusted()) > 12) for v in sizes):
            # Beyond 1e±12 the lot arithmetic (``lots % step``) exceeds Decimal's precision.
            raise ValueError("contractSize, lotStep, lotMin, lotMax or tickSize out of range")
        return info
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ProtocolError(f"unreadable symbol record ({type(exc).__name__}: {exc})", broker=broker) from None


def normalize(symbol: str) -> str:
    """The key symbols are matched on: upper case, pair separators dropped (``EUR/USD`` → ``EURUSD``)."""
    return _SEPARATORS.sub("", symbol.strip().upper())


def wanted_symbol(instrument: Instrument, *, broker: str = BROKER) -> str:
    """What the user means at XTB: ``broker_ids[broker]`` as given, else the normalised symbol."""
    explicit = instrument.broker_ids.get(broker)
    if explicit:
        return explicit
    text = normalize(instrument.symbol)
    if not _VALID.match(text):
        raise UnknownInstrument(f"{instrument.symbol!r}: not a symbol XTB can name", broker=broker)
    if instrument.market not in (Market.FOREX, Market.CFD):
        raise UnknownInstrument(f"{instrument.symbol!r}: XTB trades FOREX and CFD, not {instrument.market.value}",
                                broker=broker)
    return text


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def to_lots(qty: Decimal, info: XtbSymbol, *, broker: str = BROKER) -> Decimal:
    """orch quantity → xAPI volume, refusing what XTB would refuse (InvalidOrder, before any I/O)."""
    if qty <= 0:
        raise InvalidOrder(f"{broker}: qty must be positive, got {qty}")
    lots = qty / info.contract_size
    step = info.lot_step
    if step > 0 and lots % step != 0:
        raise InvalidOrder(f"{broker}: qty {qty} {info.symbol} is not a multiple of {info.qty_step.normalize():f} "
                           f"(lot step {step.normalize():f} × contract size {info.contract_size.normalize():f})")
    if lots < info.lot_min:
        raise InvalidOrder(f"{broker}: qty {qty} {info.symbol} is below the minimum of "
                           f"{(info.lot_min * info.contract_size).normalize():f} ({info.lot_min.normalize():f} lot)")
    if info.lot_max > 0 and lots > info.lot_max:
        raise InvalidOrder(f"{broker}: qty {qty} {info.symbol} is above the maximum of "
                           f"{(info.lot_max * info.contract_size).normalize():f} ({info.lot_max.normalize():f} lots)")
    return lots.normalize()


def from_lots(volume: Decimal, info: XtbSymbol | None) -> Decimal:
    if info is None:
        return volume
    return (volume * info.contract_size).normalize()


def check_price(name: str, price: Decimal, info: XtbSymbol, *, broker: str = BROKER) -> None:
    if _decimals(price) > info.precision:
        raise InvalidOrder(f"{broker}: {name} {price} has more than {info.precision} decimals ({info.symbol})")


class SymbolCache:
    """Symbols from getAllSymbols, at most ``limit`` of them (``truncated`` tells whether more existed),
    looked up by exact name or by the normalised key."""

    def __init__(self, records: list[XtbSymbol], *, limit: int | None, total: int) -> None:
        self.limit = limit
        self.truncated = total > len(records)
        self._by_name: dict[str, XtbSymbol] = {}
        self._by_key: dict[str, XtbSymbol] = {}
        for info in records:
            self.add(info)

    def add(self, info: XtbSymbol) -> None:
        self._by_name[info.symbol] = info
        self._by_key.setdefault(normalize(info.symbol), info)

    def find(self, symbol: str) -> XtbSymbol | None:
        return self._by_name.get(symbol) or self._by_key.get(normalize(symbol))

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)
