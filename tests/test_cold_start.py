"""`orch --help` and `orch plugins` import no plugin: listing reads entry-point metadata only.

Each command runs in a fresh interpreter with an extra plugin distribution on PYTHONPATH whose import
leaves a file behind; the runner also reports every module the command imported."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest


# pytest's importlib mode gives tests no package to import shared helpers from.
kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_plugin_kit.py"))))


@pytest.fixture
def tripwire(tmp_path):
    """A plugin whose import writes ``imported`` (and would be visible in sys.modules)."""
    sentinel = tmp_path / "imported"
    root = kit.write_dist(tmp_path / "site", "orch-tripwire", {"tripwire": "orch_tripwire.plugin"},
                          {"orch_tripwire.__init__": "",
                           "orch_tripwire.plugin": f"open({str(sentinel)!r}, 'w').close()\n"})
    return root, sentinel


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"]])
def test_listing_commands_import_no_plugin(tmp_path, tripwire, args):
    site, sentinel = tripwire
    run = kit.run_orch(args, tmp_path / "run", pythonpath=[site])
    assert run.code == 0, run.stderr
    assert "tripwire" in run.stdout  # it was listed...
    assert run.plugins["tripwire"] == "orch_tripwire.plugin"
    assert run.imported_plugins() == [] and not sentinel.exists()  # ...and not imported


def test_help_stays_light(tmp_path):
    run = kit.run_orch(["--help"], tmp_path)
    assert run.code == 0, run.stderr
    # pluggy too: discovery reads metadata, so nothing is registered just to list names.
    heavy = sorted({"pluggy", "trio", "httpx", "cattrs", "hypercorn", "starlette", "sqlite3"} & run.modules)
    assert heavy == [], f"`orch --help` imported {heavy}"
