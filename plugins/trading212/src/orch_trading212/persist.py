"""What a Trading 212 connection keeps between processes, next to orch's rate-budget file (so only where
the orchestrator keeps state; an in-memory budget, as in tests, means nothing is written).

* The instruments metadata (the endpoint allows one call per 50 s and Trading 212 refreshes it every
  10 minutes): without it every CLI command would wait for that window.
* What was sent under each client order id (ticker, signed quantity, type, prices, server time): Trading
  212 has no client order ids, so a later process can only find an order by matching on these.

Files hold no secrets: they are keyed by the API host, and the account id.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

INTENT_DAYS = 14


def state_dir(store: Any) -> Path | None:
    path = getattr(store, "path", None)
    return None if path is None else Path(path).parent / "trading212"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80]


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, ValueError):
        return None


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs waiting


class LocalState:
    def __init__(self, directory: Path | None, host: str, *, clock=time.time) -> None:
        self.directory = directory
        self.host = _safe(host)
        self._clock = clock

    def load_instruments(self, max_age: float) -> Any:
        if self.directory is None:
            return None
        data = _read(self.directory / f"instruments-{self.host}.json")
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            return None
        age = self._clock() - float(data.get("fetched_at", 0))
        return data["items"] if 0 <= age <= max_age else None

    def save_instruments(self, items: Any) -> None:
        if self.directory is not None:
            from orch_trading212.protocol import dumps

            _write(self.directory / f"instruments-{self.host}.json",
                   dumps({"fetched_at": int(self._clock()), "items": items}))

    def _intents_path(self, account: str) -> Path | None:
        return None if self.directory is None else self.directory / f"intents-{self.host}-{_safe(account)}.json"

    def load_intents(self, account: str) -> dict[str, dict[str, Any]]:
        path = self._intents_path(account)
        data = _read(path) if path is not None else None
        return data if isinstance(data, dict) else {}

    def save_intent(self, account: str, coid: str, intent: dict[str, Any]) -> None:
        path = self._intents_path(account)
        if path is None:
            return
        from orch_trading212.protocol import dumps

        intents = self.load_intents(account)
        cutoff = self._clock() - INTENT_DAYS * 86400
        intents = {k: v for k, v in intents.items() if float(v.get("saved_at", 0)) >= cutoff}
        intents[coid] = {**intent, "saved_at": int(self._clock())}
        _write(path, dumps(intents))
