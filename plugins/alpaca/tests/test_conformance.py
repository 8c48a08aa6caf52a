"""Alpaca against orch's broker conformance kit, over loopback sockets to its own simulator.

``TestAlpacaConformance`` is the whole of what a plugin writes. ``TestTheKitCatchesBreakage`` breaks the
plugin on purpose, one way at a time, and checks that the kit's test for that behaviour fails: a kit
that passes a broken plugin is worse than none.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
import trio

from orch.errors import BrokerUnavailable, OrderRejected, ProtocolError
from orch.models import OrderStatus
from orch.resilience import RetryPolicy
from orch.testing.conformance import BrokerConformance
from orch.testing.harness import open_harness
from orch_alpaca import connection, protocol, rules
from orch_alpaca.transport import StreamPolicy


class TestAlpacaConformance(BrokerConformance):
    broker = "alpaca"



# ---------------------------------------------------------------------------------- the kit's own net


async def run_kit(test: str, clock: trio.abc.Clock, *, kit: BrokerConformance | None = None, **fixtures) -> None:
    """Run one of the kit's tests against the (patched) plugin, as pytest would."""
    kit = kit or TestAlpacaConformance()
    async with open_harness("alpaca") as harness:
        await kit.prepare(harness)
        await getattr(kit, test)(harness, clock, **fixtures)


class TestTheKitCatchesBreakage:
    async def test_the_unbroken_plugin_passes(self, autojump_clock):
        # The baseline for every test below: without the breakage, these kit tests pass.
        for name in ("test_invalid_quantity_is_refused_locally", "test_rate_limit_burst_is_absorbed",
                     "test_market_order_fills", "test_quotes_are_sane_and_fresh"):
            await run_kit(name, autojump_clock)

    async def test_a_credential_in_a_repr(self, autojump_clock, caplog, monkeypatch):
        monkeypatch.setattr(connection.AlpacaConnection, "__repr__",
                            lambda self: f"<AlpacaConnection key={self.settings.api_key.reveal()}>")
        with pytest.raises(AssertionError, match="credential"):
            await run_kit("test_secrets_never_leak", autojump_clock, caplog=caplog)

    @pytest.mark.shows_secrets  # logs the simulator's secret on purpose: the canary guard must not count it
    async def test_a_credential_in_a_debug_log(self, autojump_clock, caplog, monkeypatch):
        account = connection.AlpacaConnection.account

        async def leaky(self):
            self.logger.debug("account request with %s", self.settings.secret_key.reveal())
            return await account(self)

        monkeypatch.setattr(connection.AlpacaConnection, "account", leaky)
        with pytest.raises(AssertionError, match="credential"):
            await run_kit("test_secrets_never_leak", autojump_clock, caplog=caplog)

    async def test_a_lot_size_check_missing(self, autojump_clock, monkeypatch):
        monkeypatch.setattr(rules, "check_alpaca", lambda request, **kwargs: None)
        # The simulator refuses the quantity itself (OrderRejected) or the kit sees a request go out.
        with pytest.raises((AssertionError, OrderRejected)):
            await run_kit("test_invalid_quantity_is_refused_locally", autojump_clock)

    async def test_a_capability_refused_only_by_the_client(self, autojump_clock, monkeypatch):
        # Capabilities say no post-only, but the plugin itself would send one: its hook must refuse too.
        monkeypatch.setattr(rules, "check_alpaca", lambda request, **kwargs: None)
        kit = TestAlpacaConformance()
        kit.unsupported = "post_only"
        with pytest.raises((pytest.fail.Exception, AssertionError)):
            await run_kit("test_unsupported_capability_is_refused_before_any_request", autojump_clock, kit=kit)

    async def test_429s_not_retried(self, autojump_clock, monkeypatch):
        monkeypatch.setattr("orch.client.RetryPolicy", lambda: RetryPolicy(attempts=1))
        with pytest.raises(AssertionError, match="RateLimited"):
            await run_kit("test_rate_limit_burst_is_absorbed", autojump_clock)

    async def test_retry_after_ignored(self, autojump_clock, monkeypatch):
        monkeypatch.setattr(protocol, "retry_after", lambda headers, now: 0.0)
        with pytest.raises(AssertionError, match="Retry-After"):
            await run_kit("test_rate_limit_burst_is_absorbed", autojump_clock)

    async def test_a_partial_fill_reported_as_filled(self, autojump_clock, monkeypatch):
        parse_order = protocol.parse_order

        def wrong(data, **kwargs):
            order = parse_order(data, **kwargs)
            if order.status is OrderStatus.FILLED:
                order = attrs.evolve(order, filled_qty=order.filled_qty / 2)
            return order

        monkeypatch.setattr(protocol, "parse_order", wrong)
        with pytest.raises(AssertionError, match="filled_qty"):
            await run_kit("test_market_order_fills", autojump_clock)

    async def test_a_stale_quote(self, autojump_clock, monkeypatch):
        parse = protocol.parse_latest_quote

        def stale(*args, **kwargs):
            quote = parse(*args, **kwargs)
            return attrs.evolve(quote, timestamp=quote.timestamp - timedelta(hours=1))

        monkeypatch.setattr(protocol, "parse_latest_quote", stale)
        with pytest.raises(AssertionError, match="stale"):
            await run_kit("test_quotes_are_sane_and_fresh", autojump_clock)

    async def test_a_crossed_quote(self, autojump_clock, monkeypatch):
        parse = protocol.parse_latest_quote

        def crossed(*args, **kwargs):
            quote = parse(*args, **kwargs)
            return attrs.evolve(quote, bid=quote.ask, ask=quote.bid)

        monkeypatch.setattr(protocol, "parse_latest_quote", crossed)
        with pytest.raises(AssertionError, match="above ask"):
            await run_kit("test_quotes_are_sane_and_fresh", autojump_clock)

    async def test_lookup_by_client_order_id_broken(self, autojump_clock, monkeypatch):
        monkeypatch.setattr(protocol, "get_order_by_client_id",
                            lambda client_order_id: protocol.HttpRequest(
                                "GET", "/v2/orders:by_client_order_id",
                                params={"client_order_id": "x" + client_order_id}, resource="order"))
        with pytest.raises(AssertionError, match="client_order_id"):
            await run_kit("test_limit_order_lifecycle", autojump_clock)

    async def test_unknown_symbol_mapped_wrong(self, autojump_clock, monkeypatch):
        error_for = protocol.error_for

        def vague(request, response, **kwargs):
            if response.status in (400, 404, 422):
                return ProtocolError("something went wrong", broker="alpaca")
            return error_for(request, response, **kwargs)

        monkeypatch.setattr(protocol, "error_for", vague)
        with pytest.raises(ProtocolError):
            await run_kit("test_unknown_symbol_is_unknown_instrument", autojump_clock)

    async def test_refused_keys_mapped_to_unavailable(self, autojump_clock, monkeypatch):
        error_for = protocol.error_for

        def unavailable(request, response, **kwargs):
            if response.status == 401:
                return BrokerUnavailable("try later", broker="alpaca")
            return error_for(request, response, **kwargs)

        monkeypatch.setattr(protocol, "error_for", unavailable)
        with pytest.raises(BrokerUnavailable):
            await run_kit("test_bad_credentials_are_an_auth_error", autojump_clock)

    async def test_reconnecting_without_backoff(self, autojump_clock, monkeypatch):
        monkeypatch.setattr(StreamPolicy, "delay", lambda self, attempt, rng: 0.0)
        with pytest.raises(AssertionError, match="storm"):
            await run_kit("test_dropped_quote_stream_reconnects_with_backoff", autojump_clock)

    async def test_silence_never_detected(self, autojump_clock):
        class Deaf(TestAlpacaConformance):
            async def prepare(self, harness):
                harness.conn.stream_policy = StreamPolicy(silence=1e9, probe=10.0)

        with pytest.raises(AssertionError, match="no fresh quote"):
            await run_kit("test_silent_quote_stream_reconnects", autojump_clock, kit=Deaf())

    async def test_a_mute_feed_kept_forever(self, autojump_clock):
        class Patient(TestAlpacaConformance):
            async def prepare(self, harness):
                harness.conn.stream_policy = attrs.evolve(harness.conn.stream_policy, quiet_periods=10**6)

        with pytest.raises(AssertionError, match="never reconnected"):
            await run_kit("test_mute_quote_feed_is_replaced", autojump_clock, kit=Patient())
