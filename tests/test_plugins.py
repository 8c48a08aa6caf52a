"""orch.plugins: discovery from metadata, the unofficial opt-in, contract checks at load time, listing.

Plugins here are distributions laid out on disk (modules + dist-info) and put on sys.path: the same
metadata path an installed plugin takes, without pip (the pip-installed proof is
test_third_party_plugin.py)."""

from __future__ import annotations

import itertools
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from orch import hookspecs, plugins
from orch.errors import PluginError


# pytest's importlib mode gives tests no package to import shared helpers from.
kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_plugin_kit.py"))))
_ids = itertools.count()

GOOD = """
from {kit} import build
globals().update(build("{name}"))
"""


class Fakes:
    """Writes fake plugin distributions into one sys.path directory; names are unique per test so
    sys.modules never mixes tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uid = f"{next(_ids)}_{id(self)}"
        self.kit = f"memkit_{self.uid}"
        (root / f"{self.kit}.py").write_text(kit.MEMORY_BROKER)
        self.sentinels = root / "imported"
        self.sentinels.mkdir()

    def add(self, name: str, body: str = GOOD, *, keywords: str = "", entry: str | None = None) -> str:
        module = f"fakeplug_{name}_{self.uid}"
        # Every fake module leaves a file behind when imported, so a test can prove it was not.
        source = (f"with open({str(self.sentinels / name)!r}, 'a') as _f: _f.write('x')\n"
                  + body.format(kit=self.kit, name=name))
        kit.write_dist(self.root, f"fake-{name}", {name: entry or module}, {module: source},
                       keywords=keywords)
        plugins.refresh()
        return module

    def imported(self, name: str) -> int:
        path = self.sentinels / name
        return len(path.read_text()) if path.exists() else 0


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    made = Fakes(tmp_path)
    yield made
    plugins.refresh()
    for name in [m for m in sys.modules if made.uid in m]:
        del sys.modules[name]


def refusal(name: str) -> str:
    with pytest.raises(PluginError) as info:
        plugins.load_plugin(name)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------- discovery


def test_group_name_matches_the_contract():
    assert plugins.GROUP == hookspecs.ENTRY_POINT_GROUP


def test_discovery_reads_metadata_without_importing(fakes):
    fakes.add("alpha")
    fakes.add("shady", keywords="trading, orch-unofficial")
    entries = {e.name: e for e in plugins.installed_plugins()}
    assert entries["alpha"].dist_name == "fake-alpha"
    assert entries["alpha"].version == "1.0"
    assert entries["alpha"].module.startswith("fakeplug_alpha_")
    assert entries["alpha"].unofficial is False
    assert entries["shady"].unofficial is True
    assert plugins.is_unofficial("shady") and not plugins.is_unofficial("alpha")
    assert {"alpha", "shady"} <= set(plugins.installed_broker_names())
    assert fakes.imported("alpha") == fakes.imported("shady") == 0


def test_keywords_separated_by_spaces_count_too(fakes):
    fakes.add("spaced", keywords="broker orch-unofficial")
    assert plugins.is_unofficial("spaced")


def test_unknown_plugin_names_the_installed_ones(fakes):
    fakes.add("alpha")
    with pytest.raises(PluginError, match=r"no broker plugin named 'nope' is installed \(installed: .*alpha"):
        plugins.load_plugin("nope")


# ------------------------------------------------------------------------------------------- loading


def test_a_valid_plugin_loads_into_a_read_only_table(fakes):
    fakes.add("alpha")
    loaded = plugins.load_plugin("alpha")
    assert loaded.name == "alpha" and loaded.info.name == "alpha"
    assert loaded.entry.dist_name == "fake-alpha"
    assert set(hookspecs.REQUIRED_HOOKS) <= set(loaded.hooks)
    assert loaded.has("orch_place_order") and not loaded.has("orch_stream_quotes")
    with pytest.raises(TypeError):
        loaded.hooks["orch_place_order"] = None
    assert plugins.load_plugin("alpha") is loaded
    assert fakes.imported("alpha") == 1


def test_missing_required_hooks_are_named(fakes):
    fakes.add("partial", """
from {kit} import build
globals().update(build("{name}", omit={{"orch_positions", "orch_quote"}}))
""")
    message = refusal("partial")
    assert message.startswith("plugin 'partial' refused: missing required hooks orch_quote, orch_positions")


def test_a_refused_plugin_is_not_left_registered(fakes):
    fakes.add("partial", """
from {kit} import build
globals().update(build("{name}", omit={{"orch_positions"}}))
""")
    refusal("partial")
    assert not plugins.broadcast_pm().has_plugin("partial")


def test_per_broker_hooks_must_be_async(fakes):
    fakes.add("syncy", """
from {kit} import build
from orch.hookspecs import hookimpl
globals().update(build("{name}", omit={{"orch_place_order"}}))

@hookimpl
def orch_place_order(conn, request):
    return None
""")
    assert "orch_place_order must be a coroutine function (async def)" in refusal("syncy")


def test_stream_hooks_must_be_async_generators(fakes):
    fakes.add("streamy", """
from orch.models import Capabilities
from orch.hookspecs import hookimpl
from {kit} import build
globals().update(build("{name}", capabilities=Capabilities(stream_quotes=True)))

@hookimpl
async def orch_stream_quotes(conn, instruments):
    return []
""")
    assert "orch_stream_quotes must be an async generator function" in refusal("streamy")


def test_sync_hooks_must_be_plain_functions(fakes):
    fakes.add("asyncinfo", """
from {kit} import build
from orch.hookspecs import hookimpl
hooks = build("{name}")
real_info = hooks.pop("orch_broker_info")
globals().update(hooks)

@hookimpl
async def orch_broker_info():
    return real_info()
""")
    assert "orch_broker_info must be a plain function" in refusal("asyncinfo")


def test_capabilities_must_match_optional_hooks_both_ways(fakes):
    fakes.add("claims", """
from orch.models import Capabilities
from {kit} import build
globals().update(build("{name}", capabilities=Capabilities(stream_quotes=True)))
""")
    fakes.add("hides", """
from orch.hookspecs import hookimpl
from {kit} import build
globals().update(build("{name}"))

@hookimpl
async def orch_replace_order(conn, ref, qty, limit_price, stop_price):
    raise NotImplementedError
""")
    assert "declares capability stream_quotes but does not implement orch_stream_quotes" in refusal("claims")
    assert "implements orch_replace_order but does not declare capability replace_order" in refusal("hides")


def test_broker_info_name_must_equal_the_entry_point_name(fakes):
    fakes.add("alias", """
from {kit} import build
globals().update(build("{name}", info_name="other"))
""")
    assert "orch_broker_info().name is 'other' but the entry point is named 'alias'" in refusal("alias")


def test_official_flag_must_agree_with_metadata(fakes):
    fakes.add("undeclared", """
from {kit} import build
globals().update(build("{name}", official=False))
""")
    fakes.add("overclaims", keywords="orch-unofficial")
    assert "lacks the keyword 'orch-unofficial'" in refusal("undeclared")
    assert "marked 'orch-unofficial' but BrokerInfo.official is True" in refusal("overclaims")


def test_unknown_hooks_and_bad_arguments_are_refused_in_one_line(fakes):
    fakes.add("typo", """
from orch.hookspecs import hookimpl
from {kit} import build
globals().update(build("{name}"))

@hookimpl
async def orch_palce_order(conn, request):
    pass
""")
    fakes.add("extra", """
from orch.hookspecs import hookimpl
from {kit} import build
globals().update(build("{name}", omit={{"orch_quote"}}))

@hookimpl
async def orch_quote(conn, instrument, venue):
    pass
""")
    assert "implements unknown hook orch_palce_order" in refusal("typo")
    message = refusal("extra")
    assert message.startswith("plugin 'extra' refused:") and "venue" in message


def test_broker_info_that_raises_is_a_refusal(fakes):
    fakes.add("boom", """
from {kit} import build
from orch.hookspecs import hookimpl
globals().update(build("{name}", omit={{"orch_broker_info"}}))

@hookimpl
def orch_broker_info():
    raise KeyError("region")
""")
    assert "orch_broker_info() raised KeyError: 'region'" in refusal("boom")


def test_import_error_names_the_plugin_and_the_exception_once(fakes):
    fakes.add("broken", "raise RuntimeError('missing native library\\nlibfoo.so')\n")
    message = refusal("broken")
    assert message.startswith("plugin 'broken' could not be imported (fakeplug_broken_")
    assert message.endswith("RuntimeError: missing native library libfoo.so")
    refusal("broken")
    assert fakes.imported("broken") == 1  # the refusal is remembered, the import is not retried


def test_an_impl_taking_fewer_arguments_is_called_with_the_spec_arguments(fakes):
    fakes.add("lean", """
from {kit} import build
from orch.hookspecs import hookimpl
globals().update(build("{name}", omit={{"orch_list_orders"}}))

@hookimpl
async def orch_list_orders(filter):
    return ["filter=" + filter]
""")
    call = plugins.load_plugin("lean").hooks["orch_list_orders"]

    async def both() -> list:
        return [await call("conn", "open"), await call(conn="conn", filter="all")]

    import trio

    assert trio.run(both) == [["filter=open"], ["filter=all"]]


def test_broadcast_hooks_reach_loaded_plugins(fakes):
    fakes.add("talker", """
from {kit} import build
from orch.hookspecs import hookimpl
globals().update(build("{name}"))
seen = []

@hookimpl
def orch_cli_ready(cli):
    seen.append(cli)
""")
    loaded = plugins.load_plugin("talker")
    assert "orch_cli_ready" not in loaded.hooks
    plugins.broadcast_pm().hook.orch_cli_ready(cli="the-cli")
    assert sys.modules[loaded.entry.module].seen == ["the-cli"]


# ------------------------------------------------------------------------------------------- opt-in


@pytest.mark.parametrize("section, missing", [
    (None, "enabled, acknowledge_unofficial"),
    ({"enabled": True}, "acknowledge_unofficial"),
    ({"acknowledge_unofficial": True}, "enabled"),
    ({"enabled": "true", "acknowledge_unofficial": 1}, "enabled, acknowledge_unofficial"),
])
def test_unofficial_plugins_need_both_flags(fakes, section, missing):
    fakes.add("shady", keywords="orch-unofficial")
    reason = plugins.gate("shady", section)
    assert reason.startswith("broker 'shady' is an unofficial plugin and stays unloaded")
    for words in ("unofficial web API", "terms of service", "account could be locked",
                  "set enabled = true and acknowledge_unofficial = true in the brokers.shady section"):
        assert words in reason
    assert reason.endswith(f"(not set: {missing})")
    with pytest.raises(PluginError, match="stays unloaded"):
        plugins.load_gated("shady", section)
    assert fakes.imported("shady") == 0


def test_unofficial_plugin_loads_with_both_flags(fakes):
    fakes.add("shady", """
from {kit} import build
globals().update(build("{name}", official=False))
""", keywords="orch-unofficial")
    section = {"enabled": True, "acknowledge_unofficial": True}
    assert plugins.gate("shady", section) is None
    loaded = plugins.load_gated("shady", section)
    assert loaded.info.official is False
    assert fakes.imported("shady") == 1


def test_official_plugins_are_not_gated(fakes):
    fakes.add("alpha")
    assert plugins.gate("alpha", None) is None


# ------------------------------------------------------------------------------------------- listing


def test_statuses_without_check_import_nothing(fakes):
    fakes.add("alpha")
    fakes.add("shady", keywords="orch-unofficial")
    rows = {r.name: r for r in plugins.plugin_statuses({"alpha": {"enabled": True}, "ghost": {}})}
    assert rows["alpha"].state == "unchecked" and rows["alpha"].enabled and rows["alpha"].official
    assert rows["shady"].state == "gated" and rows["shady"].official is False
    assert not rows["shady"].configured and "acknowledge_unofficial" in rows["shady"].problem
    assert rows["ghost"].state == "not_installed" and "brokers.ghost" in rows["ghost"].problem
    assert fakes.imported("alpha") == fakes.imported("shady") == 0


def test_statuses_with_check_survive_a_broken_plugin(fakes):
    fakes.add("alpha")
    fakes.add("broken", "raise ImportError('no module named libfoo')\n")
    fakes.add("partial", """
from {kit} import build
globals().update(build("{name}", omit={{"orch_account"}}))
""")
    fakes.add("shady", keywords="orch-unofficial")
    rows = {r.name: r for r in plugins.plugin_statuses({"shady": {"enabled": True}}, check=True)}
    assert rows["alpha"].state == "ok" and rows["alpha"].title.startswith("In-memory test broker")
    assert rows["broken"].state == "refused" and "ImportError: no module named libfoo" in rows["broken"].problem
    assert rows["partial"].state == "refused" and "orch_account" in rows["partial"].problem
    assert rows["shady"].state == "gated" and rows["shady"].enabled
    assert fakes.imported("shady") == 0


def test_plugins_command_lists_and_checks(fakes, monkeypatch):
    from orch.cli import plugins_cmd
    from orch.cli.app import AppContext

    monkeypatch.setattr(plugins_cmd, "broker_sections", lambda path: {"alpha": {"enabled": True}})
    fakes.add("alpha")
    fakes.add("broken", "raise RuntimeError('kaput')\n")
    runner = CliRunner()
    listed = runner.invoke(plugins_cmd.plugins_command, [], obj=AppContext())
    assert listed.exit_code == 0, listed.output
    assert fakes.imported("alpha") == fakes.imported("broken") == 0
    line = next(l for l in listed.output.splitlines() if l.startswith("alpha "))
    assert line.split() == ["alpha", "1.0", "official", "enabled", "not", "checked"]
    checked = runner.invoke(plugins_cmd.plugins_command, ["--check"], obj=AppContext())
    assert checked.exit_code == 1
    assert "broken: plugin 'broken' could not be imported" in checked.output
    assert next(l for l in checked.output.splitlines() if l.startswith("alpha ")).split()[-1] == "ok"


# ------------------------------------------------------------------------------------------- broker group

WITH_COMMANDS = """
import click
from {kit} import build
from orch.hookspecs import hookimpl
globals().update(build("{name}"))

@hookimpl
def orch_commands(group):
    @group.command("hello")
    def hello():
        click.echo("hello from {name}")
"""


def test_broker_group_adds_plugin_commands_on_invocation(fakes):
    from orch.cli.app import AppContext
    from orch.cli.broker_group import make_broker_group

    fakes.add("alpha", WITH_COMMANDS)
    group = make_broker_group("alpha")
    assert fakes.imported("alpha") == 0
    result = CliRunner().invoke(group, ["hello"], obj=AppContext())
    assert result.exit_code == 0, result.output
    assert result.output == "hello from alpha\n"


def test_broker_group_may_not_replace_standard_commands(fakes, monkeypatch):
    import types

    from orch.cli.app import AppContext
    from orch.cli.broker_group import make_broker_group

    standard = types.ModuleType("orch.cli.broker_commands")

    def add_standard_commands(group, name):
        group.add_command(click.Command("hello", callback=lambda: click.echo("standard")))

    standard.add_standard_commands = add_standard_commands
    monkeypatch.setitem(sys.modules, "orch.cli.broker_commands", standard)
    fakes.add("alpha", WITH_COMMANDS)
    result = CliRunner().invoke(make_broker_group("alpha"), ["hello"], obj=AppContext())
    assert isinstance(result.exception, PluginError)
    assert "orch_commands replaced standard command(s) hello" in str(result.exception)


def test_broker_group_keeps_a_gated_plugin_unloaded(fakes, monkeypatch):
    from orch.cli import plugins_cmd
    from orch.cli.app import AppContext
    from orch.cli.broker_group import make_broker_group

    monkeypatch.setattr(plugins_cmd, "broker_sections", lambda path: {"shady": {"enabled": True}})
    fakes.add("shady", WITH_COMMANDS, keywords="orch-unofficial")
    result = CliRunner().invoke(make_broker_group("shady"), ["hello"], obj=AppContext())
    assert isinstance(result.exception, PluginError)
    assert "acknowledge_unofficial" in str(result.exception)
    assert fakes.imported("shady") == 0
