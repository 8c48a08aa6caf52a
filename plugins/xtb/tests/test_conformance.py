"""orch's conformance kit against the XTB simulator over loopback (forex: EUR/USD, 0.01 lot)."""

from __future__ import annotations

from decimal import Decimal

from orch.testing.conformance import BrokerConformance


class TestXtbConformance(BrokerConformance):
    broker = "xtb"
    forex_symbol = "EUR/USD"
    order_qty = Decimal(1000)  # 0.01 lot of 100 000 EUR
    invalid_qty = Decimal(1500)  # not a multiple of the 0.01-lot step (1000 units)
    price_increment = Decimal("0.00001")
