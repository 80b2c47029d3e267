import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import anyio
import pytest

from agents.coder.sandbox import RunResult, Sandbox, check_relative_path
from tests.agents.hostile import HOSTILE, OUTSIDE_TARGETS, TIMEOUT_S, Hostile, network_case


def run_in_sandbox(
    argv: list[str], files: Mapping[str, str], stdin: str = "", timeout_s: float = TIMEOUT_S
) -> RunResult:
    async def run() -> RunResult:
        return await Sandbox().run(argv, files=files, stdin=stdin, timeout_s=timeout_s)

    return anyio.run(run)


def run_python(code: str, stdin: str = "") -> RunResult:
    return run_in_sandbox([sys.executable, "-I", "main.py"], {"main.py": code}, stdin)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_runs_code_with_stdin_and_reports_exit_code() -> None:
    run = run_python("import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)", stdin="hi")
    assert (run.exit_code, run.stdout, run.timed_out, run.truncated) == (3, "HI\n", False, False)


def test_a_run_that_never_reads_its_large_stdin_still_times_out() -> None:
    run = run_python("while True:\n    pass\n", stdin="x" * (4 << 20))
    assert run.timed_out and run.duration_s < TIMEOUT_S + 3


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.name)
def test_hostile_code_is_contained(case: Hostile) -> None:
    case.check(run_python(case.code))


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
