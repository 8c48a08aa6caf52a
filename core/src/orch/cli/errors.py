"""Turning exceptions into one line and an exit code."""

from __future__ import annotations

import sys
import traceback

import click

from orch.errors import OrchError
from orch.secret import mask


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv


def run_cli(command: click.Command, argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    if any("\x00" in arg for arg in args):
        # Only a shell line can carry one (an OS command line cannot); click's Path would crash on it.
        click.echo("error: a NUL byte in the command line", err=True)
        return 2
    try:
        # Without standalone mode click returns the code of ctx.exit(n) instead of raising it.
        result = command.main(args=args, prog_name="orch", standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            return result
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            # A group called bare: its help is the answer, not an error line.
            click.echo(exc.ctx.get_help())
            return exc.exit_code
        # One line, like every other error (click would print the usage block first).
        where = exc.ctx.command_path if exc.ctx is not None else "orch"
        click.echo(f"error: {mask(exc.format_message())} (see `{where} --help`)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except OrchError as exc:
        if debug:
            click.echo(mask("".join(traceback.format_exc())), err=True)
        # A config error lists every problem, one line each; anything else is one line.
        for line in getattr(exc, "problems", None) or [str(exc)]:
            click.echo(f"error: {mask(line)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            click.echo(mask("".join(traceback.format_exc())), err=True)
            return 1
        click.echo(f"error: unexpected {type(exc).__name__}: {mask(str(exc))} (run with --debug for details)",
                   err=True)
        return 1
    return 0
