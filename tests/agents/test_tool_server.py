"""The MCP tool server as the agent uses it: a real stdio subprocess behind an MCP client."""

import pytest

from agents.coder.tool_client import ToolCallError, ToolClient, tool_call_for

pytestmark = pytest.mark.anyio

FAILING_TEST = "def test_sum():\n    assert sum([1, 2]) == 4\n"
PASSING_TEST = "from calc import double\n\n\ndef test_double():\n    assert double(2) == 4\n"


async def test_each_kind_runs_its_tool_and_returns_structured_results() -> None:
    async with ToolClient() as tools:
        python = await tools.run_task("python", {"code": "print(2 ** 10)"}, 10)
        dirty = await tools.run_task("lint", {"files": {"pkg/a.py": "import os\n"}}, 10)
        clean = await tools.run_task("lint", {"files": {"a.py": "VALUE = 1\n"}}, 10)
        passed = await tools.run_task(
            "test",
            {
                "files": {
                    "calc.py": "def double(x):\n    return 2 * x\n",
                    "test_calc.py": PASSING_TEST,
                }
            },
            30,
        )
        failed = await tools.run_task("test", {"files": {"test_sum.py": FAILING_TEST}}, 30)
    assert (python.exit_code, python.stdout) == (0, "1024\n")
    assert dirty.exit_code == 1 and "F401" in dirty.stdout and "pkg/a.py" in dirty.stdout
    assert clean.exit_code == 0
    assert passed.exit_code == 0 and "1 passed" in passed.stdout
    assert failed.exit_code == 1 and "1 failed" in failed.stdout


async def test_a_refused_call_leaves_the_server_working() -> None:
    async with ToolClient() as tools:
        with pytest.raises(ToolCallError, match="not a safe relative path"):
            await tools.run_task("lint", {"files": {"../escape.py": "x = 1\n"}}, 10)
        with pytest.raises(ToolCallError, match="timeout_s"):
            await tools.call("run_python", {"code": "pass", "timeout_s": 10_000}, 10)
        after = await tools.run_task("python", {"code": "print('still here')"}, 10)
    assert after.stdout == "still here\n"


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("python", {}, "invalid python payload"),
        ("lint", {"files": "a.py"}, "invalid lint payload"),
        ("deploy", {"code": "x"}, "unknown task kind"),
    ],
)
async def test_bad_tasks_are_refused_before_any_tool_runs(
    kind: str, payload: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolCallError, match=message):
        tool_call_for(kind, payload, 10)
