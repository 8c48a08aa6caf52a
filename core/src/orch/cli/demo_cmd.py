"""``orch demo``: the README's first command."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--broker", "brokers", multiple=True, help="Only these brokers' simulators (repeatable).")
@click.option("--keep-journal", type=click.Path(file_okay=False), default=None,
              help="Keep the demo's journal in this directory (default: a temporary one).")
def demo_command(brokers: tuple[str, ...], keep_journal: str | None) -> None:
    """Run a guided multi-broker session on the built-in simulators (no account, no internet).

    Orders are routed by market (AAPL, BTCUSDT, EURUSD), journaled and filled at the simulators; then the
    accounts, positions, order history and execution report are shown. Finishes in seconds.
    """
    from pathlib import Path

    import trio

    from orch.demo import run_demo

    journal_dir = Path(keep_journal) if keep_journal else None
    if journal_dir:
        journal_dir.mkdir(parents=True, exist_ok=True)
    failures = trio.run(lambda: run_demo(click.echo, brokers=list(brokers) or None, journal_dir=journal_dir))
    if failures:
        raise click.exceptions.Exit(1)
