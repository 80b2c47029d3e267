import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response, status

from app.api.deps import AgentId, AgentRemover, AgentSelf, Reader, Registrar, ServicesDep
from app.core.security import digest, new_agent_token
from app.core.telemetry import task_span
from app.models import (
    AgentCreate,
    AgentPublic,
    AgentRegistered,
    HeartbeatAck,
    Lease,
    LeaseRequest,
)
from app.services.queue import lease_next
from app.services.tasks import agent_public, task_public

router = APIRouter(prefix="/agents", tags=["agents"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_agent(body: AgentCreate, _: Registrar, services: ServicesDep) -> AgentRegistered:
    """Register an agent; the answer holds its token, shown only this once."""
    token = new_agent_token()
    row = await services.store.register_agent(
        {
            "id": str(uuid.uuid4()),
            "name": body.name,
            "capabilities": json.dumps(sorted(set(body.capabilities))),
            "token_hash": digest(token),
            "now": time.time(),
        }
    )
    return AgentRegistered(**agent_public(row).model_dump(), token=token)


@router.get("")
async def list_agents(
    _: Reader, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[AgentPublic]:
    """Active agents, newest first."""
    return [agent_public(r) for r in await services.store.list_agents(limit)]


@router.post("/{agent_id}/heartbeat")
async def heartbeat(agent_id: AgentId, _: AgentSelf, services: ServicesDep) -> HeartbeatAck:
    """Say the agent is alive; extends the leases it holds by lease_ttl_s."""
    ttl = services.settings.lease_ttl_s
    extended = await services.store.heartbeat(str(agent_id), time.time(), ttl)
    return HeartbeatAck(lease_ttl_s=ttl, leases_extended=extended)


@router.post(
    "/{agent_id}/lease",
    response_model=None,
    responses={200: {"model": Lease}, 204: {"description": "no task came within wait_s"}},
)
async def lease_task(
    agent_id: AgentId,
    agent: AgentSelf,
    services: ServicesDep,
    request: Annotated[LeaseRequest | None, Body()] = None,
) -> Lease | Response:
    """Long-poll for the next task this agent can do."""
    settings = services.settings
    row = await lease_next(
        services.store,
        services.signal,
        str(agent_id),
        list(agent.capabilities),
        wait_s=min((request or LeaseRequest()).wait_s, settings.max_lease_wait_s),
        ttl=settings.lease_ttl_s,
        poll_interval=settings.lease_poll_interval_s,
    )
    if row is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    # The queue hop: this span joins the submitter's trace, so it shows who took the task.
    with task_span(
        services.tracer_provider,
        "lease task",
        row["traceparent"],
        **{"task.id": row["id"], "agent.id": str(agent_id), "task.attempt": row["attempts"]},
    ):
        pass
    return Lease(
        task=task_public(row),
        lease_id=row["lease_id"],
        lease_expires_at=datetime.fromtimestamp(row["lease_expires_at"], UTC),
        traceparent=row["traceparent"],
    )


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no active agent with this id"}},
)
async def kill_agent(agent_id: AgentId, _: AgentRemover, services: ServicesDep) -> None:
    """Remove an agent: its token stops working and its tasks go back to the queue at once."""
    was_active, released = await services.store.kill_agent(str(agent_id), time.time())
    if not was_active:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active agent with this id")
    if released:
        services.signal.notify()
