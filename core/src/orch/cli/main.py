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
    "demo": ("orch.cli.demo_cmd", "demo_command", "Guided multi-broker session on the built-in simulators"),
    "sim": ("orch.cli.sim_cmds", "sim_group", "Serve broker simulators: orch sim start alpaca [--port N]"),
    "plugins": ("orch.cli.plugins_cmd", "plugins_command", "List broker plugins; --check validates them"),
    "config": ("orch.cli.config_cmds", "config_group", "Create, locate and show the config file"),
    "validate": ("orch.cli.config_cmds", "validate_group", "Check the config: orch validate config [--strict]"),
    "account": ("orch.cli.data_cmds", "account_command", "Accounts of every enabled broker, totals per currency"),
    "positions": ("orch.cli.data_cmds", "positions_command", "Positions at every enabled broker"),
    "quote": ("orch.cli.data_cmds", "quote_command", "Latest quote: orch quote AAPL [--broker B]"),
    "stream": ("orch.cli.data_cmds", "stream_command", "Live quotes: orch stream AAPL --broker B --count 5"),
    "order": ("orch.cli.order_cmds", "order_group", "Orders: buy, sell, status --id ID, history, cancel"),
    "route": ("orch.cli.misc_cmds", "route_command", "Explain which broker a symbol goes to (offline)"),
    "halt": ("orch.cli.misc_cmds", "halt_command", "Kill switch: refuse every new order until orch resume"),
    "resume": ("orch.cli.misc_cmds", "resume_command", "Lift the halt"),
    "logs": ("orch.cli.misc_cmds", "logs_command", "Log records: orch logs broker alpaca --level error"),
    "test": ("orch.cli.test_cmds", "test_group", "Check a broker: test alpaca connection|api_key, test broker B"),
    "status": ("orch.cli.status_cmds", "status_group", "Connection health: orch status brokers"),
    "restart": ("orch.cli.status_cmds", "restart_group", "Reconnect: orch restart broker alpaca"),
    "limits": ("orch.cli.status_cmds", "limits_command", "Rate-limit and risk limits of a broker"),
    "permissions": ("orch.cli.status_cmds", "permissions_command", "What a broker account may do"),
    "report": ("orch.cli.report_cmd", "report_command", "Orders, fills, slippage and fees per broker"),
    "shell": ("orch.cli.shell", "shell_command", "Interactive shell; broker connections stay open"),
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
        from orch.plugins import missing_plugin_error

        missing = missing_plugin_error(name)
        if missing is not None and not ctx.resilient_parsing:
            raise missing
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
