"""Per-invocation state shared by every command: global options, lazily loaded config, output helpers."""

from __future__ import annotations

import json
from typing import Any

import attrs
import click


@attrs.define
class AppContext:
    config_path: str | None = None
    as_json: bool = False
    debug: bool = False

    def setup_logging(self) -> None:
        from orch.logs import setup_logging

        setup_logging(debug=self.debug)

    def emit(self, data: Any, human: str | None = None) -> None:
        """Print ``data`` as JSON with ``--json``; otherwise print ``human`` (or a JSON rendering)."""
        from orch.models import to_data

        if self.as_json or human is None:
            click.echo(json.dumps(to_data(data), indent=2, default=str))
        else:
            click.echo(human)


def app(ctx: click.Context | None = None) -> AppContext:
    ctx = ctx or click.get_current_context()
    obj = ctx.find_object(AppContext)
    if obj is None:
        obj = AppContext()
        ctx.obj = obj
    return obj
