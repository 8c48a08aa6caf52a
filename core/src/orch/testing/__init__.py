"""orch.testing: the conformance kit every broker plugin runs, ours or a third party's.

* :mod:`orch.testing.conformance`: :class:`~orch.testing.conformance.BrokerConformance`, the shared test
  class a plugin subclasses with ``broker = "<name>"``; its tests connect an :class:`orch.client.BrokerClient`
  to the plugin's own simulator over loopback sockets (stream checks in
  :mod:`orch.testing.conformance_streams`, well-formedness checks in :mod:`orch.testing.checks`).
* :mod:`orch.testing.pytest_plugin`: marker, ``--orch-broker`` filter and fixtures for a plugin's own tests.
* :mod:`orch.testing.harness`: :func:`~orch.testing.harness.open_harness`, plugin + simulator + client.
* :mod:`orch.testing.simulator` / :mod:`orch.testing.proxy`: the kit's only window onto :mod:`orch.sim`, and
  the loopback proxy that lets it stall the network path.
* :mod:`orch.testing.vectors`: static request/response vectors for a plugin's sans-IO protocol code.

See docs/conformance.md. The core never imports this package at run time; it needs pytest and
pytest-trio (``pip install 'orch-core[testing]'``).
"""
