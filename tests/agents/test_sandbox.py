import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import anyio
import pytest

from agents.coder.isolation import RunIsolation, UidPool
from agents.coder.sandbox import (
    PIPES_GRACE_S,
    Limits,
    RunResult,
    Sandbox,
    StartedRun,
    check_relative_path,
)
from agents.coder.warm_python import WarmPython
from tests.agents.hostile import HOSTILE, OUTSIDE_TARGETS, TIMEOUT_S, Hostile, network_case


def run_in_sandbox(
    argv: list[str], files: Mapping[str, str], stdin: str = "", timeout_s: float = TIMEOUT_S
) -> RunResult:
    async def run() -> RunResult:
        sandbox = Sandbox()
        try:
            return await sandbox.run(argv, files=files, stdin=stdin, timeout_s=timeout_s)
        finally:
            await sandbox.aclose()

    return anyio.run(run)


def run_python(code: str, stdin: str = "") -> RunResult:
    return run_in_sandbox([sys.executable, "-I", "main.py"], {"main.py": code}, stdin)


def run_warm_python(code: str, stdin: str = "") -> RunResult:
    """The same program through run_python's spare sandboxes (started before the task)."""

    async def run() -> RunResult:
        sandbox = Sandbox()
        warm = WarmPython(sandbox)
        try:
            await warm.run("pass", "", TIMEOUT_S)  # the program below gets the spare
            return await warm.run(code, stdin, TIMEOUT_S)
        finally:
            await warm.aclose()
            await sandbox.aclose()

    return anyio.run(run)


PYTHON_RUNS = pytest.mark.parametrize("python", [run_python, run_warm_python], ids=["cold", "warm"])


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@PYTHON_RUNS
def test_runs_code_with_stdin_and_reports_exit_code(python: Callable[..., RunResult]) -> None:
    run = python("import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)", stdin="hi")
    assert (run.exit_code, run.stdout, run.timed_out, run.truncated) == (3, "HI\n", False, False)


@PYTHON_RUNS
def test_a_run_that_never_reads_its_large_stdin_still_times_out(
    python: Callable[..., RunResult],
) -> None:
    run = python("while True:\n    pass\n", stdin="x" * (4 << 20))
    assert run.timed_out and run.duration_s < TIMEOUT_S + 3


@PYTHON_RUNS
def test_a_run_that_ends_without_reading_its_stdin_leaves_no_error_to_log(
    python: Callable[..., RunResult], caplog: pytest.LogCaptureFixture
) -> None:
    """The broken pipe is the run's business; nothing is left for asyncio to log when collected."""
    run = python("import time\ntime.sleep(0.2)\n", stdin="x" * (4 << 20))
    gc.collect()
    assert run.exit_code == 0
    assert "exception was never retrieved" not in caplog.text


@PYTHON_RUNS
@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.name)
def test_hostile_code_is_contained(case: Hostile, python: Callable[..., RunResult]) -> None:
    case.check(python(case.code))


def test_a_warm_run_fails_like_a_cold_one_with_the_task_s_own_traceback() -> None:
    code = "def broken():\n    raise ValueError('no')\n\nbroken()\n"
    cold, warm = run_python(code), run_warm_python(code)
    assert cold.exit_code == warm.exit_code == 1
    assert warm.stderr == cold.stderr, warm.stderr


def test_no_network_even_to_a_port_listening_on_the_host(listening_port: int) -> None:
    case = network_case(listening_port)
    case.check(run_python(case.code))


def test_writes_outside_never_reach_the_host() -> None:
    writer = next(case for case in HOSTILE if case.name == "writing outside the temp dir")
    run_python(writer.code)
    assert not [target for target in OUTSIDE_TARGETS if Path(target).exists()]


def test_files_are_placed_in_the_job_dir_with_their_folders() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "VALUE = 7\n",
        "main.py": "import pkg.mod\nprint(pkg.mod.VALUE)\n",
    }
    run = run_in_sandbox([sys.executable, "main.py"], files)
    assert (run.exit_code, run.stdout) == (0, "7\n"), run.stderr


@pytest.mark.parametrize("path", ["../x.py", "/etc/passwd", "a/../../x", "", "a//b", "a b.py", "."])
def test_unsafe_file_names_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a safe relative path"):
        check_relative_path(path)


# Holds every process it can get and keeps asking for more.
GREEDY_FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
"""
# Starts processes of its own, as lint and test runs do.
SPAWNER = """
import subprocess, sys
for _ in range(10):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
print("spawned 10")
"""
# Three processes, each well under the per-process address-space cap, 1.8 GiB together.
MEMORY_HOG = """
import os, time
children = []
for index in range(3):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (600 << 20)
        print("held", index, flush=True)
        time.sleep(3)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


def python_argv() -> list[str]:
    return [sys.executable, "-I", "main.py"]


@pytest.mark.host  # per-run uids need root outside a container
def test_a_fork_bomb_in_one_run_leaves_other_runs_free_to_start_processes() -> None:
    async def runs() -> tuple[RunResult, list[RunResult]]:
        sandbox = Sandbox()
        bombing = asyncio.create_task(
            sandbox.run(python_argv(), files={"main.py": GREEDY_FORK_BOMB}, timeout_s=10)
        )
        await asyncio.sleep(2)  # by now the bomb holds every process its budget allows
        others = await asyncio.gather(
            *(
                sandbox.run(python_argv(), files={"main.py": SPAWNER}, timeout_s=30)
                for _ in range(3)
            )
        )
        assert not bombing.done(), "the bomb must still be running while the others run"
        bomb = await bombing
        await sandbox.aclose()
        return bomb, others

    bomb, others = anyio.run(runs)
    assert bomb.timed_out
    for run in others:
        assert (run.exit_code, run.stdout) == (0, "spawned 10\n"), run.stderr


@pytest.mark.skipif(RunIsolation.detect().cgroups is None, reason=RunIsolation.detect().describe())
def test_memory_is_capped_for_the_whole_run_not_per_process() -> None:
    run = run_in_sandbox(python_argv(), {"main.py": MEMORY_HOG}, timeout_s=60)
    assert not run.timed_out
    assert "MemoryError" not in run.stderr  # no single process reached its own cap
    assert run.stdout.count("held") < 3, "three 600 MiB processes fitted in a 1 GiB run"
    assert "over its memory cap of 1024 MiB" in run.stderr


def test_concurrent_runs_never_share_a_uid(tmp_path: Path) -> None:
    # Two pools over one lock directory stand for two tool servers on one machine.
    first, second = UidPool(range(100, 102), tmp_path), UidPool(range(100, 102), tmp_path)
    with first.take() as one, second.take() as two:
        assert one != two
        with pytest.raises(RuntimeError, match="all 2 sandbox uids are in use"), first.take():
            pass
    with second.take() as again:
        assert again in (100, 101)


async def start_with_escapee(escapee: str, pid_file: Path) -> StartedRun:
    """A run whose process leaves `escapee` behind in a session of its own, holding the pipes:
    what bwrap's child is when the sandbox is killed before it tied its life to bwrap's."""
    process = await asyncio.create_subprocess_exec(
        *("sh", "-c", f"setsid {escapee} <&0 & echo $! >'{pid_file}'; wait"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    return StartedRun(process, Limits(), None, contextlib.AsyncExitStack(), set())


def test_a_killed_run_ends_a_child_that_escaped_it_and_waits_for_stdin(tmp_path: Path) -> None:
    async def discard() -> float:
        run = await start_with_escapee("cat", tmp_path / "pid")
        started = time.monotonic()
        await run.kill()
        await run.discard()
        return time.monotonic() - started

    assert anyio.run(discard) < PIPES_GRACE_S  # cat read end-of-file and let the pipes go


def test_a_killed_run_never_waits_forever_on_pipes_an_escaped_child_holds(tmp_path: Path) -> None:
    async def finish() -> RunResult:
        run = await start_with_escapee("sleep 60", tmp_path / "pid")
        try:
            return await asyncio.wait_for(run.finish(b"", timeout_s=0.5), 2 * PIPES_GRACE_S + 2)
        finally:
            os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
            await asyncio.sleep(0.5)  # its pipes close while the loop still runs

    result = anyio.run(finish)
    assert result.timed_out
    assert "output was lost (its pipes outlived the sandbox)" in result.stderr
