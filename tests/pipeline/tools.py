"""Paths and a runner shared by the tests that drive real tools."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_SRC = ROOT / "pipeline" / "src" / "swarm_pipeline"
# Tools installed from PyPI wheels (kubectl, trivy, bandit) sit next to the interpreter.
VENV_BIN = Path(sys.executable).parent


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
