"""``orch ibkr …`` commands beyond the standard ones: ``accounts`` (the accounts this TWS login manages)."""

from __future__ import annotations

from typing import Any

import click

from orch.cli.app import app
from orch.cli.runner import Mode, mode_options, run_with_orchestrator


async def _accounts(orch: Any, mode: Mode, name: str) -> dict[str, Any]:
    mode.check(orch, name)
    client = await orch.client(name)
    conn = client._require_conn()  # the plugin's own connection: managed accounts are IBKR-only
    return {"broker": name, "accounts": await conn.managed_accounts(), "selected": conn.selected_account(),
            "paper": conn.endpoint.paper, "server_version": conn.server_version}


def add_commands(group: click.Group) -> None:
    name = group.name or "ibkr"

    @group.command("accounts")
    @mode_options
    def accounts(mode: Mode) -> None:
        """Accounts managed by the TWS / Gateway login (managedAccounts)."""
        result = run_with_orchestrator(lambda orch: _accounts(orch, mode, name), mode=mode)
        mark = {a: " (selected)" if a == result["selected"] else "" for a in result["accounts"]}
        lines = [f"{name}: {len(result['accounts'])} managed account(s), "
                 f"{'paper' if result['paper'] else 'LIVE'}, API version {result['server_version']}"]
        lines += [f"  {a}{mark[a]}" for a in result["accounts"]]
        app().emit(result, "\n".join(lines))
