"""``orch <broker> …``: one click group per installed plugin, filled only when it is invoked.

`orch --help` lists broker names from metadata; the plugin is imported (after the unofficial opt-in check)
the first time its group needs its commands. The standard commands come from
:mod:`orch.cli.broker_commands` when that module exists; the plugin may add its own through
``orch_commands(group)`` but not replace a standard one (an ``order`` command that bypassed the journal
would be the worst kind of surprise).
"""

from __future__ import annotations

import click

from orch.cli.app import app
from orch.errors import PluginError


def _load(ctx: click.Context, name: str):
    from orch.plugins import is_unofficial, load_gated, load_plugin

    if not is_unofficial(name):
        return load_plugin(name)
    # Only an unofficial plugin needs its config section before loading.
    from orch.cli.plugins_cmd import broker_sections

    return load_gated(name, broker_sections(app(ctx).config_path).get(name))


def _standard_commands():
    try:
        from orch.cli.broker_commands import add_standard_commands
    except ModuleNotFoundError as exc:
        if exc.name != "orch.cli.broker_commands":
            raise
        return None
    return add_standard_commands


class BrokerGroup(click.Group):
    def __init__(self, broker: str) -> None:
        super().__init__(name=broker, help=f"Commands for the {broker} broker.",
                         short_help=f"Commands for the {broker} broker")
        self.broker = broker
        self._filled = False

    def _fill(self, ctx: click.Context) -> None:
        if self._filled:
            return
        loaded = _load(ctx, self.broker)
        add_standard = _standard_commands()
        if add_standard is not None:
            add_standard(self, self.broker)
        if loaded.has("orch_commands"):
            standard = dict(self.commands)
            try:
                loaded.hooks["orch_commands"](self)
            except Exception as exc:  # noqa: BLE001 - a plugin bug is one line, not a traceback
                text = " ".join(str(exc).split())
                raise PluginError(f"plugin '{self.broker}' failed in orch_commands: "
                                  f"{type(exc).__name__}: {text}") from None
            replaced = sorted(n for n, cmd in standard.items() if self.commands.get(n) is not cmd)
            if replaced:
                for n in replaced:
                    self.commands[n] = standard[n]
                raise PluginError(f"plugin '{self.broker}' refused: orch_commands replaced standard "
                                  f"command(s) {', '.join(replaced)}")
        if add_standard is not None:
            from orch.cli.broker_commands import add_aliases

            add_aliases(self)
        self._filled = True

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._fill(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._fill(ctx)
        return super().get_command(ctx, cmd_name)


def make_broker_group(name: str) -> click.Group:
    """The ``orch <name>`` group; nothing is imported until it is invoked."""
    return BrokerGroup(name)
