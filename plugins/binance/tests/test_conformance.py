"""Binance against orch's broker conformance kit, over loopback sockets to its own simulator."""

from __future__ import annotations

from decimal import Decimal

from orch.testing.conformance import BrokerConformance


class TestBinanceConformance(BrokerConformance):
    broker = "binance"
    crypto_symbol = "BTC/USDT"
    order_qty = Decimal("0.01")
