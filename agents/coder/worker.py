"""The agent's life cycle: register, heartbeat, lease, do the task through MCP, report, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agents.coder.core_api import AgentSession, CoreApi, Refused
from agents.coder.sandbox import RunResult
from agents.coder.telemetry import context_from_traceparent
from agents.coder.tool_client import ToolCallError, ToolClient
from contract.tasks import MAX_ERROR_CHARS
from contract.wire import Lease, ResultReport, TaskReport

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

T = TypeVar("T")
# The core's answers that mean the lease is not ours any more: another agent's report counts.
LEASE_LOST = frozenset({401, 403, 404, 409})
# Used until the core tells the lease TTL (heartbeats then come every TTL/3).
FIRST_HEARTBEAT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class WorkerSettings:
    name: str
    capabilities: Sequence[str]
    lease_wait_s: float = 20.0


@dataclass(frozen=True)
class HeldLease:
    """The lease a worker is working on; `lost` is set when the core says it is not held."""

    lease_id: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Finished:
    """A done task whose result the core does not have yet."""

    lease: Lease
    report: ResultReport
    span: trace.Span  # the task's `execute task`: the report is sent within it
    received: float  # time.monotonic() when the lease came

    def task_report(self) -> TaskReport:
        return TaskReport(task_id=uuid.UUID(self.lease.task.id), result=self.report)

    def log_reported(self) -> None:
        """Say the core has the result (the call that took it has returned)."""
        tool_s = float((self.report.result or {}).get("duration_s", 0.0))
        # The benchmark reads this line: the agent's overhead is the total minus the tool run.
        logger.info(
            "task %s %s in %.4fs (tool run %.4fs)",
            self.lease.task.id, self.report.status, time.monotonic() - self.received, tool_s,
        )  # fmt: skip


class Worker:
    """One registered agent: leases one task at a time until told to stop or removed."""

    def __init__(self, api: CoreApi, tools: ToolClient, settings: WorkerSettings) -> None:
        self._api = api
        self._tools = tools
        self._settings = settings
        self._revoked = asyncio.Event()
        # Heartbeats name only this lease: one whose answer never reached us is left to expire.
        self._held: HeldLease | None = None
        # The last task's result, sent with the next lease request (one call instead of two).
        self._unreported: Finished | None = None

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
                lease = await self._report_and_lease(session)
                if lease is None:
                    lease = await _unless_set(stop, session.lease(self._settings.lease_wait_s))
            except Refused as refusal:
                logger.warning("the core no longer accepts agent %s: %s", session.agent_id, refusal)
                self._revoked.set()
                return
            if lease is None:
                continue
            try:
                self._unreported = await self._execute(session, lease)
            except Exception:
                # Whatever a task is or returns, the agent stays up for the next one.
                logger.exception("task %s: could not be done", lease.task.id)
        # Stopping: the last result goes on its own, not with a request for more work.
        await self._report_alone(session)

    async def _heartbeat(self, session: AgentSession) -> None:
        interval = FIRST_HEARTBEAT_INTERVAL_S
        while True:
            held = self._held
            try:
                ack = await session.heartbeat([held.lease_id] if held else [])
            except Refused as refusal:
                logger.warning("agent %s was removed by the core: %s", session.agent_id, refusal)
                self._revoked.set()
                return
            except httpx.HTTPError as error:
                logger.warning("heartbeat failed, will retry: %s", error)
            else:
                interval = ack.lease_ttl_s / 3
                if held is not None and held.lease_id in ack.not_held:
                    held.lost.set()
            await asyncio.sleep(interval)

    @contextlib.contextmanager
    def _holding(self, lease: Lease) -> Iterator[asyncio.Event]:
        """Name the lease in heartbeats while inside; the event is set once the core lost it."""
        self._held = held = HeldLease(lease.lease_id)
        try:
            yield held.lost
        finally:
            self._held = None

    async def _execute(self, session: AgentSession, lease: Lease) -> Finished | None:
        """Do the task; its result, or None when the core took the lease away meanwhile."""
        received = time.monotonic()
        attributes = {
            "task.id": lease.task.id,
            "task.kind": lease.task.kind,
            "agent.id": session.agent_id,
        }
        with (
            self._holding(lease) as lease_lost,
            tracer.start_as_current_span(
                "execute task",
                context=context_from_traceparent(lease.traceparent),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ) as span,
        ):
            # Cancelling the tool call makes the tool server kill the run's sandbox.
            report = await _unless_set(lease_lost, self._perform(lease))
            if report is None:
                span.set_attribute("task.abandoned", True)
                logger.warning(
                    "task %s: the core no longer holds lease %s (cancelled, expired or "
                    "re-queued): run stopped, nothing reported",
                    lease.task.id, lease.lease_id,
                )  # fmt: skip
                return None
        return Finished(lease, report, span, received)

    async def _report_and_lease(self, session: AgentSession) -> Lease | None:
        """Report the last task's result and, in the same call, take a task if one is queued."""
        finished = self._unreported
        if finished is None:
            return None
        try:
            with self._sending(finished):
                lease = await session.report_and_lease(finished.task_report())
        except (Refused, httpx.HTTPError):
            # The report or the agent was refused, or the core is unwell: the result call alone
            # tells which, and turns a result the core will not store into a failure report.
            await self._report_alone(session)
            return None
        self._unreported = None
        finished.log_reported()
        return lease

    async def _report_alone(self, session: AgentSession) -> None:
        """Report the last task's result with the result call: when stopping, or refused."""
        finished, self._unreported = self._unreported, None
        if finished is None:
            return
        task_id = finished.lease.task.id
        try:
            with self._sending(finished):
                report = await _deliver(session, finished.lease, finished.report)
        except Refused as refusal:
            # Fencing: another agent owns the task now; its result is the one that counts.
            logger.warning("task %s: report refused, dropped: %s", task_id, refusal)
        except Exception:
            logger.exception("task %s: could not be reported", task_id)
        else:
            replace(finished, report=report).log_reported()

    @contextlib.contextmanager
    def _sending(self, finished: Finished) -> Iterator[None]:
        """Until the core has the report, heartbeats keep the lease, and the call is traced as
        part of the task's execution."""
        with (
            self._holding(finished.lease),
            trace.use_span(finished.span, record_exception=False, set_status_on_exception=False),
        ):
            yield

    async def _perform(self, lease: Lease) -> ResultReport:
        task = lease.task
        try:
            run = await self._tools.run_task(task.kind, task.payload, task.timeout_s)
        except ToolCallError as error:
            return ResultReport(
                lease_id=lease.lease_id,
                status="failed",
                output="",
                result=None,
                error=str(error)[:MAX_ERROR_CHARS],
            )
        return report_for(lease.lease_id, run, task.timeout_s)

    async def _leave(self, session: AgentSession) -> None:
        if self._revoked.is_set():
            return
        try:
            await session.deregister()
            logger.info("deregistered agent_id=%s", session.agent_id)
        except (Refused, httpx.HTTPError) as error:
            logger.warning("could not deregister %s: %s", session.agent_id, error)


async def _deliver(session: AgentSession, lease: Lease, report: ResultReport) -> ResultReport:
    """Report the result; one the core will not take becomes a small failure report instead.

    Returns the report the core accepted. Raises Refused when the lease is lost.
    """
    try:
        await session.report(lease.task.id, report)
        return report
    except Refused as refusal:
        if refusal.status_code in LEASE_LOST:
            raise
        why = f"the core refused the task's result: {_printable(str(refusal))}"
    except httpx.HTTPError as error:
        # Retried until the report's own deadline: the core keeps failing on this result.
        why = f"the core could not take the task's result: {_printable(str(error))}"
    logger.warning("task %s: %s; reporting it as failed", lease.task.id, why)
    failed = ResultReport(
        lease_id=lease.lease_id, status="failed", output="", result=None, error=why
    )
    await session.report(lease.task.id, failed)
    return failed


def _printable(text: str) -> str:
    """The core may echo the offending content: keep the message plain and short."""
    return "".join(char for char in text if char.isprintable())[: MAX_ERROR_CHARS // 4]


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
