"""orch broker plugin for Trade Republic (UNOFFICIAL: it speaks the private web API, which Trade Republic
does not offer for automated use). Opt-in only: ``enabled = true`` and ``acknowledge_unofficial = true``.
The hooks are in :mod:`orch_trade_republic.plugin`."""
