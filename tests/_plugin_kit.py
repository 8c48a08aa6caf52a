"""Helpers for the plugin tests: throwaway plugin distributions and an `orch` runner that reports what
it imported. The test modules load it by path (pytest's importlib mode gives them no package to import
from)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent
MEMORY_BROKER = (HERE / "_memory_broker.py").read_text()
UNOFFICIAL_KEYWORD = "orch-unofficial"


def write_dist(root: Path, dist_name: str, entry_points: dict[str, str], modules: dict[str, str], *,
               version: str = "1.0", keywords: str = "") -> Path:
    """A distribution laid out as installed (modules + ``*.dist-info``) under ``root``: put ``root`` on
    sys.path / PYTHONPATH and importlib.metadata finds it, without pip."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        path = root / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    info = root / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    meta = f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    if keywords:
        meta += f"Keywords: {keywords}\n"
    (info / "METADATA").write_text(meta)
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[orch.brokers]\n{lines}")
    return root


def write_project(root: Path, dist_name: str, package: str, entry_points: dict[str, str],
                  modules: dict[str, str], *, keywords: tuple[str, ...] = ()) -> Path:
    """A source tree with its own pyproject (hatchling), as a third party would publish it."""
    pkg = root / "src" / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for module, source in modules.items():
        (pkg / f"{module}.py").write_text(textwrap.dedent(source))
    eps = "".join(f'{name} = "{value}"\n' for name, value in entry_points.items())
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{dist_name}"
        version = "0.3.0"
        requires-python = ">=3.11"
        dependencies = ["orch-core"]
        keywords = {json.dumps(list(keywords))}

        [project.entry-points."orch.brokers"]
        """) + eps + textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [tool.hatch.build.targets.wheel]
        packages = ["src/{package}"]
        """))
    return root


def pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


# Runs `orch <args>` in a fresh interpreter, then writes the modules it imported (and the plugin modules
# installed) to the file named by ORCH_TEST_MODULES, so a test can prove what was not imported.
RUNNER = """
import json, os, sys
from orch.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
from orch.plugins import installed_plugins
with open(os.environ["ORCH_TEST_MODULES"], "w") as f:
    json.dump({"modules": sorted(sys.modules),
               "plugins": {e.name: e.module for e in installed_plugins()}}, f)
sys.exit(code)
"""


class Run:
    def __init__(self, result: subprocess.CompletedProcess, report: dict) -> None:
        self.code = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.modules = set(report.get("modules", ()))
        self.plugins = report.get("plugins", {})

    def imported_plugins(self) -> list[str]:
        """Installed plugins whose entry-point module (or its package) got imported."""
        return sorted(name for name, module in self.plugins.items()
                      if module in self.modules or module.split(".")[0] in self.modules)


def run_orch(args: list[str], tmp: Path, *, pythonpath: list[Path] = (), env: dict | None = None) -> Run:
    """``orch args`` in a clean subprocess: cwd, HOME and the config dirs under ``tmp`` so no user config
    is read."""
    tmp.mkdir(parents=True, exist_ok=True)
    report = tmp / "modules.json"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    child_env.update(HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"),
                     XDG_DATA_HOME=str(tmp / "data"), ORCH_HOME=str(tmp / "orch-home"),
                     ORCH_TEST_MODULES=str(report))
    if pythonpath:
        child_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    child_env.update(env or {})
    result = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=tmp, env=child_env,
                            capture_output=True, text=True, timeout=120)
    data = json.loads(report.read_text()) if report.exists() else {}
    return Run(result, data)
