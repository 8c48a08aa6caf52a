"""orch.testing: the conformance kit every broker plugin runs, ours or a third party's.

* :mod:`orch.testing.pytest_plugin`: fixtures and :class:`~orch.testing.conformance.BrokerConformance`,
  the shared test class a plugin subclasses with ``broker = "<name>"``; its tests connect through
  :class:`orch.client.BrokerClient` to the plugin's own simulator over loopback sockets.
* :mod:`orch.testing.vectors`: static request/response vectors for a plugin's sans-IO protocol code.

See docs/conformance.md. Nothing here is imported by the core at run time; it needs pytest and
pytest-trio only when its pytest plugin is used.
"""
