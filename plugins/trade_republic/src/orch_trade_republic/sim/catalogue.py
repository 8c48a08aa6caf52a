"""What the Trade Republic simulator lists: instruments by ISIN, the tickers they are known by, the
venues they are active on, and the engine symbol (the ISIN itself) that prices and trades them in EUR on
Lang & Schwarz hours."""

from __future__ import annotations

from decimal import Decimal

from attrs import frozen

from orch.sim.instruments import AssetClass, classify, usd_rate
from orch.sim.market import MarketModel
from orch.models import Market


@frozen
class Listing:
    ticker: str
    isin: str
    name: str
    base: str  # the orch.sim symbol whose price path it follows (converted to EUR)
    type_id: str = "stock"
    venues: tuple[tuple[str, bool], ...] = (("LSX", True), ("TDG", True))


LISTINGS: tuple[Listing, ...] = (
    Listing("SAP", "DE0007164600", "SAP", "SAP.DE"),
    Listing("SIE", "DE0007236101", "Siemens", "SIE.DE"),
    Listing("ALV", "DE0008404005", "Allianz", "ALV.DE"),
    Listing("BMW", "DE0005190003", "BMW", "BMW.DE"),
    Listing("BAS", "DE000BASF111", "BASF", "BAS.DE"),
    Listing("ASML", "NL0010273215", "ASML Holding", "ASML.AS"),
    Listing("AAPL", "US0378331005", "Apple", "AAPL"),
    Listing("MSFT", "US5949181045", "Microsoft", "MSFT"),
    Listing("NVDA", "US67066G1040", "NVIDIA", "NVDA"),
    Listing("TSLA", "US88160R1014", "Tesla", "TSLA"),
    Listing("AMZN", "US0231351067", "Amazon.com", "AMZN"),
    Listing("SPY", "US78462F1030", "SPDR S&P 500 ETF", "SPY", type_id="fund"),
    # Quoted on Tradegate only: a ticker on LSX is refused (FORBIDDEN), as the real venue rule says.
    Listing("VOD", "GB00BH4HKS39", "Vodafone Group", "VOD.L", venues=(("LSX", False), ("TDG", True))),
)
BY_ISIN = {listing.isin: listing for listing in LISTINGS}


def register(market: MarketModel) -> None:
    """List every ISIN on ``market`` as a EUR stock on the LSX session, priced like its base symbol."""
    for listing in LISTINGS:
        base = classify(listing.base)
        price = base.start_price * base.cash_per_price_unit
        if base.cash_currency != "EUR":
            price = price * usd_rate(base.cash_currency) / usd_rate("EUR")
        price = price.quantize(Decimal("0.01"))
        market.register(listing.isin, asset_class=AssetClass.ETF if listing.type_id == "fund" else AssetClass.STOCK,
                        market=Market.US_STOCKS if listing.isin.startswith("US") else Market.EU_STOCKS,
                        session="LSX", currency="EUR", start_price=price, tick_size=Decimal("0.01"),
                        qty_step=Decimal(1), name=listing.name, isin=listing.isin, exchange="LSX",
                        base_asset=listing.isin, quote_asset="EUR", volatility=base.volatility,
                        spread_bps=base.spread_bps)


def instrument_body(listing: Listing) -> dict:
    return {
        "active": True, "isin": listing.isin, "name": listing.name, "shortName": listing.name,
        "typeId": listing.type_id, "intlSymbol": listing.ticker, "homeSymbol": listing.ticker,
        "exchangeIds": [slug for slug, _ in listing.venues],
        "exchanges": [{"slug": slug, "active": active, "nameAtExchange": listing.name,
                       "symbolAtExchange": listing.ticker,
                       "fractionalTrading": {"minimumQuantity": "1", "stepSize": "1"}}
                      for slug, active in listing.venues],
        "jurisdictions": {"DE": {"active": True, "kidRequired": False}},
        "tags": [], "imageId": None,
    }


def search(query: str, page_size: int) -> list[dict]:
    text = query.strip().upper()
    if not text:
        return []
    exact = [l for l in LISTINGS if l.ticker == text or l.isin == text]
    partial = [l for l in LISTINGS if l not in exact and (text in l.ticker or text in l.name.upper())]
    return [{"isin": l.isin, "name": l.name, "type": l.type_id, "tags": []} for l in (exact + partial)[:page_size]]
