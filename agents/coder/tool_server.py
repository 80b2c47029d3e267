"""The coder agent's MCP tool server: run_python, lint and run_tests, each in a fresh sandbox.

The agent runs it over stdio (`python -m agents.coder.tool_server`). The SDK's own
OpenTelemetry middleware continues the caller's trace from the request `_meta`, so the
`tools/call` span here is a child of the agent's span.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from opentelemetry import trace
from pydantic import AfterValidator, Field

from agents.coder.sandbox import RunResult, Sandbox, check_relative_path
from agents.coder.telemetry import TOOLS_SERVICE_NAME, setup_tracing, shutdown_tracing

MAX_FILES = 200
MAX_SOURCE_CHARS = 1 << 20
MAX_TIMEOUT_S = 300.0

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

RelativePath = Annotated[str, AfterValidator(check_relative_path)]
SourceFiles = Annotated[
    dict[RelativePath, Annotated[str, Field(max_length=MAX_SOURCE_CHARS)]],
    Field(min_length=1, max_length=MAX_FILES),
]
TimeoutSeconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)]
SandboxContext = Context[Sandbox]
# Only pytest's own plugins: faster start, and nothing else from the venv runs the task's tests.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@asynccontextmanager
async def sandbox_lifespan(_server: MCPServer[Sandbox]) -> AsyncIterator[Sandbox]:
    """One sandbox recipe shared by every tool call of this server."""
    yield Sandbox()


server = MCPServer[Sandbox](TOOLS_SERVICE_NAME, lifespan=sandbox_lifespan)


@server.tool()
async def run_python(
    code: Annotated[str, Field(max_length=MAX_SOURCE_CHARS)],
    ctx: SandboxContext,
    stdin: Annotated[str, Field(max_length=MAX_SOURCE_CHARS)] = "",
    timeout_s: TimeoutSeconds = 30.0,
) -> RunResult:
    """Run a Python program in a sandbox and return its exit code and output."""
    argv = [sys.executable, "-I", "main.py"]
    return await _sandboxed(ctx, "run_python", argv, {"main.py": code}, stdin, timeout_s)


@server.tool()
async def lint(
    files: SourceFiles, ctx: SandboxContext, timeout_s: TimeoutSeconds = 30.0
) -> RunResult:
    """Lint the given Python files with ruff; exit code 0 means clean."""
    argv = [str(Path(sys.prefix) / "bin" / "ruff"), "check", "--no-cache", "--", *files]
    return await _sandboxed(ctx, "lint", argv, files, "", timeout_s)


@server.tool()
async def run_tests(
    files: SourceFiles, ctx: SandboxContext, timeout_s: TimeoutSeconds = 60.0
) -> RunResult:
    """Run pytest on the given files; exit code 0 means all tests passed."""
    argv = [sys.executable, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--", *files]
    return await _sandboxed(ctx, "run_tests", argv, files, "", timeout_s, PYTEST_ENV)


async def _sandboxed(
    ctx: SandboxContext,
    tool: str,
    argv: list[str],
    files: Mapping[str, str],
    stdin: str,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    sandbox = ctx.request_context.lifespan_context
    with tracer.start_as_current_span(f"sandbox {tool}") as span:
        result = await sandbox.run(argv, files=files, stdin=stdin, env=env, timeout_s=timeout_s)
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
    try:
        asyncio.run(server.run_stdio_async())
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
