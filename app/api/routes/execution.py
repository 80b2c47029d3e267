"""Tasks: submit, read, list, count, cancel; and the lease holder's start and result reports,
fenced by the lease id (docs/api.md#tasks)."""

import base64
import binascii
import math
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response, status

from app.api.deps import Admin, AgentCaller, Reader, Services, Submitter, TaskId
from app.api.errors import error_responses
from app.api.json_body import StrictJsonRoute
from app.core.config import Settings
from app.core.telemetry import current_traceparent
from app.models import TaskCreate, TaskPage, TaskStats
from app.services.tasks import new_task, outcome, task_public
from app.store import IdempotencyConflict, QueueCap, QueueFull, TaskNotFinalizable
from app.store.rows import TaskRow
from contract.tasks import TaskStatus
from contract.wire import LeaseProof, ResultReport, TaskPublic

router = APIRouter(prefix="/execution", tags=["execution"], route_class=StrictJsonRoute)

_EXAMPLES: dict[str, Any] = {
    "python": {
        "summary": "Run Python code",
        "value": {"kind": "python", "payload": {"code": "print(6 * 7)"}, "timeout_s": 10},
    },
    "lint": {
        "summary": "Lint files with ruff",
        "value": {"kind": "lint", "payload": {"files": {"app.py": "import os\n"}}},
    },
    "test": {
        "summary": "Run pytest on files",
        "value": {
            "kind": "test",
            "payload": {"files": {"test_math.py": "def test_add():\n    assert 1 + 1 == 2\n"}},
            "priority": 5,
        },
    },
}
_NOT_FOUND = error_responses(404)
_STALE = error_responses(404, 409)


def _found(row: TaskRow | None) -> TaskPublic:
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no task with this id")
    return task_public(row)


def _queue_full(cap: QueueCap, settings: Settings) -> HTTPException:
    # How soon agents take work off a full queue depends on the tasks, which the core cannot
    # foresee. One lease TTL is the deployment's own measure of how long work may go unheard
    # of (every lease is extended, finished or expired within it), so by then the queue has
    # moved; it also keeps refused clients from hammering a full queue. A hint: an earlier
    # retry is simply answered again.
    retry_after = math.ceil(settings.lease_ttl_s)
    if cap.per_client:
        reached = (
            f"this key's cap of {cap.limit} tasks waiting for an agent "
            f"(HYPERCODE_MAX_QUEUED_TASKS_PER_CLIENT={cap.limit})"
        )
    else:
        reached = (
            f"the global cap of {cap.limit} tasks waiting for an agent "
            f"(HYPERCODE_MAX_QUEUED_TASKS={cap.limit})"
        )
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"queue full: {reached} is reached; retry after {retry_after} s",
        {"Retry-After": str(retry_after)},
    )


@router.post(
    "/execute",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": TaskPublic, "description": "replay of an earlier Idempotency-Key"},
        **error_responses(429),
    },
)
async def submit_task(
    body: Annotated[TaskCreate, Body(openapi_examples=_EXAMPLES)],
    auth: Submitter,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> TaskPublic:
    """Queue work for an agent. A retry with the same Idempotency-Key returns the same task,
    even while a queue cap refuses new tasks (429)."""
    services = auth.services
    traceparent = current_traceparent(request.headers)
    row = new_task(body, auth.caller.name, idempotency_key, traceparent)
    try:
        stored, created = await services.store.create_task(row, services.queue_caps)
    except IdempotencyConflict:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "this Idempotency-Key was already used with a different request body",
        ) from None
    except QueueFull as full:
        raise _queue_full(full.cap, services.settings) from None
    if created:
        services.signal.notify()
    else:
        response.status_code = status.HTTP_200_OK
    return task_public(stored)


@router.get("/stats")
async def task_stats(auth: Reader) -> TaskStats:
    """How many tasks are in each status: the caller's own, or all for an admin."""
    counts = await auth.services.store.count_by_status(auth.caller.tasks_of)
    return TaskStats(counts={status: counts.get(status, 0) for status in TaskStatus})


@router.get("/{task_id}", responses=_NOT_FOUND)
async def get_task(task_id: TaskId, auth: Reader) -> TaskPublic:
    """Status, attempts, agent, result and trace id of one task (a client's own; admin: any)."""
    row = await auth.services.store.get_task(str(task_id))
    # Another client's task is as absent as a missing one: its id says nothing.
    owner = auth.caller.tasks_of
    return _found(None if row is None or owner not in (None, row.submitted_by) else row)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_task(task_id: TaskId, auth: Admin) -> None:
    """Remove a task for good, in any state; an agent still working on it gets 404 at report."""
    if not await auth.services.store.delete_task(str(task_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no task with this id")


MAX_SEQ = 2**63 - 1  # the largest BIGINT: a cursor past it names no task


def _decode_cursor(cursor: str) -> int:
    try:
        seq = int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        seq = -1
    if not 0 <= seq <= MAX_SEQ:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "cursor is not one this API handed out")
    return seq


@router.get("", responses=error_responses(400))
async def list_tasks(
    auth: Reader,
    status_filter: Annotated[TaskStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> TaskPage:
    """Tasks (a client's own; admin: all), newest first; pass next_cursor back as cursor."""
    before = None if cursor is None else _decode_cursor(cursor)
    rows = await auth.services.store.list_tasks(status_filter, before, limit, auth.caller.tasks_of)
    next_cursor = None
    if len(rows) == limit:
        next_cursor = base64.urlsafe_b64encode(str(rows[-1].seq).encode()).decode()
    return TaskPage(items=[task_public(r) for r in rows], next_cursor=next_cursor)


@router.post("/{task_id}/cancel", responses=_STALE)
async def cancel_task(task_id: TaskId, auth: Admin) -> TaskPublic:
    """Cancel a task that has not finished; its agent's later report is refused."""
    try:
        return _found(await auth.services.store.cancel_task(str(task_id), time.time()))
    except TaskNotFinalizable:
        raise HTTPException(status.HTTP_409_CONFLICT, "the task has already finished") from None


async def _fenced(services: Services, task_id: uuid.UUID, row: TaskRow | None) -> TaskPublic:
    if row is not None:
        return task_public(row)
    if await services.store.get_task(str(task_id)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no task with this id")
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        "stale lease: the task was re-queued, cancelled, finished or leased to another agent",
    )


@router.post("/{task_id}/start", responses=_STALE)
async def start_task(task_id: TaskId, proof: LeaseProof, auth: AgentCaller) -> TaskPublic:
    """The lease holder says it began the work."""
    store = auth.services.store
    row = await store.start_task(str(task_id), auth.agent.id, proof.lease_id, time.time())
    return await _fenced(auth.services, task_id, row)


@router.post("/{task_id}/result", responses=_STALE)
async def report_result(task_id: TaskId, report: ResultReport, auth: AgentCaller) -> TaskPublic:
    """Only the holder of the current lease may report; any other report gets 409."""
    return await record_result(auth.services, task_id, auth.agent.id, report)


async def record_result(
    services: Services, task_id: uuid.UUID, agent_id: str, report: ResultReport
) -> TaskPublic:
    """Store a lease holder's result: 404 for no such task, 409 for a stale lease.

    Also how a report that rides along with a lease request is stored (routes/agents.py).
    """
    row = await services.store.finish_task(
        str(task_id),
        agent_id,
        report.lease_id,
        outcome(report, services.settings.max_output_bytes),
        time.time(),
    )
    return await _fenced(services, task_id, row)
