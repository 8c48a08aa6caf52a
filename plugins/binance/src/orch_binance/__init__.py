"""orch broker plugin for Binance Spot."""
