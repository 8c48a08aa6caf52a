"""`orch demo` as a user runs it: a subprocess of the real console script, with ORCH_HOME pointed at an
empty directory that must stay free of any journal afterwards (the demo keeps its journal elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def _orch_command() -> list[str]:
    beside = Path(sys.executable).with_name("orch")
    found = str(beside) if beside.exists() else shutil.which("orch")
    return [found] if found else [sys.executable, "-m", "orch.cli.main"]


def test_demo_fills_aapl_shows_history_and_leaves_no_journal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run([*_orch_command(), "demo"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={**os.environ, "ORCH_HOME": str(home)}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    aapl = [line for line in out.splitlines() if "buy 10 AAPL" in line]
    assert len(aapl) == 1 and "filled 10 @" in aapl[0] and "✓" in aapl[0]
    history = out.split("== Order history (from the journal)", 1)
    assert len(history) == 2, out
    rows = history[1].split("==", 1)[0]
    assert any("AAPL" in row and "filled" in row and "paper" in row for row in rows.splitlines())
    assert "Done." in out and "failing" not in out
    assert not list(home.rglob("journal.sqlite*"))
    assert not list(tmp_path.glob("journal.sqlite*"))
