"""Every DEGIRO test keeps its session cache (orch_degiro.state, beside the journal) in a temporary
ORCH_HOME, never in the user's state directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_orch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / "orch_home"))
