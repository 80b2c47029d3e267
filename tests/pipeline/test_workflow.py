"""The GitHub Actions wrapper: the plan's five jobs, each only `dagger call`, actionlint clean."""

import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from swarm_pipeline.main import SwarmPipeline

from .tools import ROOT, run

WORKFLOW = ROOT / ".github" / "workflows" / "swarm-pipeline.yml"
# The plan's five jobs (/work/shared/PLAN.md, "CI/CD Automation"), in its order.
PLAN_JOBS = ["build-and-test", "deploy-staging", "load-test", "production-gate", "rollback"]
FUNCTIONS = SwarmPipeline.__dagger_module__._objects["SwarmPipeline"].functions


def jobs() -> dict[str, dict[str, Any]]:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    found: dict[str, dict[str, Any]] = workflow["jobs"]
    return found


def dagger_calls(job: dict[str, Any]) -> list[str]:
    """The function each `dagger call` step of a job calls (its first argument)."""
    return [
        step["with"]["args"].split()[0]
        for step in job["steps"]
        if step["uses"].startswith("dagger/dagger-for-github@")
    ]


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
    text = broken.read_text().replace("needs: deploy-staging", "needs: no-such-job")
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


def test_jobs_are_the_plans_five_chained_by_needs() -> None:
    found = jobs()
    assert list(found) == PLAN_JOBS
    for earlier, later in pairwise(PLAN_JOBS):
        assert found[later]["needs"] == earlier, later


def test_each_job_calls_functions_of_the_module() -> None:
    calls = {name: dagger_calls(job) for name, job in jobs().items()}
    assert calls == {
        "build-and-test": ["${{"],  # the matrix: one stage each
        "deploy-staging": ["deploy-staging"],
        "load-test": ["load-test"],
        "production-gate": ["gate", "deploy", "smoke"],
        "rollback": ["rollback"],
    }
    matrix = jobs()["build-and-test"]["strategy"]["matrix"]["stage"]
    named = [call for job in calls.values() for call in job if call != "${{"] + matrix
    assert {call.replace("-", "_") for call in named} <= set(FUNCTIONS)


def test_the_k6_summary_travels_from_the_load_test_to_the_gate() -> None:
    load_test, gate = jobs()["load-test"], jobs()["production-gate"]
    exported = load_test["steps"][1]["with"]["args"]
    uploaded = load_test["steps"][2]
    assert exported.endswith("export --path var/k6-summary.json")
    assert uploaded["uses"].startswith("actions/upload-artifact@")
    assert uploaded["with"] == {"name": "k6-summary", "path": "var/k6-summary.json"}
    downloaded = gate["steps"][1]
    assert downloaded["with"] == {"name": "k6-summary", "path": "var"}
    assert gate["steps"][2]["with"]["args"] == "gate --summary var/k6-summary.json --approved"


def test_production_and_rollback_run_in_the_protected_environment() -> None:
    found = jobs()
    assert found["production-gate"]["environment"] == "production"
    assert found["rollback"]["environment"] == "production"
    assert "refs/heads/main" in found["production-gate"]["if"]
    assert "production" in found["production-gate"]["steps"][3]["with"]["args"]


def test_rollback_runs_only_when_the_smoke_step_failed() -> None:
    gate = jobs()["production-gate"]
    smoke = gate["steps"][-1]
    assert smoke["id"] == "smoke"
    assert gate["outputs"]["smoke"] == "${{ steps.smoke.outcome }}"
    assert jobs()["rollback"]["if"] == (
        "failure() && needs.production-gate.outputs.smoke == 'failure'"
    )
