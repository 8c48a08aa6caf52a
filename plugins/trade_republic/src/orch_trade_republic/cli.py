"""``orch trade_republic login`` and ``logout``: the interactive side of the web login.

``login`` connects once in a terminal: it asks for the authenticator code when Trade Republic wants one,
or waits while you approve the login in the app, then keeps the session (``secure_session = true``) so
later commands reuse it without a new approval. ``logout`` deletes the saved session.
"""

from __future__ import annotations

from typing import Any

import click

from orch.cli.runner import Mode, mode_options, run_with_orchestrator

NAME = "trade_republic"


def register(group: click.Group) -> None:
    group.add_command(login)
    group.add_command(logout)


@click.command()
@mode_options
def login(mode: Mode) -> None:
    """Log in (approve in the app or give the authenticator code) and keep the session.

    Example: orch trade_republic login --live
    """

    async def run(orch: Any) -> str:
        mode.check(orch, NAME)
        client = await orch.client(NAME)
        conn = client._require_conn()
        path = conn.session.path
        return f"logged in; session kept in {path} (mode 0600)" if path else "logged in; session kept in memory only"

    click.echo(run_with_orchestrator(run, mode=mode))


@click.command()
def logout() -> None:
    """Forget the saved session (the next command logs in again)."""
    from orch.cli.runner import load_app_config
    from orch.config import broker_settings

    from orch_trade_republic import session_store

    settings = broker_settings(load_app_config(click.get_current_context()), NAME)
    path = session_store.session_path(settings.username.reveal(), settings.api_url)
    session_store.remove(path)
    click.echo("saved session removed")
