"""DEGIRO against orch's broker conformance kit, over loopback sockets to its own simulator. The
simulator's config section carries enabled + acknowledge_unofficial (it is a simulator), mfa with the
simulator's TOTP secret, and a loopback base_url (so ``paper`` is true and no --live is needed)."""

from __future__ import annotations

from orch.testing.conformance import BrokerConformance


class TestDegiroConformance(BrokerConformance):
    broker = "degiro"
