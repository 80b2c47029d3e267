"""Models of the client-facing API that no other process reads; the ones agents share are in
`contract.wire`, the payloads in `contract.tasks`."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.tasks import Capability, FilesPayload, PythonPayload, TaskStatus, TimeoutSeconds
from contract.wire import TaskPublic


class _TaskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_s: TimeoutSeconds = 30.0
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


class TaskPage(BaseModel):
    """One page of GET /execution; pass next_cursor back to get the next one."""

    items: list[TaskPublic]
    next_cursor: str | None


class TaskStats(BaseModel):
    """Number of tasks per status."""

    counts: dict[TaskStatus, int]
