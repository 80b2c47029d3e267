"""Translation between API models and store rows."""

import hashlib
import json
import time
import uuid
from typing import Any

from app.models import (
    AgentPublic,
    FilesTaskCreate,
    PythonTaskCreate,
    ResultReport,
    TaskPublic,
    from_epoch,
)
from app.store.base import Row

TRACEPARENT_LEN = 55  # 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>


def request_hash(body: PythonTaskCreate | FilesTaskCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def new_task_row(
    body: PythonTaskCreate | FilesTaskCreate,
    submitted_by: str,
    idempotency_key: str | None,
    traceparent: str | None,
) -> Row:
    now = time.time()
    return {
        "id": str(uuid.uuid4()),
        "kind": body.kind,
        "status": "queued",
        "payload": body.payload.model_dump_json(),
        "priority": body.priority,
        "capabilities": json.dumps(body.capabilities or [body.kind]),
        "timeout_s": body.timeout_s,
        "max_attempts": body.max_attempts,
        "traceparent": traceparent,
        # Keys are per caller: two clients may pick the same key without colliding.
        "idempotency_key": f"{submitted_by}:{idempotency_key}" if idempotency_key else None,
        "request_hash": request_hash(body) if idempotency_key else None,
        "submitted_by": submitted_by,
        "created_at": now,
        "updated_at": now,
    }


def trace_id_of(traceparent: str | None) -> str | None:
    if traceparent is None or len(traceparent) != TRACEPARENT_LEN:
        return None
    return traceparent[3:35]


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def task_public(row: Row) -> TaskPublic:
    return TaskPublic(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        payload=_json(row["payload"]),
        priority=row["priority"],
        capabilities=_json(row["capabilities"]),
        timeout_s=row["timeout_s"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        agent_id=row["agent_id"],
        lease_expires_at=from_epoch(row["lease_expires_at"]),
        result=_json(row["result"]),
        output=row["output"],
        output_truncated=bool(row["output_truncated"]),
        error=row["error"],
        trace_id=trace_id_of(row["traceparent"]),
        created_at=from_epoch(row["created_at"]),
        updated_at=from_epoch(row["updated_at"]),
        started_at=from_epoch(row["started_at"]),
        finished_at=from_epoch(row["finished_at"]),
    )


def agent_public(row: Row) -> AgentPublic:
    return AgentPublic(
        id=row["id"],
        name=row["name"],
        capabilities=json.loads(row["capabilities"]),
        status=row["status"],
        created_at=from_epoch(row["created_at"]),
        last_heartbeat_at=from_epoch(row["last_heartbeat_at"]),
    )


def outcome_row(report: ResultReport, max_output_bytes: int) -> Row:
    """What a result report writes: output is cut to the configured bound, never rejected."""
    raw = report.output.encode()
    truncated = len(raw) > max_output_bytes
    output = raw[:max_output_bytes].decode(errors="ignore") if truncated else report.output
    return {
        "status": report.status,
        "output": output,
        "output_truncated": truncated,
        "result": None if report.result is None else json.dumps(report.result),
        "error": report.error,
    }
