"""Real hypercode-core, real agent processes, real sandboxes: the must-shows of the coder agent."""

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.coder.sandbox import RunResult
from harness.agents import AgentPool, AgentProcess
from harness.core import CoreProcess
from harness.service import free_port
from tests.agents.hostile import HOSTILE, TIMEOUT_S, network_case
from tests.conftest import Api, CoreFactory

pytestmark = pytest.mark.slow

FINAL = {"succeeded", "failed", "cancelled"}
SLEEPER = "import time\ntime.sleep({seconds})\nprint('done')\n"
# A run the host's process list shows under `name` (PR_SET_NAME, at most 15 characters).
NAMED_SLEEPER = (
    "import ctypes, time\nctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0)\ntime.sleep(120)\n"
)
PoolFactory = Callable[..., AgentPool]


@pytest.fixture
def start_agents(tmp_path: Path) -> Iterator[PoolFactory]:
    pools: list[AgentPool] = []

    def start(core: CoreProcess, count: int = 2, **options: Any) -> AgentPool:
        pool = AgentPool(
            core.base_url,
            core.keys["registrar"],
            tmp_path / f"agents{len(pools)}",
            count,
            **options,
        )
        pools.append(pool)
        pool.start()
        return pool

    yield start
    for pool in pools:
        pool.stop()


@pytest.fixture
def stack_api(start_core: CoreFactory) -> Iterator[Callable[..., Api]]:
    apis: list[Api] = []

    def start(**settings: object) -> Api:
        apis.append(Api(start_core(**settings)))
        return apis[-1]

    yield start
    for api in apis:
        api.close()


def submit(api: Api, kind: str, payload: dict[str, Any], timeout_s: float = 30) -> str:
    response = api.client.post(
        "/api/v1/execution/execute", json={"kind": kind, "payload": payload, "timeout_s": timeout_s}
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_final(api: Api, task_ids: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}

    def all_final() -> bool:
        for task_id in [t for t in task_ids if t not in done]:
            if (task := api.task(task_id))["status"] in FINAL:
                done[task_id] = task
        return len(done) == len(task_ids)

    wait_for(all_final, timeout, f"{len(task_ids) - len(done)} of {len(task_ids)} tasks")
    return done


def wait_running(api: Api, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = wait_for(
        lambda: (t := api.task(task_id))["status"] == "running" and t, 60, "the task to run"
    )
    return task


def processes_named(name: str) -> list[int]:
    """Ids of this machine's processes whose name (/proc/<pid>/comm) is name."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):  # gone between the listing and the read
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
    return found


def run_of(task: dict[str, Any]) -> RunResult:
    return RunResult(stdout=task["output"], **task["result"])


Check = Callable[[dict[str, Any]], bool]


def printed(text: str) -> Check:
    return lambda task: task["status"] == "succeeded" and task["output"] == text


def exited(code: int) -> Check:
    return lambda task: task["status"] == "failed" and task["result"]["exit_code"] == code


def ended(status: str) -> Check:
    return lambda task: task["status"] == status


def mixed_tasks() -> list[tuple[str, dict[str, Any], Check]]:
    """200 tasks of every kind, some meant to fail; each with the check of its right result."""
    tasks: list[tuple[str, dict[str, Any], Check]] = []
    tasks += [("python", {"code": f"print({i} * {i})"}, printed(f"{i * i}\n")) for i in range(150)]
    tasks += [("python", {"code": f"raise SystemExit({i})"}, exited(i)) for i in range(1, 11)]
    for i in range(20):
        clean = i % 2 == 0
        source = "VALUE = 1\n" if clean else "import os\n"
        tasks.append(
            ("lint", {"files": {f"m{i}.py": source}}, ended("succeeded" if clean else "failed"))
        )
        test = f"def test_add():\n    assert 1 + 1 == {2 if clean else 3}\n"
        tasks.append(
            ("test", {"files": {f"test_{i}.py": test}}, ended("succeeded" if clean else "failed"))
        )
    return tasks


def test_200_mixed_tasks_all_finish_with_correct_results(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api()
    pool = start_agents(api.core, count=2, concurrency=2)
    tasks = mixed_tasks()
    ids = [submit(api, kind, payload) for kind, payload, _ in tasks]
    finished = wait_final(api, ids, timeout=240)
    wrong = [
        (kind, finished[i])
        for i, (kind, _, ok) in zip(ids, tasks, strict=True)
        if not ok(finished[i])
    ]
    assert not wrong, wrong[:3]
    workers = {task["agent_id"] for task in finished.values()}
    assert workers <= set(pool.agent_ids)
    assert len({pool.process_of(agent_id).name for agent_id in workers}) == 2


def test_task_of_a_killed_agent_is_leased_again_and_completed_once(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api(lease_ttl_s=2)
    pool = start_agents(api.core, count=2)
    task_id = submit(api, "python", {"code": SLEEPER.format(seconds=4)})
    victim_id = wait_running(api, task_id)["agent_id"]
    victim = pool.process_of(victim_id)
    victim.kill()
    task = wait_final(api, [task_id], timeout=90)[task_id]
    assert (task["status"], task["output"], task["attempts"]) == ("succeeded", "done\n", 2)
    assert task["agent_id"] != victim_id and task["agent_id"] in pool.agent_ids
    reports = sum(agent.log().count(f"task {task_id} succeeded") for agent in pool.agents)
    assert reports == 1


def test_heartbeats_keep_a_long_task_leased_to_its_agent(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api(lease_ttl_s=3, reaper_interval_s=0.2)
    pool = start_agents(api.core, count=1)
    task_id = submit(api, "python", {"code": SLEEPER.format(seconds=9)})  # three lease TTLs
    task = wait_final(api, [task_id], timeout=90)[task_id]
    assert (task["status"], task["output"], task["attempts"]) == ("succeeded", "done\n", 1)
    assert task["agent_id"] == pool.agent_ids[0]


def test_a_task_cancelled_while_it_runs_is_stopped_on_its_agent(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    """The next heartbeat tells the agent its lease is gone: it kills the run, reports nothing."""
    api = stack_api(lease_ttl_s=3)
    pool = start_agents(api.core, count=1)
    name = f"run-{uuid.uuid4().hex[:8]}"
    slow = submit(api, "python", {"code": NAMED_SLEEPER.format(name=name)}, timeout_s=150)
    wait_running(api, slow)
    wait_for(lambda: processes_named(name), 30, "the run to show in the process list")
    assert api.admin.post(f"/api/v1/execution/{slow}/cancel").status_code == 200
    agent = pool.agents[0]
    wait_for(lambda: f"task {slow}: the core no longer holds lease" in agent.log(), 20, "the stop")
    wait_for(lambda: not processes_named(name), 20, "the run to be killed")
    after = submit(api, "python", {"code": "print('next')"})
    assert wait_final(api, [after], timeout=60)[after]["output"] == "next\n"
    assert api.task(slow)["status"] == "cancelled"
    assert f"task {slow}: report refused" not in agent.log()
    assert agent.returncode is None


def test_deleted_busy_agent_loses_its_task_and_its_late_report_is_refused(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api()
    pool = start_agents(api.core, count=2)
    task_id = submit(api, "python", {"code": SLEEPER.format(seconds=3)})
    removed_id = wait_running(api, task_id)["agent_id"]
    assert api.admin.delete(f"/api/v1/agents/{removed_id}").status_code == 204
    assert api.task(task_id)["agent_id"] != removed_id
    task = wait_final(api, [task_id], timeout=60)[task_id]
    assert (task["status"], task["output"]) == ("succeeded", "done\n")
    assert task["agent_id"] != removed_id
    removed = pool.process_of(removed_id)
    wait_for(lambda: f"task {task_id}: report refused" in removed.log(), 30, "the late report")
    # Its token is dead, so it leaves on its own.
    wait_for(lambda: removed.returncode is not None, 30, "the removed agent to exit")
    assert removed.returncode == 0


def test_sigterm_finishes_the_current_task_then_deregisters(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api()
    pool = start_agents(api.core, count=1)
    task_id = submit(api, "python", {"code": SLEEPER.format(seconds=2)})
    agent_id = wait_running(api, task_id)["agent_id"]
    assert pool.agents[0].stop(timeout=60) == 0
    task = api.task(task_id)
    assert (task["status"], task["agent_id"], task["output"]) == ("succeeded", agent_id, "done\n")
    active = [a["id"] for a in api.client.get("/api/v1/agents").json() if a["status"] == "active"]
    assert agent_id not in active


def test_hostile_tasks_are_contained_and_the_agent_survives(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api()
    pool = start_agents(api.core, count=1)
    cases = [*HOSTILE, network_case(api.core.port)]
    ids = [submit(api, "python", {"code": case.code}, timeout_s=TIMEOUT_S) for case in cases]
    finished = wait_final(api, ids, timeout=120)
    for case, task_id in zip(cases, ids, strict=True):
        case.check(run_of(finished[task_id]))
    alive = submit(api, "python", {"code": "print('still serving')"})
    assert wait_final(api, [alive])[alive]["output"] == "still serving\n"
    assert pool.agents[0].returncode is None


def test_agent_rides_out_core_downtime_before_start_and_across_a_restart(tmp_path: Path) -> None:
    core = CoreProcess(tmp_path / "core")  # keys, port and database outlive restarts
    agent = AgentProcess(core.base_url, core.keys["registrar"], tmp_path / "agent")
    agent.spawn()
    api = Api(core)
    try:
        time.sleep(3)
        assert agent.returncode is None and not agent.agent_ids
        core.start()
        agent.wait_registered(timeout=60)
        first = submit(api, "python", {"code": "print('late but fine')"})
        assert wait_final(api, [first])[first]["output"] == "late but fine\n"
        core.kill()
        time.sleep(2)  # heartbeats and the long-poll now fail and back off
        core.start()
        second = submit(api, "python", {"code": "print('back again')"})
        assert wait_final(api, [second], timeout=60)[second]["output"] == "back again\n"
        assert agent.returncode is None and len(agent.agent_ids) == 1
    finally:
        api.close()
        agent.kill()
        core.stop()


def test_agent_with_a_wrong_key_exits_with_a_clear_error(core: CoreProcess, tmp_path: Path) -> None:
    agent = AgentProcess(core.base_url, core.keys["client"], tmp_path / "agent")
    agent.spawn()
    wait_for(lambda: agent.returncode is not None, 60, "the agent to give up")
    assert agent.returncode == 2
    assert "the core refused this agent" in agent.log() and "403" in agent.log()


def test_agent_waiting_for_a_core_that_never_comes_stops_on_sigterm(tmp_path: Path) -> None:
    agent = AgentProcess(f"http://127.0.0.1:{free_port()}", "unused-key", tmp_path / "agent")
    agent.spawn()
    try:
        wait_for(lambda: "tool server ready" in agent.log(), 60, "the agent to start")
        time.sleep(1)  # now retrying registration
        assert agent.stop(timeout=20) == 0
        assert "never registered" in agent.log()
    finally:
        agent.kill()


# NUL and other control characters, a byte-order mark, bytes that are not UTF-8 (an encoded
# surrogate, 0xff): on stdout of a task that succeeds and in the traceback of one that fails.
ODD_OUTPUT = r"""
import sys
sys.stdout.write("nul:\x00 esc:\x1b[31m bell:\x07 bom:\ufeff raw:")
sys.stdout.flush()
sys.stdout.buffer.write(b"\xff\xfe\xed\xa0\x80 end\n" + b"\x00" * 64)
"""
ODD_FAILURE = r"""
raise SystemExit("nul:\x00 esc:\x1b[0m " + "\x00" * 64)
"""


def test_a_task_printing_odd_bytes_ends_final_and_the_agent_keeps_serving(
    stack_api: Callable[..., Api], start_agents: PoolFactory, database_url: str
) -> None:
    api = stack_api(database_url=database_url)
    pool = start_agents(api.core, count=1)
    odd = [submit(api, "python", {"code": code}) for code in (ODD_OUTPUT, ODD_FAILURE)]
    finished = wait_final(api, odd, timeout=240)
    assert {task["status"] for task in finished.values()} <= FINAL
    after = submit(api, "python", {"code": "print('still serving')"})
    assert wait_final(api, [after])[after]["output"] == "still serving\n"
    assert pool.agents[0].returncode is None
    assert len(pool.agent_ids) == 1, "the agent must not have left and registered again"


def test_a_result_the_core_refuses_becomes_a_failed_task_with_the_reason(
    stack_api: Callable[..., Api], start_agents: PoolFactory
) -> None:
    api = stack_api(max_request_bytes=4096)  # the result report of the big task is larger
    pool = start_agents(api.core, count=1)
    big = submit(api, "python", {"code": "print('x' * 20000)"})
    task = wait_final(api, [big], timeout=60)[big]
    assert (task["status"], task["output"]) == ("failed", "")
    assert task["error"].startswith("the core refused the task's result") and "413" in task["error"]
    after = submit(api, "python", {"code": "print('still serving')"})
    assert wait_final(api, [after])[after]["output"] == "still serving\n"
    assert pool.agents[0].returncode is None
