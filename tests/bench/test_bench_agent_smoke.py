"""The agent benchmark still runs end to end: one short round, no speed asserted."""

import math
from pathlib import Path

import pytest

from tests.bench.bench_agent import CPU_ROLES, measure

pytestmark = pytest.mark.slow


def test_one_short_round_of_the_agent_benchmark_measures_every_figure(tmp_path: Path) -> None:
    result = measure(agent_count=1, task_count=5, workdir=tmp_path)
    assert (result.agents, result.tasks) == (1, 5)
    assert result.tasks_per_s > 0 and result.tool_ms_median > 0
    assert 0 <= result.overhead_ms_median <= result.overhead_ms_p95
    assert set(result.cpu_ms_per_task) == set(CPU_ROLES)
    # NaN only on a machine without a cgroup v1 cpuacct hierarchy.
    assert math.isnan(result.agents_with_sandboxes_cpu_ms) or result.tasks_per_cpu_s > 0
