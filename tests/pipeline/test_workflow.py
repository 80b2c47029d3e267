"""The GitHub Actions wrapper passes actionlint, and actionlint can fail."""

import shutil
from pathlib import Path

import pytest

from .tools import ROOT, run

WORKFLOW = ROOT / ".github" / "workflows" / "swarm-pipeline.yml"


@pytest.fixture(scope="module")
def actionlint() -> str:
    """Installs actionlint with the project's script (Go toolchain; cached after the first)."""
    installed = run("bash", ROOT / "scripts" / "install-actionlint.sh")
    assert installed.returncode == 0, installed.stderr
    return installed.stdout.strip()


@pytest.mark.slow
def test_workflow_passes_actionlint(actionlint: str) -> None:
    linted = run(actionlint, "-no-color", WORKFLOW)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.slow
def test_actionlint_catches_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    shutil.copy(WORKFLOW, broken)
    text = broken.read_text().replace("needs: load-test", "needs: no-such-job")
    broken.write_text(text)
    linted = run(actionlint, "-no-color", broken, cwd=tmp_path)
    assert linted.returncode == 1
    assert "no-such-job" in linted.stdout


def test_every_job_step_is_a_dagger_call_or_artifact_transfer() -> None:
    allowed = ("actions/checkout@", "dagger/dagger-for-github@", "actions/upload-artifact@",
               "actions/download-artifact@")  # fmt: skip
    uses = [line.split("uses:", 1)[1].strip() for line in WORKFLOW.read_text().splitlines()
            if "uses:" in line]  # fmt: skip
    assert uses
    assert all(step.startswith(allowed) for step in uses), uses
    assert "run:" not in WORKFLOW.read_text()
