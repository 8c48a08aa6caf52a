"""orch broker plugin for XTB: forex and CFDs through the xStation5 xAPI (JSON commands over a WebSocket,
plus its streaming WebSocket). XTB switched the xAPI off on 2025-03-14; the plugin works against any host
that still serves it and against its own simulator (:mod:`orch_xtb.sim`). Hooks: :mod:`orch_xtb.plugin`."""
