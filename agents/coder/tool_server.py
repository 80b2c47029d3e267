"""The coder agent's MCP tool server: run_python, lint and run_tests, each in a fresh sandbox.

The agent runs it over stdio (`python -m agents.coder.tool_server`). The SDK's own
OpenTelemetry middleware continues the caller's trace from the request `_meta`, so the
`tools/call` span here is a child of the agent's span.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from opentelemetry import trace
from pydantic import Field

from agents.coder.sandbox import RunResult, Sandbox
from agents.coder.telemetry import TOOLS_SERVICE_NAME, setup_tracing, shutdown_tracing
from agents.coder.warm_python import PYTHON_SPARES_ENV, WarmPython
from contract.tasks import SourceFiles, SourceText, TimeoutSeconds

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Sandboxes:
    """Shared by every tool call of this server: the sandbox recipe, and run_python's spares."""

    sandbox: Sandbox
    python: WarmPython


SandboxContext = Context[Sandboxes]
# Only pytest's own plugins: faster start, and nothing else from the venv runs the task's tests.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@asynccontextmanager
async def sandbox_lifespan(_server: MCPServer[Sandboxes]) -> AsyncIterator[Sandboxes]:
    sandbox = Sandbox()
    # Part of the agent's startup log (it passes our stderr through): how runs are kept apart.
    isolation = sandbox.isolation
    level = logging.INFO if isolation.uids and isolation.cgroups else logging.WARNING
    logger.log(level, "%s", isolation.describe())
    python = WarmPython(sandbox, spares=int(os.environ.get(PYTHON_SPARES_ENV, "1")))
    python.refill()  # ready before the first task
    try:
        yield Sandboxes(sandbox, python)
    finally:
        await python.aclose()
        await sandbox.aclose()


server = MCPServer[Sandboxes](TOOLS_SERVICE_NAME, lifespan=sandbox_lifespan)


@server.tool()
async def run_python(
    code: Annotated[SourceText, Field(min_length=1)],
    ctx: SandboxContext,
    stdin: SourceText = "",
    timeout_s: TimeoutSeconds = 30.0,
) -> RunResult:
    """Run a Python program in a sandbox and return its exit code and output."""
    python = ctx.request_context.lifespan_context.python
    return await _traced("run_python", python.run(code, stdin, timeout_s))


@server.tool()
async def lint(
    files: SourceFiles, ctx: SandboxContext, timeout_s: TimeoutSeconds = 30.0
) -> RunResult:
    """Lint the given Python files with ruff; exit code 0 means clean."""
    argv = [str(Path(sys.prefix) / "bin" / "ruff"), "check", "--no-cache", "--", *files]
    return await _sandboxed(ctx, "lint", argv, files, timeout_s)


@server.tool()
async def run_tests(
    files: SourceFiles, ctx: SandboxContext, timeout_s: TimeoutSeconds = 60.0
) -> RunResult:
    """Run pytest on the given files; exit code 0 means all tests passed."""
    argv = [sys.executable, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--", *files]
    return await _sandboxed(ctx, "run_tests", argv, files, timeout_s, PYTEST_ENV)


async def _sandboxed(
    ctx: SandboxContext,
    tool: str,
    argv: list[str],
    files: Mapping[str, str],
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    sandbox = ctx.request_context.lifespan_context.sandbox
    run = sandbox.run(argv, files=files, env=env, timeout_s=timeout_s)
    return await _traced(tool, run)


async def _traced(tool: str, run: Awaitable[RunResult]) -> RunResult:
    with tracer.start_as_current_span(f"sandbox {tool}") as span:
        result = await run
        span.set_attributes(
            {
                "sandbox.exit_code": -1 if result.exit_code is None else result.exit_code,
                "sandbox.timed_out": result.timed_out,
                "sandbox.truncated": result.truncated,
            }
        )
    logger.info(
        "%s exit=%s timed_out=%s in %.3fs",
        tool,
        result.exit_code,
        result.timed_out,
        result.duration_s,
    )
    return result


def main() -> None:
    # stdout is the MCP channel; logs go to stderr, which the agent passes through.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s coder-tools %(levelname)s %(name)s: %(message)s",
        force=True,  # replaces the rich handler the SDK installs at import
    )
    setup_tracing(TOOLS_SERVICE_NAME)
    if sys.version_info < (3, 12):
        # 3.11 waits for each sandbox in a thread of its own: a thread start and one more
        # wake-up per run. A pidfd in the event loop needs neither (3.12 does this by default).
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    try:
        asyncio.run(server.run_stdio_async())
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
