"""The standard commands under ``orch <broker> …`` (added by :mod:`orch.cli.broker_group`).

\b
  orch alpaca account (accounts) | positions | balance | orders | permissions | limits
  orch alpaca quote AAPL
  orch alpaca order buy AAPL 1 market --paper
  orch binance order buy BTCUSDT 0.01 limit 45000 --testnet
  orch alpaca order history --rejected | order status --id ID | order cancel ID
  orch alpaca test connection | test api_key
"""

from __future__ import annotations

import click


def add_standard_commands(group: click.Group, name: str) -> None:
    from orch.cli.data_cmds import (make_account_command, make_balance_command, make_orders_command,
                                    make_positions_command, make_quote_command)
    from orch.cli.order_cmds import make_order_group
    from orch.cli.status_cmds import make_limits_command, make_permissions_command
    from orch.cli.test_cmds import make_broker_test_group

    test = make_broker_test_group(name)
    test.name = "test"
    for command in (make_account_command(name), make_positions_command(name), make_balance_command(name),
                    make_quote_command(name), make_orders_command(name), make_order_group(name),
                    make_limits_command(name), make_permissions_command(name), test):
        group.add_command(command)


def add_aliases(group: click.Group) -> None:
    """Names the guide uses for standard commands, added after the plugin's own ``orch_commands`` so that a
    plugin may still define them itself: the guide writes ``ibkr accounts`` ("managed accounts")."""
    if "account" in group.commands and "accounts" not in group.commands:
        group.add_command(group.commands["account"], "accounts")
