"""The pipeline's own stages through a real Dagger engine, on scratch copies of this repository.

It can fail: a copy with one broken test and one lint error turns `test` and `lint` red with
those findings in their messages. Releases: a release whose core is broken on purpose fails
its smoke checks, the previous release is re-applied, and the stage ends red saying both; a
healthy release skips the rollback.

Needs an engine (`source ~/.cache/swarm/dagger/env.sh`, docs/dagger-offline.md): marked
`dagger`, so a run without one deselects them, never skips.
"""

import re
import shutil
import subprocess
from pathlib import Path

import dagger
import pytest
from dagger import dag
from swarm_pipeline.main import SOURCE_IGNORE, StageFailed, SwarmPipeline, failure_text

from .tools import ROOT

pytestmark = [pytest.mark.dagger, pytest.mark.anyio, pytest.mark.timeout(1200)]

BROKEN_TEST = "tests/test_broken_on_purpose.py"
LINT_ERROR = "app/lint_error_on_purpose.py"


def scratch_copy(destination: Path) -> Path:
    """The repository's tracked files as they are in the work tree, nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def pipeline_on(repository: Path) -> SwarmPipeline:
    return SwarmPipeline(source=dag.host().directory(str(repository), exclude=SOURCE_IGNORE))


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path} changed: update the sabotage"
    path.write_text(text.replace(old, new))


async def test_test_and_lint_stages_fail_with_their_findings(engine: None, tmp_path: Path) -> None:
    repository = scratch_copy(tmp_path / "repo")
    (repository / BROKEN_TEST).write_text(
        "def test_the_answer_is_wrong_on_purpose() -> None:\n    assert 6 * 7 == 43\n"
    )
    (repository / LINT_ERROR).write_text("import os\n")  # F401: imported but unused
    pipeline = pipeline_on(repository)

    with pytest.raises(dagger.ExecError) as tested:
        await pipeline.test(paths=[BROKEN_TEST])
    with pytest.raises(dagger.ExecError) as linted:
        await pipeline.lint()

    test_report = failure_text(tested.value)
    assert f"FAILED {BROKEN_TEST}::test_the_answer_is_wrong_on_purpose" in test_report
    assert "E       assert (6 * 7) == 43" in test_report
    lint_report = failure_text(linted.value)
    assert "`ruff check .` exited 1" in lint_report
    assert f"F401 [*] `os` imported but unused\n --> {LINT_ERROR}:1:8" in lint_report


async def test_the_test_stage_runs_the_postgres_tier_on_its_service(engine: None) -> None:
    """The postgres-marked tests get the stage's PostgreSQL service, not a server of their own."""
    report = await pipeline_on(ROOT).test(markers="postgres", paths=["tests/app/api"])

    passed = re.search(r"(\d+) passed", report)
    assert passed and int(passed.group(1)) > 0, report
    assert "failed" not in report and "error" not in report, report


async def test_a_release_that_fails_smoke_is_rolled_back(engine: None, tmp_path: Path) -> None:
    repository = scratch_copy(tmp_path / "repo")
    # The release's core says it is not ready: /readyz answers 503, as with a lost database.
    replace_once(
        repository / "app" / "api" / "routes" / "health.py",
        "await services.store.ping()",
        'raise RuntimeError("broken on purpose")',
    )

    with pytest.raises(StageFailed) as released:
        await pipeline_on(repository).release(tag="broken", previous_tag="good")

    report = str(released.value)
    assert "FAILED check_ready: CheckFailed: /readyz answered 503" in report, report
    assert "healthy: no" in report
    assert "rollback: re-applied release good to production" in report
    assert "production runs hypercode-agent:good, hypercode-core:good" in report
    assert report.endswith("release broken failed its smoke checks")


async def test_a_healthy_release_skips_the_rollback(engine: None) -> None:
    report = await pipeline_on(ROOT).release(tag="healthy", previous_tag="good")

    assert "production runs hypercode-agent:healthy, hypercode-core:healthy" in report
    assert "passed check_task_runs: task" in report
    assert "healthy: yes" in report
    assert report.endswith("rollback: skipped (smoke passed)")
    assert ":good" not in report
