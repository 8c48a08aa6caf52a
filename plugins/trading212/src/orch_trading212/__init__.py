"""orch's Trading 212 plugin (Public API v0): see :mod:`orch_trading212.plugin`."""
