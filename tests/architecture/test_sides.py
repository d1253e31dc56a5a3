"""The house's sides stay apart: the camera's code and the city's code meet only in edge_agent.protocol.

The contracts live in pyproject.toml ([tool.importlinter]); import-linter checks every import, direct or through
other modules. The second test proves the check bites: one deliberate import of the city into the camera's agent,
in a copy of the package, must break it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's import contracts on the edge_agent package found under `root`."""
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_are_kept() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_camera_module_importing_the_city_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(REPO / "edge_agent", tmp_path / "edge_agent", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    agent = tmp_path / "edge_agent" / "device" / "agent.py"
    agent.write_text(agent.read_text() + "\nfrom edge_agent.city.ingest import store  # noqa: E402,F401\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "The camera and the city meet only in the protocol BROKEN" in result.stdout
    assert "edge_agent.device.agent -> edge_agent.city.ingest.store" in result.stdout
