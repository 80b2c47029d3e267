"""The bodies agents and the core exchange, and the task as the API shows it.

Answers (TaskPublic, Lease, …) accept unknown fields, so a core may add one before its
agents know it; requests forbid them, so a typo is a 422, not a silent default.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.tasks import MAX_ERROR_CHARS, Capability, TaskStatus

LEASE_ID_MAX_CHARS = 64


class TaskPublic(BaseModel):
    """A task as clients and agents see it."""

    id: str
    kind: str
    status: TaskStatus
    payload: dict[str, Any]
    priority: int
    capabilities: list[str]
    timeout_s: float
    attempts: int
    max_attempts: int
    agent_id: str | None
    lease_expires_at: datetime | None
    result: dict[str, Any] | None
    output: str | None
    output_truncated: bool
    # NUL characters of output and error were stored as U+FFFD (the database cannot hold NUL).
    output_escaped: bool = False
    error: str | None
    trace_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class AgentCreate(BaseModel):
    """Body of POST /agents."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "coder-1", "capabilities": ["python", "lint"]}]},
    )
    name: str = Field(min_length=1, max_length=100)
    capabilities: list[Capability] = Field(min_length=1, max_length=32)


class AgentStatus(StrEnum):
    active = "active"
    killed = "killed"


class AgentPublic(BaseModel):
    """An agent as the list shows it."""

    id: str
    name: str
    capabilities: list[str]
    status: AgentStatus
    created_at: datetime
    last_heartbeat_at: datetime


class AgentRegistered(AgentPublic):
    """Answer to registration: the token is shown once and never stored in clear."""

    token: str


class LeaseRequest(BaseModel):
    """Body of POST /agents/{id}/lease: how long to wait for a task."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"wait_s": 10}]})
    wait_s: float = Field(default=10.0, ge=0, le=120)


class Lease(BaseModel):
    """A task handed to an agent until lease_expires_at, unless heartbeats extend it."""

    task: TaskPublic
    lease_id: str
    lease_expires_at: datetime
    traceparent: str | None


class HeartbeatAck(BaseModel):
    """Answer to a heartbeat: the leases it extended, and by how long."""

    lease_ttl_s: float
    leases_extended: int


class LeaseProof(BaseModel):
    """What an agent shows to act on a task it leased (body of POST /execution/{id}/start)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"lease_id": "5f0c9e0b8a6d4f7e"}]}
    )
    lease_id: str = Field(min_length=1, max_length=LEASE_ID_MAX_CHARS)


class ResultReport(LeaseProof):
    """Body of POST /execution/{id}/result."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lease_id": "5f0c9e0b8a6d4f7e",
                    "status": "succeeded",
                    "output": "42\n",
                    "result": {"exit_code": 0, "duration_s": 0.08},
                }
            ]
        }
    )

    status: Literal["succeeded", "failed"]
    output: str = ""
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=MAX_ERROR_CHARS)


class FieldError(BaseModel):
    """One invalid part of a request: where (`loc`), what is wrong (`msg`), its kind."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer of the API: what is wrong, and for a 422 each invalid field."""

    detail: str
    errors: list[FieldError] = []
