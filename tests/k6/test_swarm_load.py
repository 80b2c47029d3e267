"""The swarm load test against a real hypercode-core: the SLA holds, and it can fail."""

from pathlib import Path

import httpx
import pytest

from harness.agents import AgentPool
from harness.core import CoreProcess
from harness.k6 import EXIT_THRESHOLDS_FAILED, K6Run, Target, run_swarm_load_test

pytestmark = pytest.mark.slow

# Comfortably above the 500 ms p95 SLA, so the verdict does not hang on noise.
INJECTED_LATENCY_MS = 700


def _run_against(core: CoreProcess, out_dir: Path, profile: str) -> K6Run:
    return run_swarm_load_test(
        Target.from_role_keys(core.base_url, core.keys), out_dir, profile=profile
    )


def _get(core: CoreProcess, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {core.keys['admin']}"}
    response = httpx.get(f"{core.base_url}/api/v1{path}", headers=headers, timeout=30)
    response.raise_for_status()
    return response


def test_ci_profile_holds_the_sla_with_the_70_20_10_mix(tmp_path: Path) -> None:
    with (
        CoreProcess(tmp_path / "core") as core,
        AgentPool(core.base_url, core.keys["registrar"], tmp_path / "agents", count=2) as pool,
    ):
        run = _run_against(core, tmp_path / "k6", "ci")
        succeeded = _get(core, "/execution?status=succeeded&limit=10").json()["items"]
        active_agents = {agent["id"] for agent in _get(core, "/agents?limit=1000").json()}
        agents_alive = [agent.returncode is None for agent in pool.agents]

    assert run.summary is not None, run.log_text()
    assert run.exit_code == 0, run.log_text()
    assert run.summary.failed_thresholds() == []
    assert run.summary.passed
    assert run.summary.vus_max == 50
    assert run.summary.mix_deviation_points() <= 3, run.summary.mix
    assert all(share.count > 0 for share in run.summary.mix.values()), run.summary.mix
    assert run.summary.checks.failed == []
    assert "<html" in run.report_path.read_text(encoding="utf-8")[:1000].lower()
    # The real agents worked through tasks under load, and kill_agent never hit one of them.
    assert succeeded, "no task succeeded: the agents did not work under load"
    assert set(pool.agent_ids) <= active_agents
    assert all(agents_alive)


def test_injected_latency_fails_the_p95_threshold_and_the_run(tmp_path: Path) -> None:
    slow_core = {
        "HYPERCODE_DEV_MODE": "true",
        "HYPERCODE_TEST_LATENCY_MS": str(INJECTED_LATENCY_MS),
    }
    with CoreProcess(tmp_path / "core", env=slow_core) as core:
        run = _run_against(core, tmp_path / "k6", "smoke")

    assert run.summary is not None, run.log_text()
    assert run.exit_code == EXIT_THRESHOLDS_FAILED, run.log_text()
    failed = {(verdict.metric, verdict.expression) for verdict in run.summary.failed_thresholds()}
    assert ("http_req_duration", "p(95)<500") in failed
    assert ("http_req_duration{operation:submit_task}", "p(95)<500") in failed
    # Slow, not broken: only the latency thresholds may fail.
    assert all(metric.startswith("http_req_duration") for metric, _ in failed), failed
    assert run.summary.latency.p95_ms >= INJECTED_LATENCY_MS
