"""The sast stage's verdicts on real Bandit and Trivy reports, as the pipeline runs them."""

from pathlib import Path

import pytest
from swarm_pipeline.decisions import (
    Severity,
    bandit_findings,
    scan_verdict,
    trivy_findings,
)

from .tools import ROOT, VENV_BIN, run


def bandit_report(*targets: str | Path) -> str:
    # Bandit exits 1 when it finds something: the verdict reads the report instead.
    return run(VENV_BIN / "bandit", "-q", "-r", *targets, "-f", "json").stdout


def trivy_report(target: Path, cache_dir: Path) -> str:
    """The offline scan of the sast stage: embedded misconfig checks, no database download."""
    scanned = run(
        VENV_BIN / "trivy", "fs", "--scanners", "misconfig,secret", "--skip-check-update",
        "--skip-version-check", "--disable-telemetry", "--cache-dir", cache_dir,
        "--format", "json", "--quiet", target,
    )  # fmt: skip
    assert scanned.returncode == 0, scanned.stderr
    return scanned.stdout


def test_bandit_passes_the_pipeline_code() -> None:
    findings = bandit_findings(bandit_report(ROOT / "pipeline" / "src"))
    assert findings == []


def test_bandit_blocks_a_shell_injection(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "import subprocess\n\ndef run(cmd: str) -> None:\n    subprocess.call(cmd, shell=True)\n"
    )
    findings = bandit_findings(bandit_report(tmp_path))
    assert any(f.rule == "B602" and f.severity is Severity.HIGH for f in findings)
    assert not scan_verdict(findings).ok


@pytest.mark.parametrize("target", ["deploy/docker", "deploy/k8s"])
def test_trivy_finds_nothing_blocking_in_the_images_and_manifests(
    target: str, tmp_path: Path
) -> None:
    findings = trivy_findings(trivy_report(ROOT / target, tmp_path))
    verdict = scan_verdict(findings)
    assert verdict.ok, verdict.describe("deploy/ clean")


def test_trivy_blocks_a_dockerfile_that_runs_as_root(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["python"]\n')
    findings = trivy_findings(trivy_report(project, tmp_path / "cache"))
    assert any(f.rule == "DS-0002" and f.severity is Severity.HIGH for f in findings)
    assert not scan_verdict(findings).ok
