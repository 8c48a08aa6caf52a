"""Entry point of the ``orch`` command: the root click group, lazy subcommands, error handling.

Subcommands are listed in :data:`COMMANDS` as ``name -> (module, attribute, short help)`` and imported only
when used. Broker groups (``orch alpaca …``) come from the ``orch.brokers`` entry-point *names* (metadata
only); the plugin module is imported when its group is invoked.
"""

from __future__ import annotations

import sys
from importlib import import_module

import click

from orch import __version__
from orch.cli.app import AppContext

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, short help shown by `orch --help` without importing the module)
    "plugins": ("orch.cli.plugins_cmd", "plugins_command", "List broker plugins; --check validates them"),
    "config": ("orch.cli.config_cmds", "config_group", "Create, locate and show the config file"),
    "validate": ("orch.cli.config_cmds", "validate_group", "Check the config: orch validate config [--strict]"),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from orch.plugins import installed_broker_names

        names = set(COMMANDS) | set(super().list_commands(ctx))
        names |= set(installed_broker_names())
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        if name in COMMANDS:
            module, attribute, _ = COMMANDS[name]
            return getattr(import_module(module), attribute)
        from orch.plugins import installed_broker_names

        if name in installed_broker_names():
            from orch.cli.broker_group import make_broker_group

            return make_broker_group(name)
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from orch.plugins import installed_broker_names

        rows = [(name, help_) for name, (_, _, help_) in sorted(COMMANDS.items())]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))
        brokers = [(name, f"Commands for the {name} broker (orch {name} --help)")
                   for name in installed_broker_names()]
        if brokers:
            with formatter.section("Brokers"):
                formatter.write_dl(brokers)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="orch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="ORCH_CONFIG",
              help="Config file (.toml or .json). Default: ./orch.toml, ./config.json, then the user "
                   "config dir (see `orch config path`).")
@click.option("--json", "as_json", is_flag=True, help="Print data as JSON.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, as_json: bool, debug: bool) -> None:
    """orch: trade across several brokers from one process, paper by default.

    \b
    Examples:
      orch demo                          run a multi-broker session on the built-in simulators
      orch plugins                       list installed broker plugins
      orch config init                   write a starter orch.toml
      orch alpaca order buy AAPL 1 market --paper
    """
    ctx.obj = AppContext(config_path=config_path, as_json=as_json, debug=debug)
    ctx.obj.setup_logging()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: every :class:`~orch.errors.OrchError` becomes one line on stderr and an exit code
    (2 for usage and config errors, 1 otherwise); tracebacks only with ``--debug``."""
    from orch.cli.errors import run_cli

    sys.exit(run_cli(cli, argv))


if __name__ == "__main__":
    main()
