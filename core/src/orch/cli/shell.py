"""``orch shell``: an interactive session that keeps ONE orchestrator, and its broker connections, open.

It accepts the broker guide's command lines as written (``test alpaca connection``, ``alpaca order buy
AAPL 1 market --paper``, ``status brokers``, ``order status --id …``; a leading ``> ``, a leading ``orch``
and ``# comments`` are tolerated) and runs them with the same click commands as the one-shot CLI.

How: the trio loop runs in the main thread and owns the orchestrator; each line is read and dispatched
from a worker thread, with the open orchestrator injected into the click context
(:data:`orch.cli.runner.INJECTED`), and each command's async work hops back into the loop
(``trio.from_thread.run``). Ctrl-C stops the running command, not the shell; ``exit``, ``quit`` or EOF
(Ctrl-D) leave and close every connection. Errors print one line and the shell goes on; a script read from
stdin exits with the code of the last line that failed (0 when all succeeded).

Interactive sessions get readline history (``shell_history`` in ``$ORCH_HOME`` or the user state
directory, private to the user; a line holding a known secret is not kept) and tab completion of
command words and options.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from orch.cli.app import AppContext, app
from orch.cli.runner import INJECTED, Injected, injected
from orch.errors import UsageError

BUILTINS = ("exit", "quit", "help")
HISTORY_FILE = "shell_history"
HISTORY_LENGTH = 2000


def history_path() -> Path:
    home = os.environ.get("ORCH_HOME", "").strip()
    if home:
        return Path(home).expanduser() / HISTORY_FILE
    import platformdirs

    return platformdirs.user_state_path("orch", appauthor=False) / HISTORY_FILE


def parse_line(line: str) -> list[str] | None:
    """The words of one shell line, or None for nothing to run (blank, comment, a guide's code fence).
    ValueError (unbalanced quotes) is the caller's to report."""
    text = line.strip()
    while text.startswith(">"):
        text = text[1:].lstrip()
    if not text or text.startswith("#") or text.startswith("```"):
        return None
    words = shlex.split(text, comments=True)
    if words and words[0] == "orch":
        words = words[1:]
    if words and words[0] == "help":
        words = [*words[1:], "--help"]
    return words or None


class _InjectedRoot:
    """Looks like a click command to :func:`orch.cli.errors.run_cli` (which only calls ``main``), but
    puts the open orchestrator into the new context's ``meta`` before invoking: every nested context
    shares that dict, so every command finds it."""

    def __init__(self, root: click.Command, found: Injected) -> None:
        self.root = root
        self.found = found

    def main(self, args: list[str], prog_name: str, standalone_mode: bool = False) -> Any:
        try:
            with self.root.make_context(prog_name, list(args)) as ctx:
                ctx.meta[INJECTED] = self.found
                return self.root.invoke(ctx)
        except (EOFError, KeyboardInterrupt) as exc:
            raise click.exceptions.Abort() from exc


def _refusal(words: list[str]) -> str | None:
    leading = []
    for word in words:
        if not word.startswith("-"):
            break
        leading.append(word)
    if any(w == "--config" or w.startswith("--config=") for w in leading):
        return "--config cannot change inside the shell; start `orch --config PATH shell` instead"
    rest = words[len(leading):]
    if rest[:1] == ["shell"]:
        return "already in the shell"
    return None


def run_line(root: click.Command, found: Injected, base_args: list[str], line: str) -> int | None:
    """Run one line (in a worker thread of the shell's loop); the exit code, or None when the line held
    no command. Errors are printed as one line, as by the one-shot CLI."""
    from orch.cli.errors import run_cli

    try:
        words = parse_line(line)
    except ValueError as exc:
        click.echo(f"error: cannot read the line: {exc}", err=True)
        return 2
    if words is None:
        return None
    refusal = _refusal(words)
    if refusal:
        click.echo(f"error: {refusal}", err=True)
        return 2
    return run_cli(_InjectedRoot(root, found), [*base_args, *words])


# ------------------------------------------------------------------------------------------ completion


def completions(root: click.Group, line_before: str, obj: AppContext | None = None) -> list[str]:
    """Command words and options that may follow ``line_before`` (the text left of the cursor)."""
    text = line_before.lstrip()
    while text.startswith(">"):
        text = text[1:].lstrip()
    try:
        words = shlex.split(text)
    except ValueError:
        return []
    if words[:1] == ["orch"] or words[:1] == ["help"]:
        words = words[1:]
    prefix = "" if not text or text[-1].isspace() else (words.pop() if words else "")
    # Resilient: completing a word must never raise (e.g. a guide broker whose plugin is absent).
    ctx = click.Context(root, info_name="orch", obj=obj or AppContext(), resilient_parsing=True)
    command: click.Command = root
    for word in words:
        if word.startswith("-") or not isinstance(command, click.Group):
            continue
        sub = command.get_command(ctx, word)
        if sub is None:
            return []
        command = sub
        ctx = click.Context(sub, parent=ctx, info_name=word, resilient_parsing=True)
    names: list[str] = []
    if isinstance(command, click.Group) and not prefix.startswith("-"):
        names += command.list_commands(ctx)
        if command is root:
            names += [b for b in BUILTINS]
    if prefix.startswith("-") or not isinstance(command, click.Group):
        names += [o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)]
    return sorted(n for n in set(names) if n.startswith(prefix))


class _Readline:
    """History and completion for an interactive session; nothing at all when stdin is not a terminal."""

    def __init__(self, root: click.Group, obj: AppContext) -> None:
        import readline

        self.readline = readline
        self.root = root
        self.obj = obj
        self.path = history_path()
        self._matches: list[str] = []
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(self.path)
        except OSError:
            pass
        readline.set_completer_delims(" \t\n")
        readline.set_completer(self.complete)
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")

    def complete(self, text: str, state: int) -> str | None:
        try:
            if state == 0:
                before = self.readline.get_line_buffer()[:self.readline.get_endidx()]
                self._matches = [m + " " for m in completions(self.root, before, self.obj)]
            return self._matches[state] if state < len(self._matches) else None
        except Exception:  # noqa: BLE001 - completion must never break the prompt
            return None

    def forget_secrets(self, line: str) -> None:
        from orch.logs import redact

        if redact(line) != line:
            length = self.readline.get_current_history_length()
            if length:
                self.readline.remove_history_item(length - 1)

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.readline.write_history_file(self.path)
        except OSError as exc:
            click.echo(f"warning: shell history not saved to {self.path}: {exc.strerror or exc}", err=True)


# ------------------------------------------------------------------------------------------ the loop


async def _watch_interrupts(found: Injected) -> None:
    import signal

    import trio

    try:
        receiver = trio.open_signal_receiver(signal.SIGINT)
    except (RuntimeError, ValueError):  # not the main thread: keep trio's default Ctrl-C handling
        await trio.sleep_forever()
        return
    with receiver as signals:
        async for _ in signals:
            if found.scope is not None:
                found.scope.cancel()
            else:
                click.echo("\n(Ctrl-C: type exit or press Ctrl-D to leave)", err=True)


async def _session(root: click.Group, config: Any, live: bool, base_args: list[str], interactive: bool,
                   obj: AppContext) -> int:
    """Run lines until exit or EOF; the exit code of the last line that failed (0 if none did)."""
    import trio

    from orch.orchestrator import Orchestrator

    async with Orchestrator.open(config, live=live) as orch:
        found = Injected(orch, trio.lowlevel.current_trio_token())
        prompt = ("orch[LIVE]> " if live else "orch> ") if interactive else ""
        history = _Readline(root, obj) if interactive else None
        failed = 0
        if interactive:
            mode = "LIVE: real money" if live else "paper/testnet unless a command says --live"
            click.echo(f"orch shell ({mode}). Type help, or exit / Ctrl-D to leave.")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_interrupts, found)
                while True:
                    try:
                        line = await trio.to_thread.run_sync(input, prompt, abandon_on_cancel=True)
                    except EOFError:
                        if interactive:
                            click.echo()
                        break
                    if history is not None:
                        history.forget_secrets(line)
                    if line.strip().lstrip(">").strip() in ("exit", "quit"):
                        break
                    code = await trio.to_thread.run_sync(run_line, root, found, base_args, line)
                    if code:
                        failed = code
                nursery.cancel_scope.cancel()
        finally:
            if history is not None:
                history.save()
        return failed


@click.command("shell")
@click.option("--live", is_flag=True,
              help="Allow LIVE endpoints in this session (each command must still say --live).")
@click.pass_context
def shell_command(ctx: click.Context, live: bool) -> None:
    """Interactive shell: type the guide's commands (`test alpaca connection`, `alpaca account`,
    `alpaca order buy AAPL 1 market --paper`, `status brokers`…). One connection per broker stays open
    for the whole session. exit, quit or Ctrl-D leave.
    """
    import trio

    from orch.cli.main import cli
    from orch.cli.runner import load_app_config

    if injected(ctx) is not None:
        raise UsageError("already in the shell")
    state = app(ctx)
    config = load_app_config(ctx)
    base_args: list[str] = []
    source = state.config_path or config.source
    if source:
        base_args += ["--config", str(source)]
    if state.debug:
        base_args.append("--debug")
    if state.as_json:
        base_args.append("--json")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    failed = trio.run(_session, cli, config, live, base_args, interactive, state)
    # A script (`orch shell < lines.txt`) tells its caller whether every line succeeded, as `sh` would
    # with set -e in mind; at a terminal the user has seen each error already.
    if failed and not interactive:
        raise click.exceptions.Exit(failed)
