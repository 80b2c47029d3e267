"""Typed rows: what the store writes (New*, Outcome) and what it reads back (*Row).

The database keeps JSON as text and SQLite keeps booleans as 0/1; `from_db` turns a raw
row into Python values once, so nothing above the store sees the storage form.
"""

import json
from dataclasses import dataclass, fields
from typing import Any

Params = dict[str, Any]


def _columns(row: Any) -> Params:
    """The dataclass's fields as statement parameters: shallow, unlike asdict, which deep-copies
    every payload (the profile of a submit showed it)."""
    return {field.name: getattr(row, field.name) for field in fields(row)}


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task as submitted, before the database numbers it."""

    id: str
    kind: str
    payload: dict[str, Any]
    priority: int
    capabilities: list[str]
    timeout_s: float
    max_attempts: int
    traceparent: str | None
    idempotency_key: str | None
    request_hash: str | None
    submitted_by: str
    created_at: float

    def params(self) -> Params:
        return _columns(self) | {
            "status": "queued",
            "payload": json.dumps(self.payload),
            "capabilities": json.dumps(self.capabilities),
            "updated_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a result report writes."""

    status: str
    output: str
    output_truncated: bool
    output_escaped: bool
    result: dict[str, Any] | None
    error: str | None

    def params(self) -> Params:
        result = None if self.result is None else json.dumps(self.result)
        return _columns(self) | {"result": result}


@dataclass(frozen=True, slots=True)
class TaskRow:
    seq: int
    id: str
    kind: str
    status: str
    payload: dict[str, Any]
    priority: int
    capabilities: list[str]
    timeout_s: float
    attempts: int
    max_attempts: int
    agent_id: str | None
    lease_id: str | None
    lease_expires_at: float | None
    result: dict[str, Any] | None
    output: str | None
    output_truncated: bool
    output_escaped: bool
    error: str | None
    traceparent: str | None
    idempotency_key: str | None
    request_hash: str | None
    submitted_by: str
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_db(cls, row: Params) -> "TaskRow":
        result = row["result"]
        return cls(
            **row
            | {
                "payload": json.loads(row["payload"]),
                "capabilities": json.loads(row["capabilities"]),
                "result": None if result is None else json.loads(result),
                "output_truncated": bool(row["output_truncated"]),
                "output_escaped": bool(row["output_escaped"]),
            }
        )


@dataclass(frozen=True, slots=True)
class NewAgent:
    """An agent as registered; only the digest of its token is kept."""

    id: str
    name: str
    capabilities: list[str]
    token_hash: str
    created_at: float

    def params(self) -> Params:
        return _columns(self) | {"capabilities": json.dumps(self.capabilities)}


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    capabilities: list[str]
    token_hash: str
    status: str
    created_at: float
    last_heartbeat_at: float

    @classmethod
    def from_db(cls, row: Params) -> "AgentRow":
        return cls(**row | {"capabilities": json.loads(row["capabilities"])})
