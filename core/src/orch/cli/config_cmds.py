"""``orch config init|path|show`` and ``orch validate config``.

Config errors are raised as :class:`~orch.errors.ConfigError`; the CLI's error handler prints every
problem on its own line and exits with 2. Nothing here prints a secret: configs are written with
``${VAR}`` references in place of secret values, and all output also goes through the secret masker.
"""

from __future__ import annotations

import json

import click

from orch.cli.app import app
from orch.errors import ConfigError


def _echo(text: str, *, err: bool = False) -> None:
    from orch.logs import redact

    click.echo(redact(text), err=err)


def _warn(warnings: list[str]) -> None:
    for line in warnings:
        _echo(f"warning: {line}", err=True)


@click.group("config")
def config_group() -> None:
    """Create, locate and show the configuration file.

    \b
    Examples:
      orch config init              write a commented starter ./orch.toml
      orch config path              where orch looks, and which file it uses
      orch config show              the effective config, secrets as ${VAR} references
      orch validate config --strict check it; warnings count as errors
    """


@config_group.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@click.option("--user", "user_dir", is_flag=True,
              help="Write to the user config directory instead of ./orch.toml.")
def config_init(path: str | None, force: bool, user_dir: bool) -> None:
    """Write a commented starter TOML config (paper trading, secrets from the environment).

    PATH defaults to ./orch.toml (or orch.toml in the user config directory with --user). An existing
    file is never replaced without --force.
    """
    from orch.config import user_config_dir, write_starter

    if path is None:
        path = str(user_config_dir() / "orch.toml") if user_dir else "orch.toml"
    written = write_starter(path, force=force)
    state = app()
    if state.as_json:
        state.emit({"written": str(written)})
        return
    _echo(f"wrote {written}")
    _echo("next: export the credentials it names (e.g. ORCH_ALPACA_API_KEY), then run "
          "`orch validate config`")


@config_group.command("path")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def config_path(as_json: bool) -> None:
    """Show where orch looks for its config, in order, and which file it uses."""
    from orch.config import find_config_path, search_paths

    state = app()
    explicit = state.config_path
    used = find_config_path(explicit)
    rows = [{"source": "--config / $ORCH_CONFIG", "path": explicit,
             "exists": bool(explicit) and used is not None and used.is_file()}]
    rows += [{"source": "search", "path": str(p), "exists": p.is_file()} for p in search_paths()]
    data = {"search_order": rows, "used": str(used) if used else None,
            "used_exists": bool(used and used.is_file())}
    if as_json or state.as_json:
        _echo(json.dumps(data, indent=2))
        return
    lines = ["Search order (the first file that exists is used):"]
    for number, row in enumerate(rows, 1):
        if row["source"] != "search":
            status = "given" if row["path"] else "not given"
            lines.append(f"  {number}. {row['source']}: {row['path'] or '-'} ({status})")
        else:
            lines.append(f"  {number}. {row['path']} ({'found' if row['exists'] else 'not found'})")
    if used is None:
        lines.append("Using: none (defaults apply; `orch config init` writes a starter file)")
    elif not used.is_file():
        lines.append(f"Using: {used} (does not exist)")
    else:
        lines.append(f"Using: {used}")
    _echo("\n".join(lines))


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON instead of TOML.")
def config_show(as_json: bool) -> None:
    """Print the effective configuration (file plus defaults and environment), secrets redacted."""
    from orch.config import config_warnings, dump_json, dump_toml, load_config

    state = app()
    cfg = load_config(state.config_path)
    if as_json or state.as_json:
        _echo(dump_json(cfg))
    else:
        source = cfg.source or "none (defaults)"
        _echo(f"# effective configuration; file: {source}\n# secrets are shown as ${{VAR}} references\n"
              + dump_toml(cfg))
    _warn(config_warnings(cfg))


@click.group("validate")
def validate_group() -> None:
    """Check things before trading with them.

    \b
    Examples:
      orch validate config                 check the config orch would use
      orch validate config ./orch.toml     check that file
      orch validate config --strict        warnings (placeholder keys, ...) are errors too
    """


@validate_group.command("config")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True,
              help="Treat warnings (secrets not set, uninstalled or gated brokers) as errors.")
def validate_config(path: str | None, strict: bool) -> None:
    """Validate a config file: every problem is listed, one per line (exit 2).

    Warnings (secrets not set, sections of uninstalled brokers, unofficial brokers not opted in) are
    printed but do not fail, unless --strict.
    """
    from orch.config import config_warnings, find_config_path, load_config, search_paths

    state = app()
    found = find_config_path(path or state.config_path)
    if found is None:
        searched = ", ".join(str(p) for p in search_paths())
        warnings = [f"no config file found (searched {searched}); the defaults apply"]
    else:
        warnings = config_warnings(load_config(found))
    if strict and warnings:
        raise ConfigError(warnings[0], hint=f"--strict; {len(warnings)} warning(s)", problems=warnings)
    _warn(warnings)
    where = str(found) if found else "defaults"
    if state.as_json:
        state.emit({"path": str(found) if found else None, "ok": True, "warnings": warnings})
        return
    suffix = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    _echo(f"{where}: ok{suffix}")
