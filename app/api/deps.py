"""Dependencies of the routes: the app's services and who is calling."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from opentelemetry.sdk.trace import TracerProvider

from app.core.config import Settings
from app.core.security import AGENT_TOKEN_PREFIX, AgentIdentity, Caller, KeyRing, digest
from app.services.queue import QueueSignal
from app.store import QueueCap, Store
from contract.keys import Role


@dataclass
class Services:
    """Everything the routes use, built once in the app's lifespan."""

    settings: Settings
    store: Store
    signal: QueueSignal
    keys: KeyRing
    tracer_provider: TracerProvider | None
    queue_caps: tuple[QueueCap, ...]  # from the settings; empty: submits are never refused


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def current_caller(request: Request, services: ServicesDep) -> Caller:
    header = request.headers.get("authorization")
    if not header:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing 'Authorization: Bearer <key>' header",
            _UNAUTHORIZED,
        )
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Authorization must be 'Bearer <key>'", _UNAUTHORIZED
        )
    secret = secret.strip()
    if secret.startswith(AGENT_TOKEN_PREFIX):
        agent = await services.store.agent_by_token(digest(secret))
        caller = None if agent is None else Caller.for_agent(agent)
    else:
        caller = services.keys.find(secret)
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked key", _UNAUTHORIZED)
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def require(*roles: Role) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: CallerDep) -> Caller:
        if caller.roles.isdisjoint(roles):
            wanted = " or ".join(roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this route needs the role {wanted}; '{caller.name}' lacks it",
            )
        return caller

    return check


Submitter = Annotated[Caller, Depends(require(Role.client))]
Reader = Annotated[Caller, Depends(require(Role.client, Role.admin))]
Admin = Annotated[Caller, Depends(require(Role.admin))]
Registrar = Annotated[Caller, Depends(require(Role.registrar))]


async def any_agent(caller: CallerDep) -> AgentIdentity:
    if caller.agent is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route needs an agent token")
    return caller.agent


AgentCaller = Annotated[AgentIdentity, Depends(any_agent)]
TaskId = Annotated[uuid.UUID, Path(description="the task's id (a UUID)")]
AgentId = Annotated[uuid.UUID, Path(description="the agent's id (a UUID)")]


async def same_agent(agent_id: AgentId, agent: AgentCaller) -> AgentIdentity:
    if agent.id != str(agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an agent token acts only for its own agent")
    return agent


AgentSelf = Annotated[AgentIdentity, Depends(same_agent)]


async def admin_or_same_agent(agent_id: AgentId, caller: CallerDep) -> Caller:
    if Role.admin in caller.roles or (caller.agent and caller.agent.id == str(agent_id)):
        return caller
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, "only an admin key or the agent's own token may remove an agent"
    )


AgentRemover = Annotated[Caller, Depends(admin_or_same_agent)]
