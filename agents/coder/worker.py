"""The agent's life cycle: register, heartbeat, lease, do the task through MCP, report, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agents.coder.core_api import AgentSession, CoreApi, Lease, Refused, ResultReport
from agents.coder.sandbox import RunResult
from agents.coder.telemetry import context_from_traceparent
from agents.coder.tool_client import ToolCallError, ToolClient

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

T = TypeVar("T")
MAX_ERROR_CHARS = 4000
DEFAULT_TIMEOUT_S = 30.0
# Used until the core tells the lease TTL (heartbeats then come every TTL/3).
FIRST_HEARTBEAT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class WorkerSettings:
    name: str
    capabilities: Sequence[str]
    lease_wait_s: float = 20.0


class Worker:
    """One registered agent: leases one task at a time until told to stop or removed."""

    def __init__(self, api: CoreApi, tools: ToolClient, settings: WorkerSettings) -> None:
        self._api = api
        self._tools = tools
        self._settings = settings
        self._revoked = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        registering = self._api.register(self._settings.name, self._settings.capabilities)
        session = await _unless_set(stop, registering)
        if session is None:
            logger.info("stopped before the core answered; never registered")
            return
        logger.info("registered agent_id=%s name=%s", session.agent_id, session.name)
        heartbeats = asyncio.create_task(self._heartbeat(session))
        try:
            await self._work(session, stop)
        finally:
            heartbeats.cancel()
            await self._leave(session)

    async def _work(self, session: AgentSession, stop: asyncio.Event) -> None:
        while not stop.is_set() and not self._revoked.is_set():
            try:
                lease = await _unless_set(stop, session.lease(self._settings.lease_wait_s))
            except Refused as refusal:
                logger.warning("the core no longer accepts agent %s: %s", session.agent_id, refusal)
                self._revoked.set()
                return
            if lease is not None:
                await self._execute(session, lease)

    async def _heartbeat(self, session: AgentSession) -> None:
        interval = FIRST_HEARTBEAT_INTERVAL_S
        while True:
            try:
                interval = await session.heartbeat() / 3
            except Refused as refusal:
                logger.warning("agent %s was removed by the core: %s", session.agent_id, refusal)
                self._revoked.set()
                return
            except httpx.HTTPError as error:
                logger.warning("heartbeat failed, will retry: %s", error)
            await asyncio.sleep(interval)

    async def _execute(self, session: AgentSession, lease: Lease) -> None:
        received = time.monotonic()
        task = lease.task
        attributes = {
            "task.id": lease.task_id,
            "task.kind": str(task["kind"]),
            "agent.id": session.agent_id,
        }
        with tracer.start_as_current_span(
            "execute task",
            context=context_from_traceparent(lease.traceparent),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ):
            # Saying "running" overlaps the run; it must land before the report, so that waits.
            started = asyncio.create_task(session.start(lease))
            try:
                report = await self._perform(lease)
                await started
                await session.report(lease.task_id, report)
            except Refused as refusal:
                # Fencing: another agent owns the task now; its result is the one that counts.
                logger.warning("task %s: report refused, dropped: %s", lease.task_id, refusal)
                return
            finally:
                started.cancel()
        tool_s = float((report.result or {}).get("duration_s", 0.0))
        # The benchmark reads this line: the agent's overhead is the total minus the tool run.
        logger.info(
            "task %s %s in %.4fs (tool run %.4fs)",
            lease.task_id, report.status, time.monotonic() - received, tool_s,
        )  # fmt: skip

    async def _perform(self, lease: Lease) -> ResultReport:
        task = lease.task
        timeout_s = float(task.get("timeout_s") or DEFAULT_TIMEOUT_S)
        try:
            run = await self._tools.run_task(
                str(task["kind"]), task.get("payload") or {}, timeout_s
            )
        except ToolCallError as error:
            return ResultReport(
                lease_id=lease.lease_id,
                status="failed",
                output="",
                result=None,
                error=str(error)[:MAX_ERROR_CHARS],
            )
        return report_for(lease.lease_id, run, timeout_s)

    async def _leave(self, session: AgentSession) -> None:
        if self._revoked.is_set():
            return
        try:
            await session.deregister()
            logger.info("deregistered agent_id=%s", session.agent_id)
        except (Refused, httpx.HTTPError) as error:
            logger.warning("could not deregister %s: %s", session.agent_id, error)


def report_for(lease_id: str, run: RunResult, timeout_s: float) -> ResultReport:
    """A tool run as a task result: success means exit code 0 within the time limit."""
    succeeded = run.exit_code == 0 and not run.timed_out
    return ResultReport(
        lease_id=lease_id,
        status="succeeded" if succeeded else "failed",
        output=run.stdout,
        result=run.model_dump(exclude={"stdout"}),
        error=None if succeeded else failure_reason(run, timeout_s),
    )


def failure_reason(run: RunResult, timeout_s: float) -> str:
    if run.timed_out:
        return f"timed out after {timeout_s:g}s"
    # Ruff and pytest explain failures on stdout, Python tracebacks go to stderr.
    last_lines = "\n".join((run.stderr.strip() or run.stdout.strip()).splitlines()[-5:])
    return f"exit code {run.exit_code}: {last_lines}"[:MAX_ERROR_CHARS]


async def _unless_set(stop: asyncio.Event, call: Coroutine[Any, Any, T]) -> T | None:
    """Await call, but cancel it and return None as soon as stop is set."""
    work = asyncio.ensure_future(call)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    return None if work.cancelled() else work.result()
