"""Core and agent agree on what a task may be: every payload the core accepts, the agent's
tool server and sandbox can run (property-based over the rule, then a real round trip)."""

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from agents.coder.sandbox import RunResult
from agents.coder.tool_client import ToolCallError, ToolClient
from agents.coder.tool_server import server
from app.models import TaskCreate
from contract.tasks import MAX_FILES, MAX_PATH_CHARS, TaskKind
from tests.agents.test_agent_e2e import PoolFactory, start_agents, submit, wait_final
from tests.conftest import Api

__all__ = ["start_agents"]  # the fixture, used by the round trip below

CORE_ACCEPTS = TypeAdapter(TaskCreate)
CLEAN = "VALUE = 1\n"

# Names around the rule's edges: spaces, dots, dashes, non-ASCII, backslashes, NULs, slashes.
_EDGY = st.text(alphabet="aZ9_.-/ \\ü\x00:", min_size=1, max_size=12)
_ANY = st.text(min_size=1, max_size=MAX_PATH_CHARS + 20)
_PLAUSIBLE = st.from_regex(
    r"[a-z_][a-z0-9_.-]{0,30}(/[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,40}){0,5}", fullmatch=True
)
paths = st.one_of(_EDGY, _ANY, _PLAUSIBLE)


def core_accepts(body: dict[str, Any]) -> bool:
    try:
        CORE_ACCEPTS.validate_python(body)
    except ValidationError:
        return False
    return True


def run_as_agent(kind: str, payload: dict[str, Any]) -> RunResult:
    """What the agent does with a leased task: its MCP tool server runs it in a sandbox."""

    async def run() -> RunResult:
        async with ToolClient(server) as tools:
            return await tools.run_task(kind, payload, 20)

    return anyio.run(run)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.dictionaries(paths, st.just(CLEAN), min_size=1, max_size=6))
def test_every_file_set_the_core_accepts_the_agent_lints(files: dict[str, str]) -> None:
    body = {"kind": "lint", "payload": {"files": files}}
    if not core_accepts(body):
        return
    run = run_as_agent("lint", body["payload"])
    # ruff exits 2 when it cannot read a file it was given.
    assert run.exit_code == 0, run.stdout + run.stderr


@settings(max_examples=15, deadline=None)
@given(code=st.text(min_size=1, max_size=200), stdin=st.text(max_size=50))
def test_every_program_the_core_accepts_the_agent_runs(code: str, stdin: str) -> None:
    body = {"kind": "python", "payload": {"code": code, "stdin": stdin}}
    if not core_accepts(body):
        return
    run = run_as_agent("python", body["payload"])
    assert run.exit_code is not None and not run.timed_out


@pytest.mark.parametrize("path", ["a b.py", "./x.py", "ü.py", ".hidden.py", "-x.py", "a\\b.py"])
def test_names_the_tool_server_refuses_are_refused_by_the_core(path: str) -> None:
    assert not core_accepts({"kind": "lint", "payload": {"files": {path: CLEAN}}})

    async def call_the_tool_directly() -> None:
        async with ToolClient(server) as tools:
            with pytest.raises(ToolCallError, match="not a safe relative path"):
                await tools.call("lint", {"files": {path: CLEAN}, "timeout_s": 10}, 20)

    anyio.run(call_the_tool_directly)


def test_a_file_cannot_also_be_a_folder() -> None:
    assert not core_accepts({"kind": "lint", "payload": {"files": {"a": CLEAN, "a/b.py": ""}}})


EDGE_FILES = {
    # The longest name the rule allows, in nested folders.
    "d" * 60 + "/" + "e" * 60 + "/" + "f" * (MAX_PATH_CHARS - 125) + ".py": CLEAN,
    "a/b/c/d/e/f/g/h/i/j/deep.py": CLEAN,
    "_private.py": CLEAN,
    "x.y-z_w.py": CLEAN,
    "UPPER9/Mixed_Case-1.0.py": CLEAN,
    "no_suffix": CLEAN,
} | {f"many/m{i}.py": CLEAN for i in range(MAX_FILES - 6)}


@pytest.mark.slow
def test_edge_tasks_round_trip_through_a_real_core_and_agent(
    api: Api, start_agents: PoolFactory
) -> None:
    assert len(EDGE_FILES) == MAX_FILES
    assert max(map(len, EDGE_FILES)) == MAX_PATH_CHARS
    start_agents(api.core, count=1)
    tests = {"pkg/__init__.py": "", "pkg/test_edge-name.py": "def test_ok():\n    pass\n"}
    ids = [
        submit(api, TaskKind.lint, {"files": EDGE_FILES}),
        submit(api, TaskKind.test, {"files": tests}),
        submit(api, TaskKind.python, {"code": "print(input()[::-1])", "stdin": "ü\x00ok"}),
    ]
    done = wait_final(api, ids)
    assert [done[i]["status"] for i in ids] == ["succeeded"] * 3, done
    # The NUL comes back as U+FFFD, said so: PostgreSQL text cannot hold it.
    assert (done[ids[2]]["output"], done[ids[2]]["output_escaped"]) == ("ko\ufffdü\n", True)
    refused = api.client.post(
        "/api/v1/execution/execute",
        json={"kind": "lint", "payload": {"files": {"a b.py": CLEAN}}},
    )
    assert refused.status_code == 422 and "not a safe relative path" in refused.text
