"""orch broker plugin for Alpaca: US stocks and crypto through the Trading API v2, the Market Data API and
their websocket streams. The hooks are in :mod:`orch_alpaca.plugin`."""
