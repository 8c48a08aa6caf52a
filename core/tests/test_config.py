"""orch.config: the guide's JSON and the same TOML load; every problem is one line with its path; secrets
come from the environment and never come back out."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import tomli_w

from orch import config as config_mod
from orch.config import (config_warnings, dump_toml, find_config_path, load_config, require_secrets,
                         starter_toml)
from orch.config_model import OrchConfig
from orch.errors import ConfigError, UsageError
from orch.models import Market
from orch.secret import Secret
from orch.settings import BrokerSettings

HERE = Path(__file__).parent
GUIDE_DIR = HERE / "fixtures" / "guide"
GUIDE_FILES = sorted(GUIDE_DIR.glob("*.json"))
GUIDE_MD = Path("/work/shared/seed/broker-integration-guide.md")
CANARY = "canary-Zq8w3Xk2Pp9s"


def load_fakes():
    name = "orch_tests_config_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "config_fakes.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = load_fakes()


@pytest.fixture
def registry():
    return fakes.FakeRegistry()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No ORCH_* variable or config file of the machine leaks into a test."""
    import os

    for var in list(os.environ):
        if var.startswith("ORCH_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(), parse_float=Decimal)


def write(path: Path, data) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data, default=str) if not isinstance(data, str) else data)
    else:
        path.write_text(tomli_w.dumps(data) if not isinstance(data, str) else data)
    return path


def drop_none(value):
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def problems_of(excinfo) -> list[str]:
    return list(excinfo.value.problems)


# ------------------------------------------------------------------------------------ the guide


def test_every_json_block_of_the_guide_is_a_fixture():
    if not GUIDE_MD.exists():
        pytest.skip("the broker guide is not in this checkout")
    blocks = [json.loads(b, parse_float=Decimal)
              for b in re.findall(r"```json\n(.*?)```", GUIDE_MD.read_text(), re.S)]
    fixtures = [read_json(p) for p in GUIDE_FILES]
    assert len(blocks) == 12
    for block in blocks:
        assert block in fixtures
    assert len(fixtures) == len(blocks)


@pytest.mark.parametrize("path", GUIDE_FILES, ids=[p.stem for p in GUIDE_FILES])
def test_guide_config_loads(path, registry):
    data = read_json(path)
    cfg = load_config(path, registry=registry, env={})
    assert cfg.source == str(path)
    for name, section in data.get("brokers", {}).items():
        unofficial = registry.is_unofficial(name)
        if unofficial:
            # The guide's unofficial sections are disabled: kept raw, never imported, explained.
            assert cfg.brokers[name] == section
            assert name not in registry.loaded
            assert any(w.startswith(f"brokers.{name}: ") and "acknowledge_unofficial = true" in w
                       for w in cfg.warnings)
            continue
        settings = cfg.brokers[name]
        assert isinstance(settings, BrokerSettings), cfg.warnings
        assert isinstance(settings, registry.settings_type(name))
        assert settings.enabled is section["enabled"]
        for market in section.get("markets", ()):
            assert Market(market) in settings.markets


def test_guide_values_arrive_exact(registry):
    cfg = load_config(GUIDE_DIR / "alpaca_advanced.json", registry=registry, env={})
    alpaca = cfg.brokers["alpaca"]
    assert alpaca.paper is True
    assert alpaca.rate_limits.requests_per_minute == 200
    assert alpaca.rate_limits.burst_limit == 50
    assert alpaca.rate_limits.cool_down_seconds == Decimal(1)
    assert alpaca.trading_settings.max_order_size == Decimal("1000000.0")
    assert type(alpaca.trading_settings.min_order_size) is Decimal
    assert alpaca.order_types["stop_limit"].enabled is True
    assert alpaca.features.margin_trading is False
    assert alpaca.features.short_selling is True

    binance = load_config(GUIDE_DIR / "binance_advanced.json", registry=registry, env={}).brokers["binance"]
    assert binance.rate_limits.weight_per_minute == 6000
    assert binance.trading_settings.min_notional == Decimal("10.0")
    assert binance.order_types["oco"].enabled is True

    multi = load_config(GUIDE_DIR / "multi_broker.json", registry=registry, env={})
    assert multi.broker_routing.crypto_broker == "binance"
    assert multi.broker_routing.fallback_broker == "alpaca"
    assert multi.brokers["ibkr"].markets == (Market.GLOBAL_STOCKS, Market.OPTIONS, Market.FUTURES)
    assert not [w for w in multi.warnings if w.startswith("broker_routing")]

    selection = load_config(GUIDE_DIR / "broker_selection.json", registry=registry, env={}).broker_selection
    assert selection.by_market[Market.CRYPTO] == "binance"
    assert selection.alphabetical["ibkr"].institutional_features is True
    assert selection.alphabetical["alpaca"].priority == 1
    assert selection.by_cost.avoid_high_cost == ("degiro",)


def normalized(cfg: OrchConfig) -> OrchConfig:
    brokers = {k: drop_none(v) if isinstance(v, dict) else v for k, v in cfg.brokers.items()}
    return attrs.evolve(cfg, source=None, brokers=brokers)


@pytest.mark.parametrize("path", GUIDE_FILES, ids=[p.stem for p in GUIDE_FILES])
def test_toml_of_the_same_structure_loads_identically(path, registry, tmp_path):
    toml_path = write(tmp_path / f"{path.stem}.toml", drop_none(read_json(path)))
    from_json = load_config(path, registry=registry, env={})
    from_toml = load_config(toml_path, registry=registry, env={})
    assert normalized(from_toml) == normalized(from_json)


def test_handwritten_toml_matches_the_guide_json(registry, tmp_path):
    toml_path = write(tmp_path / "orch.toml", """
[brokers.alpaca]
enabled = true
api_key = "YOUR_API_KEY"
secret_key = "YOUR_SECRET_KEY"
paper = true
base_url = "https://paper-api.alpaca.markets"

[brokers.alpaca.rate_limits]
requests_per_minute = 200
burst_limit = 50
cool_down_seconds = 1

[brokers.alpaca.trading_settings]
default_order_type = "market"
default_time_in_force = "day"
fractional_shares = true
min_order_size = 1.0
max_order_size = 1000000.0

[brokers.alpaca.market_data]
real_time_streaming = true
subscription = { stocks = true, crypto = true, forex = false }
data_feed = "iex"

[brokers.alpaca.order_types]
market = { enabled = true }
limit = { enabled = true }
stop = { enabled = true }
stop_limit = { enabled = true }

[brokers.alpaca.features]
short_selling = true
margin_trading = false
after_hours_trading = false
pre_market_trading = false
""")
    assert normalized(load_config(toml_path, registry=registry, env={})) == normalized(
        load_config(GUIDE_DIR / "alpaca_advanced.json", registry=registry, env={}))


# ------------------------------------------------------------------------------------ problems


def test_broken_copy_reports_each_problem_with_its_path(registry, tmp_path):
    data = read_json(GUIDE_DIR / "alpaca_advanced.json")
    data["brokers"]["alpaca"]["rate_limits"]["requests_per_minute"] = "fast"
    data["brokers"]["alpaca"]["papr"] = True
    path = write(tmp_path / "broken.json", data)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, registry=registry, env={})
    problems = problems_of(excinfo)
    assert 'brokers.alpaca.rate_limits.requests_per_minute: expected an integer, got "fast"' in problems
    assert 'brokers.alpaca.papr: unknown key (did you mean "paper"?)' in problems
    assert len(problems) == 2
    message = str(excinfo.value)
    assert message.startswith(problems[0])
    assert "1 more problem" in message and "\n" not in message


def test_every_problem_in_every_section_is_listed(registry, tmp_path):
    path = write(tmp_path / "orch.toml", """
routing = 1

[brokers.alpaca]
enabled = "yes"
markets = "CRYPTO"

[brokers.alpaca.trading_settings]
min_order_size = "lots"

[brokers.binance]
testnet = true
rate_limits = { requests_per_minute = 1.5 }

[broker_selection.by_market]
CRYPTOS = "binance"

[risk]
max_open_orders = "fast"
max_order_notionl = 5
""")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, registry=registry, env={})
    assert sorted(problems_of(excinfo)) == sorted([
        'routing: unknown key (did you mean "broker_routing"?)',
        'brokers.alpaca.enabled: expected true or false, got "yes"',
        'brokers.alpaca.markets: expected a list, got "CRYPTO"',
        'brokers.alpaca.trading_settings.min_order_size: expected a number, got "lots"',
        "brokers.binance.rate_limits.requests_per_minute: expected an integer, got 1.5",
        "broker_selection.by_market.CRYPTOS: invalid key: expected one of US_STOCKS, EU_STOCKS, "
        'GLOBAL_STOCKS, CRYPTO, FOREX, CFD, OPTIONS, FUTURES, got "CRYPTOS" (did you mean "CRYPTO"?)',
        'risk.max_open_orders: expected an integer, got "fast"',
        'risk.max_order_notionl: unknown key (did you mean "max_order_notional"?)',
    ])
    assert all("\n" not in p for p in problems_of(excinfo))


def test_market_typo_gets_a_hint(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"binance": {"enabled": True, "markets": ["CRYPTO", "US_STOCK"]}}})
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, registry=registry, env={})
    (problem,) = problems_of(excinfo)
    assert problem.startswith("brokers.binance.markets[1]: expected one of ")
    assert problem.endswith('got "US_STOCK" (did you mean "US_STOCKS"?)')


def test_json_syntax_error_is_one_line_with_file_line_and_column(tmp_path):
    path = write(tmp_path / "config.json", '{\n  "brokers": {\n    "alpaca": {"enabled": true,}\n  }\n}\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert problems_of(excinfo) == [f"{path}:3:32: invalid JSON: Expecting property name enclosed in double quotes"]


def test_toml_syntax_error_is_one_line_with_file_line_and_column(tmp_path):
    path = write(tmp_path / "orch.toml", "[risk]\nmax_open_orders = 5\nmax_orders_per_minute =\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    (line,) = problems_of(excinfo)
    assert line.startswith(f"{path}:3:")
    assert "invalid TOML" in line and "\n" not in line


def test_duplicate_json_keys_are_refused(tmp_path):
    path = write(tmp_path / "config.json", '{"risk": {"max_open_orders": 5, "max_open_orders": 50}}')
    with pytest.raises(ConfigError, match='duplicate key "max_open_orders"'):
        load_config(path)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


# ------------------------------------------------------------------------------------ plugins


def test_sections_of_uninstalled_brokers_are_kept_and_warned(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"alpacca": {"enabled": True, "api_key": CANARY}}})
    cfg = load_config(path, registry=registry, env={})
    assert cfg.uninstalled_brokers == {"alpacca": {"enabled": True, "api_key": CANARY}}
    assert "alpacca" not in cfg.brokers
    (warning,) = config_warnings(cfg)
    assert warning.startswith("brokers.alpacca: no plugin named 'alpacca' is installed")
    assert 'did you mean "alpaca"?' in warning
    assert CANARY not in dump_toml(cfg)


def test_unofficial_broker_is_not_imported_without_both_flags(registry, tmp_path):
    for section in ({"enabled": True, "password": CANARY}, {"acknowledge_unofficial": True},
                    {"enabled": "true", "acknowledge_unofficial": "true"}):
        path = write(tmp_path / "c.json", {"brokers": {"degiro": section}})
        cfg = load_config(path, registry=registry, env={})
        assert cfg.brokers["degiro"] == section
        assert "degiro" not in registry.loaded
        (warning,) = [w for w in config_warnings(cfg) if w.startswith("brokers.degiro")]
        assert "unofficial" in warning and "terms of service" in warning
        assert "enabled = true and acknowledge_unofficial = true" in warning
        with pytest.raises(ConfigError, match="unofficial"):
            require_secrets(cfg, "degiro")
    assert CANARY not in dump_toml(load_config(path, registry=registry, env={}))


def test_unofficial_broker_loads_when_opted_in(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"trade_republic": {
        "enabled": True, "acknowledge_unofficial": True, "username": "me", "password": "YOUR_TR_PASSWORD",
        "pin": "YOUR_TR_PIN", "device_id": None}}})
    cfg = load_config(path, registry=registry, env={"ORCH_TRADE_REPUBLIC_PIN": CANARY})
    tr = cfg.brokers["trade_republic"]
    assert "trade_republic" in registry.loaded
    assert tr.pin.reveal() == CANARY and tr.pin.source == "env:ORCH_TRADE_REPUBLIC_PIN"
    # The pin came from the environment; the guide's unused password placeholder may warn (fake
    # Settings) but never blocks the real plugin, which marks it as an optional secret.
    assert not [w for w in config_warnings(cfg) if ".pin:" in w or ".username:" in w]


def test_resolve_plugins_false_imports_nothing(registry):
    cfg = load_config(GUIDE_DIR / "multi_broker.json", registry=registry, resolve_plugins=False, env={})
    assert registry.loaded == []
    assert cfg.brokers["alpaca"] == read_json(GUIDE_DIR / "multi_broker.json")["brokers"]["alpaca"]
    with pytest.raises(ConfigError, match="not validated"):
        require_secrets(cfg, "alpaca")


def test_a_plugin_that_fails_to_load_is_a_warning(registry, tmp_path):
    from orch.errors import PluginError

    def refuse(name):
        raise PluginError(f"plugin '{name}' refused: missing required hook orch_quote")

    registry.load_plugin = refuse
    cfg = load_config(GUIDE_DIR / "ibkr_basic.json", registry=registry, env={})
    assert cfg.brokers["ibkr"]["port"] == 7497
    assert any("plugin not loaded" in w and "orch_quote" in w for w in cfg.warnings)


def test_no_brokers_section_needs_no_plugin_registry(monkeypatch, tmp_path):
    def boom():
        raise AssertionError("the registry must not be consulted")

    monkeypatch.setattr(config_mod, "_plugin_registry", boom)
    cfg = load_config(write(tmp_path / "c.toml", {"risk": {"max_open_orders": 3}}))
    assert cfg.risk.max_open_orders == 3


# ------------------------------------------------------------------------------------ secrets


def test_env_reference_fills_secret_and_plain_fields(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {
        "alpaca": {"enabled": True, "api_key": "${MY_ALPACA_KEY}", "secret_key": "${MY_ALPACA_SECRET}",
                   "base_url": "${ALPACA_URL}"},
        "ibkr": {"enabled": True, "port": "${IBKR_PORT}", "paper": "${IBKR_PAPER}"}}})
    env = {"MY_ALPACA_KEY": CANARY, "MY_ALPACA_SECRET": CANARY + "2", "ALPACA_URL": "http://127.0.0.1:9",
           "IBKR_PORT": "4002", "IBKR_PAPER": "true"}
    cfg = load_config(path, registry=registry, env=env)
    alpaca = cfg.brokers["alpaca"]
    assert isinstance(alpaca.api_key, Secret)
    assert alpaca.api_key.reveal() == CANARY and alpaca.api_key.source == "env:MY_ALPACA_KEY"
    assert alpaca.base_url == "http://127.0.0.1:9" and type(alpaca.base_url) is str
    assert cfg.brokers["ibkr"].port == 4002 and cfg.brokers["ibkr"].paper is True
    assert config_warnings(cfg) == []
    assert CANARY not in repr(cfg) and CANARY not in dump_toml(cfg)
    assert 'api_key = "${MY_ALPACA_KEY}"' in dump_toml(cfg)


def test_missing_env_variable_names_path_and_variable(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"ibkr": {"port": "${IBKR_PORT}"}},
                                       "journal": {"path": "${JOURNAL}"}})
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, registry=registry, env={})
    assert sorted(problems_of(excinfo)) == [
        "brokers.ibkr.port: environment variable IBKR_PORT is not set",
        "journal.path: environment variable JOURNAL is not set",
    ]


def test_env_text_is_only_accepted_for_env_values(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"ibkr": {"port": "4002"}}})
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, registry=registry, env={})
    assert problems_of(excinfo) == ['brokers.ibkr.port: expected an integer, got "4002"']


def test_orch_broker_field_variables_override_the_file(registry):
    env = {"ORCH_ALPACA_API_KEY": CANARY, "ORCH_ALPACA_SECRET_KEY": CANARY + "s"}
    cfg = load_config(GUIDE_DIR / "alpaca_basic.json", registry=registry, env=env)
    alpaca = cfg.brokers["alpaca"]
    assert alpaca.api_key.reveal() == CANARY
    assert alpaca.api_key.source == "env:ORCH_ALPACA_API_KEY"
    assert alpaca.secret_key.reveal() == CANARY + "s"
    assert config_warnings(cfg) == []
    assert require_secrets(cfg, "alpaca") is alpaca


def test_environment_is_read_by_default(registry, monkeypatch):
    monkeypatch.setenv("ORCH_BINANCE_API_KEY", CANARY)
    cfg = load_config(GUIDE_DIR / "binance_basic.json", registry=registry)
    assert cfg.brokers["binance"].api_key.reveal() == CANARY


def test_placeholders_warn_and_block_commands_that_need_the_broker(registry):
    cfg = load_config(GUIDE_DIR / "alpaca_basic.json", registry=registry, env={})
    assert config_warnings(cfg) == [
        "brokers.alpaca.api_key: not set (placeholder); set ORCH_ALPACA_API_KEY",
        "brokers.alpaca.secret_key: not set (placeholder); set ORCH_ALPACA_SECRET_KEY",
    ]
    with pytest.raises(ConfigError) as excinfo:
        require_secrets(cfg, "alpaca")
    assert problems_of(excinfo) == config_warnings(cfg)
    with pytest.raises(ConfigError, match="brokers.xtb: no such section"):
        require_secrets(cfg, "xtb")


def test_missing_secret_says_missing_and_disabled_brokers_do_not_warn(registry, tmp_path):
    path = write(tmp_path / "c.toml", {"brokers": {"alpaca": {"enabled": True},
                                                   "binance": {"enabled": False}}})
    cfg = load_config(path, registry=registry, env={})
    assert config_warnings(cfg) == [
        "brokers.alpaca.api_key: not set (missing); set ORCH_ALPACA_API_KEY",
        "brokers.alpaca.secret_key: not set (missing); set ORCH_ALPACA_SECRET_KEY",
    ]


def test_dump_never_writes_a_secret_and_reads_back(registry, tmp_path):
    path = write(tmp_path / "c.json", {"brokers": {"alpaca": {
        "enabled": True, "api_key": CANARY, "secret_key": "YOUR_SECRET_KEY", "paper": True,
        "rate_limits": {"requests_per_minute": 200, "cool_down_seconds": Decimal("0.25")}}}})
    cfg = load_config(path, registry=registry, env={})
    text = dump_toml(cfg)
    assert CANARY not in text
    assert 'api_key = "${ORCH_ALPACA_API_KEY}"' in text
    assert "secret_key" not in text  # unset: left out, so reading it back needs no variable
    again = load_config(write(tmp_path / "again.toml", text), registry=registry,
                        env={"ORCH_ALPACA_API_KEY": CANARY})
    # Only the reason differs: the placeholder was dropped from the dump, so it now reads "missing".
    assert attrs.evolve(normalized(again), warnings=()) == attrs.evolve(normalized(cfg), warnings=())
    assert again.brokers["alpaca"].rate_limits.cool_down_seconds == Decimal("0.25")


# ------------------------------------------------------------------------------------ finding


def test_search_order(tmp_path):
    xdg = tmp_path / "xdg" / "orch"
    xdg.mkdir(parents=True)
    assert find_config_path(None) is None
    assert load_config(None) == OrchConfig()
    order = [xdg / "config.json", xdg / "orch.toml", tmp_path / "config.json", tmp_path / "orch.toml"]
    for path in order:
        path.write_text("{}" if path.suffix == ".json" else "")
        assert find_config_path(None) == path
    assert find_config_path(str(tmp_path / "elsewhere.toml")) == tmp_path / "elsewhere.toml"
    assert "Order" in find_config_path.__doc__


# ------------------------------------------------------------------------------------ starter


def test_starter_loads_paper_by_default_with_secrets_from_env(registry, tmp_path):
    text = starter_toml(registry=registry)
    assert "ORCH_ALPACA_API_KEY" in text and text.count("\n# ") > 20
    path = write(tmp_path / "orch.toml", text)
    cfg = load_config(path, registry=registry, env={})
    assert cfg.brokers["alpaca"].enabled is True and cfg.brokers["alpaca"].paper is True
    assert cfg.brokers["binance"].testnet is True and cfg.brokers["binance"].enabled is False
    assert "degiro" not in cfg.brokers and "trade_republic" not in cfg.brokers
    assert cfg.risk.max_order_notional == Decimal(1000)
    assert cfg.broker_routing.default_broker == "alpaca"
    env = {"ORCH_ALPACA_API_KEY": CANARY, "ORCH_ALPACA_SECRET_KEY": CANARY + "s"}
    assert config_warnings(load_config(path, registry=registry, env=env)) == []


def test_starter_without_plugins_has_only_commented_brokers(tmp_path):
    empty = fakes.FakeRegistry({}, use_real=False)
    path = write(tmp_path / "orch.toml", starter_toml(registry=empty))
    cfg = load_config(path, registry=empty, env={})
    assert cfg.brokers == {} and cfg.uninstalled_brokers == {} and config_warnings(cfg) == []
    assert "# [brokers.alpaca]" in path.read_text()


def test_write_starter_refuses_to_overwrite(registry, tmp_path):
    target = tmp_path / "orch.toml"
    config_mod.write_starter(target, registry=registry)
    assert target.stat().st_mode & 0o077 == 0
    target.write_text("# mine\n")
    with pytest.raises(UsageError, match="already exists"):
        config_mod.write_starter(target, registry=registry)
    assert target.read_text() == "# mine\n"
    config_mod.write_starter(target, force=True, registry=registry)
    assert "[brokers.alpaca]" in target.read_text()


def test_raw_section_credentials_are_still_masked_in_logs(registry, tmp_path):
    from orch.secret import mask

    value = CANARY + "-raw"
    path = write(tmp_path / "c.json", {"brokers": {"degiro": {"enabled": False, "password": value}}})
    load_config(path, registry=registry, env={})
    assert mask(f"login with {value}") == "login with ********"
