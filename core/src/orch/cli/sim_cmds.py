"""``orch sim start [BROKER…]``: serve broker simulators on loopback and print the config pointing at them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orch.cli.app import app


def _config_document(sims: dict) -> dict:
    brokers = {name: {"enabled": True, **sim.config} for name, sim in sims.items()}
    return {"brokers": brokers}


@click.group("sim")
def sim_group() -> None:
    """Offline broker simulators speaking each broker's real wire protocol on loopback."""


@sim_group.command("list")
def sim_list() -> None:
    """Installed brokers that ship a simulator."""
    from orch.simulators import available_simulators

    specs = available_simulators()
    app().emit(sorted(specs), "\n".join(f"{name:<16} {spec.title or name}" for name, spec in sorted(specs.items()))
               or "no simulator installed")


@sim_group.command("start")
@click.argument("brokers", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it loopback).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port for a single broker (default: the simulator's usual port; 0 picks a free one).")
@click.option("--write-config", "write_config", type=click.Path(dir_okay=False), default=None,
              help="Also write the printed config to this file (.json or .toml).")
@click.option("--session-open/--real-time", default=False,
              help="Pin the simulated clock to a moment when stock and forex sessions are open.")
def sim_start(brokers: tuple[str, ...], host: str, port: int | None, write_config: str | None,
              session_open: bool) -> None:
    """Serve simulators until Ctrl-C, e.g. `orch sim start alpaca --port 18001`.

    Prints the config section(s) that point orch at them; every simulator accepts its own test keys.
    """
    import trio

    from orch.errors import UsageError
    from orch.simulators import available_simulators, session_time

    names = list(brokers)
    if port not in (None, 0) and len(names) != 1:
        raise UsageError("--port needs exactly one broker name", hint="e.g. orch sim start alpaca --port 18001")
    specs = available_simulators(names or None)
    if not specs:
        raise UsageError("no broker simulator is installed", hint="install a broker plugin, e.g. pip install 'orch[alpaca]'")

    async def main() -> None:
        from orch.sim import SimClock, start_simulator

        clock = SimClock(wall=session_time()) if session_open else None
        async with trio.open_nursery() as nursery:
            sims = {}
            for name, spec in specs.items():
                chosen = port if port is not None else spec.default_port
                sims[name] = await start_simulator(nursery, spec, host, chosen, clock=clock)
            document = _config_document(sims)
            if write_config:
                _write(Path(write_config), document)
            if app().as_json:
                click.echo(json.dumps({"simulators": {n: {"url": s.url, "port": s.port} for n, s in sims.items()},
                                       "config": document}, default=str), nl=True)
            else:
                for name, sim in sims.items():
                    click.echo(f"{name} simulator listening on {sim.url}")
                click.echo("\nConfig pointing at them (paste into config.json, or use --write-config):")
                click.echo(json.dumps(document, indent=2, default=str))
                click.echo("\nPress Ctrl-C to stop.")
            # Flushed so a parent process reading our stdout sees the config at once.
            click.get_text_stream("stdout").flush()
            await trio.sleep_forever()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        click.echo("simulators stopped", err=True)


def _write(path: Path, document: dict) -> None:
    if path.suffix.lower() == ".toml":
        import tomli_w

        from orch.models import drop_none

        path.write_text(tomli_w.dumps(drop_none(document)))
    else:
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
