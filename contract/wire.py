"""The bodies agents and the core exchange, and the task as the API shows it.

Answers (TaskPublic, Lease, …) accept unknown fields, so a core may add one before its
agents know it; requests forbid them, so a typo is a 422, not a silent default.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contract.tasks import MAX_ERROR_CHARS, Capability, TaskStatus

# A lease id is 32 lowercase hex digits (a UUID4's hex), made by the core when it hands out a task.
LEASE_ID_PATTERN = r"^[0-9a-f]{32}$"
LeaseId = Annotated[str, StringConstraints(pattern=LEASE_ID_PATTERN)]
# An agent works on one task per registration; the headroom is for agents that do more.
HEARTBEAT_MAX_LEASES = 64


def new_lease_id() -> str:
    """A fresh lease id, in the format LeaseId checks."""
    return uuid.uuid4().hex


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


class Lease(BaseModel):
    """A task handed to an agent until lease_expires_at, unless heartbeats extend it."""

    task: TaskPublic
    lease_id: str
    lease_expires_at: datetime
    traceparent: str | None


class Heartbeat(BaseModel):
    """Body of POST /agents/{id}/heartbeat: the leases the agent is working on, by id.

    Only these are extended: a lease the agent never learned of (its answer was lost on the
    way) runs out at its TTL and the task goes back to the queue.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"lease_ids": ["5f0c9e0b8a6d4f7e9a1b2c3d4e5f6a7b"]}]},
    )
    lease_ids: list[LeaseId] = Field(
        max_length=HEARTBEAT_MAX_LEASES, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("lease_ids")
    @classmethod
    def _each_once(cls, lease_ids: list[str]) -> list[str]:
        first_at: dict[str, int] = {}
        for index, lease_id in enumerate(lease_ids):
            if lease_id in first_at:
                raise ValueError(f"lease_ids[{index}] repeats lease_ids[{first_at[lease_id]}]")
            first_at[lease_id] = index
        return lease_ids


class HeartbeatAck(BaseModel):
    """Answer to a heartbeat: which named leases were extended by lease_ttl_s, which not.

    A lease in not_held is no longer the agent's (finished, cancelled, expired, re-queued, or
    never its own): the agent should drop that task; a report for it would get 409.
    """

    lease_ttl_s: float
    extended: list[str]
    not_held: list[str]


class LeaseProof(BaseModel):
    """What an agent shows to act on a task it leased (body of POST /execution/{id}/start)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"lease_id": "5f0c9e0b8a6d4f7e9a1b2c3d4e5f6a7b"}]},
    )
    lease_id: LeaseId


class ResultReport(LeaseProof):
    """Body of POST /execution/{id}/result."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lease_id": "5f0c9e0b8a6d4f7e9a1b2c3d4e5f6a7b",
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


class TaskReport(BaseModel):
    """A finished task's result as it rides along with the agent's next lease request."""

    model_config = ConfigDict(extra="forbid")
    task_id: uuid.UUID
    result: ResultReport


class LeaseRequest(BaseModel):
    """Body of POST /agents/{id}/lease: how long to wait for a task, and whether it starts now."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"wait_s": 10, "start": True}]}
    )
    wait_s: float = Field(default=10.0, ge=0, le=120)
    # An agent that begins every task as soon as it has it says so here, and the task comes
    # already `running`: one round trip per task instead of a lease and a start call.
    start: bool = False
    # The task the agent just finished, recorded (fenced by its lease, as by
    # POST /execution/{id}/result) before the next is looked for: one round trip instead of
    # two. A refused report leases nothing.
    report: TaskReport | None = None


class FieldError(BaseModel):
    """One invalid part of a request: where (`loc`), what is wrong (`msg`), its kind."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer of the API: what is wrong, and for a 422 each invalid field."""

    detail: str
    errors: list[FieldError] = []
