"""Translation between API models and store rows, in both directions, in one place."""

import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from app.core.json_values import InvalidJson, check_value
from app.core.security import digest
from app.models import FilesTaskCreate, PythonTaskCreate
from app.store.rows import AgentRow, NewAgent, NewTask, Outcome, TaskRow
from contract.wire import AgentCreate, AgentPublic, Lease, ResultReport, TaskPublic

TRACEPARENT_LEN = 55  # 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
# PostgreSQL text cannot hold NUL; it is stored as U+FFFD and the task says so.
NUL, NUL_STORED_AS = "\x00", "\ufffd"


def request_hash(body: PythonTaskCreate | FilesTaskCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def new_task(
    body: PythonTaskCreate | FilesTaskCreate,
    submitted_by: str,
    idempotency_key: str | None,
    traceparent: str | None,
) -> NewTask:
    return NewTask(
        id=str(uuid.uuid4()),
        kind=body.kind,
        payload=body.payload.model_dump(),
        priority=body.priority,
        capabilities=body.capabilities or [body.kind],
        timeout_s=body.timeout_s,
        max_attempts=body.max_attempts,
        traceparent=traceparent,
        # Keys are per caller: two clients may pick the same key without colliding.
        idempotency_key=f"{submitted_by}:{idempotency_key}" if idempotency_key else None,
        request_hash=request_hash(body) if idempotency_key else None,
        submitted_by=submitted_by,
        created_at=time.time(),
    )


def new_agent(body: AgentCreate, token: str) -> NewAgent:
    return NewAgent(
        id=str(uuid.uuid4()),
        name=body.name,
        capabilities=sorted(set(body.capabilities)),
        token_hash=digest(token),
        created_at=time.time(),
    )


def outcome(report: ResultReport, max_output_bytes: int) -> Outcome:
    """What a result report writes: output cut to the configured bound and NULs replaced,
    each said so in the task, never a refusal."""
    raw = report.output.encode()
    truncated = len(raw) > max_output_bytes
    output = raw[:max_output_bytes].decode(errors="ignore") if truncated else report.output
    error = report.error
    escaped = NUL in output or (error is not None and NUL in error)
    if escaped:
        output = output.replace(NUL, NUL_STORED_AS)
        error = None if error is None else error.replace(NUL, NUL_STORED_AS)
    return Outcome(
        status=report.status,
        output=output,
        output_truncated=truncated,
        output_escaped=escaped,
        result=report.result,
        error=error,
    )


def readable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored result as the API can serialise it. Bodies are checked on the way in, but a
    row written before that (nested too deep) would fail every read of it: it is shown as a
    note instead, so one row never breaks a GET or the list."""
    if value is None:
        return None
    try:
        check_value(value)
    except InvalidJson as problem:
        return {"unreadable": f"the stored result cannot be shown: {problem}"}
    return value


def from_epoch(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def trace_id_of(traceparent: str | None) -> str | None:
    if traceparent is None or len(traceparent) != TRACEPARENT_LEN:
        return None
    return traceparent[3:35]


def task_public(row: TaskRow) -> TaskPublic:
    return TaskPublic(
        id=row.id,
        kind=row.kind,
        status=row.status,
        payload=row.payload,
        priority=row.priority,
        capabilities=row.capabilities,
        timeout_s=row.timeout_s,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        agent_id=row.agent_id,
        lease_expires_at=from_epoch(row.lease_expires_at),
        result=readable(row.result),
        output=row.output,
        output_truncated=row.output_truncated,
        output_escaped=row.output_escaped,
        error=row.error,
        trace_id=trace_id_of(row.traceparent),
        created_at=from_epoch(row.created_at),
        updated_at=from_epoch(row.updated_at),
        started_at=from_epoch(row.started_at),
        finished_at=from_epoch(row.finished_at),
    )


def lease_of(row: TaskRow) -> Lease:
    """A freshly claimed task as its agent gets it."""
    if row.lease_id is None or row.lease_expires_at is None:
        raise ValueError(f"task {row.id} is not leased")
    return Lease(
        task=task_public(row),
        lease_id=row.lease_id,
        lease_expires_at=datetime.fromtimestamp(row.lease_expires_at, UTC),
        traceparent=row.traceparent,
    )


def agent_public(row: AgentRow) -> AgentPublic:
    return AgentPublic(
        id=row.id,
        name=row.name,
        capabilities=row.capabilities,
        status=row.status,
        created_at=from_epoch(row.created_at),
        last_heartbeat_at=from_epoch(row.last_heartbeat_at),
    )
