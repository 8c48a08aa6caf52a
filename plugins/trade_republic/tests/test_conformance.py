"""Trade Republic against orch's broker conformance kit, over loopback sockets to its own simulator
(the simulator's config section opts the unofficial plugin in: enabled + acknowledge_unofficial)."""

from __future__ import annotations

from orch.models import Instrument, Market
from orch.testing.conformance import BrokerConformance


class TestTradeRepublicConformance(BrokerConformance):
    broker = "trade_republic"
    stock_symbol = "SAP"

    def instruments(self, harness):
        return {"stock": Instrument("SAP", Market.EU_STOCKS, currency="EUR")}
