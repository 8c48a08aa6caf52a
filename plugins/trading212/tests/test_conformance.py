"""Trading 212 against orch's broker conformance kit, over loopback sockets to its own simulator.

Trading 212's API has no quotes, so the kit's quote checks expect NotSupported and its reference prices
come from the simulator's market; it has no client order ids, so the kit skips its checks by client order
id (``native_client_order_id = False``); the lookup that replaces them is tested in test_sim_plugin.py."""

from __future__ import annotations

from decimal import Decimal

from orch.testing.conformance import BrokerConformance


class TestTrading212Conformance(BrokerConformance):
    broker = "trading212"
    stock_symbol = "SAP.DE"


class TestTrading212ConformanceUS(TestTrading212Conformance):
    """The same checks on a US line (AAPL_US_EQ, priced in USD on a EUR account)."""

    stock_symbol = "AAPL"


class TestTrading212ConformanceLondon(TestTrading212Conformance):
    """A London ETF (VUSAl_EQ): prices in GBX pence, money in GBP, account in EUR."""

    stock_symbol = "VUSA.L"

    def far_limit_price(self, bid: Decimal) -> Decimal:
        # The simulated London tick for a line priced in thousands of pence is half a penny.
        return (bid / 2 // Decimal("0.5")) * Decimal("0.5")
