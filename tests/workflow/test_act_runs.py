"""The GitHub workflow itself, run end to end by act on this machine (scripts/workflow).

Each run is the whole .github/workflows/swarm-pipeline.yml: every job's `dagger call …`
against the real engine, `needs` and `if:` evaluated by act, the k6 summary carried by act's
artifact server from the load-test job to the production-gate job. Needs the engine of
`make dagger-up` (or a Dagger install): marked `dagger`, like the other engine tests, so a
run without one deselects them and never skips. One run is ~10-20 min on 2 busy cores.
"""

import subprocess

import pytest

from scripts.workflow.run import WorkflowRun, new_run_dir, run_workflow
from tests.pipeline.tools import ROOT

pytestmark = [pytest.mark.dagger, pytest.mark.workflow, pytest.mark.slow, pytest.mark.timeout(3600)]

BUILD_AND_TEST = ["success"] * 4  # the matrix: lint, test, sast, build


def progress(line: str) -> None:
    print(f"workflow: {line}", flush=True)


@pytest.fixture(scope="module")
def pull_request_run() -> WorkflowRun:
    return run_workflow("pull_request", new_run_dir("pull_request", "test"), progress)


@pytest.fixture(scope="module")
def push_run() -> WorkflowRun:
    return run_workflow("push", new_run_dir("push", "test"), progress)


@pytest.fixture(scope="module")
def rollback_drill_run() -> WorkflowRun:
    # The workflow's own switch (a repository variable on GitHub): smoke fails on purpose.
    drill = ["--var", "ROLLBACK_DRILL=true"]
    return run_workflow("push", new_run_dir("push", "test-drill"), progress, drill)


def commit(revision: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", revision], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def uploaded(run: WorkflowRun) -> list[str]:
    return sorted(path.name for path in run.artifacts.rglob("*") if path.is_file())


def test_pull_request_builds_stages_and_load_tests_but_never_releases(
    pull_request_run: WorkflowRun,
) -> None:
    run = pull_request_run

    assert run.results("build-and-test") == BUILD_AND_TEST, run.summary()
    assert run.results("deploy-staging") == ["success"], run.summary()
    assert run.results("load-test") == ["success"], run.summary()
    assert run.results("production-gate") == ["skipped"], run.summary()
    assert run.results("rollback") == ["skipped"], run.summary()
    assert run.returncode == 0, run.summary()
    assert uploaded(run) == ["k6-summary.zip"], "the load-test job uploaded no k6 summary"


def test_push_to_main_releases_after_the_gate_and_skips_the_rollback(
    push_run: WorkflowRun,
) -> None:
    run = push_run

    assert run.results("build-and-test") == BUILD_AND_TEST, run.summary()
    for job in ("deploy-staging", "load-test", "production-gate"):
        assert run.results(job) == ["success"], run.summary()
    assert run.results("rollback") == ["skipped"], run.summary()
    assert run.returncode == 0, run.summary()
    # Download the load test's summary, gate on it, deploy production, smoke-check it.
    assert run.steps("production-gate") == [
        ("actions/checkout@v5", "success"),
        ("actions/download-artifact@v4", "success"),
        *[("dagger/dagger-for-github@v8", "success")] * 3,
    ], run.steps("production-gate")
    released = run.output("production-gate")
    assert "production gate open: yes" in released
    assert f"production runs hypercode-agent:{commit('HEAD')}" in released
    assert "passed check_task_runs" in released


def test_a_release_that_fails_its_smoke_checks_is_rolled_back(
    rollback_drill_run: WorkflowRun,
) -> None:
    run = rollback_drill_run

    assert run.results("build-and-test") == BUILD_AND_TEST, run.summary()
    assert run.results("load-test") == ["success"], run.summary()
    assert run.results("production-gate") == ["failure"], run.summary()
    assert run.steps("production-gate") == [
        ("actions/checkout@v5", "success"),
        ("actions/download-artifact@v4", "success"),
        *[("dagger/dagger-for-github@v8", "success")] * 2,
        ("dagger/dagger-for-github@v8", "failure"),
    ], run.steps("production-gate")
    assert "FAILED check_task_runs: CheckFailed: submit answered 401" in run.output(
        "production-gate"
    )
    assert run.results("rollback") == ["success"], run.summary()
    # github.event.before: the release before this push is applied to production again.
    assert f"production runs hypercode-agent:{commit('HEAD~1')}" in run.output("rollback")
    assert run.returncode != 0, "a rolled-back release must leave the workflow red"
