"""The harness's one stop routine, and a test session that leaves no process behind."""

import json
import os
import sys
import time
from dataclasses import astuple
from pathlib import Path

import pytest

from harness.jaeger import JaegerPorts
from harness.service import ROOT, Command, free_ports, stat_fields

# A leader that ignores SIGTERM and started two children of its own group.
STUBBORN = "trap '' TERM; sleep 300 & sleep 300 & echo started; wait"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (tells a reused pid apart); None if gone."""
    fields = stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else int(fields[19])


def children_of(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (fields := stat_fields(int(entry.name))) is not None
        and int(fields[1]) == pid
    ]


def still_running(processes: list[tuple[int, int]], timeout: float) -> list[int]:
    """The pids of `processes` ((pid, start time) pairs) still alive after up to timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid, started in processes if start_time(pid) == started]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_stop_falls_back_to_sigkill_and_reaches_the_whole_group(tmp_path: Path) -> None:
    service = Command(["sh", "-c", STUBBORN], log_path=tmp_path / "stubborn.log")
    service.stop_timeout_s = 1
    service.spawn()
    while "started" not in service.log():
        time.sleep(0.05)
    assert service.pid is not None
    group = [(pid, start_time(pid) or 0) for pid in [service.pid, *children_of(service.pid)]]
    assert len(group) == 3

    assert service.stop() == -9
    assert still_running(group, timeout=5) == []
    assert not service.running


def test_stop_returns_the_exit_code_of_a_graceful_exit(tmp_path: Path) -> None:
    with Command(["sh", "-c", "sleep 300"], log_path=tmp_path / "sleep.log") as service:
        assert service.running
    assert service.returncode == -15


def test_ports_picked_together_are_all_different() -> None:
    # One at a time the kernel may hand a port out twice: Jaeger then failed to start with
    # two of its listeners on one port.
    assert len(set(free_ports(200))) == 200
    ports = astuple(JaegerPorts.free())
    assert len(set(ports)) == len(ports) == 5


INNER_TEST = """
import json, os, time
from pathlib import Path

from harness.agents import AgentPool
from harness.core import CoreProcess
from tests.harness.test_service import children_of, start_time


def test_leaves_its_stack_running(tmp_path):
    core = CoreProcess(tmp_path / "core")
    core.start()
    pool = AgentPool(core.base_url, core.keys["registrar"], tmp_path / "agents", count=2)
    pool.start()
    pids = [core.pid] + [agent.pid for agent in pool.agents]
    pids += [child for pid in list(pids) for child in children_of(pid)]  # tool servers
    processes = [(pid, start_time(pid)) for pid in pids]
    Path(os.environ["STARTED_FILE"]).write_text(json.dumps(processes))
    if os.environ["HOW"] == "killed":
        time.sleep(600)
    raise AssertionError("a deliberate failure, with the stack still running")
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["failed", "killed"])
def test_no_process_outlives_a_test_session(tmp_path: Path, how: str) -> None:
    """A test that fails with core and agents running, or a session killed outright."""
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST)
    started_file = tmp_path / "started.json"
    session = Command(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", ROOT, "-c", ROOT / "pyproject.toml", test_file],
        log_path=tmp_path / "session.log",
        env={"STARTED_FILE": str(started_file), "HOW": how,
             "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    with session:
        while not started_file.exists():
            assert session.running, session.log()
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written in one go; let the writer close it
        if how == "killed":
            session.kill()  # SIGKILL: no teardown, no sessionfinish runs
        exit_code = session.wait(timeout=120)
    started = [(pid, started) for pid, started in json.loads(started_file.read_text())]
    assert len(started) >= 5, started  # core, two agents, their two tool servers

    assert exit_code == (1 if how == "failed" else -9), session.log()
    if how == "failed":
        assert "stopped what tests left running" in session.log()
    assert still_running(started, timeout=60) == []
