"""``orch plugins``: the installed broker plugins, their opt-in state and, with ``--check``, whether each
loads. Listing reads entry-point metadata only; an unofficial plugin that is not opted in is never
imported, even with ``--check``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from orch.cli.app import app
from orch.errors import OrchError, PluginError

_STATE_WORDS = {"unchecked": "not checked", "ok": "ok", "refused": "REFUSED", "gated": "gated (opt-in needed)",
                "not_installed": "not installed"}


def broker_sections(config_path: str | None) -> dict[str, Any]:
    """The raw ``brokers.<name>`` sections of the config, without resolving plugins (so nothing is
    imported). ConfigError if the file is bad."""
    try:
        from orch.config import load_config
    except ModuleNotFoundError as exc:
        if exc.name != "orch.config":
            raise
        # A build without the config loader: no section can opt an unofficial plugin in, which is the
        # safe reading.
        return {}
    config = load_config(config_path, resolve_plugins=False)
    sections: dict[str, Any] = dict(config.uninstalled_brokers)
    for name, settings in config.brokers.items():
        sections.setdefault(name, settings)
    return sections


def _render(rows: list, check: bool) -> str:
    if not rows:
        return "No broker plugins installed. Install one, e.g. pip install 'orch[alpaca]'."
    table = [("NAME", "VERSION", "KIND", "CONFIG", "STATUS")]
    for row in rows:
        kind = "-" if row.official is None else ("official" if row.official else "unofficial")
        config = ("enabled" if row.enabled else "disabled") if row.configured else "-"
        table.append((row.name, row.version or "-", kind, config, _STATE_WORDS.get(row.state, row.state)))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    notes = [f"{row.name}: {text}" for row in rows for text in (row.problem, row.notice) if text]
    if notes:
        lines += [""] + notes
    if not check:
        lines += ["", "Listed from package metadata; `orch plugins --check` imports and validates each plugin."]
    return "\n".join(lines)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--check", is_flag=True,
              help="Import and validate each plugin (unofficial ones not opted in stay unloaded). "
                   "Exit code 1 if any plugin is refused.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, check: bool) -> None:
    """List installed broker plugins: version, official or unofficial, enabled in config, and (with
    --check) whether each one loads.

    \b
    Examples:
      orch plugins
      orch plugins --check
      orch plugins --json
    """
    from orch.plugins import plugin_statuses

    state = app(ctx)
    sections: Mapping[str, Any]
    try:
        sections = broker_sections(state.config_path)
    except OrchError as exc:
        # Listing is diagnostic: a bad config must not hide the plugins. With no sections, every
        # unofficial plugin counts as not opted in, so nothing unsafe gets imported.
        click.echo(f"warning: config not read ({exc}); listing without it", err=True)
        sections = {}
    rows = plugin_statuses(sections, check=check)
    if as_json:
        state.as_json = True
    state.emit(rows, human=_render(rows, check))
    refused = [row.name for row in rows if row.state == "refused"]
    if check and refused:
        raise PluginError(f"{len(refused)} plugin{'s' if len(refused) > 1 else ''} refused: {', '.join(refused)}")
