"""The brokers.xtb section: the guide's block loads as written; demo/real can never be mixed up; the
shutdown of XTB's own host is said plainly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orch.config import config_from_data
from orch.errors import ConfigError, LiveTradingRefused
from orch.plugins import plugin_statuses

from orch_xtb.plugin import orch_broker_info
from orch_xtb.settings import SHUTDOWN_NOTICE, XtbSettings, resolve_endpoints

GUIDE = Path(__file__).parents[3] / "core" / "tests" / "fixtures" / "guide" / "xtb_basic.json"


def test_the_guides_block_loads_with_the_real_settings():
    config = config_from_data(json.loads(GUIDE.read_text()), source="guide", env={})
    settings = config.brokers["xtb"]
    assert isinstance(settings, XtbSettings)
    assert (settings.demo, settings.server, settings.max_instruments) == (True, "demo", 1000)
    assert not settings.api_key.is_set and not settings.secret_key.is_set  # placeholders mean "not set"


def test_secrets_come_from_the_environment():
    data = json.loads(GUIDE.read_text())
    config = config_from_data(data, source="guide", env={"ORCH_XTB_API_KEY": "58203917",
                                                         "ORCH_XTB_SECRET_KEY": "pw-from-env-1"})
    settings = config.brokers["xtb"]
    assert settings.api_key.reveal() == "58203917" and "pw-from-env-1" not in repr(settings)


@pytest.mark.parametrize(("server", "demo", "command", "stream"), [
    ("demo", True, "wss://ws.xtb.com/demo", "wss://ws.xtb.com/demoStream"),
    ("ws.xapi.pro", True, "wss://ws.xapi.pro/demo", "wss://ws.xapi.pro/demoStream"),
    ("ws://127.0.0.1:9/demo", True, "ws://127.0.0.1:9/demo", "ws://127.0.0.1:9/demoStream"),
    ("real", False, "wss://ws.xtb.com/real", "wss://ws.xtb.com/realStream"),
])
def test_endpoints(server, demo, command, stream):
    endpoints = resolve_endpoints(XtbSettings(server=server, demo=demo), live=not demo)
    assert (endpoints.command, endpoints.stream) == (command, stream)
    assert endpoints.official_host is ("xtb.com" in command)


def test_demo_and_real_are_never_mixed():
    with pytest.raises(LiveTradingRefused):
        resolve_endpoints(XtbSettings(demo=False, server="real"), live=False)
    with pytest.raises(ConfigError, match="server"):
        resolve_endpoints(XtbSettings(demo=True, server="real"), live=False)
    with pytest.raises(ConfigError, match="/real"):
        resolve_endpoints(XtbSettings(demo=True, server="wss://ws.xapi.pro/real"), live=False)
    with pytest.raises(ConfigError):
        resolve_endpoints(XtbSettings(server="http://example.com/demo"), live=False)


def test_the_shutdown_is_said_in_orch_plugins():
    info = orch_broker_info()
    assert info.service_notice == SHUTDOWN_NOTICE and "2025-03-14" in SHUTDOWN_NOTICE
    assert info.paper_flag == "demo" and info.official
    [row] = [s for s in plugin_statuses({"xtb": {"enabled": True}}, check=True) if s.name == "xtb"]
    assert "2025-03-14" in (row.notice or "")
