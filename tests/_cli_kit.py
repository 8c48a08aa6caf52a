"""Shared set-up of the CLI tests: fake brokers registered without installing anything, a config file in a
temporary directory, and a runner that goes through ``run_cli`` exactly as the ``orch`` script does
(one-line errors, exit codes), with stdout and stderr kept apart.

Loaded by path (pytest's importlib mode gives the tests no package)::

    kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_cli_kit.py"))))
"""

from __future__ import annotations

import json
import runpy
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
from click.testing import CliRunner

fake = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_cli_fake_broker.py"))))

SECRET = "mk-very-secret-4242"

CONFIG = """\
[brokers.memb]
enabled = true
paper = {memb_paper}
api_key = "${{MEMB_KEY}}"
markets = ["US_STOCKS"]

[brokers.crypt]
enabled = true
testnet = true
markets = ["CRYPTO"]

[broker_routing]
default_broker = "memb"
crypto_broker = "crypt"

[journal]
path = "{journal}"

[logging]
level = "INFO"
file = "{log}"
"""


@attrs.frozen
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@attrs.define
class Env:
    root: Path
    config: Path
    journal: Path
    log: Path
    books: dict

    def write_config(self, *, memb_paper: bool = True) -> None:
        self.config.write_text(CONFIG.format(memb_paper=str(memb_paper).lower(), journal=self.journal,
                                             log=self.log))

    def run(self, *args: str, input: str | None = None) -> Run:
        from orch.cli.errors import run_cli
        from orch.cli.main import cli

        runner = CliRunner()
        with runner.isolation(input=input) as (out, err, _):
            code = run_cli(cli, ["--config", str(self.config), *args])
        return Run(code, out.getvalue().decode(), err.getvalue().decode())

    def rows(self, sql: str = "SELECT client_order_id, broker, mode, state, reject_reason FROM orders "
                              "ORDER BY id") -> list[tuple]:
        if not self.journal.exists():
            return []
        with sqlite3.connect(self.journal) as conn:
            return conn.execute(sql).fetchall()


def make_env(tmp_path: Path, monkeypatch: Any, *, memb_paper: bool = True) -> Env:
    from orch.logs import reset_logging

    books = fake.install(monkeypatch)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMB_KEY", SECRET)
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    env = Env(root=tmp_path, config=tmp_path / "orch.toml", journal=tmp_path / "state" / "journal.sqlite",
              log=tmp_path / "logs" / "orch.log", books=books)
    env.write_config(memb_paper=memb_paper)
    reset_logging()
    return env
