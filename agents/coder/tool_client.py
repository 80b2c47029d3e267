"""The agent's side of MCP: start the tool server over stdio and call a tool per task kind."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from agents.coder.sandbox import RunResult
from agents.coder.telemetry import TOOLS_SERVICE_NAME
from agents.coder.warm_python import PYTHON_SPARES_ENV
from contract.tasks import PAYLOAD_FOR_KIND, TaskKind

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Beyond the task's own timeout, time for the sandbox to start and the answer to come back.
CALL_MARGIN_S = 15.0


class ToolCallError(Exception):
    """The task could not be run: bad payload, unknown kind, or the tool refused the call."""


# The tool that does each kind of task (tool_server.py).
TOOL_FOR_KIND = {TaskKind.python: "run_python", TaskKind.lint: "lint", TaskKind.test: "run_tests"}


def tool_call_for(
    kind: str, payload: Mapping[str, Any], timeout_s: float
) -> tuple[str, dict[str, Any]]:
    """The MCP tool and arguments that do a task of this kind."""
    if kind not in TOOL_FOR_KIND:
        raise ToolCallError(f"unknown task kind {kind!r}")
    try:
        arguments = PAYLOAD_FOR_KIND[TaskKind(kind)].model_validate(payload).model_dump()
    except ValidationError as error:
        raise ToolCallError(f"invalid {kind} payload: {error.errors(include_url=False)}") from error
    return TOOL_FOR_KIND[TaskKind(kind)], {**arguments, "timeout_s": timeout_s}


def tool_server_parameters(python_spares: int = 1) -> StdioServerParameters:
    """How to start the tool server: same interpreter, its own service name, no agent secrets.

    python_spares: run_python sandboxes kept started ahead (one per task slot is enough).
    """
    otel = {key: value for key, value in os.environ.items() if key.startswith("OTEL_")}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "agents.coder.tool_server"],
        env={
            **otel,
            "OTEL_SERVICE_NAME": TOOLS_SERVICE_NAME,
            PYTHON_SPARES_ENV: str(python_spares),
        },
        cwd=PROJECT_ROOT,
    )


class ToolClient:
    """An MCP client session to this agent's own tool server (a child process, or in-process)."""

    def __init__(self, server: StdioServerParameters | MCPServer[Any] | None = None) -> None:
        # "legacy" (initialize handshake): the same JSON-RPC path in-process as over stdio.
        self._client = Client(server or tool_server_parameters(), mode="legacy")

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        # The client checks each structured result against the tool's output schema with
        # jsonschema, which it imports on the first call: now, so the first task does not wait.
        importlib.import_module("jsonschema")
        tools = await self._client.list_tools()
        logger.info("tool server ready with tools %s", sorted(tool.name for tool in tools.tools))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, traceback)

    async def run_task(self, kind: str, payload: Mapping[str, Any], timeout_s: float) -> RunResult:
        """Do a task through the tool its kind maps to."""
        tool, arguments = tool_call_for(kind, payload, timeout_s)
        return await self.call(tool, arguments, timeout_s + CALL_MARGIN_S)

    async def call(self, tool: str, arguments: dict[str, Any], read_timeout_s: float) -> RunResult:
        """Call one tool and return its structured result."""
        try:
            result = await self._client.call_tool(
                tool, arguments, read_timeout_seconds=read_timeout_s
            )
        except MCPError as error:
            raise ToolCallError(f"{tool}: {error}") from error
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content)
            raise ToolCallError(f"{tool}: {text}")
        return RunResult.model_validate(result.structured_content)
