"""Alpaca passes orch's broker conformance kit against its own simulator, over loopback sockets."""

from __future__ import annotations

from orch.testing.conformance import BrokerConformance


class TestAlpacaConformance(BrokerConformance):
    broker = "alpaca"
