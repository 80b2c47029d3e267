"""Request and response models of the API, one per use."""

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    queued = "queued"
    leased = "leased"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def _relative_path(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or ".." in parts or "\x00" in path:
        raise ValueError(f"file path must be relative and stay inside the task dir: {path!r}")
    return path


FilePath = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_relative_path)]
Capability = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.:-]+$")]


class PythonPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    stdin: str = ""


class FilesPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: dict[FilePath, str] = Field(min_length=1, max_length=100)


class _TaskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_s: float = Field(default=30.0, ge=0.1, le=300)
    priority: int = Field(default=0, ge=-100, le=100)
    capabilities: list[Capability] | None = Field(
        default=None, max_length=16, description="what the agent needs; defaults to [kind]"
    )
    max_attempts: int = Field(default=3, ge=1, le=10)


class PythonTaskCreate(_TaskOptions):
    kind: Literal["python"]
    payload: PythonPayload


class FilesTaskCreate(_TaskOptions):
    kind: Literal["lint", "test"]
    payload: FilesPayload


# Body of POST /execution/execute: the kind decides the shape of the payload.
TaskCreate = Annotated[PythonTaskCreate | FilesTaskCreate, Field(discriminator="kind")]


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
    error: str | None
    trace_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TaskPage(BaseModel):
    """One page of GET /execution; pass next_cursor back to get the next one."""

    items: list[TaskPublic]
    next_cursor: str | None


class TaskStats(BaseModel):
    """Number of tasks per status."""

    counts: dict[TaskStatus, int]


class LeaseProof(BaseModel):
    """What an agent shows to act on a task it leased."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"lease_id": "5f0c9e0b8a6d4f7e"}]}
    )
    lease_id: str = Field(min_length=1, max_length=64)


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
    error: str | None = Field(default=None, max_length=4096)


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
    lease_ttl_s: float
    leases_extended: int


def from_epoch(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
