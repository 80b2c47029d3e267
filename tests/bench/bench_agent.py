"""Coder agent throughput for trivial run_python tasks with 1, 2 and 4 agents, and its overhead.

For each agent count: a fresh core (SQLite, tracing off) and that many agent processes; then
`--tasks` trivial tasks (`pass`) are queued at once. Throughput is tasks ÷ (last finished_at -
first created_at), from the core's own timestamps. Per-task agent overhead is what each agent
logs — lease received to result accepted — minus the tool's own run (the sandbox, from the
program's handover to its exit; run_python's sandbox was started before the task came): MCP
round trip, the calls to the core and bookkeeping (goal ≤ 20 ms). CPU per task: the agents,
tool servers and core each from /proc, and, where cgroup v1 cpuacct is writable, the agents'
whole process trees with their sandboxes (the spares started before the tasks are queued
excepted: one per agent); tasks per CPU-s is what one core would give running nothing else.

    .venv/bin/python -m tests.bench.bench_agent --agents 1 2 4 --tasks 100
"""

import argparse
import contextlib
import logging
import math
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from harness.agents import AgentPool
from harness.core import CoreProcess
from harness.service import cpu_seconds

log = logging.getLogger(__name__)
TASK_LINE = re.compile(r"task \S+ succeeded in ([0-9.]+)s \(tool run ([0-9.]+)s\)")
UNFINISHED = ("queued", "leased", "running")
CPU_ROLES = ("agent", "tools", "core")
CPUACCT_ROOT = Path("/sys/fs/cgroup/cpuacct")


@dataclass(frozen=True)
class Result:
    agents: int
    tasks: int
    tasks_per_s: float
    tool_ms_median: float
    overhead_ms_median: float
    overhead_ms_p95: float
    cpu_ms_per_task: dict[str, float]
    # Agents, tool servers and sandboxes together (NaN without a cpuacct hierarchy).
    agents_with_sandboxes_cpu_ms: float

    @property
    def tasks_per_cpu_s(self) -> float:
        """Tasks per second of one core: the throughput a core would give with nothing else."""
        return 1000 / (self.agents_with_sandboxes_cpu_ms + self.cpu_ms_per_task["core"])


def submit_all(client: httpx.Client, count: int) -> None:
    for _ in range(count):
        response = client.post(
            "/api/v1/execution/execute",
            json={"kind": "python", "payload": {"code": "pass"}, "timeout_s": 10},
        )
        response.raise_for_status()


def wait_until_drained(client: httpx.Client, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = [
            client.get("/api/v1/execution", params={"status": status, "limit": 1}).json()["items"]
            for status in UNFINISHED
        ]
        if not any(busy):
            return
        time.sleep(0.5)
    raise TimeoutError(f"tasks still unfinished after {timeout_s}s")


def all_tasks(client: httpx.Client) -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/execution", params=params).json()
        tasks += page["items"]
        if not (cursor := page["next_cursor"]):
            return tasks


def span_s(tasks: list[dict[str, object]]) -> float:
    first = min(datetime.fromisoformat(str(task["created_at"])) for task in tasks)
    last = max(datetime.fromisoformat(str(task["finished_at"])) for task in tasks)
    return (last - first).total_seconds()


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_by_role(core: CoreProcess, pool: AgentPool) -> dict[str, float]:
    """CPU seconds so far of the core, the agents and their tool servers.

    The sandboxes are left out: bwrap's PID namespace keeps their CPU from being reaped into
    the tool server's children time, so /proc cannot attribute it.
    """
    agents = [agent.pid for agent in pool.agents if agent.pid is not None]
    tool_servers = [child for pid in agents for child in children(pid)]
    return {
        "core": core.cpu_seconds(),
        "agent": sum(cpu_seconds(pid) for pid in agents),
        "tools": sum(cpu_seconds(pid) for pid in tool_servers),
    }


@contextlib.contextmanager
def cpu_accounted(pids: list[int]) -> Iterator[Path | None]:
    """A cgroup v1 cpuacct group holding these processes and all they start from now on.

    The sandboxes stay in it (a run is moved only in the memory and pids hierarchies), so its
    usage is the CPU of agents, tool servers and sandboxes together. None where this machine
    has no writable cpuacct hierarchy.
    """
    group = CPUACCT_ROOT / f"bench-agent-{os.getpid()}"
    try:
        group.mkdir()
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        yield None
        return
    try:
        yield group
    finally:
        for member in (group / "cgroup.procs").read_text().split():  # back where they were
            with contextlib.suppress(OSError):  # gone meanwhile
                (CPUACCT_ROOT / "cgroup.procs").write_text(member)
        group.rmdir()


def cpu_usage_s(group: Path | None) -> float:
    return math.nan if group is None else int((group / "cpuacct.usage").read_text()) / 1e9


def measure(agent_count: int, task_count: int, workdir: Path) -> Result:
    with CoreProcess(workdir / "core") as core:
        headers = {"Authorization": f"Bearer {core.keys['client']}"}
        with (
            AgentPool(
                core.base_url, core.keys["registrar"], workdir / "agents", agent_count
            ) as pool,
            httpx.Client(base_url=core.base_url, headers=headers, timeout=30) as client,
        ):
            agents = [agent.pid for agent in pool.agents if agent.pid is not None]
            with cpu_accounted([*agents, *(c for pid in agents for c in children(pid))]) as group:
                before, tree_before = cpu_by_role(core, pool), cpu_usage_s(group)
                submit_all(client, task_count)
                wait_until_drained(client, timeout_s=600)
                after, tree_after = cpu_by_role(core, pool), cpu_usage_s(group)
            tasks = all_tasks(client)
            logs = "".join(agent.log() for agent in pool.agents)
    assert all(task["status"] == "succeeded" for task in tasks), "a trivial task failed"
    timings = [(float(total), float(tool)) for total, tool in TASK_LINE.findall(logs)]
    overheads = sorted(1000 * (total - tool) for total, tool in timings)
    return Result(
        agents=agent_count,
        tasks=len(tasks),
        tasks_per_s=len(tasks) / span_s(tasks),
        tool_ms_median=1000 * statistics.median(tool for _, tool in timings),
        overhead_ms_median=statistics.median(overheads),
        overhead_ms_p95=overheads[int(0.95 * (len(overheads) - 1))],
        cpu_ms_per_task={role: 1000 * (after[role] - before[role]) / len(tasks) for role in after},
        agents_with_sandboxes_cpu_ms=1000 * (tree_after - tree_before) / len(tasks),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    print(
        "| agents | tasks | tasks/s | tool run median ms | agent overhead median ms | p95 ms "
        "| CPU ms/task: agent / tool server / core | CPU ms/task: agents with sandboxes "
        "| tasks per CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        for count in args.agents:
            result = measure(count, args.tasks, Path(tmp) / f"agents-{count}")
            cpu = result.cpu_ms_per_task
            print(
                f"| {result.agents} | {result.tasks} | {result.tasks_per_s:.1f} "
                f"| {result.tool_ms_median:.0f} | {result.overhead_ms_median:.1f} "
                f"| {result.overhead_ms_p95:.1f} "
                "| " + " / ".join(f"{cpu[role]:.0f}" for role in CPU_ROLES) + " "
                f"| {result.agents_with_sandboxes_cpu_ms:.0f} | {result.tasks_per_cpu_s:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
