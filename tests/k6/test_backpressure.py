"""The swarm load test against a core with a tiny queue cap and no agents: nearly every
submit is refused with 429, and the summary counts that as backpressure, not as failures."""

from pathlib import Path

import httpx
import pytest

from harness.core import CoreProcess
from harness.k6 import Target, backpressure_line, run_swarm_load_test

pytestmark = pytest.mark.slow

CAP = 5


def test_a_full_queue_is_backpressure_and_the_sla_holds(tmp_path: Path) -> None:
    with CoreProcess(tmp_path / "core", env={"HYPERCODE_MAX_QUEUED_TASKS": str(CAP)}) as core:
        target = Target.from_role_keys(core.base_url, core.keys)
        run = run_swarm_load_test(target, tmp_path / "k6", profile="smoke")
        stats = httpx.get(
            f"{core.base_url}/api/v1/execution/stats",
            headers={"Authorization": f"Bearer {core.keys['admin']}"},
        ).json()

    summary = run.summary
    assert summary is not None, run.log_text()
    assert run.exit_code == 0, run.log_text()
    assert summary.passed and summary.failed_thresholds() == []
    assert stats["counts"]["queued"] == CAP  # no agent took any: the first CAP got in
    submits = summary.operations["submit_task"]
    refused = summary.backpressure
    assert refused.operation == "submit_task"
    assert refused.refused == submits.count - CAP > 0
    assert refused.share == round(refused.refused / submits.count, 4)
    assert (summary.requests.failed, submits.failed) == (0, 0)
    assert summary.checks.failed == []
    line = backpressure_line(summary)
    assert line == (
        f"Backpressure: {refused.refused} submit_task refused with 429 "
        f"({100 * refused.share:.2f}%: a queue cap reached; not counted as failed)"
    )
    assert line.removeprefix("Backpressure:") in run.log_text()  # k6's own summary says it too
