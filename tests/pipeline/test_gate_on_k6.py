"""The production gate on summaries of real k6 runs against a real hypercode-core."""

import json
from pathlib import Path

import pytest
from swarm_pipeline.decisions import gate_decision

from harness.agents import AgentPool
from harness.core import CoreProcess
from harness.k6 import Target, run_swarm_load_test

pytestmark = pytest.mark.slow


def k6_summary(tmp_path: Path, core_env: dict[str, str] | None = None) -> dict[str, object]:
    """The JSON summary of the smoke profile against a core with one real agent."""
    with (
        CoreProcess(tmp_path / "core", env=core_env) as core,
        AgentPool(core.base_url, core.keys["registrar"], tmp_path / "agents", count=1),
    ):
        target = Target.from_role_keys(core.base_url, core.keys)
        run = run_swarm_load_test(target, tmp_path / "k6", profile="smoke")
    document: dict[str, object] = json.loads(run.summary_path.read_text(encoding="utf-8"))
    return document


def test_gate_opens_on_a_healthy_run_only_with_approval(tmp_path: Path) -> None:
    summary = k6_summary(tmp_path)
    approved = gate_decision(summary, approved=True)
    assert approved.ok, approved.describe("gate open")
    assert not gate_decision(summary, approved=False).ok


def test_gate_stays_closed_when_latency_breaks_the_sla(tmp_path: Path) -> None:
    slow = {"HYPERCODE_DEV_MODE": "true", "HYPERCODE_TEST_LATENCY_MS": "700"}
    verdict = gate_decision(k6_summary(tmp_path, slow), approved=True)
    assert not verdict.ok
    assert any("threshold failed: http_req_duration" in reason for reason in verdict.reasons)
