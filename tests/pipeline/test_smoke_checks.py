"""The smoke checks script against a real hypercode-core, read by the rollback decision."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarm_pipeline.decisions import SmokeCheck, parse_smoke_report, release_health

from harness.agents import AgentProcess
from harness.core import CoreProcess

from .tools import PIPELINE_SRC, run


def smoke(core: CoreProcess, client_key: str, task_deadline_s: float = 60) -> list[SmokeCheck]:
    env = {
        **os.environ,
        "BASE_URL": core.base_url,
        "CLIENT_KEY": client_key,
        "SMOKE_TASK_DEADLINE_S": str(task_deadline_s),
    }
    checked = run(sys.executable, PIPELINE_SRC / "smoke_checks.py", env=env)
    assert checked.returncode == 0, checked.stderr
    return parse_smoke_report(checked.stdout)


def failed(checks: list[SmokeCheck]) -> list[str]:
    return [check.name for check in checks if not check.passed]


@pytest.fixture
def agent(core: CoreProcess, tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(core.base_url, core.keys["registrar"], tmp_path / "agent")
    with process:
        yield process


@pytest.mark.slow
def test_all_checks_pass_with_a_real_agent(core: CoreProcess, agent: AgentProcess) -> None:
    checks = smoke(core, core.keys["client"])
    assert failed(checks) == [], checks
    assert release_health(checks).ok


def test_a_core_without_agents_fails_the_task_check(core: CoreProcess) -> None:
    checks = smoke(core, core.keys["client"], task_deadline_s=1)
    assert failed(checks) == ["check_task_runs"]
    assert not release_health(checks).ok


def test_a_wrong_key_fails_the_task_check(core: CoreProcess) -> None:
    checks = smoke(core, "not-the-client-key-at-all")
    assert failed(checks) == ["check_task_runs"]
    assert "submit answered 401" in checks[-1].detail
