"""The fake TWS's security master: IB contracts (conId, secType, exchange) mapped onto orch.sim symbols.

Stocks (STK, SMART or a listed exchange) and forex (CASH on IDEALPRO, ``EUR``/``USD`` -> ``EURUSD``) map
onto the simulated market's symbols; futures and options are priced off their underlying symbol (the
fake has no term structure or option model). Unknown symbols resolve to nothing (error 200).
"""

from __future__ import annotations

import hashlib
import threading
from decimal import Decimal

from attrs import frozen

from orch.sim.instruments import AssetClass, UnknownSymbol
from orch.sim.market import MarketModel

from orch_ibkr.protocol import Contract, ContractDetails

STOCK_EXCHANGES = ("SMART", "NASDAQ", "NYSE", "ARCA", "BATS", "ISLAND", "IEX", "AMEX")
FUTURE_EXCHANGES = ("CME", "GLOBEX", "NYMEX", "CBOT", "EUREX")
OPTION_EXCHANGES = ("SMART", "CBOE", "AMEX", "ISE", "BOX")
# Real conIds for the two contracts everyone tries first; everything else gets a stable hash.
KNOWN_CON_IDS = {("AAPL", "STK", "USD"): 265598, ("EUR", "CASH", "USD"): 12087792}
ORDER_TYPES = "ACTIVETIM,ADJUST,ALERT,ALLOC,DAY,GTC,IOC,LMT,MKT,STP,STPLMT,TRAIL,OCA,WHATIF"


@frozen
class SimContract:
    details: ContractDetails
    sim_symbol: str            # the orch.sim symbol that prices it

    @property
    def contract(self) -> Contract:
        return self.details.contract


def _con_id(key: tuple[str, ...]) -> int:
    digest = hashlib.sha1("|".join(key).encode()).hexdigest()
    return 100_000_000 + int(digest[:7], 16)


class Registry:
    """Every contract the fake has resolved, by conId and by simulated symbol."""

    def __init__(self, market_of) -> None:
        self._market_of = market_of        # a callable: the engine's market may be swapped by the runner
        self._lock = threading.Lock()
        self.by_con_id: dict[int, SimContract] = {}
        self.by_symbol: dict[str, SimContract] = {}

    @property
    def market(self) -> MarketModel:
        return self._market_of()

    def resolve(self, c: Contract) -> SimContract | None:
        """The contract ``c`` describes, or None when the fake lists nothing like it."""
        if c.con_id and c.con_id in self.by_con_id:
            return self.by_con_id[c.con_id]
        sec_type = (c.sec_type or "STK").upper()
        symbol = c.symbol.strip().upper()
        if not symbol:
            return None
        try:
            if sec_type == "STK":
                return self._stock(symbol, c)
            if sec_type == "CASH":
                return self._forex(symbol, c)
            if sec_type == "FUT":
                return self._derivative(symbol, c, "FUT")
            if sec_type == "OPT":
                return self._derivative(symbol, c, "OPT")
        except UnknownSymbol:
            return None
        return None

    def for_symbol(self, sim_symbol: str) -> SimContract:
        """The contract a simulated position or order in ``sim_symbol`` shows as."""
        found = self.by_symbol.get(sim_symbol)
        if found is not None:
            return found
        info = self.market.info(sim_symbol)
        if info.asset_class is AssetClass.FOREX:
            return self._forex(info.symbol[:3], Contract(symbol=info.symbol[:3], sec_type="CASH",
                                                         currency=info.symbol[3:], exchange="IDEALPRO"))
        return self._stock(info.symbol, Contract(symbol=info.symbol, currency=info.currency))

    def _store(self, sim: SimContract, *, by_symbol: bool = True) -> SimContract:
        with self._lock:
            existing = self.by_con_id.get(sim.contract.con_id)
            if existing is not None:
                return existing
            self.by_con_id[sim.contract.con_id] = sim
            if by_symbol:
                self.by_symbol.setdefault(sim.sim_symbol, sim)
            return sim

    def _stock(self, symbol: str, c: Contract) -> SimContract | None:
        info = self.market.info(symbol)
        if info.asset_class not in (AssetClass.STOCK, AssetClass.ETF):
            return None
        currency = info.cash_currency if info.currency == "GBX" else info.currency
        if c.currency and c.currency.upper() != currency:
            return None
        exchange = (c.exchange or "SMART").upper()
        if exchange not in STOCK_EXCHANGES:
            return None
        con_id = KNOWN_CON_IDS.get((info.symbol, "STK", currency)) or _con_id((info.symbol, "STK", currency))
        contract = Contract(symbol=info.symbol, sec_type="STK", exchange=exchange, currency=currency,
                            con_id=con_id, primary_exchange="NASDAQ", local_symbol=info.symbol,
                            trading_class="NMS")
        details = ContractDetails(contract=contract, min_tick=info.tick_size, long_name=info.symbol,
                                  order_types=ORDER_TYPES, valid_exchanges=",".join(STOCK_EXCHANGES),
                                  time_zone="US/Eastern")
        return self._store(SimContract(details, info.symbol))

    def _forex(self, base: str, c: Contract) -> SimContract | None:
        quote = (c.currency or "USD").upper()
        if len(base) == 6 and not c.currency:
            base, quote = base[:3], base[3:]
        info = self.market.info(f"{base}{quote}")
        if info.asset_class is not AssetClass.FOREX:
            return None
        exchange = (c.exchange or "IDEALPRO").upper()
        if exchange != "IDEALPRO":
            return None
        con_id = KNOWN_CON_IDS.get((base, "CASH", quote)) or _con_id((base, "CASH", quote))
        contract = Contract(symbol=base, sec_type="CASH", exchange="IDEALPRO", currency=quote, con_id=con_id,
                            local_symbol=f"{base}.{quote}", trading_class=f"{base}.{quote}")
        details = ContractDetails(contract=contract, min_tick=Decimal("0.00005"), long_name=f"{base} {quote}",
                                  order_types=ORDER_TYPES, valid_exchanges="IDEALPRO",
                                  time_zone="US/Eastern", min_size=Decimal(1), size_increment=Decimal(1))
        return self._store(SimContract(details, info.symbol))

    def _derivative(self, symbol: str, c: Contract, sec_type: str) -> SimContract | None:
        if not c.last_trade_date:
            return None  # real TWS would return every expiry; the fake asks for one
        if sec_type == "OPT" and (c.strike is None or c.strike <= 0 or c.right.upper()[:1] not in ("C", "P")):
            return None
        info = self.market.info(symbol)
        exchange = (c.exchange or ("SMART" if sec_type == "OPT" else "CME")).upper()
        if exchange not in (OPTION_EXCHANGES if sec_type == "OPT" else FUTURE_EXCHANGES):
            return None
        right = c.right.upper()[:1] if sec_type == "OPT" else ""
        key = (info.symbol, sec_type, c.last_trade_date, str(c.strike or ""), right)
        local = f"{info.symbol} {c.last_trade_date}" + (f" {right}{c.strike}" if right else "")
        contract = Contract(symbol=info.symbol, sec_type=sec_type, exchange=exchange, currency=c.currency or "USD",
                            con_id=_con_id(key), last_trade_date=c.last_trade_date, strike=c.strike,
                            right=right, multiplier="100" if sec_type == "OPT" else "50",
                            local_symbol=local, trading_class=info.symbol)
        details = ContractDetails(contract=contract, min_tick=info.tick_size, long_name=local,
                                  order_types=ORDER_TYPES, valid_exchanges=exchange, time_zone="US/Central")
        return self._store(SimContract(details, info.symbol), by_symbol=False)
