"""Agents: register, list, heartbeat, long-poll lease, remove (docs/api.md#agents)."""

import time
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from app.api.deps import AgentId, AgentRemover, AgentSelf, Reader, Registrar
from app.api.errors import error_responses
from app.api.json_body import StrictJsonRoute
from app.api.routes.execution import record_result
from app.core.security import new_agent_token
from app.core.telemetry import task_span
from app.services.queue import lease_next
from app.services.tasks import agent_public, lease_of, new_agent
from contract.wire import (
    HEARTBEAT_MAX_LEASES,
    AgentCreate,
    AgentPublic,
    AgentRegistered,
    ErrorBody,
    Heartbeat,
    HeartbeatAck,
    Lease,
    LeaseRequest,
)

router = APIRouter(prefix="/agents", tags=["agents"], route_class=StrictJsonRoute)


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_agent(body: AgentCreate, auth: Registrar) -> AgentRegistered:
    """Register an agent; the answer holds its token, shown only this once."""
    token = new_agent_token()
    row = await auth.services.store.register_agent(new_agent(body, token))
    return AgentRegistered(**agent_public(row).model_dump(), token=token)


@router.get("")
async def list_agents(
    auth: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[AgentPublic]:
    """Active agents heard from within the lease TTL, newest first, with their last heartbeat.

    An agent killed without deregistering stops being listed once its heartbeats stop.
    """
    services = auth.services
    heard_since = time.time() - services.settings.lease_ttl_s
    return [agent_public(r) for r in await services.store.list_agents(limit, heard_since)]


@router.post(
    "/{agent_id}/heartbeat",
    responses={
        422: {
            "model": ErrorBody,
            "description": "the body is not `{lease_ids: [...]}` with at most "
            f"{HEARTBEAT_MAX_LEASES} distinct lease ids of 32 lowercase hex digits "
            "(or not JSON, invalid Unicode, …)",
        }
    },
)
async def heartbeat(agent_id: AgentId, body: Heartbeat, auth: AgentSelf) -> HeartbeatAck:
    """Say the agent is alive; extends by lease_ttl_s the leases it names and still holds.

    A lease it does not name is left to run out, so a task whose lease answer never reached
    the agent goes back to the queue; the answer lists the named leases not held any more.
    """
    ttl = auth.services.settings.lease_ttl_s
    extended = await auth.services.store.heartbeat(str(agent_id), body.lease_ids, time.time(), ttl)
    still_held = set(extended)
    not_held = [lease_id for lease_id in body.lease_ids if lease_id not in still_held]
    return HeartbeatAck(lease_ttl_s=ttl, extended=extended, not_held=not_held)


@router.post(
    "/{agent_id}/lease",
    response_model=None,
    responses={
        200: {"model": Lease},
        204: {"description": "no task came within wait_s"},
        **error_responses(404, 409),
    },
)
async def lease_task(
    agent_id: AgentId,
    auth: AgentSelf,
    connection: Request,
    request: Annotated[LeaseRequest | None, Body()] = None,
) -> Lease | Response:
    """Long-poll for the next task this agent can do; with `start`, it comes already running.

    A `report` of the task the agent finished is stored first, exactly as by the result route
    (404 no such task, 409 stale lease: then nothing is leased).
    """
    services = auth.services
    settings = services.settings
    body = request or LeaseRequest()
    if body.report is not None:
        await record_result(services, body.report.task_id, auth.agent.id, body.report.result)
    row = await lease_next(
        services.store,
        services.signal,
        str(agent_id),
        list(auth.agent.capabilities),
        wait_s=min(body.wait_s, settings.max_lease_wait_s),
        ttl=settings.lease_ttl_s,
        poll_interval=settings.lease_poll_interval_s,
        caller_gone=connection.is_disconnected,
    )
    if row is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    if body.start and row.lease_id is not None:
        # The same fenced step as POST /execution/{id}/start. None only if an admin cancelled
        # or deleted the task in between: the agent then learns it from its heartbeat.
        now = time.time()
        row = await services.store.start_task(row.id, str(agent_id), row.lease_id, now) or row
    # The queue hop: this span joins the submitter's trace, so it shows who took the task.
    attributes: dict[str, str | int] = {
        "task.id": row.id,
        "agent.id": str(agent_id),
        "task.attempt": row.attempts,
    }
    with task_span(services.tracer_provider, "lease task", row.traceparent, **attributes):
        pass
    return lease_of(row)


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
)
async def kill_agent(agent_id: AgentId, auth: AgentRemover) -> None:
    """Remove an agent: its token stops working and its tasks go back to the queue at once."""
    services = auth.services
    was_active, released = await services.store.kill_agent(str(agent_id), time.time())
    if not was_active:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active agent with this id")
    if released:
        services.signal.notify()
