"""orch: a multi-broker day-trading orchestrator.

The plugin contract lives in :mod:`orch.hookspecs`; models in :mod:`orch.models`; errors in
:mod:`orch.errors`. Importing this package stays cheap: nothing here imports trio, httpx or a plugin.
"""

__version__ = "0.1.0"
