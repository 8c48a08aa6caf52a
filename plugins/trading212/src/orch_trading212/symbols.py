"""Trading 212 tickers ↔ orch symbols, pure functions over the cached instruments metadata.

orch writes stocks as most venues do: US bare (``AAPL``), other exchanges with a Yahoo-style suffix
(``SAP.DE`` Xetra, ``VUSA.L`` London in GBX pence). Trading 212 has its own tickers: ``AAPL_US_EQ``,
``SAPd_EQ``, ``VUSAl_EQ``, ``ASML_NL_EQ``… A bare ``AAPL`` is refused by the API, so every ticker is
checked against ``GET /equity/metadata/instruments`` before an order leaves. An instrument may also carry
its ticker outright in ``broker_ids["trading212"]`` (or an ISIN under ``"isin"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from attrs import frozen

from orch.errors import UnknownInstrument
from orch.models import Instrument, Market

BROKER_ID_KEY = "trading212"

# orch suffix -> Trading 212 ticker forms (first that the metadata lists wins). US, London and Xetra are
# documented; the others follow the `_<COUNTRY>_EQ` form seen for Amsterdam and the one-letter exchange
# suffixes seen in the app.
_SUFFIX_FORMS: dict[str, tuple[str, ...]] = {
    "L": ("{}l_EQ",), "DE": ("{}d_EQ",), "F": ("{}f_EQ", "{}d_EQ"),
    "AS": ("{}_NL_EQ", "{}a_EQ"), "PA": ("{}_FR_EQ", "{}p_EQ"), "BR": ("{}_BE_EQ", "{}b_EQ"),
    "MC": ("{}_ES_EQ", "{}e_EQ"), "MI": ("{}_IT_EQ", "{}m_EQ"), "SW": ("{}_CH_EQ", "{}z_EQ"),
    "LS": ("{}_PT_EQ",), "ST": ("{}_SE_EQ", "{}s_EQ"), "CO": ("{}_DK_EQ",), "HE": ("{}_FI_EQ",),
    "TO": ("{}_CA_EQ",),
}
# Reverse: a ticker ending -> the orch suffix ("" for US).
_ENDINGS: tuple[tuple[str, str], ...] = (
    ("_US_EQ", ""), ("_NL_EQ", "AS"), ("_FR_EQ", "PA"), ("_BE_EQ", "BR"), ("_ES_EQ", "MC"), ("_IT_EQ", "MI"),
    ("_CH_EQ", "SW"), ("_PT_EQ", "LS"), ("_SE_EQ", "ST"), ("_DK_EQ", "CO"), ("_FI_EQ", "HE"),
    ("_CA_EQ", "TO"), ("l_EQ", "L"), ("d_EQ", "DE"), ("f_EQ", "F"), ("a_EQ", "AS"), ("p_EQ", "PA"),
    ("b_EQ", "BR"), ("e_EQ", "MC"), ("m_EQ", "MI"), ("z_EQ", "SW"), ("s_EQ", "ST"),
)
_SUFFIX_CURRENCY = {"L": "GBX", "DE": "EUR", "F": "EUR", "AS": "EUR", "PA": "EUR", "BR": "EUR", "MC": "EUR",
                    "MI": "EUR", "LS": "EUR", "HE": "EUR", "SW": "CHF", "ST": "SEK", "CO": "DKK", "TO": "CAD",
                    "": "USD"}


@frozen
class InstrumentMeta:
    """One row of ``/equity/metadata/instruments``. ``currency`` is the price currency (``GBX`` for
    pence-quoted London lines)."""

    ticker: str
    short_name: str
    currency: str
    name: str = ""
    isin: str | None = None
    type: str = "STOCK"
    working_schedule_id: int | None = None
    max_open_quantity: Decimal | None = None
    extended_hours: bool = False


def _split(symbol: str) -> tuple[str, str]:
    text = symbol.strip().upper()
    if "." in text:
        base, suffix = text.rsplit(".", 1)
        if suffix in _SUFFIX_FORMS:
            return base, suffix
    return text, ""


def candidates(instrument: Instrument) -> list[str]:
    """The tickers ``instrument`` may have at Trading 212, most likely first."""
    explicit = instrument.broker_ids.get(BROKER_ID_KEY)
    if explicit:
        return [explicit]
    base, suffix = _split(instrument.symbol)
    if not suffix:
        if instrument.symbol.upper().endswith("_EQ"):
            return [instrument.symbol]  # already a Trading 212 ticker
        return [f"{base.replace('.', '_')}_US_EQ"]
    return [form.format(base) for form in _SUFFIX_FORMS[suffix]]


def resolve(instrument: Instrument, catalog: Mapping[str, InstrumentMeta], *, broker: str = "trading212") -> str:
    """The Trading 212 ticker of ``instrument``; UnknownInstrument when the metadata lists none."""
    for ticker in candidates(instrument):
        if ticker in catalog:
            return ticker
    isin = instrument.broker_ids.get("isin")
    if isin:
        for meta in catalog.values():
            if meta.isin == isin:
                return meta.ticker
    base, suffix = _split(instrument.symbol)
    if suffix:
        # Some lines only match by short name and price currency (e.g. a ticker with an unusual ending).
        currency = _SUFFIX_CURRENCY.get(suffix)
        found = [m.ticker for m in catalog.values() if m.short_name.upper() == base and m.currency == currency
                 and to_symbol(m.ticker)[0] == instrument.symbol.upper()]
        if len(found) == 1:
            return found[0]
    raise UnknownInstrument(f"{instrument.symbol} is not among Trading 212's instruments",
                            broker=broker, hint="Trading 212 tickers look like AAPL_US_EQ, VUSAl_EQ, SAPd_EQ")


def to_symbol(ticker: str, meta: InstrumentMeta | None = None) -> tuple[str, Market, str]:
    """orch's symbol, market and price currency for a Trading 212 ticker."""
    for ending, suffix in _ENDINGS:
        if ticker.endswith(ending) and len(ticker) > len(ending):
            base = ticker[:-len(ending)]
            currency = meta.currency if meta is not None else _SUFFIX_CURRENCY.get(suffix, "USD")
            if not suffix:
                return base.replace("_", "."), Market.US_STOCKS, currency
            market = Market.GLOBAL_STOCKS if suffix == "TO" else Market.EU_STOCKS
            return f"{base}.{suffix}", market, currency
    currency = meta.currency if meta is not None else "USD"
    return ticker, Market.GLOBAL_STOCKS, currency


def instrument_for(ticker: str, meta: InstrumentMeta | None = None, *, broker: str = "trading212") -> Instrument:
    symbol, market, currency = to_symbol(ticker, meta)
    ids = {broker: ticker}
    if meta is not None and meta.isin:
        ids["isin"] = meta.isin
    return Instrument(symbol, market, currency=currency, broker_ids=ids)


def money_per_price_unit(currency: str) -> Decimal:
    """GBX prices are pence: 0.01 GBP per price unit."""
    return Decimal("0.01") if currency == "GBX" else Decimal(1)
