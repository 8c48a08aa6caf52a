"""DEGIRO stays opt-in: never installed by a catch-all extra or requirements.txt, marked unofficial in its
metadata (so the core knows without importing it), refused unless the config section has enabled = true
AND acknowledge_unofficial = true (with a message that says why), and its risk is stated when enabled."""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from orch import plugins
from orch.errors import PluginError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fresh_registry():
    plugins.refresh()
    yield
    plugins.refresh()


def root_extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_only_the_degiro_extra_installs_it():
    extras = root_extras()
    assert extras["degiro"] == ["orch-degiro"]
    assert "orch-degiro" not in extras["official"]
    holders = sorted(name for name, deps in extras.items() if any(d.startswith("orch-degiro") for d in deps))
    assert holders == ["degiro"]


def test_requirements_txt_leaves_it_out_and_dev_requirements_have_it():
    users = (ROOT / "requirements.txt").read_text().splitlines()
    assert not any("plugins/degiro" in line or "orch-degiro" in line for line in users)
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-e ./plugins/degiro" in dev


def test_metadata_marks_it_unofficial_and_the_plugin_agrees():
    dist = metadata.distribution("orch-degiro")
    assert "orch-unofficial" in (dist.metadata.get("Keywords") or "")
    assert plugins.is_unofficial("degiro")
    loaded = plugins.load_plugin("degiro")
    assert loaded.info.official is False
    assert "UNOFFICIAL" in loaded.info.risk_notice and "--live" in loaded.info.risk_notice


@pytest.mark.parametrize("section, missing", [
    (None, "enabled, acknowledge_unofficial"),
    ({}, "enabled, acknowledge_unofficial"),
    ({"enabled": True}, "acknowledge_unofficial"),
    ({"acknowledge_unofficial": True}, "enabled"),
    ({"enabled": "true", "acknowledge_unofficial": "true"}, "enabled, acknowledge_unofficial"),
])
def test_refused_without_the_acknowledgement_and_never_imported(section, missing):
    for module in [m for m in sys.modules if m.startswith("orch_degiro")]:
        del sys.modules[module]
    with pytest.raises(PluginError) as caught:
        plugins.load_gated("degiro", section)
    message = str(caught.value)
    assert "unofficial" in message and "terms of service" in message
    assert "enabled = true and acknowledge_unofficial = true" in message
    assert f"(not set: {missing})" in message
    assert not any(m.startswith("orch_degiro") for m in sys.modules)


def test_loaded_with_both_flags():
    loaded = plugins.load_gated("degiro", {"enabled": True, "acknowledge_unofficial": True})
    assert loaded.name == "degiro"


def test_plugins_listing_states_the_risk():
    gated, = [row for row in plugins.plugin_statuses({"degiro": {"enabled": True}}) if row.name == "degiro"]
    assert gated.state == "gated" and "acknowledge_unofficial" in gated.problem and gated.official is False
    opted = {"degiro": {"enabled": True, "acknowledge_unofficial": True}}
    ok, = [row for row in plugins.plugin_statuses(opted, check=True) if row.name == "degiro"]
    assert ok.state == "ok" and "UNOFFICIAL" in ok.notice and "terms" in ok.notice


def test_cli_refuses_a_section_without_the_acknowledgement(tmp_path, monkeypatch, capsys):
    from orch.cli.main import main

    for var in ("ORCH_CONFIG", "ORCH_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    config = tmp_path / "orch.toml"
    config.write_text('[brokers.degiro]\nenabled = true\nusername = "u"\npassword = "p"\n')
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(config), "degiro", "account"])
    assert caught.value.code != 0
    err = capsys.readouterr().err
    assert "unofficial" in err and "acknowledge_unofficial = true" in err and "Traceback" not in err
