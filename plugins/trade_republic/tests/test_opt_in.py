"""The opt-in rules of an unofficial plugin, and the live guard of a broker without a paper account."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import trio

from orch.context import ConnectContext
from orch.errors import LiveTradingRefused, PluginError
from orch.orchestrator import check_live_guard
from orch.plugins import gate, load_gated, plugin_entry
from orch.simulators import available_simulators
from orch_trade_republic import plugin
from orch_trade_republic.connection import TradeRepublicConnection
from orch_trade_republic.settings import TradeRepublicSettings

ROOT = Path(__file__).resolve().parents[3]
NAME = "trade_republic"


def test_the_distribution_says_unofficial_before_any_import():
    entry = plugin_entry(NAME)
    assert entry.unofficial
    info = plugin.orch_broker_info()
    assert info.official is False
    assert "terms" in info.risk_notice and "real money" in info.risk_notice


@pytest.mark.parametrize("section", [None, {}, {"enabled": True}, {"acknowledge_unofficial": True},
                                     {"enabled": True, "acknowledge_unofficial": "yes"}])
def test_it_stays_unloaded_without_both_flags(section, monkeypatch):
    imported = []
    monkeypatch.setattr("orch.plugins._import", lambda entry: imported.append(entry) or None)
    reason = gate(NAME, section)
    assert reason is not None and "acknowledge_unofficial = true" in reason
    with pytest.raises(PluginError):
        load_gated(NAME, section)
    assert imported == []


def test_both_flags_load_it():
    assert gate(NAME, {"enabled": True, "acknowledge_unofficial": True}) is None
    assert load_gated(NAME, {"enabled": True, "acknowledge_unofficial": True}).info.name == NAME


def test_only_its_own_extra_and_the_dev_requirements_install_it():
    assert "-e ./plugins/trade_republic" not in (ROOT / "requirements.txt").read_text().splitlines()
    assert "-e ./plugins/trade_republic" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["trade-republic"] == ["orch-trade-republic"]
    assert all("orch-trade-republic" not in deps for name, deps in extras.items() if name != "trade-republic")
    meta = tomllib.loads((ROOT / "plugins/trade_republic/pyproject.toml").read_text())["project"]
    assert meta["keywords"] == ["orch-unofficial"]


def test_its_simulator_is_not_offered_without_consent():
    assert NAME not in available_simulators()
    assert NAME in available_simulators(include_unofficial=True)


# ------------------------------------------------------------------------------------------ live guard

REAL = TradeRepublicSettings(enabled=True, acknowledge_unofficial=True, username="+4915550100000", pin="9876")
SIM = TradeRepublicSettings(enabled=True, acknowledge_unofficial=True, username="+4915550100000", pin="9876",
                            api_url="http://127.0.0.1:18010", ws_url="ws://127.0.0.1:18010/")


def test_only_a_loopback_simulator_counts_as_not_live():
    assert SIM.simulator and not REAL.simulator
    assert TradeRepublicSettings(api_url="http://localhost:1", ws_url="ws://[::1]:1/").simulator
    # One URL on the real host is enough to be live.
    assert not TradeRepublicSettings(api_url="http://127.0.0.1:1").simulator
    assert not TradeRepublicSettings(api_url="http://127.0.0.1.example.com", ws_url="ws://127.0.0.1/").simulator


def test_the_core_guard_needs_live_for_trade_republic_itself():
    flag = plugin.orch_broker_info().paper_flag
    with pytest.raises(LiveTradingRefused):
        check_live_guard(NAME, REAL, flag, live=False)
    check_live_guard(NAME, REAL, flag, live=True)
    check_live_guard(NAME, SIM, flag, live=False)
    with pytest.raises(LiveTradingRefused):
        check_live_guard(NAME, SIM, flag, live=True)


async def test_the_plugin_refuses_real_money_without_live_before_any_io():
    class NoLimiter:
        async def acquire(self, *args, **kwargs):
            raise AssertionError("no request may be prepared")

    async with trio.open_nursery() as nursery:
        context = ConnectContext(broker=NAME, nursery=nursery, limiter=NoLimiter(), live=False)
        with pytest.raises(LiveTradingRefused, match="real money"):
            TradeRepublicConnection(REAL, context)


def test_settings_accept_every_key_of_the_guide():
    from orch.config import config_from_data

    guide = {"enabled": True, "acknowledge_unofficial": True, "username": "+4915550100000",
             "password": "not-used-by-trade-republic", "pin": "9876", "device_id": None, "secure_session": True}
    settings = config_from_data({"brokers": {NAME: guide}}, source="<test>", env={}).brokers[NAME]
    assert isinstance(settings, TradeRepublicSettings)
    assert settings.password.is_set and "not-used-by-trade-republic" not in repr(settings)
    del guide["password"]  # Trade Republic has no password: leaving the key out is fine
    assert config_from_data({"brokers": {NAME: guide}}, source="<test>", env={}).brokers[NAME].password is None
    assert settings.username.reveal() == "+4915550100000" and "+4915550100000" not in repr(settings)
